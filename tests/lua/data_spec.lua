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

describe("errors of moonlab.data", function()
  -- Each case calls the API on one line of this file (never as a tail call, which would hide
  -- that line); the message must start with that line, not one inside lua/moonlab/data.lua
  -- (a core function's error, or a check in a helper or in another public function).
  local src = debug.getinfo(1, "S").short_src

  it("start with the calling script's file and line", function()
    local oh = data.one_hot(data.dataset(T.zeros(3, 1), T.from { 0, 1, 2 }))
    local bad = data.dataset(T.zeros(2, 1), T.from { 0, 7 })
    local hello = data.synthetic.next_char("hello")
    local cases = {
      { function() local _ = oh:apply(bad) end,
        "one_hot: label of row 2 is 7, outside the 3 classes 0..2" },
      { function() local _ = data.save({ x = T.from { 1.5 } }, "/tmp/x.h5", { x_type = "uint8" }) end,
        "data.save: cannot save '/tmp/x.h5': x row 1 holds 1.5" },
      { function() local _ = data.dataset(T.zeros(2), T.zeros(3)) end,
        "dataset: x has 2 rows but y has 3" },
      { function() local _ = data.rows(bad, 1, 5) end, "" },
      { function() local _ = data.synthetic.copy { n = 0, t = 3 } end,
        "copy: 'n' must be a positive integer, got 0" },
      { function() local _ = data.windows(T.zeros(5), { window = 9 }) end, "" },
      { function() local _ = hello.encode("hex") end,
        "datasets.encode: character 3 ('x') is not in the vocabulary" },
      { function() local _ = data.csv("x.csv", { lable = 1 }) end,
        "data.csv: unknown option 'lable'" },
      { function() local _ = data.jargon { dir = "/nonexistent" } end,
        "jargon: /nonexistent/jargon.txt.gz not found" },
    }
    for i, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok, "case " .. i)
      local want = src .. ":" .. debug.getinfo(c[1], "S").linedefined .. ": " .. c[2]
      assert.are.equal(want, err:sub(1, #want), "case " .. i .. ": " .. err)
      assert.is_nil(err:find("data.lua", 1, true), "case " .. i .. ": " .. err)
    end
  end)
end)

describe("index sets and subsets", function()
  local x = T.from { { 1 }, { 2 }, { 3 }, { 4 }, { 5 } }
  local ds = data.dataset(x, x * 10)

  it("are 1-based lists of row numbers", function()
    local idx = data.index { 5, 1, 3 }
    assert.are.equal(3, #idx)
    assert.are.equal(1, idx[2])
    assert.are.same({ 5, 1, 3 }, idx:totable())
    assert.are.same({ 1, 2, 3 }, data.index(3):totable())
    assert.are.same({ 3, 5 }, idx:take(data.index { 3, 1 }):totable())
    assert.has_error(function() data.index { 0 } end)
  end)

  it("view rows without copying the features, and compose", function()
    local s = data.subset(ds, { 5, 2, 4 })
    assert.are.equal(x, s.x)            -- the same tensor, no copy
    assert.are.equal(3, s.n)
    local ss = data.subset(s, { 3, 1 })  -- rows 4 and 5 of the data
    assert.are.same({ 4, 5 }, ss.rows:totable())
    assert.are.same({ { 4 }, { 5 } }, data.materialize(ss).x:totable())
    assert.has_error(function() data.subset(s, { 4 }) end, "subset: row 4 is outside the dataset's 1..3")
  end)

  it("train and evaluate on the selected rows only", function()
    local m = ml.nn.sequential({ ml.nn.linear(1, 1) }, { seed = 1 })
    local part = data.subset(ds, { 1, 2 })
    local all = m:evaluate(ds, "mse")
    local sub = m:evaluate(part, "mse")
    local direct = m:evaluate(data.materialize(part), "mse")
    assert.are.equal(2, sub.samples)
    assert.are.equal(direct.loss, sub.loss)
    assert.are_not.equal(all.loss, sub.loss)
    local h = m:fit { data = part, loss = "mse", optim = ml.optim.sgd { lr = 0.01 }, epochs = 2, batch = 1 }
    assert.are.equal(2, #h)
  end)
end)
