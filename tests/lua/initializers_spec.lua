local ml = require "moonlab"
local T, init = ml.tensor, ml.init

local function stats(t)
  local n, s, ss = t:size(), t:sum(), 0
  ss = (t * t):sum()
  local mean = s / n
  return mean, math.sqrt(ss / n - mean * mean)
end

describe("moonlab.init", function()
  it("fills with Xavier/Glorot uniform bounds", function()
    local t = T.zeros(200, 300)
    init.fill(t, init.xavier_uniform, 200, 300, ml.core.rng.new(1))
    local bound = math.sqrt(6 / 500)
    assert.is_true(t:max() <= bound and t:min() >= -bound)
    assert.is_true(t:max() > 0.99 * bound)
  end)

  it("fills Kaiming normal with std sqrt(2/fan_in)", function()
    local t = T.zeros(256, 512)
    init.fill(t, init.kaiming_normal, 256, 512, ml.core.rng.new(2))
    local mean, std = stats(t)
    assert.is_near(0, mean, 0.003)
    assert.is_near(math.sqrt(2 / 512), std, 0.003)
  end)

  it("gives orthogonal rows", function()
    local t = T.zeros(4, 6)
    init.fill(t, init.orthogonal(), 4, 6, ml.core.rng.new(3))
    local g = t:matmul(t:t())
    for i = 1, 4 do
      for j = 1, 4 do assert.is_near(i == j and 1 or 0, g:get(i, j), 1e-5) end
    end
  end)

  it("is used by layers for weights and biases", function()
    local m = ml.nn.sequential { ml.nn.linear { ["in"] = 3, out = 2, init = init.constant(0.5),
      bias_init = init.zeros } }
    assert.are.same({ { 0.5, 0.5, 0.5 }, { 0.5, 0.5, 0.5 } }, m:layer(1).weight:totable())
    assert.are.same({ 0, 0 }, m:layer(1).bias:totable())
  end)

  it("rejects unknown initializers and wrong sizes", function()
    assert.has_error(function() ml.nn.sequential { ml.nn.linear { ["in"] = 1, out = 1, init = "lecun" } } end,
      "sequential: layer 1: unknown initializer 'lecun'")
    assert.has_error(function() init.fill(T.zeros(2, 2), init.zeros, 3, 3, ml.core.rng.new(1)) end,
      "init: tensor must be contiguous with fan_out*fan_in = 9 elements")
  end)
end)
