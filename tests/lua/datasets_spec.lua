-- Real data sets (ml.data.fashion_mnist, sklearn, statsmodels, csv, text; core.datasets).
-- Small files written here check the readers end to end; the installed data sets are checked
-- against an independent read of the same files by /usr/bin/python3 (gzip + struct + csv).
-- A data set whose Debian package is not installed is reported as pending with the package
-- to install (the test setup installs them all).
local ml = require "moonlab"
local helpers = require "helpers"
local data, T, core = ml.data, ml.tensor, ml.core

local FASHION = "/usr/share/datasets/fashion-mnist"
local SKLEARN = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
local STATSMODELS = "/usr/lib/python3/dist-packages/statsmodels/datasets"
local JARGON = "/usr/share/doc/jargon-text/jargon.txt.gz"

-- Run a python3 program and load what it prints as a Lua table expression.
local function python(program)
  local tmp = os.tmpname()
  helpers.write(tmp, program)
  local p = io.popen("/usr/bin/python3 " .. tmp)
  local out = p:read("a")
  p:close()
  os.remove(tmp)
  return assert(load("return " .. out))()
end

-- The value a float32 tensor holds for the double v.
local function f32(v) return (string.unpack("f", string.pack("f", v))) end

local function idx_bytes(sizes, values)
  local parts = { string.char(0, 0, 8, #sizes) }
  for _, s in ipairs(sizes) do parts[#parts + 1] = string.pack(">I4", s) end
  for _, v in ipairs(values) do parts[#parts + 1] = string.char(v) end
  return table.concat(parts)
end

local function gzip(path)
  assert(os.execute("gzip -f '" .. path .. "'"))
  return path .. ".gz"
end

local function count_nan(t)
  local n = 0
  for i = 1, t:size(1) do
    local v = t:get(i, 1)
    if v ~= v then n = n + 1 end
  end
  return n
end

describe("core.datasets", function()
  local dir = helpers.tmpdir()
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("reads IDX files, plain and gzip'd, as raw bytes or divided", function()
    local values = {}
    for i = 1, 2 * 3 * 4 do values[i] = (i * 37) % 256 end
    helpers.write(dir .. "/img-idx3", idx_bytes({ 2, 3, 4 }, values))
    local t = assert(core.datasets.idx(dir .. "/img-idx3"))
    assert.are.same({ 2, 3, 4 }, t:shape())
    assert.are.equal(values[1], t:get(1, 1, 1))
    assert.are.equal(values[24], t:get(2, 3, 4))
    local gz = gzip(dir .. "/img-idx3")
    local s = assert(core.datasets.idx(gz, 255))
    assert.are.equal(f32(values[7] / 255), s:get(1, 2, 3))
  end)

  it("returns nil and a message naming the file for missing and malformed files", function()
    local t, err = core.datasets.idx(dir .. "/nothing.gz")
    assert.is_nil(t)
    assert.matches("nothing.gz: cannot open: No such file", err, 1, true)
    helpers.write(dir .. "/lie-idx1", idx_bytes({ 5 }, { 1, 2, 3 }))
    t, err = core.datasets.idx(dir .. "/lie-idx1")
    assert.is_nil(t)
    assert.matches("lie-idx1: header says 5 = 5 bytes of data, the file holds 3", err, 1, true)
    helpers.write(dir .. "/r.csv", "a,b\n1,2\n3\n")
    local x, e = core.datasets.csv(dir .. "/r.csv", { header = 1 })
    assert.is_nil(x)
    assert.matches("r.csv:3: row has 1 field, expected 2", e, 1, true)
  end)

  it("raises on misuse: wrong types, unknown options, ids outside the vocabulary", function()
    assert.has_error(function() core.datasets.idx(nil) end)
    assert.has_error(function() core.datasets.csv("x.csv", { lable = 1 }) end,
      "datasets.csv: unknown option 'lable' (options: delimiter, header, label, missing)")
    assert.has_error(function() core.datasets.csv("x.csv", { missing = "zero" }) end,
      "datasets.csv: option 'missing' must be \"error\", \"nan\" or \"drop\", got \"zero\"")
    assert.has_error(function() core.datasets.csv("x.csv", { label = "y" }) end,
      "datasets.csv: label 'y' is a column name, which needs header = 1 (or more)")
    assert.has_error(function() core.datasets.csv("x.csv", { delimiter = ",," }) end)
    assert.has_error(function() core.datasets.idx("x", -1) end)
    assert.has_error(function() core.datasets.encode("ab", "abc") end,
      "datasets.encode: character 3 ('c') is not in the vocabulary")
    assert.has_error(function() core.datasets.decode("ab", T.from { 0, 2 }) end,
      "datasets.decode: element 2 is 2, not an id in 0..1")
    assert.has_error(function() core.datasets.decode("ba", T.from { 0 }) end)
  end)
end)

describe("data.idx", function()
  local dir = helpers.tmpdir()
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("reads any IDX file as stored, scaled, flattened, and labels checked against classes", function()
    local values = {}
    for i = 1, 2 * 3 * 4 do values[i] = (i * 37) % 256 end
    helpers.write(dir .. "/img-idx3-ubyte", idx_bytes({ 2, 3, 4 }, values))
    local gz = gzip(dir .. "/img-idx3-ubyte")
    local t = assert(data.idx(gz))
    assert.are.same({ 2, 3, 4 }, t:shape())
    assert.are.equal(values[24], t:get(2, 3, 4))
    local flat = assert(data.idx(gz, { layout = "flat", scale = true }))
    assert.are.same({ 2, 12 }, flat:shape())
    assert.are.equal(f32(values[13] / 255), flat:get(2, 1))
    assert.are.same({ 2, 3, 4 }, assert(data.idx(gz, { layout = "rows" })):shape())
    helpers.write(dir .. "/ok-labels-idx1-ubyte", idx_bytes({ 4 }, { 0, 9, 3, 9 }))
    assert.are.same({ 0, 9, 3, 9 }, assert(data.idx(dir .. "/ok-labels-idx1-ubyte", { classes = 10 })):totable())
    local none, err = data.idx(dir .. "/ok-labels-idx1-ubyte", { classes = 9 })
    assert.is_nil(none)
    assert.are.equal(dir .. "/ok-labels-idx1-ubyte: label 9 of item 2 is outside 0..8", err)
    none, err = data.idx(gz, { classes = 10 })
    assert.is_nil(none)
    assert.are.equal(gz .. ": holds 2x3x4 values; classes = 10 needs a labels file (N)", err)
    none, err = data.idx(dir .. "/ok-labels-idx1-ubyte", { layout = "image" })
    assert.is_nil(none)
    assert.are.equal(dir .. "/ok-labels-idx1-ubyte: holds 4 values; layout \"image\" needs (N, H, W)", err)
    none, err = data.idx(dir .. "/absent-idx1-ubyte")
    assert.is_nil(none)
    assert.matches("absent-idx1-ubyte: cannot open: No such file", err, 1, true)
  end)

  it("checks its options", function()
    assert.has_error(function() data.idx(1) end, "data.idx: path must be a string")
    assert.has_error(function() data.idx("x", { scal = true }) end,
      "data.idx: unknown option 'scal' (options: classes, layout, scale)")
    assert.has_error(function() data.idx("x", { scale = 255 }) end,
      "data.idx: 'scale' must be true or false, got 255")
    assert.has_error(function() data.idx("x", { layout = "cube" }) end,
      "data.idx: layout must be \"flat\", \"image\" or \"rows\", got cube")
    assert.has_error(function() data.idx("x", { classes = 0 }) end,
      "data.idx: 'classes' must be a positive integer, got 0")
    assert.has_error(function() core.datasets.check_labels(T.zeros(2, 2), 10) end,
      "datasets.check_labels: labels must be one-dimensional (N), got 2 dimensions")
  end)
end)

describe("data.csv and data.text", function()
  local dir = helpers.tmpdir()
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("reads a CSV with a header, a label by name and missing values", function()
    helpers.write(dir .. "/m.csv", "\"x1\",\"label\",\"x2\"\n1,0,2\n3,1,NA\n\n5,1,6\n")
    local ds = assert(data.csv(dir .. "/m.csv", { header = true, label = "label", missing = "drop" }))
    assert.are.same({ { 1, 2 }, { 5, 6 } }, ds.x:totable())
    assert.are.same({ 0, 1 }, ds.y:totable())
    assert.are.equal(2, ds.n)
    local nan = assert(data.csv(dir .. "/m.csv", { header = 1, label = 2, missing = "nan" }))
    assert.are.equal(3, nan.n)
    assert.is_true(nan.x:get(2, 2) ~= nan.x:get(2, 2))
    local nolabel = assert(data.csv(dir .. "/m.csv", { header = 1, missing = "nan" }))
    assert.is_nil(nolabel.y)
    assert.are.same({ 3, 3 }, nolabel.x:shape())
    local none, err = data.csv(dir .. "/m.csv", { header = 1, label = -1 })
    assert.is_nil(none)
    assert.matches("m.csv:3: field 3 is missing ('NA')", err, 1, true)
    assert.has_error(function() data.csv(dir .. "/m.csv", { heder = 1 }) end,
      "data.csv: unknown option 'heder' (options: delimiter, header, label, missing)")
  end)

  it("reads a whitespace-separated gzip'd table", function()
    helpers.write(dir .. "/w.txt", " 1  2\t3\n4 5 6 \n")
    local ds = assert(data.csv(gzip(dir .. "/w.txt"), { delimiter = " ", label = 1 }))
    assert.are.same({ { 2, 3 }, { 5, 6 } }, ds.x:totable())
    assert.are.same({ 1, 4 }, ds.y:totable())
  end)

  it("turns text into character ids and back", function()
    helpers.write(dir .. "/t.txt", "abracadabra")
    local txt = assert(data.text(dir .. "/t.txt"))
    assert.are.equal("abcdr", txt.vocab)
    assert.are.equal(5, txt.size)
    assert.are.equal(11, txt.n)
    assert.are.same({ 0, 1, 4, 0, 2, 0, 3, 0, 1, 4, 0 }, txt.ids:totable())
    assert.are.equal("abracadabra", txt.decode(txt.ids))
    assert.are.equal("cab", txt.decode(txt.encode("cab")))
    assert.are.equal("rcd", txt.decode(txt.ids:slice(1, 3, 7, 2)))
    local none, err = data.text(dir .. "/none.txt")
    assert.is_nil(none)
    assert.matches("none.txt: cannot open", err, 1, true)
    helpers.write(dir .. "/empty.txt", "")
    none, err = data.text(dir .. "/empty.txt")
    assert.is_nil(none)
    assert.matches("empty.txt: empty file", err, 1, true)
  end)

  local jargon = helpers.exists(JARGON) and it or pending
  jargon("reads the Jargon File (jargon-text), gzip'd, byte for byte", function()
    local txt = assert(data.text(JARGON))
    local want = python([[
import gzip
b = gzip.open("]] .. JARGON .. [[").read()
v = sorted(set(b))
print("{n=%d, size=%d, first=%d, head=%r}" % (len(b), len(v), v.index(b[0]), b[:60].decode("latin-1")))
]])
    assert.are.equal(want.n, txt.n)
    assert.are.equal(want.size, txt.size)
    assert.are.equal(want.first, txt.ids:get(1))
    assert.are.equal(want.head, txt.decode(txt.ids:slice(1, 1, 60)))
    -- data.jargon reads the same file: the same ids and vocabulary
    local j = data.jargon()
    assert.are.equal("jargon", j.name)
    assert.are.equal(JARGON, j.source)
    assert.are.equal(txt.vocab, j.vocab)
    assert.are.equal(txt.n, j.n)
    assert.are.equal(0, (j.ids - txt.ids):norm())
  end)

  it("names jargon-text when the Jargon File is missing", function()
    assert.has_error(function() data.jargon { dir = "/nonexistent/jargon" } end,
      "jargon: /nonexistent/jargon/jargon.txt.gz not found; it is installed by the Debian " ..
      "package jargon-text (apt-get install jargon-text)")
    assert.has_error(function() data.jargon { path = "x" } end,
      "jargon: unknown option 'path' (options: dir)")
    -- a stand-in in another directory is read as text
    local dir = helpers.tmpdir()
    helpers.write(dir .. "/jargon.txt", "hacker\n")
    assert(os.execute("gzip -f '" .. dir .. "/jargon.txt'"))
    local j = data.jargon { dir = dir }
    assert.are.equal(7, j.n)
    assert.are.equal("hacker\n", j.decode(j.ids))
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

describe("data.fashion_mnist", function()
  local dir = helpers.tmpdir()
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("arranges small IDX files as flat, image and row layouts", function()
    local pixels, labels = {}, {}
    for i = 1, 3 * 28 * 28 do pixels[i] = (i * 13) % 256 end
    labels = { 9, 0, 3 }
    helpers.write(dir .. "/train-images-idx3-ubyte", idx_bytes({ 3, 28, 28 }, pixels))
    helpers.write(dir .. "/train-labels-idx1-ubyte", idx_bytes({ 3 }, labels))
    gzip(dir .. "/train-images-idx3-ubyte")
    gzip(dir .. "/train-labels-idx1-ubyte")
    local flat = data.fashion_mnist { dir = dir }
    assert.are.same({ 3, 784 }, flat.x:shape())
    assert.are.same({ 9, 0, 3 }, flat.y:totable())
    assert.are.equal(f32(pixels[785] / 255), flat.x:get(2, 1))
    assert.are.equal("Ankle boot", flat.classes[10])
    local img = data.fashion_mnist { dir = dir, layout = "image", scale = false }
    assert.are.same({ 3, 28, 28 }, img.x:shape())
    assert.are.equal(pixels[28 + 5], img.x:get(1, 2, 5))
    local rows = data.fashion_mnist { dir = dir, layout = "rows" }
    assert.are.same({ 3, 28, 28 }, rows.x:shape())
    assert.are.equal("rows", rows.layout)
  end)

  it("rejects a labels file with a label outside 0..9, naming the file and the item", function()
    local pixels = {}
    for i = 1, 4 * 28 * 28 do pixels[i] = i % 256 end
    helpers.write(dir .. "/t10k-images-idx3-ubyte", idx_bytes({ 4, 28, 28 }, pixels))
    helpers.write(dir .. "/t10k-labels-idx1-ubyte", idx_bytes({ 4 }, { 1, 9, 12, 200 }))
    gzip(dir .. "/t10k-images-idx3-ubyte")
    gzip(dir .. "/t10k-labels-idx1-ubyte")
    assert.has_error(function() data.fashion_mnist { dir = dir, split = "test", cache = false } end,
      "fashion_mnist: " .. dir .. "/t10k-labels-idx1-ubyte.gz: label 12 of item 3 is outside 0..9")
    os.remove(dir .. "/t10k-images-idx3-ubyte.gz")
    os.remove(dir .. "/t10k-labels-idx1-ubyte.gz")
  end)

  it("names the Debian package when the files are missing, and checks its options", function()
    assert.has_error(function() data.fashion_mnist { dir = dir, split = "test" } end,
      "fashion_mnist: " .. dir .. "/t10k-images-idx3-ubyte.gz not found; it is installed by " ..
      "the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    assert.has_error(function() data.fashion_mnist { split = "valid" } end,
      "fashion_mnist: split must be \"train\" or \"test\", got valid")
    assert.has_error(function() data.fashion_mnist { layout = "cube" } end)
    assert.has_error(function() data.fashion_mnist { scaled = true } end,
      "fashion_mnist: unknown option 'scaled' (options: cache, dir, layout, scale, split)")
  end)

  local installed = helpers.exists(FASHION .. "/train-images-idx3-ubyte.gz")
  local fit = installed and it or pending
  local why = installed and "" or " (pending: apt-get install dataset-fashion-mnist)"
  fit("reads the installed training and test sets as python3 does" .. why, function()
    local want = python([[
import gzip, struct
def read(name):
    b = gzip.open("]] .. FASHION .. [[/" + name).read()
    ndim = b[3]
    dims = struct.unpack(">" + "I" * ndim, b[4:4 + 4 * ndim])
    return dims, b[4 + 4 * ndim:]
out = []
for split in ("train", "t10k"):
    dims, img = read(split + "-images-idx3-ubyte.gz")
    ldims, lab = read(split + "-labels-idx1-ubyte.gz")
    n = dims[0]
    counts = [lab.count(bytes([c])) for c in range(10)]
    out.append("{n=%d, dims={%s}, labels={%s}, counts={%s}, first_sum=%d, last_sum=%d, max=%d, p=%d}" % (
        n, ",".join(map(str, dims)), ",".join(str(v) for v in lab[:20]),
        ",".join(map(str, counts)), sum(img[:784]), sum(img[-784:]), max(img), img[784 * 7 + 28 * 14 + 13]))
print("{train=%s, test=%s}" % tuple(out))
]])
    local t0 = os.clock()
    local train = data.fashion_mnist {}
    local test = data.fashion_mnist { split = "test", layout = "image", scale = false }
    -- reported, not asserted: a time depends on the machine (bench/ is where speed is judged)
    print(string.format("\nFashion-MNIST, both splits: %.3f s of CPU", os.clock() - t0))
    assert.are.same({ 60000, 784 }, train.x:shape())
    assert.are.same({ 10000, 28, 28 }, test.x:shape())
    assert.are.same({ 60000, 28, 28 }, { want.train.n, want.train.dims[2], want.train.dims[3] })
    assert.are.equal(9, train.y:get(1)) -- the first training image is an ankle boot
    assert.are.equal("Ankle boot", train.classes[train.y:get(1) + 1])
    for i = 1, 20 do
      assert.are.equal(want.train.labels[i], train.y:get(i))
      assert.are.equal(want.test.labels[i], test.y:get(i))
    end
    -- every class appears as often as python counts it (6000 / 1000 each)
    for _, s in ipairs { { train, want.train }, { test, want.test } } do
      local counts = {}
      for i = 1, s[1].n do
        local c = s[1].y:get(i)
        counts[c + 1] = (counts[c + 1] or 0) + 1
      end
      assert.are.same(s[2].counts, counts)
    end
    assert.are.equal(0, train.x:min())
    assert.are.equal(1, train.x:max())
    assert.are.equal(want.train.max, 255)
    assert.are.equal(f32(want.train.p / 255), train.x:get(8, 28 * 14 + 14))
    assert.is_near(want.train.first_sum / 255, train.x:slice(1, 1, 1):sum(), 1e-3)
    assert.is_near(want.train.last_sum / 255, train.x:slice(1, 60000, 60000):sum(), 1e-3)
    assert.are.equal(want.test.first_sum, test.x:slice(1, 1, 1):sum())
    assert.are.equal(want.test.p, test.x:get(8, 15, 14))
    assert.are.equal(255, test.x:max())
  end)
end)

describe("data.sklearn", function()
  local installed = helpers.exists(SKLEARN .. "/iris.csv")
  local fit = installed and it or pending
  local why = installed and "" or " (pending: apt-get install python3-sklearn)"

  fit("reads iris, wine, breast_cancer, digits and diabetes as python3's csv does" .. why, function()
    local want = python([[
import csv, gzip
d = "]] .. SKLEARN .. [["
out = []
for name, f in (("iris", "iris.csv"), ("wine", "wine_data.csv"), ("breast_cancer", "breast_cancer.csv")):
    rows = list(csv.reader(open(d + "/" + f)))
    head, body = rows[0], rows[1:]
    out.append('%s={n=%s, d=%s, classes={%s}, x11=%s, xnd=%s, y1=%s, yn=%s}' % (
        name, head[0], head[1], ",".join('"%s"' % c for c in head[2:]), body[0][0], body[-1][-2],
        body[0][-1], body[-1][-1]))
rows = list(csv.reader(gzip.open(d + "/digits.csv.gz", "rt")))
out.append("digits={n=%d, d=%d, x11=%s, y1=%s, yn=%s}" % (len(rows), len(rows[0]) - 1, rows[0][0], rows[0][-1], rows[-1][-1]))
x = [l.split() for l in gzip.open(d + "/diabetes_data_raw.csv.gz", "rt") if l.strip()]
y = [l.split() for l in gzip.open(d + "/diabetes_target.csv.gz", "rt") if l.strip()]
out.append("diabetes={n=%d, d=%d, x11=%s, xnd=%s, y1=%s, yn=%s}" % (len(x), len(x[0]), x[0][0], x[-1][-1], y[0][0], y[-1][0]))
print("{" + ", ".join(out) + "}")
]])
    for _, name in ipairs { "iris", "wine", "breast_cancer" } do
      local ds, w = data.sklearn(name), want[name]
      assert.are.same({ w.n, w.d }, ds.x:shape())
      assert.are.same({ w.n }, ds.y:shape())
      assert.are.same(w.classes, ds.classes)
      assert.are.equal(f32(w.x11), ds.x:get(1, 1))
      assert.are.equal(f32(w.xnd), ds.x:get(w.n, w.d))
      assert.are.equal(w.y1, ds.y:get(1))
      assert.are.equal(w.yn, ds.y:get(w.n))
      assert.are.equal(#w.classes - 1, ds.y:max())
    end
    local iris = data.sklearn("iris")
    assert.are.same({ 150, 4 }, iris.x:shape())
    assert.are.same({ "setosa", "versicolor", "virginica" }, iris.classes)
    local per = { 0, 0, 0 }
    for i = 1, 150 do per[iris.y:get(i) + 1] = per[iris.y:get(i) + 1] + 1 end
    assert.are.same({ 50, 50, 50 }, per)

    local digits = data.sklearn("digits")
    assert.are.same({ 1797, 64 }, digits.x:shape())
    assert.are.same({ want.digits.n, want.digits.d }, digits.x:shape())
    assert.are.equal(want.digits.y1, digits.y:get(1))
    assert.are.equal(want.digits.yn, digits.y:get(1797))
    assert.are.equal(16, digits.x:max())
    assert.are.equal(10, #digits.classes)

    local diabetes = data.sklearn("diabetes")
    assert.are.same({ 442, 10 }, diabetes.x:shape())
    assert.are.same({ 442, 1 }, diabetes.y:shape())
    assert.are.equal(f32(want.diabetes.x11), diabetes.x:get(1, 1))
    assert.are.equal(f32(want.diabetes.xnd), diabetes.x:get(442, 10))
    assert.are.equal(f32(want.diabetes.y1), diabetes.y:get(1, 1))
    assert.are.equal(f32(want.diabetes.yn), diabetes.y:get(442, 1))
  end)

  it("names python3-sklearn when the files are missing, and refuses unknown names", function()
    assert.has_error(function() data.sklearn("iris", { dir = "/nonexistent" }) end,
      "sklearn: /nonexistent/iris.csv not found; it is installed by the Debian package " ..
      "python3-sklearn (apt-get install python3-sklearn)")
    assert.has_error(function() data.sklearn("boston") end,
      "sklearn: unknown data set boston (iris, wine, breast_cancer, digits, diabetes)")
  end)
end)

describe("data.statsmodels", function()
  local installed = helpers.exists(STATSMODELS .. "/nile/nile.csv")
  local fit = installed and it or pending
  local why = installed and "" or " (pending: apt-get install python3-statsmodels)"

  fit("reads sunspots, nile, elnino and co2 as python3's csv does" .. why, function()
    local want = python([[
import csv
d = "]] .. STATSMODELS .. [["
out = []
for name in ("sunspots", "nile", "elnino", "co2"):
    rows = list(csv.reader(open("%s/%s/%s.csv" % (d, name, name))))
    body = rows[1:]
    missing = sum(1 for r in body for v in r if v == "")
    out.append('%s={n=%d, k=%d, t1=%s, tn=%s, v1=%s, vn=%s, missing=%d, columns={%s}}' % (
        name, len(body), len(rows[0]) - 1, body[0][0], body[-1][0], body[0][1], body[-1][-1],
        missing, ",".join('"%s"' % c for c in rows[0][1:])))
print("{" + ", ".join(out) + "}")
]])
    for _, name in ipairs { "sunspots", "nile", "elnino" } do
      local ts, w = data.statsmodels(name), want[name]
      assert.are.same({ w.n, 1 }, ts.x:shape())
      assert.are.same({ w.n, w.k }, ts.y:shape())
      assert.are.same({ w.n * w.k }, ts.series:shape())
      assert.are.same(w.columns, ts.columns)
      assert.are.equal(w.t1, ts.x:get(1, 1))
      assert.are.equal(w.tn, ts.x:get(w.n, 1))
      assert.are.equal(f32(w.v1), ts.y:get(1, 1))
      assert.are.equal(f32(w.vn), ts.y:get(w.n, w.k))
      assert.are.equal(f32(w.vn), ts.series:get(w.n * w.k))
      assert.is_true(ts.y:all_finite())
    end
    assert.are.same({ 309, 1 }, data.statsmodels("sunspots").y:shape())
    local elnino = data.statsmodels("elnino")
    assert.are.equal(elnino.y:get(2, 1), elnino.series:get(13)) -- January of the second year

    local co2, w = data.statsmodels("co2"), want.co2
    assert.are.same({ w.n, 1 }, co2.y:shape())
    assert.are.equal(59, w.missing)
    assert.are.equal(w.missing, count_nan(co2.y))
    assert.are.equal("1958-03-29", co2.start)
    assert.are.equal(0, co2.x:get(1, 1))
    assert.are.equal(w.n - 1, co2.x:get(w.n, 1))
    assert.are.equal(f32(w.v1), co2.y:get(1, 1))
    assert.are.equal(f32(w.vn), co2.y:get(w.n, 1))
  end)

  it("names python3-statsmodels when the files are missing", function()
    assert.has_error(function() data.statsmodels("nile", { dir = "/nonexistent" }) end,
      "statsmodels: /nonexistent/nile/nile.csv not found; it is installed by the Debian " ..
      "package python3-statsmodels (apt-get install python3-statsmodels)")
    assert.has_error(function() data.statsmodels("airline") end,
      "statsmodels: unknown data set airline (sunspots, nile, elnino, co2)")
  end)
end)
