-- Studies: trials in worker processes, stable ids, resume after kill -9, failures recorded
-- while the rest goes on, and the study file assembled from the trial files.
local h = require "helpers"
local core = require "moonlab.core"

-- Under the sanitizer build busted runs with the ASan runtime preloaded; the shell tools these
-- tests start (sleep, ls, pkill) must not inherit it (pkill under it can hang in a futex).
local NO_PRELOAD = "unset LD_PRELOAD; "

-- A 20-trial study (5 settings x 2 seeds x 2 folds) of small MLP fits: fast, but long enough
-- (a few hundred ms each) for a kill to land in the middle of trials.
local STUDY = [[
local ml = require "moonlab"
local cfg = ml.config{ epochs = 200, fail = "" }
local ds = ml.data.synthetic.polynomial{ n = 2000, weights = {1.2, -3.4, 5.6}, bias = 5, noise = 0.5, seed = 7 }
ml.study {
  name = "toy",
  params = { width = {2, 4, 8, 16, 32} },
  seeds = 2,
  data = ds,
  split = ml.split.kfold(ds, 2, { shuffle = true, seed = 3 }),
  trial = function(t)
    if cfg.fail == "raise" and t.params.width == 4 then error("width 4 is not allowed") end
    -- proc.test_segv exists under MOONLAB_TEST_HOOKS only: a write to an unmapped address
    if cfg.fail == "segv" and t.params.width == 8 then ml.core.proc.test_segv() end
    -- a transient fault: width 4 fails while the file fail.marker exists
    if cfg.fail == "marker" and t.params.width == 4 and ml.core.proc.mtime("fail.marker") then
      error("width 4 failed: fail.marker exists")
    end
    if cfg.fail == "nan" and t.params.width == 16 then return { val_loss = 0 / 0 } end
    local m = ml.nn.sequential({ ml.nn.linear(3, t.params.width), ml.nn.tanh(),
      ml.nn.linear(t.params.width, 1) }, { seed = ml.seed("init") })
    local h = m:fit{ data = t.train, loss = "mse", optim = ml.optim.adam{ lr = 0.01 },
      epochs = cfg.epochs, batch = 16, log = t.run, eval = { val = t.val }, seed = ml.seed("order") }
    return { val_loss = h[#h].val_loss, train_loss = h[#h].loss }
  end,
  final = function(t)
    return { chosen_width = t.params.width }
  end,
}
]]

local function setup(text)
  local d = h.tmpdir()
  h.write(d .. "/study.lua", text or STUDY)
  return d
end

-- The study file's summary as {trial id = {status =, val_loss = "%.17g"}}.
local function summary(path)
  local f = assert(core.rfile.open(path))
  local cols = assert(f:table("/study/summary"))
  local attrs = assert(f:attrs("/"))
  f:close()
  local by = {}
  for _, c in ipairs(cols) do by[c.name] = c.values end
  local out = {}
  for i, id in ipairs(by.trial) do
    out[id] = { status = by.status[i], error = by.error[i],
      val_loss = string.format("%.17g", by.val_loss and by.val_loss[i] or 0 / 0),
      train_loss = string.format("%.17g", by.train_loss and by.train_loss[i] or 0 / 0) }
  end
  return out, attrs
end

-- Every number and string the study file holds but wall times, by where it is: each trial's
-- metrics and history, the summary, the aggregates, the selected setting and the final
-- evaluation (floats as %.17g, which tells every double apart).
local function everything(path)
  local f = assert(core.rfile.open(path))
  local out = {}
  local function tab(name)
    for _, c in ipairs(assert(f:table(name))) do
      if c.name ~= "seconds" then
        for i, v in ipairs(c.values) do
          out[name .. ":" .. c.name .. ":" .. i] = math.type(v) == "float" and string.format("%.17g", v) or v
        end
      end
    end
  end
  tab("/study/summary")
  tab("/study/aggregates")
  for _, id in ipairs(assert(f:list("/study/trials"))) do
    tab("/study/trials/" .. id .. "/metrics")
    tab("/study/trials/" .. id .. "/history")
  end
  tab("/study/final/metrics")
  local a = assert(f:attrs("/"))
  out.selected, out.done, out.failed, out.trials = a.selected, a.done, a.failed, a.trials
  f:close()
  return out
end

local function count(s, status)
  local n = 0
  for _, r in pairs(s) do if r.status == status then n = n + 1 end end
  return n
end

describe("a study", function()
  local reference -- summary of one uninterrupted -j 1 run

  it("runs every trial, selects on validation and records the final evaluation", function()
    local d = setup()
    local code, out, err = h.moonlab("run study.lua -j 1", d)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("study toy: 20 trials (5 settings x 2 seeds x 2 folds) + final", 1, true), out)
    assert.truthy(out:find("results: results/toy.h5", 1, true), out)
    local s, attrs = summary(d .. "/results/toy.h5")
    assert.are.equal(20, count(s, "done"))
    assert.are.equal(21, attrs.trials)
    assert.are.equal(21, attrs.done)
    assert.are.equal("val_loss", attrs.select_metric)
    -- the selected setting has the lowest mean validation loss over its 4 trials
    local f = assert(core.rfile.open(d .. "/results/toy.h5"))
    local agg = {}
    for _, c in ipairs(assert(f:table("/study/aggregates"))) do agg[c.name] = c.values end
    local best, bestv = nil, math.huge
    for i = 1, #agg.width do
      assert.are.equal(4, agg.n[i])
      if agg.val_loss_mean[i] < bestv then best, bestv = i, agg.val_loss_mean[i] end
    end
    assert.are.equal(1, agg.selected[best])
    assert.are.equal(string.format('{"width":%d}', agg.width[best]), attrs.selected)
    local fm = {}
    for _, c in ipairs(assert(f:table("/study/final/metrics"))) do fm[c.name] = c.values[1] end
    assert.are.equal(agg.width[best], fm.chosen_width)
    -- per-trial histories and the folds are in the file
    local trials = assert(f:list("/study/trials"))
    assert.are.equal(20, #trials)
    assert.are.equal("dataset", f:kind("/study/trials/" .. trials[1] .. "/history"))
    assert.are.equal("dataset", f:kind("/study/splits/2/val"))
    -- with the splitter, its seed and parameters
    local sa = assert(f:attrs("/study/splits"))
    assert.are.same({ folds = 2, kind = "kfold", samples = 2000, seed = 3, k = 2, shuffle = 1 }, sa)
    f:close()
    reference = s
  end)

  it("gives bit-identical metrics with -j 2", function()
    local d = setup()
    local code, _, err = h.moonlab("run study.lua -j 2", d)
    assert.are.equal(0, code, err)
    assert.are.same(reference, (summary(d .. "/results/toy.h5")))
  end)

  it("names trials by what they are: a resumed run skips finished trials", function()
    local d = setup()
    assert.are.equal(0, (h.moonlab("run study.lua -j 2", d)))
    local code, out = h.moonlab("run study.lua -j 2", d)
    assert.are.equal(0, code)
    assert.truthy(out:find("resuming: 20 finished before", 1, true), out)
    assert.falsy(out:find("trial %x+ done"), out)
  end)

  it("never reuses trials of a run with other settings or another seed", function()
    local d = setup()
    assert.are.equal(0, (h.moonlab("run study.lua -j 2 --set epochs=3", d)))
    for _, args in ipairs({ "--set epochs=4", "--set epochs=3 --seed 1" }) do
      local code, out = h.moonlab("run study.lua -j 2 " .. args, d)
      assert.are.equal(0, code, out)
      assert.falsy(out:find("resuming", 1, true), args .. ": " .. out)
    end
    local code, out = h.moonlab("run study.lua -j 2 --set epochs=3", d)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("resuming: 20 finished before", 1, true), out)
  end)

  it("stops before reusing trials an earlier version of the script made, until told what to do", function()
    local d = setup()
    assert.are.equal(0, (h.moonlab("run study.lua -j 2 --set epochs=3", d)))
    h.write(d .. "/study.lua", STUDY:gsub("lr = 0%.01", "lr = 0.02"))
    local code, out, err = h.moonlab("run study.lua -j 2 --set epochs=3", d)
    assert.are_not.equal(0, code)
    assert.truthy(err:find("21 trials in results/toy were made by another version of study.lua", 1, true), err)
    assert.truthy(err:find("--rerun-stale", 1, true) and err:find("--keep-stale", 1, true), err)
    assert.falsy(out:find("trial %x+ done"), out)
    code, out = h.moonlab("run study.lua -j 2 --set epochs=3 --keep-stale", d)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("resuming: 20 finished before", 1, true), out)
    code, out = h.moonlab("run study.lua -j 2 --set epochs=3 --rerun-stale", d)
    assert.are.equal(0, code, out)
    assert.falsy(out:find("resuming", 1, true), out)
    -- the trials now carry this version's hash: a plain run resumes them all
    code, out = h.moonlab("run study.lua -j 2 --set epochs=3", d)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("resuming: 20 finished before", 1, true), out)
  end)

  it("survives kill -9 of the runner and its workers at 5 random moments, with every metric kept", function()
    -- the moments are new in each run; MOONLAB_KILL_SEED=<seed> replays a failed one
    local seed = math.tointeger(tonumber(os.getenv("MOONLAB_KILL_SEED") or ""))
      or (os.time() * 1000 + core.pid()) % 1000000007
    print(string.format("kill -9 test: seed %d (MOONLAB_KILL_SEED=%d replays its moments)", seed, seed))
    local run = "run study.lua -j 2 --set epochs=600"
    -- an uninterrupted run: what every metric must be, and how long a trial takes
    local whole = setup()
    local t0 = core.clock()
    local code, out, err = h.moonlab(run, whole)
    local trial_time = (core.clock() - t0) / 10 -- 20 trials on 2 workers
    assert.are.equal(0, code, out .. err)
    -- Kill k comes after 0, 1 or 2 more trials have finished (counted as the runner commits
    -- them), plus a random part of a trial's time: moments tied to the study's progress, not
    -- to a clock measured beside other jobs, so a kill never comes after the study's end.
    -- Each resume starts again and loses the trials in flight.
    local rng = core.rng.new(seed)
    local d = setup()
    local trials = d .. "/results/toy/trials/"
    local function done()
      local n = 0
      for _, name in ipairs(h.ls(trials)) do
        local f = name:match("^%x+%.h5$") and core.rfile.open(trials .. name)
        if f then
          if f:attrs("/").status == "done" then n = n + 1 end
          f:close()
        end
      end
      return n
    end
    local before, why = 0, string.format("seed %d, %.2f s a trial", seed, trial_time)
    for k = 1, 5 do
      local target = before + rng:integer(3) - 1
      local delay = 0.4 * trial_time * rng:float()
      -- the runner leads its own process group, which its workers share: one SIGKILL to the
      -- group ends them all at once. The shell waits for `target` committed trial files (at
      -- most a minute: a runner that died early must not hang the test).
      os.execute(string.format(NO_PRELOAD .. "cd '%s' && (setsid '%s' %s >run%d.out 2>&1 & p=$!; i=0; "
        .. "while [ \"$(ls results/toy/trials 2>/dev/null | grep -c '^[0-9a-f]*\\.h5$')\" -lt %d ] "
        .. "&& [ $i -lt 3000 ]; do sleep 0.02; i=$((i + 1)); done; sleep %.3f; kill -9 -$p; "
        .. "echo $? >kill.rc; wait $p) 2>/dev/null", d, h.bin, run, k, target, delay))
      assert.are.equal("0", io.open(d .. "/kill.rc"):read("l"), "the runner was gone before kill " .. k)
      local now = done()
      why = why .. string.format("; kill %d after %d done + %.2f s: %d done", k, target, delay, now)
      assert.is_true(now < 20, "the study had finished before kill " .. k .. " (" .. why .. ")")
      assert.is_true(now >= before, why)
      local text = io.open(string.format("%s/run%d.out", d, k)):read("a")
      assert.falsy(text:find("results: ", 1, true), text)
      before = now
    end
    print("kill -9 test: " .. why)
    assert.is_true(before > 0, "no trial finished between the kills (" .. why .. ")")
    code, out, err = h.moonlab(run, d)
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("resuming: " .. before .. " finished before", 1, true), out)
    local s = summary(d .. "/results/toy.h5")
    assert.are.equal(20, count(s, "done"))
    assert.are.same(everything(whole .. "/results/toy.h5"), everything(d .. "/results/toy.h5"), why)
    -- every trial file opens; no claim or temporary file is left behind
    for _, name in ipairs(h.ls(trials)) do
      assert.falsy(name:match("%.claim$") or name:match("%.tmp%-%d+$"), name)
      if name:match("%.h5$") then
        local f = core.rfile.open(trials .. name)
        assert.truthy(f, name)
        f:close()
      end
    end
  end)

  it("records a trial that raises, one that segfaults and one that returns NaN as failed; the rest complete", function()
    local d = setup()
    for _, mode in ipairs({ "raise", "segv", "nan" }) do
      -- MOONLAB_TEST_HOOKS gives the workers proc.test_segv, a real invalid memory access
      local code, out = h.moonlab("run study.lua -j 2 --set epochs=5 --set fail=" .. mode
        .. " --out " .. mode .. "/toy.h5", d, "MOONLAB_TEST_HOOKS=1")
      assert.are.equal(1, code, out)
      local s = summary(d .. "/" .. mode .. "/toy.h5")
      assert.are.equal(4, count(s, "failed"), mode)
      assert.are.equal(16, count(s, "done"), mode)
      -- the segfault is named: by the signal, or by AddressSanitizer's report under the
      -- sanitized build (its handler catches the signal and exits)
      local why = ({ raise = "study.lua:%d+: width 4 is not allowed",
        segv = "^worker ", nan = "metric 'val_loss' is nan" })[mode]
      for _, r in pairs(s) do
        if r.status == "failed" then
          assert.truthy(r.error:lower():match(why:lower()), r.error)
          if mode == "segv" then
            assert.truthy(r.error:find("killed by signal 11 (SIGSEGV)", 1, true)
              or r.error:find("AddressSanitizer: SEGV", 1, true), r.error)
          end
        end
      end
      -- the failure is printed, naming the trial's log
      assert.truthy(out:find("FAILED  width=", 1, true), out)
      assert.truthy(out:find("log: " .. mode .. "/toy/trials/%x+%.log"), out)
    end
  end)

  it("prints a trial's failure when it happens, before slower trials finish", function()
    local d = setup([[
local ml = require "moonlab"
ml.study { name = "early", params = { k = { 1, 2, 3, 4 } },
  trial = function(t)
    if t.params.k == 1 then error("k = 1 fails at once") end
    ml.core.proc.poll({}, 500) -- the others take half a second
    return { val_loss = t.params.k }
  end }
]])
    local code, out = h.moonlab("run study.lua -j 2", d)
    assert.are.equal(1, code, out)
    local failed_at = out:find("FAILED  k=1: ", 1, true)
    local first_done = out:find("trial %x+ done")
    assert.truthy(failed_at and first_done, out)
    assert.is_true(failed_at < first_done, out)
  end)

  it("--retry-failed runs exactly the failed trials again; a plain rerun leaves them failed", function()
    local d = setup()
    local run = "run study.lua -j 2 --set epochs=5 --set fail=marker"
    h.write(d .. "/fail.marker", "")
    local code, out = h.moonlab(run, d)
    assert.are.equal(1, code, out)
    local first = summary(d .. "/results/toy.h5")
    local failed = {}
    for id, r in pairs(first) do if r.status == "failed" then failed[id] = true end end
    assert.are.equal(4, count(first, "failed"), out)
    -- the fault is gone, with the settings unchanged: a trial run again would now succeed
    os.remove(d .. "/fail.marker")
    code, out = h.moonlab(run, d)
    assert.are.equal(1, code, out)
    assert.truthy(out:find("resuming: 20 finished before", 1, true), out)
    assert.falsy(out:find("trial %x+ done"), out)
    assert.are.same(first, summary(d .. "/results/toy.h5"))
    code, out = h.moonlab(run .. " --retry-failed", d)
    assert.are.equal(0, code, out)
    local rerun = {}
    for id in out:gmatch("trial (%x+) done") do rerun[id] = true end
    assert.are.same(failed, rerun)
    local after = summary(d .. "/results/toy.h5")
    assert.are.equal(20, count(after, "done"))
    for id, r in pairs(first) do
      if not failed[id] then assert.are.same(r, after[id]) end
    end
  end)

  it("defers the final evaluation until every selection trial is done", function()
    local d = setup()
    local run = "run study.lua -j 2 --set epochs=5 --set fail=marker"
    local function final_group()
      local f = assert(core.rfile.open(d .. "/results/toy.h5"))
      local kind = f:kind("/study/final")
      f:close()
      return kind
    end
    h.write(d .. "/fail.marker", "")
    local code, out = h.moonlab(run, d)
    assert.are.equal(1, code, out)
    assert.truthy(out:find("final evaluation deferred: 4 trials failed; rerun with --retry-failed", 1, true), out)
    assert.falsy(out:find("final done", 1, true), out)
    assert.are_not.equal("group", final_group())
    -- still deferred while they stay failed
    code, out = h.moonlab(run, d)
    assert.are.equal(1, code, out)
    assert.truthy(out:find("final evaluation deferred: 4 trials failed", 1, true), out)
    assert.falsy(out:find("final done", 1, true), out)
    -- once they succeed it runs, once, for the setting chosen among all of them
    os.remove(d .. "/fail.marker")
    code, out = h.moonlab(run .. " --retry-failed", d)
    assert.are.equal(0, code, out)
    assert.falsy(out:find("deferred", 1, true), out)
    local _, finals = out:gsub("final done", "")
    assert.are.equal(1, finals, out)
    assert.are.equal("group", final_group())
    local f = assert(core.rfile.open(d .. "/results/toy.h5"))
    local fm = {}
    for _, c in ipairs(assert(f:table("/study/final/metrics"))) do fm[c.name] = c.values[1] end
    local selected = assert(f:attrs("/")).selected
    f:close()
    assert.are.equal(string.format('{"width":%d}', fm.chosen_width), selected)
    code, out = h.moonlab(run, d)
    assert.are.equal(0, code, out)
    assert.falsy(out:find("final done", 1, true), out)
  end)

  it("runs again trials whose claim names a process that is not the one that claimed them", function()
    local d = setup()
    local run = "run study.lua -j 2 --set epochs=5"
    assert.are.equal(0, (h.moonlab(run, d)))
    local ids = {}
    for id in pairs(summary(d .. "/results/toy.h5")) do ids[#ids + 1] = id end
    table.sort(ids)
    local trials, host = d .. "/results/toy/trials/", core.hostname()
    local function claim(id, text)
      os.remove(trials .. id .. ".h5")
      h.write(trials .. id .. ".claim", text)
    end
    local own = assert(core.proc.token(core.pid()))
    local boot, start = own:match("^(.+):(%d+)$")
    local init = assert(core.proc.token(1), "no process 1 to test with")
    local now = os.time()
    -- pid 1 is alive, but it started at another time than the claim says
    claim(ids[1], string.format("1 %s %d token=%s:%d\n", host, now, boot, tonumber(init:match(":(%d+)$")) + 1))
    -- this process, with its start time, but of another boot
    claim(ids[2], string.format("%d %s %d token=%s:%s\n", core.pid(), host, now,
      "00000000-0000-0000-0000-000000000000", start))
    -- a live pid and no token (no way to tell it is the claimer)
    claim(ids[3], string.format("1 %s %d\n", host, now))
    -- another host's claim whose heartbeat stopped 11 minutes ago
    claim(ids[4], string.format("1 elsewhere.example %d token=x:1\n", now - 660))
    os.execute(string.format(NO_PRELOAD .. "touch -d @%d '%s%s.claim'", now - 660, trials, ids[4]))
    -- and, as a check, a claim that is alive: this very process, and another host's fresh one
    claim(ids[5], string.format("%d %s %d token=%s\n", core.pid(), host, now, own))
    claim(ids[6], string.format("1 elsewhere.example %d token=x:1\n", now))
    local code, out = h.moonlab("status results/toy.h5", d)
    local state = {}
    for id, st in out:gmatch("\n(%x+)%s+(%a+)") do state[id] = st end
    assert.are.same({ "lost", "lost", "lost", "lost", "running", "running" },
      { state[ids[1]], state[ids[2]], state[ids[3]], state[ids[4]], state[ids[5]], state[ids[6]] }, out)
    -- the live ones finish elsewhere: their results appear and their claims go
    os.remove(trials .. ids[5] .. ".claim")
    os.remove(trials .. ids[6] .. ".claim")
    code, out = h.moonlab(run, d, NO_PRELOAD .. "timeout 60")
    assert.are.equal(0, code, out)
    assert.falsy(out:find("waiting for them", 1, true), out)
    local rerun = {}
    for id in out:gmatch("trial (%x+) done") do rerun[#rerun + 1] = id end
    table.sort(rerun)
    assert.are.same({ ids[1], ids[2], ids[3], ids[4], ids[5], ids[6] }, rerun)
    assert.are.equal(20, count(summary(d .. "/results/toy.h5"), "done"))
    for _, name in ipairs(h.ls(trials)) do assert.falsy(name:match("%.claim$"), name) end
  end)

  it("keeps the claim of a running trial alive while the trial logs nothing", function()
    local beat = require("moonlab.study").HEARTBEAT
    local d = setup(string.format([[
local ml = require "moonlab"
ml.study { name = "quiet", params = { k = { 1 } },
  trial = function(t)
    ml.core.proc.poll({}, %d) -- no epoch, no log line
    return { val_loss = 1 }
  end }
]], math.floor(4 * beat * 1000)))
    os.execute(string.format(NO_PRELOAD .. "cd '%s' && ('%s' run study.lua >run.out 2>&1; echo $? >run.rc) &",
      d, h.bin))
    local trials, claim = d .. "/results/quiet/trials/", nil
    for _ = 1, 200 do
      for _, name in ipairs(h.ls(trials)) do
        if name:match("%.claim$") then claim = trials .. name end
      end
      if claim then break end
      os.execute("sleep 0.05")
    end
    assert.truthy(claim, "no claim appeared")
    local first = assert(core.proc.mtime(claim))
    os.execute(string.format(NO_PRELOAD .. "sleep %.1f", 2 * beat + 0.5))
    local later = core.proc.mtime(claim)
    assert.truthy(later, "the trial ended early")
    assert.is_true(later >= first + beat, string.format("claim touched at %.2f, then %.2f", first, later))
    for _ = 1, 400 do
      if h.exists(d .. "/run.rc") then break end
      os.execute("sleep 0.05")
    end
    assert.are.equal("0", (io.open(d .. "/run.rc"):read("l")))
  end)

  it("stops cleanly on SIGINT and resumes", function()
    local d = setup()
    os.execute(string.format(NO_PRELOAD .. "cd '%s' && ('%s' run study.lua -j 2 >int.out 2>&1 & p=$!; sleep 0.5; "
      .. "kill -INT $p; wait $p; echo $? > int.rc)", d, h.bin))
    local f = io.open(d .. "/int.rc")
    local rc = f and f:read("n")
    if f then f:close() end
    local text = io.open(d .. "/int.out"):read("a")
    assert.are.equal(130, rc, text)
    assert.truthy(text:find("interrupted (SIGINT)", 1, true), text)
    assert.truthy(text:find("run the same command again to resume", 1, true), text)
    for _, name in ipairs(h.ls(d .. "/results/toy/trials")) do
      assert.falsy(name:match("%.claim$"), "claim left after SIGINT: " .. name)
    end
    local code, out = h.moonlab("run study.lua -j 2", d)
    assert.are.equal(0, code, out)
    assert.are.same(reference, (summary(d .. "/results/toy.h5")))
  end)

  it("reports an unwritable results directory before running anything", function()
    local d = setup()
    h.write(d .. "/blocker", "a file where the directory should be")
    local code, out, err = h.moonlab("run study.lua --out blocker/toy.h5", d)
    assert.are.equal(1, code)
    assert.truthy(err:find("blocker", 1, true), err)
    assert.falsy(out:find("trial %x+ done"), out)
  end)

  it("rebuilds the study file with moonlab collect", function()
    local d = setup()
    assert.are.equal(0, (h.moonlab("run study.lua -j 2 --set epochs=5", d)))
    local before = summary(d .. "/results/toy.h5")
    os.remove(d .. "/results/toy.h5")
    local code, out, err = h.moonlab("collect results/toy.h5", d)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("results: results/toy.h5", 1, true))
    assert.are.same(before, (summary(d .. "/results/toy.h5")))
    code, _, err = h.moonlab("collect results/nothing.h5", d)
    assert.are.equal(1, code)
    assert.truthy(err:find("no study manifest", 1, true), err)
  end)
end)

describe("a study's holdout", function()
  it("is one fold, recorded with its rows, seed and parameters", function()
    local d = setup([[
local ml = require "moonlab"
local ds = ml.data.synthetic.polynomial{ n = 50, weights = {1}, seed = 1 }
ml.study {
  name = "hold",
  seeds = 1,
  data = ds,
  split = ml.split.holdout(ds, { test = 0.2, seed = 11 }),
  trial = function(t) return { val_loss = t.val.n, train_rows = t.train.n } end,
}
]])
    local code, out, err = h.moonlab("run study.lua", d)
    assert.are.equal(0, code, out .. err)
    local want = require("moonlab").split.holdout(50, { test = 0.2, seed = 11 })
    local f = assert(core.rfile.open(d .. "/results/hold.h5"))
    assert.are.same(want.train:totable(), f:tensor("/study/splits/1/train"):totable())
    assert.are.same(want.test:totable(), f:tensor("/study/splits/1/val"):totable())
    assert.are.same({ folds = 1, kind = "holdout", samples = 50, seed = 11, test = 0.2, shuffle = 1,
      stratify = 0 }, assert(f:attrs("/study/splits")))
    local by = {}
    for _, c in ipairs(assert(f:table("/study/summary"))) do by[c.name] = c.values end
    assert.are.same({ 40 }, by.train_rows)
    assert.are.same({ 10 }, by.val_loss)
    f:close()
  end)
end)

describe("ml.study declarations", function()
  local function declare_error(body)
    local d = setup("local ml = require 'moonlab'\n" .. body .. "\n")
    local code, _, err = h.moonlab("run study.lua", d)
    assert.are.equal(1, code)
    return err
  end

  it("rejects bad fields with the script's line", function()
    assert.truthy(declare_error("ml.study{ trial = 1 }"):find("study.lua:2: study: 'trial' must be a function", 1, true))
    assert.truthy(declare_error("ml.study{ trial = print, params = { seed = {1, 2} } }")
      :find("'seed' is a column of the summary table", 1, true))
    assert.truthy(declare_error("ml.study{ trial = print, bogus = 1 }"):find("unknown field 'bogus'", 1, true))
    assert.truthy(declare_error("ml.study{ trial = print, params = { lr = ml.study.uniform(0, 1) } }")
      :find("random parameters need 'samples'", 1, true))
    assert.truthy(declare_error("ml.study{ trial = print, split = {} }"):find("a split needs 'data'", 1, true))
  end)

  it("draws random parameters from the seed, the same in every run", function()
    local d = setup([[
local ml = require "moonlab"
ml.study{ name = "r", params = { lr = ml.study.loguniform(1e-4, 1e-1), depth = {1, 2} }, samples = 3,
  trial = function(t) return { val_loss = t.params.lr * t.params.depth } end }
]])
    assert.are.equal(0, (h.moonlab("run study.lua", d)))
    local f = assert(core.rfile.open(d .. "/results/r.h5"))
    local cols = {}
    for _, c in ipairs(assert(f:table("/study/aggregates"))) do cols[c.name] = c.values end
    f:close()
    assert.are.equal(6, #cols.lr)
    for i = 1, 6 do
      assert.is_true(cols.lr[i] >= 1e-4 and cols.lr[i] <= 1e-1)
      assert.are.equal(i <= 3 and 1 or 2, cols.depth[i])
    end
    assert.are_not.equal(cols.lr[1], cols.lr[2])
    -- another seed draws other values
    assert.are.equal(0, (h.moonlab("run study.lua --seed 5 --out s5/r.h5", d)))
    f = assert(core.rfile.open(d .. "/s5/r.h5"))
    local other = {}
    for _, c in ipairs(assert(f:table("/study/aggregates"))) do other[c.name] = c.values end
    f:close()
    assert.are_not.equal(cols.lr[1], other.lr[1])
  end)
end)

describe("checkpoints", function()
  -- One long trial (dropout, Adam, shuffling): killed in the middle, it resumes from its last
  -- checkpoint and ends bit-identical to an uninterrupted run.
  local CK = [[
local ml = require "moonlab"
local ds = ml.data.synthetic.polynomial{ n = 30000, weights = {1, -2, 3}, bias = 1, noise = 0.3, seed = 2 }
ml.study {
  name = "ck", params = { width = {32} }, checkpoint = { every = 1 }, data = ds,
  trial = function(t)
    local m = ml.nn.sequential({ ml.nn.linear(3, t.params.width), ml.nn.relu(), ml.nn.dropout(0.2),
      ml.nn.linear(t.params.width, 1) }, { seed = ml.seed("init") })
    local h = m:fit{ data = t.train, loss = "mse", optim = ml.optim.adam{ lr = 0.003 }, epochs = 40,
      batch = 8, log = t.run, seed = ml.seed("order"), checkpoint = t.checkpoint }
    local w = m:parameters()
    return { train_loss = h[#h].loss, w_sum = w:sum(), epochs_seen = #h }
  end,
}
]]
  local function metrics(path)
    local f = assert(core.rfile.open(path))
    local out = {}
    local ids = assert(f:list("/study/trials"))
    for _, c in ipairs(assert(f:table("/study/trials/" .. ids[1] .. "/metrics"))) do
      out[c.name] = string.format("%.17g", c.values[1])
    end
    for _, c in ipairs(assert(f:table("/study/trials/" .. ids[1] .. "/history"))) do
      if c.name ~= "seconds" then
        for i, v in ipairs(c.values) do out[c.name .. i] = string.format("%.17g", v) end
      end
    end
    f:close()
    return out
  end

  it("resume a killed trial bit-identically", function()
    local d = setup(CK)
    local code, out, err = h.moonlab("run study.lua", d)
    assert.are.equal(0, code, out .. err)
    local whole = metrics(d .. "/results/ck.h5")
    assert.are.equal("40", whole.epochs_seen)
    local d2 = setup(CK)
    -- kill when the trial has written a checkpoint of some epoch but not finished
    os.execute(string.format(NO_PRELOAD .. "cd '%s' && ('%s' run study.lua >run.out 2>&1 & p=$!; "
      .. "for i in $(seq 200); do ls results/ck/trials/*.ckpt-1.h5 >/dev/null 2>&1 && break; sleep 0.02; done; sleep 0.3; "
      .. "kill -STOP $p; pkill -9 -P $p; kill -9 $p; wait $p) 2>/dev/null", d2, h.bin))
    local ckfiles = 0
    for _, n in ipairs(h.ls(d2 .. "/results/ck/trials")) do
      if n:match("%.ckpt%-1%.h5$") then ckfiles = ckfiles + 1 end
      assert.falsy(n:match("^%x+%.h5$"), "the trial finished before the kill: " .. n)
    end
    assert.are.equal(1, ckfiles)
    code, out, err = h.moonlab("run study.lua", d2)
    assert.are.equal(0, code, out .. err)
    local log = ""
    for _, n in ipairs(h.ls(d2 .. "/results/ck/trials")) do
      if n:match("%.log$") then log = io.open(d2 .. "/results/ck/trials/" .. n):read("a") end
      assert.falsy(n:match("%.ckpt"), "checkpoint left after the trial finished: " .. n)
    end
    local epoch = tonumber(log:match("resumed from %S+ at epoch (%d+)"))
    assert.truthy(epoch and epoch >= 1 and epoch < 40, log)
    assert.are.same(whole, metrics(d2 .. "/results/ck.h5"))
  end)

  -- Time checkpoints fall between two steps of an epoch: with seconds = 0.01 almost every
  -- checkpoint is inside one. The kill comes once one exists; the resumed trial continues at the
  -- step after it (the batch order, the epoch's running sums, the dropout stream and the
  -- carried recurrent states come from the file) and ends bit-identical, history included.
  local MLP = [[
local ml = require "moonlab"
local ds = ml.data.synthetic.polynomial{ n = 60000, weights = {1, -2, 3}, bias = 1, noise = 0.3, seed = 2 }
ml.study {
  name = "ckt", params = { width = {32} }, checkpoint = { seconds = 0.01 }, data = ds,
  trial = function(t)
    local m = ml.nn.sequential({ ml.nn.linear(3, t.params.width), ml.nn.relu(), ml.nn.dropout(0.2),
      ml.nn.linear(t.params.width, 1) }, { seed = ml.seed("init") })
    local h = m:fit{ data = t.train, loss = "mse", optim = ml.optim.adam{ lr = 0.003 }, epochs = 4,
      batch = 4, clip = 5, log = t.run, seed = ml.seed("order"), checkpoint = t.checkpoint }
    return { train_loss = h[#h].loss, w_sum = m:parameters():sum(), epochs_seen = #h }
  end,
}
]]
  -- truncated BPTT over a stream (a 2-layer LSTM with dropout, states carried across batches);
  -- long enough (about 1 s) that the kill, 0.2 s after the first checkpoint, comes before its end
  local STREAM = [[
local ml = require "moonlab"
-- ids 0..3: a period-4 pattern with one place drawn at random, so the carried state matters
local n = 160000
local ids, noise = ml.tensor.zeros(n), ml.core.rng.new(3):uniform({ n }, 0, 1)
for i = 1, n do ids[i] = ({ 0, 1, 0, 2 })[(i - 1) % 4 + 1] + (i % 4 == 0 and noise[i] < 0.3 and 1 or 0) end
local stream = ml.data.stream(ids, { batch = 8, steps = 5 })
ml.study {
  name = "ckb", params = { cell = { "lstm" } }, checkpoint = { seconds = 0.01 },
  trial = function(t)
    local m = ml.nn.sequential({ ml.nn.one_hot(4), ml.nn[t.params.cell] { hidden = 16, layers = 2,
      dropout = 0.2, sequence = true }, ml.nn.linear(4) }, { seed = ml.seed("init") })
    local h = m:fit{ data = stream, loss = "cross_entropy", optim = ml.optim.adam{ lr = 0.01 },
      epochs = 3, clip = 1, log = t.run, checkpoint = t.checkpoint }
    return { train_loss = h[#h].loss, accuracy = h[#h].accuracy, w_sum = m:parameters():sum() }
  end,
}
]]

  -- Run the study in a fresh directory, kill -9 its runner and worker a little after the trial's
  -- first checkpoint, then run it again. Returns the checkpoint the kill left (its root
  -- attributes and what it holds), the resumed trial's log and the study file's numbers.
  local function kill_and_resume(script, name)
    local d = setup(script)
    local dir = d .. "/results/" .. name .. "/trials/"
    os.execute(string.format(NO_PRELOAD .. "cd '%s' && ('%s' run study.lua >run.out 2>&1 & p=$!; "
      .. "for i in $(seq 300); do ls %s*.ckpt-1.h5 >/dev/null 2>&1 && break; sleep 0.02; done; sleep 0.2; "
      .. "kill -STOP $p; pkill -9 -P $p; kill -9 $p; wait $p) 2>/dev/null", d, h.bin, dir))
    local ck = {}
    for _, n in ipairs(h.ls(dir)) do
      assert.falsy(n:match("^%x+%.h5$"), "the trial finished before the kill: " .. n)
      if n:match("%.ckpt%-1%.h5$") then
        local f = assert(core.rfile.open(dir .. n))
        ck.attrs = assert(f:attrs("/"))
        ck.carry = {}
        for _, k in ipairs { "/carry/2/h", "/carry/2/c" } do ck.carry[k] = f:kind(k) end
        f:close()
      end
    end
    assert.truthy(ck.attrs, "no checkpoint before the kill")
    local code, out, err = h.moonlab("run study.lua", d)
    assert.are.equal(0, code, out .. err)
    local log = ""
    for _, n in ipairs(h.ls(dir)) do
      if n:match("%.log$") then log = io.open(dir .. n):read("a") end
      assert.falsy(n:match("%.ckpt"), "checkpoint left after the trial finished: " .. n)
    end
    return ck, log, metrics(d .. "/results/" .. name .. ".h5")
  end

  for _, case in ipairs {
    { what = "an MLP with dropout, shuffled", script = MLP, name = "ckt", steps = 60000 // 4 },
    { what = "truncated BPTT with carried LSTM states", script = STREAM, name = "ckb",
      steps = require("moonlab").data.stream(require("moonlab").tensor.zeros(160000), { batch = 8, steps = 5 }).stream.windows,
      carry = true },
  } do
    it("resume inside an epoch from a time checkpoint bit-identically: " .. case.what, function()
      local d = setup(case.script)
      local code, out, err = h.moonlab("run study.lua", d)
      assert.are.equal(0, code, out .. err)
      local whole = metrics(d .. "/results/" .. case.name .. ".h5")
      -- a kill that falls in the moment between an epoch's closing checkpoint (step 0 of the
      -- next) and the next one inside it resumes at an epoch's start: also bit-identical, but
      -- not the case under test, so the kill is made again (each time in a fresh directory)
      local ck, log, resumed
      for _ = 1, 5 do
        ck, log, resumed = kill_and_resume(case.script, case.name)
        assert.are.same(whole, resumed)
        if ck.attrs.step > 0 then break end
      end
      local a = ck.attrs
      assert.truthy(a.step > 0 and a.step < case.steps,
        string.format("the checkpoint is at step %d of an epoch of %d", a.step, case.steps))
      assert.are.equal("float", math.type(a.part_loss_sum))
      assert.truthy(a.part_samples > 0)
      if case.carry then
        assert.truthy(ck.carry["/carry/2/h"] and ck.carry["/carry/2/c"], "no carried states saved")
      end
      local e, s = log:match("resumed from %S+ at epoch (%d+), step (%d+) of epoch")
      assert.are.same({ a.epoch, a.step }, { tonumber(e), tonumber(s) }, log)
      assert.are.same(whole, resumed)
    end)
  end
end)

describe("a study's unseeded models", function()
  -- nn.sequential without a seed takes ml.seed("model", n) for the n-th model: inside a trial n
  -- counts the trial's own models, so a trial's numbers do not depend on which trials its worker
  -- ran before it (on -j).
  local UNSEEDED = [[
local ml = require "moonlab"
ml.study {
  name = "unseeded",
  params = { k = { 1, 2, 3, 4, 5, 6 } },
  trial = function(t)
    local m = ml.nn.sequential { ml.nn.linear(2, 3) }
    local first = m:parameters()[1]
    local again = ml.nn.sequential({ ml.nn.linear(2, 3) }, { seed = ml.seed("model", 1) })
    return { first = first, expected = again:parameters()[1] }
  end,
}
]]

  it("count from 1 in every trial, whatever the worker ran before", function()
    for _, jobs in ipairs { 1, 2 } do
      local d = setup(UNSEEDED)
      local code, out, err = h.moonlab("run study.lua -j " .. jobs, d)
      assert.are.equal(0, code, out .. err)
      local f = assert(core.rfile.open(d .. "/results/unseeded.h5"))
      local s = {}
      for _, c in ipairs(assert(f:table("/study/summary"))) do s[c.name] = c.values end
      f:close()
      assert.are.equal(6, #s.first)
      for i = 1, 6 do
        assert.are.equal(s.expected[i], s.first[i], "-j " .. jobs .. ", trial " .. i)
        if i > 1 then assert.are_not.equal(s.first[1], s.first[i]) end -- each trial its own seed
      end
    end
  end)
end)
