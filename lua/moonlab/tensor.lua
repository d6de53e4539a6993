--- Tensors: float32, up to four dimensions, 1-based indices. Constructors live here; methods
--- (shape, get, set, slice, transpose, reshape, sum, matmul, arithmetic ...) on the objects.
local core = require "moonlab.core"

local tensor = {}
for k, v in pairs(core.tensor) do tensor[k] = v end

--- tensor.zeros(2, 3) or tensor.zeros{2, 3}
tensor.zeros = core.tensor.new
--- tensor.full(shape, value)
function tensor.full(shape, value)
  return core.tensor.new(shape):fill(value)
end
--- tensor.ones(shape)
function tensor.ones(shape)
  return tensor.full(shape, 1)
end

return tensor
