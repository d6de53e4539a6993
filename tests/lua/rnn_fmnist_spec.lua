-- experiments/rnn_fmnist.lua in smoke mode: the three cells run as one study, each learns (well
-- above the 10 % of chance after one short epoch) and records test accuracy per epoch.
local h = require "helpers"
local core = require "moonlab.core"

describe("experiments/rnn_fmnist.lua (smoke)", function()
  it("trains LSTM, GRU and RNN side by side and records test accuracy per epoch", function()
    local d = h.tmpdir()
    local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 --out r.h5",
      h.root .. "/experiments/rnn_fmnist.lua"), d)
    assert.are.equal(0, code, out .. err)
    local f = assert(core.rfile.open(d .. "/r.h5"))
    local s = {}
    for _, c in ipairs(assert(f:table("/study/summary"))) do s[c.name] = c.values end
    assert.are.same({ "lstm", "gru", "rnn" }, s.cell)
    for i = 1, 3 do
      assert.are.equal("done", s.status[i])
      assert.is_true(s.test_accuracy[i] > 0.2, s.cell[i] .. " test accuracy " .. s.test_accuracy[i])
      local hist = {}
      for _, c in ipairs(assert(f:table("/study/trials/" .. s.trial[i] .. "/history"))) do hist[c.name] = c.values end
      assert.are.equal(1, #hist.epoch)
      assert.are.equal(s.test_accuracy[i], hist.test_accuracy[1])
    end
    f:close()
  end)
end)
