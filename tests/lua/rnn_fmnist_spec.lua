-- experiments/rnn_fmnist.lua in smoke mode: runs, writes its result, and learns (well above the
-- 10 % of chance after one short epoch).
local h = require "helpers"
local cli = require "moonlab.cli"
local results = require "moonlab.results"

describe("experiments/rnn_fmnist.lua (smoke)", function()
  for _, cell in ipairs { "lstm", "gru", "rnn" } do
    it(cell .. " learns and records test accuracy per epoch", function()
      local d = h.tmpdir()
      local real_print = print
      print = function() end
      local ok, code = pcall(cli.run, { script = h.root .. "/experiments/rnn_fmnist.lua",
        out = d .. "/r.h5", overrides = { { "smoke", true }, { "cell", cell } }, seed = 0, threads = 1 })
      print = real_print
      assert.is_true(ok, code)
      assert.are.equal(0, code)
      assert.is_true(h.exists(d .. "/r.h5"))
      local r = results.runs[cell]
      assert.are.equal(1, #r.rows)
      assert.is_number(r.rows[1].test_accuracy)
      assert.is_true(r.metric_values.test_accuracy > 0.2,
        cell .. " test accuracy " .. r.metric_values.test_accuracy)
    end)
  end
end)
