local ml = require "moonlab"
local results = ml.results
local h = require "helpers"

describe("moonlab.results", function()
  before_each(function() results.reset() end)

  it("keeps runs by name in the order they were made", function()
    local a = results.run("b")
    results.run("a")
    assert.are.equal(a, results.run("b"))
    assert.are.same({ "b", "a" }, results.order)
  end)

  it("rejects run names HDF5 would read as paths", function()
    assert.has_error(function() results.run("a/b") end,
      "results.run: name must be a non-empty string without '/', got a/b")
    assert.has_error(function() results.run("") end)
  end)

  it("types history columns: int, float (NaN where missing), string; epoch first", function()
    local cols = results.columns_of { { epoch = 1, loss = 0.5, tag = "x" }, { epoch = 2, acc = 1 } }
    local by = {}
    for i, c in ipairs(cols) do by[c.name] = c; by[c.name].pos = i end
    assert.are.equal(1, by.epoch.pos)
    assert.are.equal("int", by.epoch.type)
    assert.are.equal("float", by.loss.type)
    assert.is_true(by.loss.values[2] ~= by.loss.values[2])
    assert.are.equal("string", by.tag.type)
    assert.are.equal("", by.tag.values[2])
    assert.are.equal("float", by.acc.type) -- missing in row 1
  end)

  it("rejects values a table cannot hold", function()
    local r = results.run("r")
    assert.has_error(function() r:log { epoch = 1, bad = {} } end,
      "run:log: column 'bad' is a table; expected a number, string or boolean")
    assert.has_error(function() r:param("w", 3) end, "run:param: 'w' is not a tensor")
    assert.has_error(function() r:param("w", ml.tensor.zeros(2), { axis = "d" }) end,
      "run:param: unknown option 'axis'")
    assert.has_error(function() r:param("w", ml.tensor.zeros(2), { index = "a/b" }) end,
      "run:param: index: name must be a non-empty string without '/', got a/b")
    assert.has_error(function() r:param("w", ml.tensor.zeros(2), "distance") end,
      "run:param: options are {index = name}")
  end)

  it("writes a parameter's index as its attribute, only when given", function()
    local d = h.tmpdir()
    local w = assert(ml.core.results.create(d .. "/r.h5"))
    results.run("r"):param("g", ml.tensor.from { 1, 0.5 }, { index = "distance" })
      :param("w", ml.tensor.zeros(2))
    results.write_runs(w)
    assert.is_true(w:commit())
    local f = assert(require("moonlab.rfile").open(d .. "/r.h5"))
    assert.are.equal("distance", f:attrs_of("/runs/r/params/g").index)
    assert.is_nil(f:attrs_of("/runs/r/params/w").index)
    f:close()
  end)

  it("copies parameters when recorded", function()
    local t = ml.tensor.from { 1, 2 }
    local r = results.run("r"):param("w", t)
    t[1] = 100
    assert.are.equal(1, r.params.w[1])
  end)

  it("writes through the HDF5 writer and commits atomically", function()
    local d = h.tmpdir()
    local w = assert(ml.core.results.create(d .. "/r.h5"))
    results.run("r"):log { epoch = 1, loss = 0.5 }:metric("acc", 0.9):param("w", ml.tensor.zeros(2, 2))
    results.write_runs(w)
    assert.is_false(h.exists(d .. "/r.h5"))
    assert.is_true(w:commit())
    assert.are.same({ "r.h5" }, h.ls(d))
  end)

  it("returns nil and a message for a directory that does not exist", function()
    local w, err = ml.core.results.create("/nonexistent-dir/r.h5")
    assert.is_nil(w)
    assert.truthy(err:find("/nonexistent-dir", 1, true))
  end)

  it("removes the temporary file on abort", function()
    local d = h.tmpdir()
    local w = assert(ml.core.results.create(d .. "/r.h5"))
    w:abort()
    assert.are.same({}, h.ls(d))
  end)
end)
