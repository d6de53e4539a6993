-- experiments/weight_decay.lua in smoke mode: on d2l's high-dimensional regression (run whole)
-- weight decay 3 gives a test loss over 10x lower and a far smaller ||w|| than no decay, which
-- fits the 20 training samples almost exactly; on a Fashion-MNIST subset dropout 0.5 narrows
-- the gap between test and training loss.
local h = require "helpers"
local core = require "moonlab.core"

local script = h.root .. "/experiments/weight_decay.lua"

local function columns(f, path)
  local out = {}
  for _, c in ipairs(assert(f:table(path))) do out[c.name] = c.values end
  return out
end

-- Runs the script in a fresh directory; returns the open study file.
local function run(args)
  local d = h.tmpdir()
  local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 %s --out s.h5", script, args), d)
  assert.are.equal(0, code, out .. err)
  return assert(core.rfile.open(d .. "/s.h5"))
end

-- The summary rows of one setting, keyed by replicate seed.
local function by_seed(summary, param, value, metric)
  local out = {}
  for i = 1, #summary.trial do
    if summary[param][i] == value then out[summary.seed[i]] = summary[metric][i] end
  end
  return out
end

describe("experiments/weight_decay.lua", function()
  it("weight decay 3 cuts the test loss over 10x and shrinks ||w||, for every seed", function()
    local f = run("")
    local s = columns(f, "/study/summary")
    local test0, test3 = by_seed(s, "lambda", 0, "test_loss"), by_seed(s, "lambda", 3, "test_loss")
    local train0 = by_seed(s, "lambda", 0, "train_loss")
    local w0, w3 = by_seed(s, "lambda", 0, "w_norm"), by_seed(s, "lambda", 3, "w_norm")
    local seeds = 0
    for seed, t0 in pairs(test0) do
      seeds = seeds + 1
      assert.is_true(test3[seed] * 10 < t0, string.format("seed %d: %g vs %g", seed, test3[seed], t0))
      assert.is_true(w3[seed] * 10 < w0[seed], string.format("seed %d: ||w|| %g vs %g", seed, w3[seed], w0[seed]))
      -- without decay the 20 samples are fitted almost exactly: overfitting, not underfitting
      assert.is_true(train0[seed] * 100 < t0, string.format("seed %d: train %g test %g", seed, train0[seed], t0))
    end
    assert.are.equal(2, seeds)
    -- a 100-epoch history per trial with training and test loss
    local id = s.trial[1]
    local hist = columns(f, "/study/trials/" .. id .. "/history")
    assert.are.equal(100, #hist.epoch)
    assert.is_number(hist.test_loss[100])
    assert.is_number(hist.train_loss[100])
    f:close()
  end)

  it("dropout 0.5 narrows the gap between test and training loss, for every seed", function()
    local f = run("--set part=dropout")
    assert.are.equal("weight_decay_dropout", f:attrs("/").study)
    local s = columns(f, "/study/summary")
    local gap0, gap5 = by_seed(s, "dropout", 0, "gap_loss"), by_seed(s, "dropout", 0.5, "gap_loss")
    local seeds = 0
    for seed, g0 in pairs(gap0) do
      seeds = seeds + 1
      assert.is_true(gap5[seed] < 0.8 * g0, string.format("seed %d: gap %g vs %g", seed, gap5[seed], g0))
      assert.is_true(g0 > 0)
    end
    assert.are.equal(2, seeds)
    for i = 1, #s.trial do
      assert.is_true(s.test_accuracy[i] > 0.5, "test accuracy " .. s.test_accuracy[i])
    end
    f:close()
  end)

  it("refuses an unknown part", function()
    local code, out, err = h.moonlab(string.format("run '%s' --set part=both", script))
    assert.are.equal(1, code, out .. err)
    assert.truthy(err:find("expected weight_decay or dropout", 1, true), err)
  end)
end)
