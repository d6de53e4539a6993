local ml = require "moonlab"
local data, T = ml.data, ml.tensor

describe("moonlab.data", function()
  it("builds a dataset and checks that the row counts agree", function()
    local ds = data.dataset(T.zeros(4, 2), T.zeros(4))
    assert.are.equal(4, ds.n)
    assert.has_error(function() data.dataset(T.zeros(4, 2), T.zeros(3)) end,
      "dataset: x has 4 rows but y has 3")
    assert.has_error(function() data.dataset({}, T.zeros(3)) end, "dataset: x and y must be tensors")
  end)

  it("takes rows as views", function()
    local x = T.from { { 1 }, { 2 }, { 3 } }
    local part = data.rows(data.dataset(x, x), 2, 3)
    assert.are.same({ { 2 }, { 3 } }, part.x:totable())
    x:set(2, 1, 20)
    assert.are.equal(20, part.x:get(1, 1))
  end)

  it("draws polynomial data reproducibly from its seed", function()
    local a = data.synthetic.polynomial { n = 50, weights = { 1.2, -3.4, 5.6 }, bias = 5, noise = 0.01, seed = 9 }
    local b = data.synthetic.polynomial { n = 50, weights = { 1.2, -3.4, 5.6 }, bias = 5, noise = 0.01, seed = 9 }
    assert.are.same(a.y:totable(), b.y:totable())
    assert.are.same({ 50, 3 }, a.x:shape())
    -- features are x, x^2, x^3 of the raw x, and y follows the polynomial up to the noise
    local x = a.raw:get(7, 1)
    assert.is_near(x * x, a.x:get(7, 2), 1e-5 * (1 + x * x))
    assert.is_near(x * x * x, a.x:get(7, 3), 1e-5 * (1 + math.abs(x ^ 3)))
    local want = 1.2 * x - 3.4 * x ^ 2 + 5.6 * x ^ 3 + 5
    assert.is_near(want, a.y:get(7, 1), 0.05)
  end)

  it("rejects a polynomial without weights", function()
    assert.has_error(function() data.synthetic.polynomial { n = 5 } end,
      "polynomial: 'weights' must be a list of numbers")
  end)
end)
