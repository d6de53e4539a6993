-- experiments/seq2seq_add.lua in smoke mode (2-digit sums): the encoder-decoder gets a good part
-- of the held-out sums exactly right, and exact match is never above the per-character accuracy.
local h = require "helpers"
local core = require "moonlab.core"

describe("experiments/seq2seq_add.lua", function()
  it("answers held-out sums exactly", function()
    local d = h.tmpdir()
    local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 --out s2s.h5",
      h.root .. "/experiments/seq2seq_add.lua"), d)
    assert.are.equal(0, code, out .. err)
    local f = assert(core.rfile.open(d .. "/s2s.h5"))
    local agg = {}
    for _, c in ipairs(assert(f:table("/study/aggregates"))) do agg[c.name] = c.values end
    local summary = {}
    for _, c in ipairs(assert(f:table("/study/summary"))) do summary[c.name] = c.values end
    local hist = {}
    for _, c in ipairs(assert(f:table("/study/trials/" .. summary.trial[1] .. "/history"))) do
      hist[c.name] = c.values
    end
    f:close()
    local exact, chars = agg.test_exact_mean[1], agg.test_char_accuracy_mean[1]
    assert.is_true(exact > 0.4, "exact match " .. exact)
    assert.is_true(exact <= chars, string.format("exact %.3f, characters %.3f", exact, chars))
    -- it learned: exact match after the first epoch was far lower
    assert.is_true(hist.test_exact[1] < exact / 2, "first epoch " .. hist.test_exact[1])
  end)
end)
