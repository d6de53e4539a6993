local ml = require "moonlab"
local T = ml.tensor

describe("moonlab.tensor", function()
  it("builds from nested tables and reports its shape", function()
    local t = T.from { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.are.same({ 2, 3 }, t:shape())
    assert.are.equal(6, t:size())
    assert.are.equal(2, #t)
    assert.are.equal(6, t:get(2, 3))
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
  end)

  it("makes transpose, slice and reshape views that share memory", function()
    local t = T.from { { 1, 2, 3 }, { 4, 5, 6 } }
    local tt = t:t()
    assert.are.same({ 3, 2 }, tt:shape())
    assert.are.equal(4, tt:get(1, 2))
    tt:set(1, 2, 40)
    assert.are.equal(40, t:get(2, 1))
    local col = t:slice(2, 2, 3)
    assert.are.same({ { 2, 3 }, { 5, 6 } }, col:totable())
    local flat = t:reshape(6)
    assert.are.equal(40, flat[4])
    assert.are.same({ 3, 2 }, t:reshape(-1, 2):shape())
  end)

  it("frees dead tensors while a loop makes big temporaries", function()
    -- 60 temporaries of 32 MB (1.9 GB in all), each dead after its iteration: Lua's collector
    -- does not see their data, so moonlab collects once malloc'd memory has doubled
    local function rss_kb()
      for line in io.lines("/proc/self/status") do
        local kb = line:match("^VmRSS:%s+(%d+) kB")
        if kb then return tonumber(kb) end
      end
    end
    collectgarbage()
    local base, peak = rss_kb(), 0
    for _ = 1, 60 do
      local t = T.zeros(8 * 1024 * 1024):fill(1) -- touched, so resident
      peak = math.max(peak, rss_kb())
      t = nil -- luacheck: ignore (dead from here)
    end
    -- at most the 64 MB pause and a few blocks; under AddressSanitizer its quarantine of freed
    -- memory (256 MB by default) as well
    assert.is_true(peak - base < 600 * 1024, string.format("resident memory grew by %d MB", (peak - base) // 1024))
  end)

  it("refuses to reshape a non-contiguous view", function()
    local t = T.zeros(2, 3)
    assert.has_error(function() t:t():reshape(6) end,
      "tensor:reshape: reshape: tensor (3,2) is a non-contiguous view; copy it first")
  end)

  it("multiplies with transposed operands through strides", function()
    local a = T.from { { 1, 2 }, { 3, 4 }, { 5, 6 } }
    local c = a:t():matmul(a) -- (2,3)(3,2)
    assert.are.same({ { 35, 44 }, { 44, 56 } }, c:totable())
  end)

  it("names the shapes when a product does not fit", function()
    assert.has_error(function() T.zeros(2, 3):matmul(T.zeros(2, 3)) end,
      "tensor:matmul: cannot multiply (2,3) by (2,3)")
  end)

  it("does elementwise arithmetic with numbers, tensors and a broadcast row", function()
    local a = T.from { { 1, 2 }, { 3, 4 } }
    assert.are.same({ { 2, 4 }, { 6, 8 } }, (a * 2):totable())
    assert.are.same({ { 0, 0 }, { 0, 0 } }, (a - a):totable())
    assert.are.same({ { 11, 22 }, { 13, 24 } }, (a + T.from { 10, 20 }):totable())
    assert.are.same({ { -1, -2 }, { -3, -4 } }, (-a):totable())
    assert.has_error(function() return a + T.zeros(3) end,
      "tensor add: shapes (2,2) and (3,) do not match")
  end)

  it("reduces", function()
    local a = T.from { 3, -4 }
    assert.are.equal(-1, a:sum())
    assert.are.equal(5, a:norm())
    assert.are.equal(3, a:max())
    assert.are.equal(-4, a:min())
  end)

  it("gives the position of the largest value along the last dimension as class ids", function()
    local logits = T.from { { 0.1, 2, -1 }, { 3, 3, 0 }, { -5, -4, -4.5 } }
    assert.are.same({ 1, 0, 1 }, logits:argmax():totable())
    assert.are.same({ 1, 1, 1 }, logits:t():argmax():totable()) -- columns, through a transposed view
    local steps = T.zeros(2, 3, 4)
    steps:set(2, 3, 4, 1)
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 3 } }, steps:argmax():totable())
    assert.has_error(function() T.zeros(4):argmax() end,
      "tensor:argmax: tensor is (4,), expected (N,C) or more dimensions with C >= 1")
    assert.has_error(function() T.zeros(2, 0):argmax() end,
      "tensor:argmax: tensor is (2,0), expected (N,C) or more dimensions with C >= 1")
  end)

  it("raises on bad indices and sizes, naming the function", function()
    local t = T.zeros(2, 2)
    assert.has_error(function() t:get(3, 1) end, "tensor:get: index 1 is 3, out of range 1..2")
    assert.has_error(function() T.zeros(-1) end,
      "tensor.new: size 1 must be a non-negative integer, got -1")
    assert.has_error(function() T.from { { 1, 2 }, { 3 } } end)
    assert.has_error(function() T.zeros(1, 1, 1, 1, 1) end, "tensor.new: 5 dimensions (at most 4)")
  end)

  it("is unusable once closed, and so are its views", function()
    local t = T.zeros(4)
    local v = t:slice(1, 2, 3)
    t:close()
    assert.is_true(t:is_closed())
    assert.has_error(function() t:sum() end, "tensor:sum: tensor is closed")
    assert.has_error(function() v:sum() end, "tensor:sum: tensor is closed")
    assert.are.equal("tensor (closed)", tostring(v))
  end)

  it("closes at the end of a to-be-closed scope", function()
    local keep
    do
      local t <close> = T.zeros(3)
      keep = t
    end
    assert.is_true(keep:is_closed())
  end)

  it("prints small tensors in full", function()
    assert.are.equal("tensor(2,)\n  1 2\n", tostring(T.from { 1, 2 }))
  end)
end)
