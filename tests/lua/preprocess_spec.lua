-- Preprocessing fitted on the training rows (ml.data.standardize, minmax, one_hot, windows):
-- statistics come from the training rows only (a subset's rows, not the whole tensor), apply
-- maps any data with them, inverse maps back; values are checked against a plain computation
-- in Lua on small data. Bad input raises naming the argument.
local ml = require "moonlab"
local data, T = ml.data, ml.tensor

describe("preprocessing", function()
  local x = T.from { { 1, 10 }, { 2, 20 }, { 3, 60 }, { 100, -5 } }
  local ds = data.dataset(x, T.from { 0, 1, 2, 0 })
  local train = data.subset(ds, { 1, 2, 3 })    -- row 4 is not training data

  it("standardizes with the training rows' mean and std", function()
    local s = data.standardize(train)
    assert.are.same({ 2 }, s.mean:shape())
    assert.is_near(2, s.mean:get(1), 1e-6)
    assert.is_near(30, s.mean:get(2), 1e-5)
    local sd1 = math.sqrt(2 / 3)
    assert.is_near(sd1, s.std:get(1), 1e-6)
    local all = s:apply(ds)                      -- every row, with the training statistics
    assert.are.equal(4, all.n)
    assert.is_near((100 - 2) / sd1, all.x:get(4, 1), 1e-3)
    local t = s:apply(train)                     -- a subset: its rows, gathered
    assert.are.equal(3, t.n)
    assert.are.same({ 0, 1, 2 }, t.y:totable())
    assert.is_near(0, t.x:slice(2, 1, 1):sum(), 1e-5)
    local back = s:inverse(t.x)
    assert.is_near(60, back:get(3, 2), 1e-4)
    local g = data.standardize(train, { global = true })
    assert.are.same({ 1 }, g.mean:shape())
    assert.is_near(16, g.mean:get(1), 1e-5)
  end)

  it("rescales to a range with the training rows' min and max", function()
    local m = data.minmax(train, { range = { -1, 1 } })
    assert.are.same({ 1, 10 }, { m.min:get(1), m.min:get(2) })
    local t = m:apply(train).x
    assert.are.same({ { -1, -1 }, { 0, -0.6 }, { 1, 1 } }, (function()
      local r = t:totable()
      for _, row in ipairs(r) do for j = 1, 2 do row[j] = math.floor(row[j] * 1e4 + 0.5) / 1e4 end end
      return r
    end)())
    assert.is_near(-1 + (100 - 1) / 2 * 2, m:apply(x):get(4, 1), 1e-3) -- outside the range: outside [a, b]
    local y = data.standardize(ds, { field = "y" })
    assert.is_near(0.75, y.mean:get(1), 1e-6)
  end)

  it("one-hot encodes labels with the classes of the training rows", function()
    local oh = data.one_hot(train)
    assert.are.equal(3, oh.classes)
    local t = oh:apply(ds)
    assert.are.same({ { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 }, { 1, 0, 0 } }, t.y:totable())
    assert.are.same(x:totable(), t.x:totable())
    local two = data.one_hot(data.subset(ds, { 1, 2 }))
    assert.are.equal(2, two.classes)
    assert.has_error(function() two:apply(ds) end,
      "one_hot: label of row 3 is 2, outside the 2 classes 0..1")
    assert.are.equal(5, data.one_hot(ds, { classes = 5 }).classes)
  end)

  it("cuts a series into windows and the values that follow", function()
    local series = data.synthetic.steps(10)      -- (10, 1): 1..10
    local w = data.windows(series, { window = 4, horizon = 2, step = 3 })
    assert.are.same({ 2, 4, 1 }, w.x:shape())   -- (N', w, D): recurrent input
    assert.are.same({ { 1 }, { 2 }, { 3 }, { 4 } }, w.x[1]:totable())
    assert.are.same({ { 5, 6 }, { 8, 9 } }, w.y:totable())
    local flat = data.windows(series:reshape(10), { window = 3 })
    assert.are.same({ 7, 3 }, flat.x:shape())
    assert.are.same({ 7, 1 }, flat.y:shape())
    assert.are.equal(10, flat.y:get(7, 1))
    assert.has_error(function() data.windows(series, { window = 8, horizon = 3 }) end,
      "windows: a window of 8 steps and a horizon of 3 need at least 11 steps, the series has 10")
    assert.has_error(function() data.windows(series, {}) end,
      "windows: 'window' must be a positive integer, got nil")
  end)

  it("raises for bad options", function()
    assert.has_error(function() data.standardize(ds, { field = "z" }) end,
      "standardize: 'field' must be \"x\" or \"y\", got z")
    assert.has_error(function() data.minmax(ds, { range = { 1, 0 } }) end,
      "minmax: 'range' must be {a, b} with a < b")
    assert.has_error(function() data.standardize(ds, { mean = 0 }) end)
    assert.has_error(function() data.standardize(ds):apply(T.zeros(2, 3)) end)
  end)
end)
