-- HDF5 data sets (ml.data.hdf5, ml.data.save; core.h5data): a saved dataset (a subset, storage
-- types, classes and attributes) reads back equal, and so does it through h5py; files h5py
-- writes (other names, groups, types) read as float32; every bad file gives nil and a message
-- naming the file and dataset; a failed save raises and leaves no file.
local ml = require "moonlab"
local helpers = require "helpers"
local data, T, core = ml.data, ml.tensor, ml.core

local function python(program)
  local tmp = os.tmpname()
  helpers.write(tmp, program)
  local p = io.popen("/usr/bin/python3 " .. tmp .. " 2>&1")
  local out = p:read("a")
  p:close()
  os.remove(tmp)
  return out
end

describe("ml.data.hdf5 and ml.data.save", function()
  local dir = helpers.tmpdir()
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("saves a subset with its classes and attributes, and reads it back", function()
    local ds = data.dataset(T.from { { 1, 2 }, { 3, 4 }, { 5, 6 } }, T.from { 0, 1, 2 },
      T.from { 1, 0.5, 2 })
    ds.classes = { "cat", "dog", "eel" }
    ds.name = "animals"
    local sub = data.subset(ds, { 3, 1 })
    assert.is_true(data.save(sub, dir .. "/a.h5", { x_type = "uint8", attrs = { note = "hi", k = 3 } }))
    local r = assert(data.hdf5(dir .. "/a.h5"))
    assert.are.same({ { 5, 6 }, { 1, 2 } }, r.x:totable())
    assert.are.same({ 2, 0 }, r.y:totable())
    assert.are.same({ 2, 1 }, r.weights:totable())
    assert.are.equal(2, r.n)
    assert.are.same({ "cat", "dog", "eel" }, r.classes)
    assert.are.equal("animals", r.name)
    assert.are.equal("hi", r.attrs.note)
    assert.are.equal(3, r.attrs.k)
    assert.are.equal(2, r.attrs.rows)
    assert.are.equal(1, r.attrs.moonlab_dataset)
    -- h5py sees the same file: uint8 x, float32 y, attributes as written
    local out = python(string.format([[
import h5py
f = h5py.File(%q, "r")
print(f["x"].dtype, f["x"][()].tolist(), f["y"].dtype, f.attrs["classes"], f.attrs["rows"])
]], dir .. "/a.h5"))
    assert.are.equal("uint8 [[5, 6], [1, 2]] float32 cat\ndog\neel 2\n", out)
  end)

  it("reads what h5py writes: names in groups, integer and float64 types", function()
    local out = python(string.format([[
import h5py, numpy as np
with h5py.File(%q, "w") as f:
    f["g/images"] = np.arange(12, dtype=">i2").reshape(3, 2, 2)
    f["g/labels"] = np.array([2.5, -1, 7], dtype="f8")
    f["x"] = np.ones((4, 1), "f4")
print("ok")
]], dir .. "/py.h5"))
    assert.are.equal("ok\n", out)
    local r = assert(data.hdf5(dir .. "/py.h5", { x = "g/images", y = "g/labels" }))
    assert.are.same({ 3, 2, 2 }, r.x:shape())
    assert.are.equal(11, r.x:get(3, 2, 2))
    assert.are.same({ 2.5, -1, 7 }, r.y:totable())
    local none, err = data.hdf5(dir .. "/py.h5")  -- x (4, 1) and y absent by default: fine
    assert.is_nil(err)
    assert.is_nil(none.y)
    none, err = data.hdf5(dir .. "/py.h5", { x = "g/images", y = "x" })
    assert.is_nil(none)
    assert.are.equal(dir .. "/py.h5: dataset 'x' has 4 rows, 'g/images' has 3", err)
  end)

  it("gives nil and a message naming the file and dataset for bad files", function()
    local none, err = data.hdf5(dir .. "/missing.h5")
    assert.is_nil(none)
    assert.matches("missing.h5: cannot open: No such file", err, 1, true)
    helpers.write(dir .. "/text.h5", "not hdf5 at all\n")
    none, err = data.hdf5(dir .. "/text.h5")
    assert.are.equal(dir .. "/text.h5: not an HDF5 file (no HDF5 signature)", err)
    none, err = data.hdf5(dir .. "/py.h5", { x = "nope" })
    assert.are.equal(dir .. "/py.h5: no dataset 'nope' in the file", err)
    assert.has_error(function() data.hdf5(dir .. "/py.h5", { z = 1 }) end,
      "data.hdf5: unknown option 'z' (options: missing, weights, x, y)")
    assert.has_error(function() data.hdf5(dir .. "/py.h5", { x = false }) end)
  end)

  it("saves missing values (NaN) and reads them back where they were", function()
    -- a small table with NaN in x and y: any dataset, co2 below is the real one
    local ds = { x = T.from { { 1, 0 / 0 }, { 3, 4 }, { 0 / 0, 6 } }, y = T.from { 0 / 0, 1, 2 }, n = 3 }
    assert.is_true(data.save(ds, dir .. "/gaps.h5"))
    local r = assert(data.hdf5(dir .. "/gaps.h5"))
    assert.are.equal(3, r.attrs.missing)
    local x, y = r.x:totable(), r.y:totable()
    assert.are.equal(1, x[1][1]); assert.is_true(x[1][2] ~= x[1][2])
    assert.are.same({ 3, 4 }, x[2])
    assert.is_true(x[3][1] ~= x[3][1]); assert.are.equal(6, x[3][2])
    assert.is_true(y[1] ~= y[1]); assert.are.equal(1, y[2]); assert.are.equal(2, y[3])
    -- missing = "error" refuses them; a file without the attribute needs missing = "nan"
    local none, err = data.hdf5(dir .. "/gaps.h5", { missing = "error" })
    assert.is_nil(none)
    assert.are.equal(dir .. "/gaps.h5: dataset 'x' row 1 holds nan, not a finite number", err)
    python(string.format([=[
import h5py, numpy as np
with h5py.File(%q, "w") as f:
    f["x"] = np.array([[1.0], [np.nan]], dtype=np.float64)
]=], dir .. "/foreign-nan.h5"))
    none, err = data.hdf5(dir .. "/foreign-nan.h5")
    assert.is_nil(none)
    assert.are.equal(dir .. "/foreign-nan.h5: dataset 'x' row 2 holds nan, not a finite number " ..
      "(the file declares no missing values)", err)
    local kept = assert(data.hdf5(dir .. "/foreign-nan.h5", { missing = "nan" }))
    assert.is_true(kept.x:get(2, 1) ~= kept.x:get(2, 1))
    assert.has_error(function() data.hdf5(dir .. "/gaps.h5", { missing = "drop" }) end,
      "h5data.read: option 'missing' must be \"error\" or \"nan\", got \"drop\"")
    -- NaN cannot be stored as an integer type, and weights never hold NaN
    assert.has_error(function() data.save(ds, dir .. "/g8.h5", { y_type = "uint8" }) end,
      "data.save: cannot save '" .. dir .. "/g8.h5': y row 1 holds nan (a missing value), which " ..
      "storage type uint8 cannot hold; store it as float32 or float64")
    local w = { x = T.from { { 1 }, { 2 } }, weights = T.from { 1, 0 / 0 }, n = 2 }
    assert.has_error(function() data.save(w, dir .. "/gw.h5") end,
      "data.save: cannot save '" .. dir .. "/gw.h5': weights row 2 holds nan, not a finite number")
    assert.is_false(helpers.exists(dir .. "/g8.h5"))
    assert.is_false(helpers.exists(dir .. "/gw.h5"))
  end)

  local co2_installed = helpers.exists("/usr/lib/python3/dist-packages/statsmodels/datasets/co2/co2.csv")
  local co2_it = co2_installed and it or pending
  co2_it("saves co2, with its 59 missing weeks, and reloads it identically", function()
    local co2 = data.statsmodels("co2")
    assert.is_true(data.save(co2, dir .. "/co2.h5"))
    local r = assert(data.hdf5(dir .. "/co2.h5"))
    assert.are.equal("co2", r.name)
    assert.are.equal(co2.n, r.n)
    assert.are.same(co2.x:totable(), r.x:totable())
    local want, got = co2.y:totable(), r.y:totable()
    assert.are.equal(#want, #got)
    local missing, same = 0, true
    for i = 1, #want do
      local a, b = want[i][1], got[i][1]
      if a ~= a then
        missing = missing + 1
        same = same and b ~= b
      else
        same = same and a == b
      end
    end
    assert.is_true(same)
    assert.is_true(missing > 0)
    assert.are.equal(missing, r.attrs.missing)
  end)

  it("raises when a dataset cannot be saved, leaving no file", function()
    local ds = data.dataset(T.from { { 1.5 } }, T.from { 1 })
    assert.has_error(function() data.save(ds, dir .. "/b.h5", { x_type = "uint8" }) end,
      "data.save: cannot save '" .. dir .. "/b.h5': x row 1 holds 1.5, which is not a whole number 0..255 (storage type uint8)")
    assert.has_error(function() data.save(ds, dir .. "/no/such/b.h5") end)
    assert.has_error(function() data.save(ds, dir .. "/b.h5", { x_type = "int8" }) end)
    assert.has_error(function() data.save({ x = 1 }, dir .. "/b.h5") end,
      "data.save: expected a dataset {x =, y =, ...}")
    assert.is_false(helpers.exists(dir .. "/b.h5"))
    for _, f in ipairs(helpers.ls(dir)) do assert.is_nil(f:match("tmp"), f) end
  end)

  it("prepares a Fashion-MNIST copy that the loader uses while its sources are unchanged", function()
    -- a two-image stand-in for the package's files, in the same layout
    local src = dir .. "/fmnist"
    os.execute("mkdir -p '" .. src .. "'")
    local function idx(name, sizes, values)
      local parts = { string.char(0, 0, 8, #sizes) }
      for _, v in ipairs(sizes) do parts[#parts + 1] = string.pack(">I4", v) end
      for _, v in ipairs(values) do parts[#parts + 1] = string.char(v) end
      helpers.write(src .. "/" .. name, table.concat(parts))
      assert(os.execute("gzip -f '" .. src .. "/" .. name .. "'"))
    end
    local pixels = {}
    for i = 1, 2 * 28 * 28 do pixels[i] = (i * 7) % 256 end
    for _, prefix in ipairs { "train", "t10k" } do
      idx(prefix .. "-images-idx3-ubyte", { 2, 28, 28 }, pixels)
      idx(prefix .. "-labels-idx1-ubyte", { 2 }, { 9, 3 })
    end
    local cache = dir .. "/cache"
    local written = data.prepare("fashion_mnist", { dir = src, cache = cache })
    assert.are.same({ cache .. "/fashion-mnist-train.h5", cache .. "/fashion-mnist-test.h5" }, written)
    local plain = data.fashion_mnist { dir = src, cache = false }
    local cached = data.fashion_mnist { dir = src, cache = cache }
    assert.are.equal(cache .. "/fashion-mnist-train.h5", cached.source)
    assert.are.equal(src .. "/train-images-idx3-ubyte.gz", plain.source)
    assert.are.same(plain.x:totable(), cached.x:totable())   -- the same floats, scaled alike
    assert.are.same(plain.y:totable(), cached.y:totable())
    local raw = data.fashion_mnist { dir = src, cache = cache, scale = false, layout = "rows", split = "test" }
    assert.are.same({ 2, 28, 28 }, raw.x:shape())
    assert.are.equal(pixels[30], raw.x:get(1, 2, 2))
    -- a source file that changed since: the copy is not used
    os.execute("sleep 0.01; touch '" .. src .. "/train-labels-idx1-ubyte.gz'")
    assert.are.equal(src .. "/train-images-idx3-ubyte.gz", data.fashion_mnist { dir = src, cache = cache }.source)
    -- a damaged copy is not used either
    helpers.write(cache .. "/fashion-mnist-test.h5", "damaged")
    assert.are.equal(src .. "/t10k-images-idx3-ubyte.gz",
      data.fashion_mnist { dir = src, cache = cache, split = "test" }.source)
    assert.has_error(function() data.prepare("iris") end,
      "prepare: unknown or not worth converting: iris (fashion_mnist)")
  end)
end)
