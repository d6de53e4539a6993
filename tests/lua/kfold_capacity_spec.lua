-- experiments/kfold_capacity.lua in smoke mode: 3-fold selection over degrees 1..4 picks the
-- true degree (3), training error falls with the degree, and the test set is used only by the
-- final evaluation of the chosen degree.
local h = require "helpers"
local core = require "moonlab.core"

local script = h.root .. "/experiments/kfold_capacity.lua"

local function columns(f, path)
  local out = {}
  for _, c in ipairs(assert(f:table(path))) do out[c.name] = c.values end
  return out
end

describe("experiments/kfold_capacity.lua", function()
  it("selects the cubic by cross-validation and evaluates the test set once", function()
    for _, seed in ipairs({ 0, 1 }) do
      local d = h.tmpdir()
      local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 --seed %d --out k.h5",
        script, seed), d)
      assert.are.equal(0, code, out .. err)
      local f = assert(core.rfile.open(d .. "/k.h5"))
      local agg = columns(f, "/study/aggregates")
      assert.are.same({ 1, 2, 3, 4 }, agg.degree)
      for i = 1, 4 do assert.are.equal(3, agg.n[i]) end
      -- underfitting below the true degree: both errors fall from 1 to 3
      assert.is_true(agg.train_loss_mean[1] > agg.train_loss_mean[2])
      assert.is_true(agg.train_loss_mean[2] > agg.train_loss_mean[3])
      assert.is_true(agg.val_loss_mean[1] > agg.val_loss_mean[3] * 2)
      assert.are.same({ 0, 0, 1, 0 }, agg.selected)
      assert.are.equal('{"degree":3}', f:attrs("/").selected)
      -- the test set appears only in the final evaluation
      local final = columns(f, "/study/final/metrics")
      assert.is_true(final.test_loss[1] < agg.val_loss_mean[2])
      local summary = columns(f, "/study/summary")
      assert.is_nil(summary.test_loss)
      f:close()
    end
  end)
end)
