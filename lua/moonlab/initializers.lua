--- Initializers, as values for a layer's `init` / `bias_init` (nn.linear{..., init = ...}) or
--- for filling a tensor directly with init.fill(t, spec, fan_out, fan_in, rng).
local core = require "moonlab.core"

local init = {}

init.default = { kind = "default" }       -- U(+-1/sqrt(fan_in)), PyTorch's nn.Linear
init.zeros = { kind = "zeros" }
init.xavier_uniform = { kind = "xavier_uniform" }
init.xavier_normal = { kind = "xavier_normal" }
init.kaiming_uniform = { kind = "kaiming_uniform" }
init.kaiming_normal = { kind = "kaiming_normal" }

function init.constant(v) return { kind = "constant", a = v } end
function init.normal(mean, std) return { kind = "normal", a = mean or 0, b = std or 1 } end
function init.uniform(a, b) return { kind = "uniform", a = a or 0, b = b or 1 } end
function init.orthogonal(gain) return { kind = "orthogonal", a = gain or 1 } end
function init.xavier(gain) return { kind = "xavier_uniform", a = gain or 1 } end

--- Fill a contiguous tensor holding a (fan_out, fan_in) weight.
init.fill = core.rng.init_fill

return init
