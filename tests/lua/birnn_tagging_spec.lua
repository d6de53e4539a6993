-- experiments/birnn_tagging.lua in smoke mode: on the next-word tagging task the bidirectional
-- GRU tags (nearly) every token right, while the left-to-right one stops at the accuracy of the
-- best left-to-right tagger on the test sentences (the generator's exact bound).
local h = require "helpers"
local core = require "moonlab.core"

describe("experiments/birnn_tagging.lua", function()
  it("reaches 99 % with both directions and stays at the left-to-right bound with one", function()
    local d = h.tmpdir()
    local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 --out bt.h5",
      h.root .. "/experiments/birnn_tagging.lua"), d)
    assert.are.equal(0, code, out .. err)
    local f = assert(core.rfile.open(d .. "/bt.h5"))
    local agg = {}
    for _, c in ipairs(assert(f:table("/study/aggregates"))) do agg[c.name] = c.values end
    f:close()
    assert.are.same({ 1, 2 }, agg.directions)
    for i = 1, 2 do
      local acc, bound = agg.test_accuracy_mean[i], agg.bound_sample_mean[i]
      assert.are.near(0.908125, agg.bound_mean[i], 1e-9)
      if agg.directions[i] == 2 then
        assert.is_true(acc >= 0.99, "bidirectional accuracy " .. acc)
      else
        assert.is_true(acc > bound - 0.02 and acc < bound + 0.01,
          string.format("left-to-right accuracy %.4f, bound on this test set %.4f", acc, bound))
      end
    end
  end)
end)
