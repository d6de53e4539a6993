-- The moonlab command: usage, and one clear error with no result file for every bad input.
local h = require "helpers"

local function run_script(text, args)
  local d = h.tmpdir()
  h.write(d .. "/s.lua", text)
  local code, out, err = h.moonlab("run s.lua --out out.h5 " .. (args or ""), d)
  return code, out, err, d
end

local function no_result(d)
  for _, f in ipairs(h.ls(d)) do
    assert.is_falsy(f:match("%.h5"), "left a result file behind: " .. f)
  end
end

describe("moonlab command", function()
  it("prints help and version", function()
    local code, out = h.moonlab("--help")
    assert.are.equal(0, code)
    assert.truthy(out:find("usage: moonlab run SCRIPT.lua", 1, true))
    code, out = h.moonlab("--version")
    assert.are.equal(0, code)
    assert.truthy(out:match("^moonlab %d+%.%d+%.%d+ %(Lua 5%.4"))
  end)

  it("runs a script and writes the result file", function()
    local code, out, err, d = run_script([[
      local ml = require "moonlab"
      ml.results.run("r"):metric("x", 1)
      print("hello")
    ]])
    assert.are.equal(0, code, err)
    assert.truthy(out:find("hello\nresults: out.h5", 1, true))
    assert.is_true(h.exists(d .. "/out.h5"))
    assert.are.same({ "out.h5", "s.lua" }, (function() local l = h.ls(d) table.sort(l) return l end)())
  end)

  it("reports a missing script", function()
    local d = h.tmpdir()
    local code, _, err = h.moonlab("run nope.lua --out out.h5", d)
    assert.are.equal(1, code)
    assert.are.equal("moonlab: cannot open script 'nope.lua'\n", err)
    no_result(d)
  end)

  it("reports a syntax error with file and line", function()
    local code, _, err, d = run_script("local x = 1\nlocal y = = 2\n")
    assert.are.equal(1, code)
    assert.truthy(err:match("^s%.lua:2: unexpected symbol near '='"), err)
    no_result(d)
  end)

  it("reports a runtime error with file, line and a traceback", function()
    local code, _, err, d = run_script("local ml = require 'moonlab'\n\nerror('boom')\n")
    assert.are.equal(1, code)
    assert.truthy(err:match("^s%.lua:3: boom\n"), err)
    assert.truthy(err:find("stack traceback:", 1, true))
    no_result(d)
  end)

  it("puts the script's line on errors raised inside the engine", function()
    local code, _, err, d = run_script([[
local ml = require "moonlab"
local m = ml.nn.sequential { ml.nn.linear(3, 1) }
m:forward(ml.tensor.zeros(2, 4))
]])
    assert.are.equal(1, code)
    assert.truthy(err:find("^s%.lua:3: model:forward: input is %(2,4%), layer 1 %(linear%) expects %(B,3%)"), err)
    no_result(d)
  end)

  it("keeps what a failing script logged, marked failed, and names the error", function()
    local code, _, err, d = run_script([[
local ml = require "moonlab"
local r = ml.results.run("r")
r:log { epoch = 1, loss = 0.5 }
r:metric("x", 2)
error("boom")
]])
    assert.are.equal(1, code)
    assert.truthy(err:match("^s%.lua:5: boom\n"), err)
    assert.truthy(err:find("moonlab: the script failed; what it logged before is kept in out.h5 (status=failed)", 1, true), err)
    local f = assert(require("moonlab.core").rfile.open(d .. "/out.h5"))
    local a = f:attrs("/")
    assert.are.equal("failed", a.status)
    assert.are.equal("s.lua:5: boom", a.error)
    local cols = {}
    for _, c in ipairs(assert(f:table("/runs/r/history"))) do cols[c.name] = c.values end
    f:close()
    assert.are.same({ 1 }, cols.epoch)
    assert.are.same({ 0.5 }, cols.loss)
    local _, out = h.moonlab("show out.h5", d)
    assert.truthy(out:find("the script failed: s.lua:5: boom", 1, true), out)
  end)

  it("stops on a NaN loss naming the epoch, keeping what was logged as failed", function()
    local code, _, err, d = run_script([[
local ml = require "moonlab"
local T = ml.tensor
local m = ml.nn.sequential { ml.nn.linear(1, 1) }
local ds = { x = T.from { { 1e30 }, { 1e30 } }, y = T.from { { 1 }, { 1 } } }
ml.results.run("r"):metric("x", 1)
m:fit { data = ds, loss = "mse", optim = ml.optim.sgd { lr = 1 }, epochs = 3, batch = 1 }
]])
    assert.are.equal(1, code)
    assert.truthy(err:find("^s%.lua:6: fit: loss is %a+ at epoch 1, step %d"), err)
    local f = assert(require("moonlab.core").rfile.open(d .. "/out.h5"))
    local a = f:attrs("/")
    f:close()
    assert.are.equal("failed", a.status)
    assert.truthy(a.error:find("^s%.lua:6: fit: loss is %a+ at epoch 1"), a.error)
  end)

  it("applies --set to declared settings, with types", function()
    local code, out, err = run_script([[
local ml = require "moonlab"
local c = ml.config { epochs = 10, lr = 0.1, name = "a", smoke = false }
print(c.epochs, c.lr, c.name, c.smoke, math.type(c.lr))
]], "--set epochs=3 --set lr=1 --set name=bee --set smoke=true")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("3\t1.0\tbee\ttrue\tfloat", 1, true), out)
  end)

  it("rejects an unknown --set key, naming the known ones", function()
    local code, _, err, d = run_script([[
local ml = require "moonlab"
local c = ml.config { epochs = 10, lr = 0.1 }
]], "--set epoch=3")
    assert.are.equal(1, code)
    assert.truthy(err:find("^s%.lua:2: %-%-set epoch: the script has no setting 'epoch' %(it has: epochs, lr%)"), err)
    no_result(d)
  end)

  it("rejects a --set value of the wrong type", function()
    local code, _, err, d = run_script([[
local ml = require "moonlab"
local c = ml.config { epochs = 10 }
]], "--set epochs=2.5")
    assert.are.equal(1, code)
    assert.truthy(err:find("--set epochs=2.5: 'epochs' is an integer setting", 1, true), err)
    no_result(d)
  end)

  it("rejects a malformed --set", function()
    local code, _, err, d = run_script("print(1)", "--set epochs")
    assert.are.equal(2, code)
    assert.truthy(err:find("moonlab: --set epochs: expected key=value", 1, true), err)
    no_result(d)
  end)

  it("rejects --set when the script declares no settings", function()
    local code, _, err, d = run_script("print(1)", "--set epochs=3")
    assert.are.equal(1, code)
    assert.truthy(err:find("--set epochs: the script declares no settings", 1, true), err)
    no_result(d)
  end)

  it("fails before running the script when --out cannot be written", function()
    local d = h.tmpdir()
    h.write(d .. "/s.lua", "print('ran')")
    h.write(d .. "/blocker", "a file where a directory should be")
    local code, out, err = h.moonlab("run s.lua --out blocker/dir/out.h5", d)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.truthy(err:find("moonlab: --out blocker/dir/out.h5:", 1, true), err)
    assert.truthy(err:find("blocker", 1, true))
    -- a missing directory is made
    code, out, err = h.moonlab("run s.lua --out made/dir/out.h5", d)
    assert.are.equal(0, code, err)
    assert.is_true(h.exists(d .. "/made/dir/out.h5"))
  end)

  it("rejects unknown options and commands", function()
    assert.are.equal(2, (h.moonlab("frobnicate")))
    assert.are.equal(2, (h.moonlab("run s.lua --bogus")))
    assert.are.equal(2, (h.moonlab("run s.lua --seed -1")))
  end)

  it("gives bit-identical results for the same seed and thread count", function()
    local script = [[
local ml = require "moonlab"
local r = ml.rng("x")
local x = r:normal({ 64, 4 }, 0, 1)
local y = x:matmul(ml.tensor.from { { 1 }, { 2 }, { 3 }, { 4 } })
local m = ml.nn.sequential { ml.nn.linear(4, 8), ml.nn.tanh(), ml.nn.linear(1) }
local h = m:fit { data = ml.data.dataset(x, y), loss = "mse", optim = ml.optim.adam {}, epochs = 3, batch = 8 }
print(string.format("%a", h[3].loss))
]]
    local _, a = run_script(script, "--seed 5 --threads 1")
    local _, b = run_script(script, "--seed 5 --threads 2")
    local _, c = run_script(script, "--seed 6 --threads 1")
    assert.are.equal(a, b)
    assert.are_not.equal(a, c)
  end)
end)

describe("result provenance", function()
  local cli = require "moonlab.cli"
  it("records the git commit of the script's directory, read from .git", function()
    local p = io.popen("git -C '" .. h.root .. "' rev-parse HEAD 2>/dev/null")
    local want = p:read("l")
    p:close()
    if want then
      assert.are.equal(want, cli.git_commit(h.root .. "/experiments"))
    end
    assert.are.equal("", cli.git_commit(h.tmpdir()))
  end)
end)
