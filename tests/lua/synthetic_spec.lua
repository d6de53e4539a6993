-- Synthetic data from Lua (ml.data.synthetic): the defaults the docs promise, seeds from
-- ml.seed (the same script and --seed give the same data), and errors naming the argument.
-- The generators' properties are checked in C (tests/c/test_synth.c).
local ml = require "moonlab"
local run = require "moonlab.run"
local S = ml.data.synthetic

describe("ml.data.synthetic", function()
  after_each(function() run.reset() end)

  it("draws d2l's high-dimensional linear regression", function()
    local train, test = S.high_dim_linear {}
    assert.are.same({ 20, 200 }, train.x:shape())
    assert.are.same({ 100, 1 }, test.y:shape())
    -- y = x w + b + noise: the residual is the noise, N(0, 0.01^2)
    local pred = test.x:matmul(train.w_true) + train.b_true
    local r = (test.y - pred):norm() / math.sqrt(100)
    assert.is_true(r > 0.005 and r < 0.015, tostring(r))
    local again = S.high_dim_linear {}
    assert.are.same(train.y:totable(), again.y:totable())
    run.reset { seed = 1 }
    assert.are_not.same(train.y:totable(), (S.high_dim_linear {}).y:totable())
  end)

  it("draws series, the adding problem, the copy task and the tagging task", function()
    local s = S.sine {}
    assert.are.same({ 1000, 1 }, s.y:shape())
    assert.are.equal(1000, s.x:get(1000, 1))
    local a = S.ar { n = 200, phi = { 0.9 }, seed = 4 }
    assert.are.same({ 200, 1 }, a.series:shape())
    local add = S.adding { n = 5, t = 30 }
    assert.are.same({ 5, 30, 2 }, add.x:shape())
    assert.are.equal(10, add.x:slice(3, 2, 2):sum())
    local c = S.copy { n = 3, t = 20 }
    assert.are.same({ 3, 40 }, c.x:shape())
    assert.are.equal(10, c.vocab)
    local tg = S.tagging { n = 100 }
    assert.are.same({ 100, 8 }, tg.y:shape())
    assert.is_near(1 - 7 / 8 * 0.3 * 0.35, tg.best_unidirectional, 1e-12)
  end)

  it("makes the next-character toys", function()
    local h = S.next_char("hello")
    assert.are.equal("ehlo", h.vocab)
    assert.are.equal("hell", h.decode(h.x))
    assert.are.equal("ello", h.decode(h.y))
    local a = S.next_char(("abcde"):rep(4), { window = 5, step = 5 })
    assert.are.same({ 3, 5 }, a.x:shape())
    assert.are.equal("abcde", a.decode(a.x[2]))
    assert.are.equal("bcdea", a.decode(a.y[2]))
  end)

  it("names the argument in errors", function()
    assert.has_error(function() S.adding { n = 5 } end, "adding: 't' must be a positive integer, got nil")
    assert.has_error(function() S.adding { n = 5, t = 1 } end)
    assert.has_error(function() S.ar { phi = { 1.5 }, noise = 1 } end)
    assert.has_error(function() S.copy { n = 2, t = 5, lenght = 3 } end)
    assert.has_error(function() S.next_char("abc", { window = 3 }) end,
      "next_char: window 3 needs a text of more than 3 characters, got 3")
    assert.has_error(function() S.tagging { n = 4, p_ambiguous = 1 } end)
  end)
end)
