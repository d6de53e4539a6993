-- moonlab.run: settings (ml.config with --set overrides) and seeds.
local run = require "moonlab.run"
local ml = require "moonlab"

describe("moonlab settings and seeds", function()
  after_each(function() run.reset() end)

  it("returns the defaults when nothing is overridden", function()
    run.reset()
    assert.are.same({ a = 1, b = "x" }, ml.config { a = 1, b = "x" })
  end)

  it("parses --set values by their look", function()
    assert.are.equal(3, run.parse_value("3"))
    assert.are.equal("integer", math.type(run.parse_value("3")))
    assert.are.equal(0.5, run.parse_value("0.5"))
    assert.are.equal(1e-3, run.parse_value("1e-3"))
    assert.is_true(run.parse_value("true"))
    assert.are.equal("adam", run.parse_value("adam"))
  end)

  it("converts an integer override of a float setting to a float", function()
    run.reset { overrides = { { "lr", 1 } } }
    local c = ml.config { lr = 0.1 }
    assert.are.equal("float", math.type(c.lr))
  end)

  it("refuses to be declared twice", function()
    run.reset()
    ml.config { a = 1 }
    assert.has_error(function() ml.config { a = 1 } end,
      "config: called twice; declare every setting in one ml.config{...}")
  end)

  it("derives stable, distinct seeds by name and index", function()
    run.reset { seed = 1 }
    local a, b, c = ml.seed("x"), ml.seed("x", 1), ml.seed("y")
    assert.are.equal(a, ml.seed("x"))
    assert.are_not.equal(a, b)
    assert.are_not.equal(a, c)
    assert.are.equal(1, ml.seed())
    run.reset { seed = 2 }
    assert.are_not.equal(a, ml.seed("x"))
  end)
end)
