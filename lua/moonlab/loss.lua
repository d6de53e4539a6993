--- Losses, by name. Conventions (docs/api.md): squared loss is 1/2 (pred - target)^2 summed
--- over outputs and averaged over samples; cross-entropy takes logits and class indices 0..C-1;
--- bce_logits takes logits and 0/1 targets. With per-sample weights, reduce = "mean" divides by
--- the number of samples, "weighted_mean" by the sum of the weights, "sum" does not divide.
local core = require "moonlab.core"

local loss = {
  mse = "mse",
  squared = "mse",
  cross_entropy = "cross_entropy",
  bce_logits = "bce_logits",
}

--- loss.value(kind, pred, target [, {weights=, reduce=}]) -> loss, dpred
function loss.value(kind, pred, target, opts)
  opts = opts or {}
  return core.loss(kind, pred, target, opts.weights, opts.reduce or "mean")
end

return loss
