-- experiments/timeseries.lua in smoke mode: on the chronological split of the sunspot series the
-- stacked LSTM and the linear autoregression both forecast better than repeating the last value.
local h = require "helpers"
local core = require "moonlab.core"

describe("experiments/timeseries.lua", function()
  it("beats the naive last-value forecast with the LSTM and the AR model", function()
    local d = h.tmpdir()
    local code, out, err = h.moonlab(string.format("run '%s' --set smoke=true -j 2 --out ts.h5",
      h.root .. "/experiments/timeseries.lua"), d)
    assert.are.equal(0, code, out .. err)
    local f = assert(core.rfile.open(d .. "/ts.h5"))
    local agg = {}
    for _, c in ipairs(assert(f:table("/study/aggregates"))) do agg[c.name] = c.values end
    f:close()
    local test = {}
    for i, m in ipairs(agg.model) do test[m] = agg.test_rmse_mean[i] end
    assert.is_true(test.naive > 20 and test.naive < 60, "naive RMSE " .. tostring(test.naive))
    assert.is_true(test.lstm < test.naive, string.format("lstm %.2f, naive %.2f", test.lstm, test.naive))
    assert.is_true(test.ar < test.naive, string.format("ar %.2f, naive %.2f", test.ar, test.naive))
  end)
end)
