-- Nothing a script does with wrong arguments may crash the process: every call below must
-- raise a Lua error (and the process must still be here to check it).
local ml = require "moonlab"
local T, nn = ml.tensor, ml.nn

describe("misuse raises errors, never crashes", function()
  local t = T.zeros(2, 3)
  local m = nn.sequential { nn.linear(3, 2) }
  local cases = {
    { "tensor.new with a string", function() T.zeros("a") end },
    { "tensor.from with a string leaf", function() T.from { { 1 }, { "x" } } end },
    { "tensor.from nested too deep", function() T.from { { { { { 1 } } } } } end },
    { "slice of dimension 0", function() t:slice(0, 1, 1) end },
    { "slice past the end", function() t:slice(2, 2, 9) end },
    { "transpose of dimension 5", function() t:transpose(1, 5) end },
    { "reshape to a wrong count", function() t:reshape(4, 2) end },
    { "get with too few indices", function() t:get(1) end },
    { "index of a scalar-like row", function() return t[3] end },
    { "assign into a matrix by index", function() t[1] = 3 end },
    { "matmul with a number", function() t:matmul(3) end },
    { "item of a matrix", function() t:item() end },
    { "method on a non-tensor", function() T.zeros(2).sum({}) end },
    { "cat of nothing", function() T.cat({}) end },
    { "forward with nil", function() m:forward(nil) end },
    { "forward with a 1-D tensor", function() m:forward(T.zeros(3)) end },
    { "backward before forward", function() nn.sequential { nn.linear(1, 1) }:backward(T.zeros(1, 1)) end },
    { "backward with the wrong shape", function() m:forward(T.zeros(4, 3)); m:backward(T.zeros(4, 3)) end },
    { "layer index out of range", function() m:layer(5) end },
    { "fit without optimizer", function() m:fit { data = ml.data.dataset(T.zeros(2, 3), T.zeros(2, 2)), loss = "mse", epochs = 1 } end },
    { "fit with zero epochs", function() m:fit { data = {}, loss = "mse", optim = ml.optim.sgd {}, epochs = 0 } end },
    { "train_epoch with a y of the wrong size", function()
      local st, msg = m.core:train_epoch { x = T.zeros(4, 3), y = T.zeros(5, 2), loss = "mse", optim = ml.optim.sgd {} }
      if not st then error(msg) end
    end },
    { "optimizer step with mismatched tensors", function() ml.optim.sgd {}:step(T.zeros(3), T.zeros(2)) end },
    { "rng normal with negative std", function() ml.core.rng.new(1):normal(3, 0, -1) end },
    { "rng permutation of -1", function() ml.core.rng.new(1):permutation(-1) end },
    { "results writer reused after commit", function()
      local d = os.tmpname()
      os.remove(d)
      local w = assert(ml.core.results.create(d .. ".h5"))
      w:commit()
      os.remove(d .. ".h5")
      w:group("/x")
    end },
    { "results table with a nameless column", function()
      local w = assert(ml.core.results.create(os.tmpname() .. ".h5"))
      local ok, err = pcall(w.table, w, "/t", 1, { { type = "int", values = { 1 } } })
      w:abort()
      if not ok then error(err) end
    end },
  }
  for _, c in ipairs(cases) do
    it(c[1], function() assert.has_error(c[2]) end)
  end

  it("closed models refuse work and their views go dead", function()
    local mm = nn.sequential { nn.linear(2, 2) }
    local w = mm:layer(1).weight
    mm:close()
    assert.has_error(function() mm:forward(T.zeros(1, 2)) end, "model:forward: model is closed")
    assert.has_error(function() w:sum() end, "tensor:sum: tensor is closed")
  end)
end)
