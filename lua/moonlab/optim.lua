--- Optimizers (over a model's one flat parameter buffer) and learning-rate schedules.
local core = require "moonlab.core"

local optim = {}

local function make(kind)
  return function(opts)
    opts = opts or {}
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.kind = kind
    return core.optim.new(o)
  end
end

--- optim.sgd{lr = 0.01, momentum = 0, nesterov = false, weight_decay = 0}
optim.sgd = make("sgd")
--- optim.adam{lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0}
optim.adam = make("adam")
--- optim.adamw{lr = 0.001, ..., weight_decay = 0.01} (decoupled decay)
optim.adamw = make("adamw")

--- Schedules: tables read by model:fit, which sets the optimizer's lr before each epoch.
--- optim.step{step_size = 30, gamma = 0.1}: lr * gamma^floor((epoch-1)/step_size)
function optim.step(opts)
  return { kind = "step", step_size = opts.step_size, gamma = opts.gamma or 0.1 }
end
--- optim.cosine{t_max = epochs, min_lr = 0}
function optim.cosine(opts)
  return { kind = "cosine", t_max = opts.t_max, min_lr = opts.min_lr or 0 }
end

--- Learning rate of a schedule at 1-based epoch for base rate lr.
function optim.schedule_lr(schedule, lr, epoch)
  local s = {}
  for k, v in pairs(schedule) do s[k] = v end
  s.lr = lr
  return core.optim.schedule_lr(s, epoch - 1)
end

optim.clip_grad_norm = core.optim.clip_grad_norm

return optim
