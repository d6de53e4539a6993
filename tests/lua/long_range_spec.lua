-- experiments/long_range.lua in smoke mode (the adding problem at T = 40, 3000 sequences, 10
-- epochs): the vanilla RNN stays at the trivial baseline (MSE 1/6) while the GRU solves the task,
-- and after training the gradient reaching the first hidden state from the loss is vanishingly
-- small for the RNN, not for the GRU. (The smoke run leaves the LSTM out: with PyTorch's zero
-- forget-gate bias it needs more updates than a few seconds give; full mode has it below 0.01 at
-- T = 100.) Both clip settings run, and every trial keeps its gradient-by-distance curves.
local h = require "helpers"
local core = require "moonlab.core"

local function columns(f, path)
  local out = {}
  for _, c in ipairs(assert(f:table(path))) do out[c.name] = c.values end
  return out
end

describe("experiments/long_range.lua", function()
  it("leaves the baseline with the GRU only, and shows the RNN's vanishing gradient", function()
    local d = h.tmpdir()
    local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 --out lr.h5",
      h.root .. "/experiments/long_range.lua"), d)
    assert.are.equal(0, code, out .. err)
    local f = assert(core.rfile.open(d .. "/lr.h5"))
    local agg = columns(f, "/study/aggregates")
    assert.are.equal(4, #agg.cell)
    local seen = {}
    for i, cell in ipairs(agg.cell) do
      -- the gradient at distance T over the gradient at distance 1, after training
      local mse, r = agg.test_mse_mean[i], agg.grad_ratio_mean[i]
      seen[cell .. agg.clip[i]] = true
      assert.are.equal(40, agg.t[i])
      if cell == "rnn" then
        assert.is_true(mse > 0.14, "rnn test MSE " .. mse)   -- the baseline is 1/6
        assert.is_true(r < 1e-4, "rnn gradient ratio " .. r)
      else
        assert.is_true(mse < 0.01, "gru test MSE " .. mse)
        assert.is_true(r > 1e-2, "gru gradient ratio " .. r)
      end
    end
    for _, k in ipairs { "rnn1", "rnn0", "gru1", "gru0" } do assert.is_true(seen[k], k) end
    -- each trial keeps ||dL/dh_t|| for distances 1..T before and after training
    local summary = columns(f, "/study/summary")
    local g = assert(f:tensor("/study/trials/" .. summary.trial[1] .. "/params/grad_norm_trained"))
    assert.are.same({ 40 }, g:shape())
    assert.is_true(g:all_finite() and g:min() > 0)
    -- entry d is distance d, and the file says so (moonlab plot's x axis)
    local a = assert(f:attrs("/study/trials/" .. summary.trial[1] .. "/params/grad_norm_trained"))
    assert.are.equal("distance", a.index)
    f:close()
  end)
end)
