-- experiments/poly_fit.lua reproduces the textbook outcome: the third-order fit recovers the
-- generating weights, the linear fit underfits, the fit on 2 samples overfits.
local h = require "helpers"
local cli = require "moonlab.cli"
local results = require "moonlab.results"

local script = h.root .. "/experiments/poly_fit.lua"
local true_w = { 1.2, -3.4, 5.6 }

local function run(seed)
  local d = h.tmpdir()
  local real_print = print
  print = function() end -- the experiment's table; this spec checks numbers, not text
  local ok, code = pcall(cli.run, { script = script, out = d .. "/p.h5", overrides = {}, seed = seed, threads = 1 })
  print = real_print
  assert.is_true(ok, code)
  assert.are.equal(0, code)
  assert.is_true(h.exists(d .. "/p.h5"))
  local m = {}
  for _, name in ipairs { "normal", "underfit", "overfit" } do
    m[name] = results.runs[name].metric_values
  end
  return m
end

describe("experiments/poly_fit.lua", function()
  local seeds = { 0, 1, 2, 3, 4 }
  local runs = {}
  setup(function()
    for _, s in ipairs(seeds) do runs[s] = run(s) end
  end)

  it("recovers the weights and bias with the third-order fit (mean error over five seeds < 0.1)", function()
    for i = 1, 3 do
      local err = 0
      for _, s in ipairs(seeds) do err = err + math.abs(runs[s].normal["w" .. i] - true_w[i]) end
      assert.is_true(err / #seeds < 0.1, string.format("w%d mean error %.4f", i, err / #seeds))
    end
    local berr = 0
    for _, s in ipairs(seeds) do berr = berr + math.abs(runs[s].normal.bias - 5) end
    assert.is_true(berr / #seeds < 0.1, string.format("bias mean error %.4f", berr / #seeds))
  end)

  it("underfits with x alone: test loss over 100x the normal fit's, for every seed", function()
    for _, s in ipairs(seeds) do
      local r = runs[s]
      assert.is_true(r.underfit.test_loss > 100 * r.normal.test_loss,
        string.format("seed %d: %g vs %g", s, r.underfit.test_loss, r.normal.test_loss))
    end
  end)

  it("overfits on 2 samples: test loss over 10x its own train loss, for every seed", function()
    for _, s in ipairs(seeds) do
      local r = runs[s]
      assert.is_true(r.overfit.test_loss > 10 * r.overfit.train_loss,
        string.format("seed %d: %g vs %g", s, r.overfit.test_loss, r.overfit.train_loss))
    end
  end)

  it("records a 100-epoch history for each fit", function()
    for _, name in ipairs { "normal", "underfit", "overfit" } do
      local rows = results.runs[name].rows
      assert.are.equal(100, #rows)
      assert.are.equal(100, rows[100].epoch)
      assert.is_number(rows[100].test_loss)
    end
  end)

  it("is bit-identical when run again with the same seed", function()
    local again = run(3)
    assert.are.same(runs[3], again)
  end)
end)
