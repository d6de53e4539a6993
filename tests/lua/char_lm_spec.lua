-- experiments/char_lm.lua in smoke mode (120 000 characters of the Jargon File, one epoch): every
-- model's held-out bits per character are well below the unigram baseline counted on the same
-- split, the best is below the bigram's, the baselines are those of the text (not of the model),
-- and every architecture learns the "hello" toy.
local h = require "helpers"
local core = require "moonlab.core"

describe("experiments/char_lm.lua", function()
  it("beats the unigram and bigram baselines on held-out text and learns the hello toy", function()
    local d = h.tmpdir()
    local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 --out lm.h5",
      h.root .. "/experiments/char_lm.lua"), d)
    assert.are.equal(0, code, out .. err)
    local f = assert(core.rfile.open(d .. "/lm.h5"))
    local agg = {}
    for _, c in ipairs(assert(f:table("/study/aggregates"))) do agg[c.name] = c.values end
    local summary = {}
    for _, c in ipairs(assert(f:table("/study/summary"))) do summary[c.name] = c.values end
    local attrs = f:attrs("/study/trials/" .. summary.trial[1])
    f:close()
    local best = math.huge
    for i = 1, #agg.cell do
      local bpc, uni, bi = agg.val_bpc_mean[i], agg.unigram_bpc_mean[i], agg.bigram_bpc_mean[i]
      -- English text: about 4.5 bits per character for letter frequencies, less with one letter of context
      assert.is_true(uni > 4 and uni < 5.5 and bi > 3 and bi < uni - 0.5, uni .. " " .. bi)
      assert.is_true(bpc < uni - 0.3, string.format("%s x%d: %.3f bpc, unigram %.3f", agg.cell[i],
        agg.layers[i], bpc, uni))
      assert.are.equal(1, agg.hello_solved_mean[i])
      best = math.min(best, bpc)
    end
    assert.is_true(best < agg.bigram_bpc_mean[1], "best " .. best .. ", bigram " .. agg.bigram_bpc_mean[1])
    assert.are.equal("ello", attrs.hello_continuation)
    assert.is_true(#attrs["sample_t0.8"] > 80)
  end)
end)
