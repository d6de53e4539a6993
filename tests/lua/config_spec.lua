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

describe("--set values, read in C", function()
  -- The Lua code the C parser replaced (moonlab 0.1.0's run.parse_value): every case must
  -- give the same value of the same type.
  local function reference(s)
    if s == "true" then return true end
    if s == "false" then return false end
    local n = math.tointeger(tonumber(s))
    if n and s:match("^[-+]?%d+$") then return n end
    local f = tonumber(s)
    if f then return f end
    return s
  end

  it("gives what the Lua parser gave", function()
    for _, s in ipairs { "3", "-3", "+3", "0.5", "1e-3", "true", "false", "adam", "", " 5",
      "0x10", "0xffffffffffffffffff", "9223372036854775807", "9223372036854775808",
      "-9223372036854775809", "99999999999999999999", "1e999", "nan", "inf", "0x1p4", "1.",
      ".5", "0x", "1e", "3\0", "1_000", "007", "-0", "1.5n", "infinity" } do
      local want, got = reference(s), run.parse_value(s)
      assert.are.equal(math.type(want) or type(want), math.type(got) or type(got), s)
      assert.are.equal(want, got, s)
    end
  end)

  it("splits key=value in C and names a bad argument", function()
    local core = require "moonlab.core"
    local k, v = core.setting.parse("lr=1e-3")
    assert.are.equal("lr", k)
    assert.are.equal(1e-3, v)
    k, v = core.setting.parse("name=a=b")
    assert.are.equal("a=b", v)
    local none, err = core.setting.parse("9x=1")
    assert.is_nil(none)
    assert.are.equal("--set 9x=1: expected key=value with a name for key", err)
  end)
end)
