-- moonlab show and moonlab plot on a study-shaped file (written with core.results' writer as
-- docs/results.md lays it out, tests/lua/study_fixture.lua) and on a run file from
-- `moonlab run experiments/poly_fit.lua`: the table, --csv, --json, the errors, and the
-- pictures (skipped, with the reason printed, only when gnuplot is not installed).
local helpers = require "helpers"
local fixture = require "study_fixture"
local rfile = require "moonlab.rfile"

local dir = helpers.tmpdir()

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- moonlab ARGS (a list) with an optional environment prefix; exit code, stdout, stderr.
local function moonlab(args, env)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = sh_quote(a) end
  local out, err = dir .. "/.stdout", dir .. "/.stderr"
  local cmd = string.format("cd %s && %s %s %s >%s 2>%s; echo $?", sh_quote(dir), env or "",
    sh_quote(helpers.bin), table.concat(quoted, " "), sh_quote(out), sh_quote(err))
  local p = io.popen(cmd)
  local code = tonumber(p:read("l"))
  p:close()
  local function slurp(f)
    local h = io.open(f)
    local s = h:read("a")
    h:close()
    return s
  end
  return code, slurp(out), slurp(err)
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]*") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

local function line_with(text, needle)
  for _, l in ipairs(lines(text)) do
    if l:find(needle, 1, true) then return l end
  end
end

-- The hand-made study: degree 1..3 over two folds, one failed trial, a final evaluation.
-- val_loss per (degree, fold) and the numbers show must print, worked out by hand.
local VAL = { [1] = { 0.50, 0.70 }, [2] = { 0.30, 0.34 }, [3] = { 0.40, 0.44 } }
local TRAIN = { [1] = { 0.45, 0.55 }, [2] = { 0.20, 0.22 }, [3] = { 0.10 } }
local study_path = dir .. "/study.h5"
do
  local trials = {}
  for d = 1, 3 do
    for fold = 1, 2 do
      local failed = d == 3 and fold == 2
      trials[#trials + 1] = {
        params = { degree = d }, fold = fold, seed = 0, status = failed and "failed" or "done",
        error = failed and "trial.lua:9: loss is NaN at epoch 3\nstack traceback:\n..." or "",
        history = not failed and {
          { epoch = 1, loss = 1.0, train_loss = TRAIN[d][fold] * 2, val_loss = VAL[d][fold] * 2 },
          { epoch = 2, loss = 0.5, train_loss = TRAIN[d][fold], val_loss = VAL[d][fold] },
        } or {},
        metrics = not failed and { train_loss = TRAIN[d][fold], val_loss = VAL[d][fold] } or nil,
      }
    end
  end
  fixture.write(study_path, {
    study = "hand", params = { "degree" }, trials = trials, select_metric = "val_loss",
    select_goal = "min", splits = {},
    final = { params = { degree = 2 }, metrics = { train_loss = 0.21, test_loss = 0.3125 },
      history = { { epoch = 1, loss = 0.4, train_loss = 0.3, test_loss = 0.5 } } },
  })
end

-- A run file from the flagship experiment; its own printout is what show must agree with.
local run_path = dir .. "/poly.h5"
local poly_code, poly_out = moonlab({ "run", helpers.root .. "/experiments/poly_fit.lua",
  "--set", "smoke=true", "--out", run_path })

describe("moonlab show on a study file", function()
  local code, out, err = moonlab({ "show", study_path })

  it("exits 0 and names the study, its trials and the selection rule", function()
    assert.are.equal(0, code, err)
    assert.truthy(out:find("study hand: " .. study_path, 1, true))
    assert.truthy(out:find("6 trials: 5 done, 1 failed; 2 folds; settings chosen on mean val_loss (lowest)", 1, true))
  end)

  it("prints a row per setting with n and each metric as mean ± std", function()
    local header = lines(out)[5]
    assert.truthy(header:match("^%s+degree%s+n%s+train_loss%s+val_loss$"), header)
    -- degree 1: val 0.5, 0.7 -> mean 0.6, sample std 0.1414; train 0.45, 0.55 -> 0.5 ± 0.071
    local r1 = line_with(out, "0.6 ± 0.14")
    assert.truthy(r1 and r1:match("^%s+1%s+2%s+0%.5 ± 0%.071%s+0%.6 ± 0%.14$"), r1)
    -- degree 2: val 0.30, 0.34 -> 0.32 ± 0.028; train 0.20, 0.22 -> 0.21 ± 0.014
    local r2 = line_with(out, "0.32 ± 0.028")
    assert.truthy(r2 and r2:match("^%*%s+2%s+2%s+0%.21 ± 0%.014%s+0%.32 ± 0%.028$"), r2)
    -- degree 3: one finished trial: the mean alone
    local r3 = line_with(out, "  3  1 ")
    assert.truthy(r3 and r3:match("^%s+3%s+1%s+0%.1%s+0%.4$"), r3)
  end)

  it("lines the ± signs of a column up", function()
    local a, b = line_with(out, "0.6 ± 0.14"), line_with(out, "0.32 ± 0.028")
    local function col(s, n)
      local pos, k = 0, 0
      for p in s:gmatch("()±") do
        k = k + 1
        if k == n then pos = utf8.len(s:sub(1, p)) end
      end
      return pos
    end
    assert.are.equal(col(a, 1), col(b, 1))
    assert.are.equal(col(a, 2), col(b, 2))
  end)

  it("marks the selected setting (lowest mean val_loss) and only that one", function()
    local marked = 0
    for _, l in ipairs(lines(out)) do if l:match("^%*%s+%d") then marked = marked + 1 end end
    assert.are.equal(1, marked)
    assert.truthy(out:find("* selected: lowest mean val_loss", 1, true))
  end)

  it("lists the failed trial with the first line of its error", function()
    assert.truthy(out:find("failed trials (1):", 1, true))
    local id = fixture.trial_id("hand", { degree = 3 }, 0, 2)
    local l = line_with(out, id)
    assert.are.equal("  " .. id .. " (degree=3, fold 2, seed 0): trial.lua:9: loss is NaN at epoch 3", l)
  end)

  it("ends with the final test evaluation", function()
    local t = lines(out)
    assert.are.equal("final: degree=2 trained on all training data, evaluated once on the test set", t[#t - 1])
    assert.are.equal("  test_loss 0.3125   train_loss 0.21", t[#t])
  end)

  it("--csv prints the aggregates table, full precision, NaN as an empty cell", function()
    local c, o, e = moonlab({ "show", study_path, "--csv" })
    assert.are.equal(0, c, e)
    local rows = lines(o)
    assert.are.same({ "degree,n,train_loss_mean,train_loss_std,val_loss_mean,val_loss_std,selected" },
      { rows[1] })
    assert.are.equal(4, #rows)
    local cells = {}
    for v in (rows[3] .. ","):gmatch("([^,]*),") do cells[#cells + 1] = v end
    assert.are.equal("2", cells[1])
    assert.are.equal("2", cells[2])
    local m, s = fixture.mean_std({ 0.30, 0.34 })
    assert.are.equal(m, tonumber(cells[5]))
    assert.are.equal(s, tonumber(cells[6]))
    assert.are.equal("1", cells[7])
    assert.truthy(rows[4]:match("^3,1,0%.1,,0%.4,,0$"), rows[4])
  end)

  it("--json gives the aggregates, the selection and the final evaluation", function()
    local c, o, e = moonlab({ "show", study_path, "--json" })
    assert.are.equal(0, c, e)
    local j = rfile.decode_json(o, "show --json")
    assert.are.equal("hand", j.study)
    assert.are.same({ "degree" }, j.params)
    assert.are.same({ "train_loss", "val_loss" }, j.metrics)
    assert.are.same({ degree = 2 }, j.selected)
    assert.are.equal(3, #j.aggregates)
    assert.are.equal(fixture.mean_std({ 0.50, 0.70 }), j.aggregates[1].val_loss_mean)
    assert.is_nil(j.aggregates[3].val_loss_std) -- NaN is null
    assert.are.equal(0.3125, j.final.metrics.test_loss)
    assert.are.same({ degree = 2 }, j.final.params)
    assert.truthy(o:find('"val_loss_std": null', 1, true))
  end)
end)

describe("moonlab show on a run file", function()
  it("lists each run's epochs and final metrics as poly_fit printed them", function()
    assert.are.equal(0, poly_code, "moonlab run poly_fit failed")
    local code, out, err = moonlab({ "show", run_path })
    assert.are.equal(0, code, err)
    assert.truthy(out:find(run_path .. ": script " .. helpers.root .. "/experiments/poly_fit.lua", 1, true))
    assert.truthy(out:find("seed 0, config {", 1, true))
    local header = line_with(out, "run ")
    assert.truthy(header:match("^run%s+epochs%s+bias%s+test_loss%s+train_loss%s+w1%s+w2%s+w3$"), header)
    for _, name in ipairs({ "normal", "underfit", "overfit" }) do
      -- poly_fit's own line: name, features, train n, weights, bias, train loss, test loss
      local own = line_with(poly_out, name .. " ")
      local train, test = own:match("(%S+)%s+(%S+)$")
      local row = line_with(out, name .. " ")
      assert.truthy(row:match("^" .. name .. "%s+10%s"), row) -- smoke: 10 epochs
      assert.truthy(row:find(" " .. train .. " ", 1, true), row .. " lacks train loss " .. train)
      assert.truthy(row:find(" " .. test .. " ", 1, true), row .. " lacks test loss " .. test)
    end
  end)

  it("--csv has a row per run and a column per metric; a metric a run lacks is empty", function()
    local code, out = moonlab({ "show", run_path, "--csv" })
    assert.are.equal(0, code)
    local rows = lines(out)
    assert.are.equal("run,bias,test_loss,train_loss,w1,w2,w3", rows[1])
    assert.are.equal(4, #rows)
    assert.truthy(rows[4]:match("^underfit,[^,]+,[^,]+,[^,]+,[^,]+,,$"), rows[4])
  end)

  it("--json has the run facts and each run's metrics", function()
    local code, out = moonlab({ "show", run_path, "--json" })
    assert.are.equal(0, code)
    local j = rfile.decode_json(out, "show --json")
    assert.are.equal(helpers.root .. "/experiments/poly_fit.lua", j.script)
    assert.are.equal(0, j.seed)
    assert.are.equal(3, #j.runs)
    assert.are.equal("normal", j.runs[1].name)
    assert.are.equal(10, j.runs[1].epochs)
    assert.is_number(j.runs[1].metrics.test_loss)
    assert.is_nil(j.runs[3].metrics.w2)
  end)
end)

describe("moonlab show errors", function()
  local function one_line_error(args, needle)
    local code, out, err = moonlab(args)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    local l = lines(err)
    assert.are.equal(1, #l, err)
    assert.truthy(l[1]:find(needle, 1, true), l[1])
  end

  it("a missing file: one line naming it, exit 1", function()
    one_line_error({ "show", "nope.h5" }, "moonlab show: nope.h5: No such file or directory")
  end)

  it("a file that is not HDF5", function()
    helpers.write(dir .. "/notes.h5", "epoch,loss\n1,0.5\n")
    one_line_error({ "show", "notes.h5" }, "moonlab show: notes.h5: not an HDF5 file")
  end)

  it("an HDF5 file that is not moonlab's", function()
    local core = require "moonlab.core"
    local w = assert(core.results.create(dir .. "/other.h5"))
    w:int64("/x", { 1, 2, 3 })
    assert(w:commit())
    one_line_error({ "show", "other.h5" },
      "moonlab show: other.h5: not a moonlab result file (no moonlab_version attribute, /runs or /study)")
  end)

  it("a truncated file", function()
    local f = assert(io.open(study_path, "rb"))
    local bytes = f:read("a")
    f:close()
    helpers.write(dir .. "/cut.h5", bytes:sub(1, #bytes // 2))
    one_line_error({ "show", "cut.h5" }, "moonlab show: cut.h5: cannot open as HDF5: ")
  end)

  it("a study whose aggregates lack the n column", function()
    local core = require "moonlab.core"
    local w = assert(core.results.create(dir .. "/bad_study.h5"))
    w:attr("/", "moonlab_version", "0.1.0")
    w:table("/study/aggregates", 1, { { name = "degree", type = "int", values = { 1 } } })
    assert(w:commit())
    one_line_error({ "show", "bad_study.h5" },
      "moonlab show: bad_study.h5: /study/aggregates: no 'n' column (not a moonlab study table)")
  end)

  it("shows control characters from the file as escapes, never sends them to the terminal", function()
    local trials = {}
    for i, cell in ipairs({ "a\nb\27[31m", "gru" }) do
      trials[i] = { params = { cell = cell }, fold = 1, status = "done", metrics = { val_loss = i } }
    end
    fixture.write(dir .. "/ctrl.h5", { study = "ctrl", params = { "cell" }, trials = trials,
      select_metric = "val_loss", select_goal = "min" })
    local code, out = moonlab({ "show", "ctrl.h5" })
    assert.are.equal(0, code)
    assert.truthy(out:find("a\\nb\\x1b[31m", 1, true), out)
    assert.is_nil(out:find("\27", 1, true))
  end)

  it("usage errors exit 2", function()
    assert.are.equal(2, (moonlab({ "show" })))
    assert.are.equal(2, (moonlab({ "show", "a.h5", "b.h5" })))
    assert.are.equal(2, (moonlab({ "show", "a.h5", "--csv", "--json" })))
    assert.are.equal(2, (moonlab({ "show", "a.h5", "--tsv" })))
  end)
end)

-- ---- plot ----

local gnuplot = require("moonlab.plot").find_gnuplot()
if not gnuplot then
  print("show_spec: gnuplot not installed (apt-get install gnuplot-nox): the plot pictures are not checked")
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

describe("moonlab plot", function()
  it("says how to install gnuplot when it is missing", function()
    local code, out, err = moonlab({ "plot", study_path, "-o", "x.png" }, "PATH=/nonexistent")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("moonlab plot: gnuplot not found: apt-get install gnuplot-nox\n", err)
    assert.is_false(helpers.exists(dir .. "/x.png"))
  end)

  it("refuses an unknown picture type and a missing -o (usage, exit 2)", function()
    assert.are.equal(2, (moonlab({ "plot", study_path, "-o", "x.gif" })))
    assert.are.equal(2, (moonlab({ "plot", study_path })))
    assert.are.equal(2, (moonlab({ "plot", study_path, "-o", "x.png", "--kind", "pie" })))
  end)

  if not gnuplot then return end

  -- a small real K-fold capacity study, trained with moonlab
  local cap_path = dir .. "/capacity.h5"
  fixture.write(cap_path, fixture.capacity { degrees = { 1, 2, 3, 5 }, folds = 3, epochs = 8, n = 30 })

  it("draws a study as PNG: capacity, fold spread and learning curves", function()
    local code, out, err = moonlab({ "plot", cap_path, "-o", "cap.png" })
    assert.are.equal(0, code, err)
    assert.are.equal("plot: cap.png (loss against degree; val_loss per fold; learning curves)\n", out)
    local png = slurp(dir .. "/cap.png")
    assert.are.equal("\137PNG\r\n\26\n", png:sub(1, 8))
    assert.truthy(#png > 20000, "a 1400x1000 picture with curves: " .. #png .. " bytes")
  end)

  it("draws the series it says, with their names, as SVG", function()
    local code, _, err = moonlab({ "plot", cap_path, "-o", "cap.svg" })
    assert.are.equal(0, code, err)
    local svg = slurp(dir .. "/cap.svg")
    for _, text in ipairs({ "loss against degree (mean ± std over 3 folds)", "train_loss",
      "val_loss", "val_loss of each fold", "fold 1", "fold 3", "mean",
      "learning curves, mean over 3 folds", "epoch" }) do
      assert.truthy(svg:find(">" .. text .. "<", 1, true), "the SVG lacks '" .. text .. "'")
    end
    local s = fixture.settings(fixture.capacity { degrees = { 1, 2, 3, 5 }, folds = 3, epochs = 8, n = 30 })
    assert.are.equal(4, #s)
    assert.truthy(svg:find(">selected: degree=%d<"), "the selected setting is labelled")
  end)

  it("draws a run file's histories as PDF, one panel per run", function()
    local code, out, err = moonlab({ "plot", run_path, "-o", "poly.pdf" })
    assert.are.equal(0, code, err)
    assert.are.equal("plot: poly.pdf (normal; overfit; underfit)\n", out)
    assert.are.equal("%PDF", slurp(dir .. "/poly.pdf"):sub(1, 4))
    code, _, err = moonlab({ "plot", run_path, "-o", "poly.svg" })
    assert.are.equal(0, code, err)
    local svg = slurp(dir .. "/poly.svg")
    for _, text in ipairs({ "run normal", "run underfit", "run overfit", "test_loss", "train_loss",
      "loss (training, during the epoch)" }) do
      assert.truthy(svg:find(">" .. text .. "<", 1, true), "the SVG lacks '" .. text .. "'")
    end
  end)

  it("--kind, --x and --metric steer it; mistakes name the choices", function()
    local code, out = moonlab({ "plot", study_path, "-o", "k.png", "--kind", "folds" })
    assert.are.equal(0, code)
    assert.are.equal("plot: k.png (val_loss per fold)\n", out)
    code, out = moonlab({ "plot", study_path, "-o", "k.png", "--kind", "curves", "--metric", "val_loss" })
    assert.are.equal(0, code)
    assert.are.equal("plot: k.png (learning curves)\n", out)
    local err
    code, _, err = moonlab({ "plot", study_path, "-o", "k.png", "--x", "lr" })
    assert.are.equal(1, code)
    assert.are.equal("moonlab plot: " .. study_path .. ": --x lr: not a parameter of the study (parameters: degree)\n", err)
    code, _, err = moonlab({ "plot", study_path, "-o", "k.png", "--metric", "accuracy" })
    assert.are.equal(1, code)
    assert.truthy(err:find("the study has no metric 'accuracy' (metrics: train_loss, val_loss)", 1, true), err)
    code, _, err = moonlab({ "plot", run_path, "-o", "k.png", "--kind", "folds" })
    assert.are.equal(1, code)
    assert.truthy(err:find("--kind folds is for study files", 1, true), err)
  end)

  it("writes names from the file as text, never as commands", function()
    local evil = "it's `touch " .. dir .. "/pwned` $(touch " .. dir .. "/pwned2)\nnext"
    local trials = {}
    for i, cell in ipairs({ evil, "gru" }) do
      for fold = 1, 2 do
        trials[#trials + 1] = { params = { cell = cell }, fold = fold, status = "done",
          history = { { epoch = 1, loss = 1, val_loss = 1.5 }, { epoch = 2, loss = 0.5, val_loss = 0.7 + i } },
          metrics = { val_loss = 0.7 + i + fold / 10 } }
      end
    end
    local p = dir .. "/evil.h5"
    fixture.write(p, { study = "evil'`", params = { "cell" }, trials = trials,
      select_metric = "val_loss", select_goal = "min" })
    local code, _, err = moonlab({ "plot", p, "-o", "evil '$(x).svg" })
    assert.are.equal(0, code, err)
    assert.is_false(helpers.exists(dir .. "/pwned"))
    assert.is_false(helpers.exists(dir .. "/pwned2"))
    local svg = slurp(dir .. "/evil '$(x).svg")
    assert.truthy(svg, "the picture is written under its odd name")
    assert.truthy(svg:find("it&apos;s `touch", 1, true) or svg:find("it's `touch", 1, true),
      "the name is drawn as text")
  end)

  it("leaves no temporary file behind, and no picture when it fails", function()
    moonlab({ "plot", study_path, "-o", "fail.png", "--x", "lr" })
    assert.is_false(helpers.exists(dir .. "/fail.png"))
    for _, name in ipairs(helpers.ls(dir)) do
      assert.is_nil(name:find("%.tmp%-"), name)
    end
  end)
end)

-- ---- plot: which panels, where the key goes, what the axes say ----

local plot = require "moonlab.plot"

-- The gnuplot script `moonlab plot FILE -o dir/x.png ARGS...` runs.
local function script_of(file, ...)
  return plot.script({ file, "-o", dir .. "/x.png", ... })
end

-- The line of a script that starts with `prefix`, or nil.
local function script_line(script, prefix)
  for l in script:gmatch("[^\n]+") do
    if l:sub(1, #prefix) == prefix then return l end
  end
end

-- A sweep shaped like experiments/init_gradients.lua: two string parameters, one trial per
-- setting (no folds, one seed), a per-layer history and a per-distance vector per trial; the
-- "constant" setting reports other metrics than the rest.
local sweep_path = dir .. "/sweep.h5"
do
  local trials = {}
  local factor = { small = 0.1, large = 10, xavier = 1 }
  for _, act in ipairs({ "identity", "tanh" }) do
    for _, init in ipairs({ "small", "large", "xavier", "constant" }) do
      local t = { params = { init = init, activation = act }, status = "done", history = {} }
      if init == "constant" then
        t.metrics = { distinct_units = 1 }
      else
        local ratio = factor[init] ^ (act == "tanh" and 20 or 30)
        t.metrics = { ratio = ratio, log10_ratio_abs = math.abs(math.log(ratio, 10)) }
        for l = 1, 5 do t.history[l] = { layer = l, gradient_norm = factor[init] ^ (5 - l) } end
        t.vectors = { grad_by_distance = { 1, 0.5, 0.25, 0.125 }, norm_by_distance = { 2, 1, 0.5 } }
        t.vector_index = { norm_by_distance = "distance" }
      end
      trials[#trials + 1] = t
    end
  end
  fixture.write(sweep_path, { study = "sweep", params = { "init", "activation" }, trials = trials,
    select_metric = "log10_ratio_abs", select_goal = "min" })
end

-- Losses that fall with the degree, two folds: the top right corner of the capacity panel is free.
local falling_path = dir .. "/falling.h5"
do
  local trials = {}
  for degree = 1, 4 do
    for fold = 1, 2 do
      trials[#trials + 1] = { params = { degree = degree }, fold = fold, status = "done",
        metrics = { train_loss = 1 / degree, val_loss = 1 / degree + fold / 10, test_loss = 1 / degree + 0.12 } }
    end
  end
  fixture.write(falling_path, { study = "falling", params = { "degree" }, trials = trials,
    select_metric = "val_loss", select_goal = "min" })
end

-- A numeric sweep with uneven values (weight decay 0, 1, 3, 10), two seeds, learning curves.
local lambda_path = dir .. "/lambda.h5"
do
  local trials = {}
  for _, lambda in ipairs({ 0, 1, 3, 10 }) do
    for seed = 1, 2 do
      local h = {}
      for e = 1, 3 do
        h[e] = { epoch = e, train_loss = 1 / (e + lambda), test_loss = 2 / e + lambda / 10 + seed / 100 }
      end
      trials[#trials + 1] = { params = { lambda = lambda }, seed = seed, status = "done", history = h,
        metrics = { train_loss = h[3].train_loss, test_loss = h[3].test_loss } }
    end
  end
  fixture.write(lambda_path, { study = "lambda", params = { "lambda" }, trials = trials,
    select_metric = "test_loss", select_goal = "min" })
end

describe("moonlab plot's layout", function()
  it("leaves out the fold panel when no setting has two trials, and curves it has no data for", function()
    local script = script_of(sweep_path)
    -- one panel: log10_ratio_abs against init; no per-fold spread, no empty learning curves
    assert.is_nil(script:find("of each trial", 1, true))
    assert.is_nil(script:find("learning curves", 1, true))
    assert.truthy(script:find("set title 'log10_ratio_abs against init", 1, true))
    -- the curves and fold panels of a real K-fold study are still there
    local cap = script_of(study_path)
    assert.truthy(cap:find("val_loss of each fold", 1, true))
    assert.truthy(cap:find("learning curves", 1, true))
  end)

  it("gives no x position to a setting without the plotted metric", function()
    local xtics = script_line(script_of(sweep_path), "set xtics (")
    assert.are.equal("set xtics ('large' 1, 'small' 2, 'xavier' 3)", xtics)
  end)

  it("draws a history column against the history's own counter, every setting in the key", function()
    local script = script_of(sweep_path, "--metric", "gradient_norm")
    assert.truthy(script:find("set title 'gradient_norm against layer'", 1, true))
    assert.truthy(script:find("set xlabel 'layer'", 1, true))
    for _, act in ipairs({ "identity", "tanh" }) do
      for _, init in ipairs({ "small", "large", "xavier" }) do
        assert.truthy(script:find("title 'init=" .. init .. ", activation=" .. act .. "'", 1, true), act .. " " .. init)
      end
    end
    -- one kind of line: solid, with the settings' names, and no training/validation legend
    assert.is_nil(script:find("dt 2", 1, true))
    -- six names: beside the frame, not over the curves
    assert.truthy(script:find("set key outside", 1, true))
  end)

  it("draws a vector each trial recorded against its entry, or what its index attribute names", function()
    local script = script_of(sweep_path, "--metric", "grad_by_distance")
    assert.truthy(script:find("set title 'grad_by_distance against entry", 1, true))
    assert.truthy(script:find("set xlabel 'entry'", 1, true))
    -- recorded with run:param(name, t, {index = "distance"}): the axis takes that name
    script = script_of(sweep_path, "--metric", "norm_by_distance")
    assert.truthy(script:find("set title 'norm_by_distance against distance", 1, true))
    assert.truthy(script:find("set xlabel 'distance'", 1, true))
    local ok, e = pcall(script_of, sweep_path, "--metric", "grad_by_distance", "--kind", "folds")
    assert.is_false(ok)
    assert.truthy(e.message:find("--kind folds: grad_by_distance is a vector each trial recorded, not a metric of the study", 1, true), e.message)
    ok, e = pcall(script_of, sweep_path, "--metric", "gradient_norm", "--kind", "capacity")
    assert.is_false(ok)
    assert.truthy(e.message:find("gradient_norm is a column of the trials' histories", 1, true), e.message)
    ok, e = pcall(script_of, sweep_path, "--metric", "nothing")
    assert.is_false(ok)
    assert.truthy(e.message:find("the study has no metric 'nothing'", 1, true), e.message)
  end)

  it("spreads uneven numeric settings evenly over the colour scale, labelled with their values", function()
    local script = script_of(lambda_path)
    assert.are.equal("set cbrange [1:4]", script_line(script, "set cbrange"))
    assert.are.equal("set cbtics ('0' 1, '1' 2, '3' 3, '10' 4)", script_line(script, "set cbtics ("))
    assert.truthy(script:find("lc palette cb 4", 1, true))
  end)

  it("labels a log axis over many decades with plain numbers and without crowded minor tics", function()
    local script = script_of(sweep_path, "--metric", "ratio")
    assert.truthy(script:find("set logscale y\nset format y '%g'\nunset mytics", 1, true), script)
    -- a span of a few decades keeps its minor tics
    local lambda = script_of(lambda_path, "--kind", "capacity")
    assert.is_nil(lambda:find("unset mytics", 1, true))
  end)

  it("draws a test metric beside the training and validation ones", function()
    local script = script_of(falling_path, "--kind", "capacity")
    for _, name in ipairs({ "train_loss", "val_loss", "test_loss" }) do
      assert.truthy(script:find("title '" .. name .. "'", 1, true), name)
    end
    -- the fold panel stays on the validation metric
    assert.truthy(script_of(falling_path, "--kind", "folds"):find("set title 'val_loss of each fold'", 1, true))
  end)

  it("draws a list of metrics side by side against the swept parameter (before and after)", function()
    local script = script_of(sweep_path, "--metric", "ratio,log10_ratio_abs")
    assert.truthy(script:find("set title 'ratio, log10_ratio_abs against init", 1, true))
    assert.truthy(script:find("title 'ratio (activation=tanh)'", 1, true))
    assert.truthy(script:find("title 'log10_ratio_abs (activation=identity)'", 1, true))
    assert.is_nil(script:find("of each trial", 1, true))
    local ok, e = pcall(script_of, sweep_path, "--metric", "ratio,nothing")
    assert.is_false(ok)
    assert.truthy(e.message:find("--metric ratio,nothing: the study has no metric 'nothing' (metrics: ", 1, true), e.message)
    ok, e = pcall(script_of, sweep_path, "--metric", "ratio,log10_ratio_abs", "--kind", "curves")
    assert.is_false(ok)
    assert.truthy(e.message:find("a list of metrics is drawn against the swept parameter only", 1, true), e.message)
  end)

  it("sets the series at a named setting a little apart, not at a numeric one", function()
    -- two groups (activation) at each init: one left, one right of the tic
    local script = script_of(sweep_path, "--metric", "ratio")
    assert.truthy(script:find("using ($1-0.0600):2:3", 1, true), script)
    assert.truthy(script:find("using ($1+0.0600):2:3", 1, true), script)
    assert.is_nil(script_of(falling_path, "--kind", "capacity"):find("($1", 1, true))
  end)

  it("puts a string parameter with more values on the x axis rather than a numeric pair", function()
    local trials = {}
    for _, cell in ipairs({ "rnn", "gru", "lstm" }) do
      for directions = 1, 2 do
        for seed = 1, 2 do
          trials[#trials + 1] = { params = { cell = cell, directions = directions }, seed = seed, status = "done",
            metrics = { test_accuracy = directions == 2 and 1 or 0.9 } }
        end
      end
    end
    local p = dir .. "/pair.h5"
    fixture.write(p, { study = "pair", params = { "cell", "directions" }, trials = trials,
      select_metric = "test_accuracy", select_goal = "max" })
    local script = script_of(p)
    assert.truthy(script:find("set xlabel 'cell'", 1, true))
    -- every trial of the selected group has 1: a range around it, not gnuplot's empty one
    assert.truthy(script:find("set yrange [0.94999999999999996:1.05]", 1, true), script)
    -- a numeric parameter with three values or more still wins
    assert.truthy(script_of(lambda_path):find("set xlabel 'lambda'", 1, true))
    local code, _, err = moonlab({ "plot", p, "-o", "pair.png" })
    if gnuplot then
      assert.are.equal(0, code, err)
      assert.are.equal("", err)
    end
  end)

  it("puts the key in a free top corner, or beside the frame", function()
    -- losses that fall with the degree: the top right corner is free
    assert.truthy(script_of(falling_path, "--kind", "capacity"):find("set key top right opaque", 1, true))
    -- test_loss rises with lambda: top left
    assert.truthy(script_of(lambda_path, "--kind", "capacity"):find("set key top left opaque", 1, true))
    -- high at both ends: beside the frame
    local trials = {}
    for degree, v in ipairs({ 3, 1, 1.2, 3.1 }) do
      for fold = 1, 2 do
        trials[#trials + 1] = { params = { degree = degree }, fold = fold, status = "done",
          metrics = { val_loss = v + fold / 10 } }
      end
    end
    local p = dir .. "/valley.h5"
    fixture.write(p, { study = "valley", params = { "degree" }, trials = trials,
      select_metric = "val_loss", select_goal = "min" })
    local script = script_of(p, "--kind", "capacity")
    assert.truthy(script:find("set key outside", 1, true), script)
    -- six long names in a narrower panel (beside the curves of a two-panel picture): under it
    script = script_of(sweep_path, "--metric", "gradient_norm")
    assert.truthy(script:find("set key outside", 1, true))
  end)

  it("stands the selected label upright when it does not fit beside the line", function()
    local label = script_line(script_of(sweep_path, "--metric", "ratio"), "set label 'selected: ")
    assert.truthy(label, "the selected setting is labelled")
    -- the selected setting in the middle, its label (cut at 40 characters) longer than the
    -- room on either side of it
    local trials = {}
    for _, init in ipairs({ "a_uniform_fan_in", "b_xavier_normal_gain_1", "c_kaiming_normal_fan_out" }) do
      for _, act in ipairs({ "identity", "tanh" }) do
        for e = 1, 2 do
          trials[#trials + 1] = { params = { initialisation = init, nonlinearity = act }, fold = e, status = "done",
            metrics = { val_loss = (init == "b_xavier_normal_gain_1" and act == "tanh" and 1 or 2) + e / 10 } }
        end
      end
    end
    local p = dir .. "/long.h5"
    fixture.write(p, { study = "long", params = { "initialisation", "nonlinearity" }, trials = trials,
      select_metric = "val_loss", select_goal = "min" })
    label = script_line(script_of(p), "set label 'selected: ")
    assert.truthy(label:find("rotate by 90", 1, true), label)
    -- a short one stays level
    label = script_line(script_of(falling_path), "set label 'selected: ")
    assert.is_nil(label:find("rotate", 1, true), label)
  end)

  if not gnuplot then return end

  it("draws these pictures", function()
    for _, args in ipairs({ { sweep_path }, { sweep_path, "--metric", "gradient_norm" },
      { sweep_path, "--metric", "grad_by_distance" }, { lambda_path } }) do
      local a = { "plot", args[1], "-o", "sweep.svg", table.unpack(args, 2) }
      local code, out, err = moonlab(a)
      assert.are.equal(0, code, err)
      assert.are.equal("", err)
      assert.truthy(out:find("^plot: sweep.svg %("), out)
    end
    local code, out = moonlab({ "plot", sweep_path, "-o", "sweep.svg", "--metric", "gradient_norm" })
    assert.are.equal(0, code)
    assert.are.equal("plot: sweep.svg (gradient_norm against layer)\n", out)
    local svg = slurp(dir .. "/sweep.svg")
    for _, text in ipairs({ "layer", "gradient_norm", "init=large, activation=tanh" }) do
      assert.truthy(svg:find(">" .. text .. "<", 1, true), "the SVG lacks '" .. text .. "'")
    end
  end)
end)

describe("after the specs", function()
  teardown(function() os.execute("rm -rf " .. sh_quote(dir)) end)
  it("leaves the temporary directory to be removed", function()
    assert.truthy(dir:match("^/tmp/moonlab%-spec%."))
  end)
end)
