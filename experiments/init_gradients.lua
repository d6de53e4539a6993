-- Vanishing and exploding gradients, and why initialization matters (d2l, "Numerical
-- Stability and Initialization"). A deep MLP (30 linear layers of width 100, identity or tanh
-- between them) at initialization: the norm of each layer's activations on a batch, and of the
-- gradient that reaches each layer's input when the output receives a unit gradient. With
-- identity activations every layer multiplies the backward signal by about std * sqrt(width):
--   N(0, 0.01^2): 0.1 per layer  -> the first layer's gradient is ~1e-29 of the last's (vanishes)
--   N(0, 1):      10 per layer   -> ~1e29 (explodes)
--   Xavier:       1 per layer    -> stays within [0.1, 10]
--   Kaiming:      sqrt(2) per layer (meant for ReLU, which halves the variance)
-- tanh keeps the activations bounded but does not save the gradient: near 0 it is the identity
-- (N(0, 0.01^2) vanishes just the same), and with N(0, 1) most units saturate, yet the rest
-- still multiply the backward signal by more than 1 per layer (it explodes less, ~1e11 over 30
-- layers against ~1e29). Xavier keeps it within a factor of a few either way.
-- Also the symmetry point: when a hidden layer's weights and the weights reading it all start
-- equal, its units stay identical through training (each gets the same gradient), while random
-- weights break the symmetry; checked with each activation (the "constant" setting), on
-- everything that makes a unit: its incoming weights, its bias and its outgoing weights.
-- Each setting is one trial of a study; the per-layer norms are its history:
--   moonlab plot results/init_gradients.h5 --metric gradient_norm -o grad.png
local ml = require "moonlab"
local T, nn, init = ml.tensor, ml.nn, ml.init

local cfg = ml.config { depth = 30, width = 100, batch = 64, smoke = false }
if cfg.smoke then cfg.depth, cfg.batch = 12, 16 end

local INITS = {
  ["normal(0,0.01)"] = init.normal(0, 0.01),
  ["normal(0,1)"] = init.normal(0, 1),
  xavier = init.xavier_normal,
  kaiming = init.kaiming_normal,
}

-- The network, its per-layer forward values and the backward signal by hand (30 matmuls each
-- way, all in C); the model's own backward checks the last step.
local function norms(initname, act)
  local layers = {}
  for l = 1, cfg.depth do
    layers[#layers + 1] = nn.linear { ["in"] = cfg.width, out = cfg.width, init = INITS[initname],
      bias_init = init.zeros }
    if l < cfg.depth and act == "tanh" then layers[#layers + 1] = nn.tanh() end
  end
  local model = nn.sequential(layers, { seed = ml.seed("init") })
  local x = ml.rng("input"):normal({ cfg.batch, cfg.width }, 0, 1)
  local h, outs = x, {}
  local linear = {}
  for i = 1, #layers do
    if model:layer(i).kind == "linear" then linear[#linear + 1] = i end
  end
  for l, i in ipairs(linear) do
    h = h:matmul(model:layer(i).weight:t())
    if l < cfg.depth and act == "tanh" then h = h:apply("tanh") end
    outs[l] = h
  end
  -- unit gradient at the output: each row of dy has norm 1 / sqrt(batch)
  local dy = ml.rng("dy"):normal({ cfg.batch, cfg.width }, 0, 1)
  dy = dy / dy:norm()
  local delta, grads = dy, {}
  for l = cfg.depth, 1, -1 do
    if l < cfg.depth and act == "tanh" then
      local d = -(outs[l]:apply("square")) + 1
      delta = delta * d
    end
    delta = delta:matmul(model:layer(linear[l]).weight)
    grads[l] = delta:norm() -- the gradient reaching layer l's input
  end
  model:zero_grad()
  model:forward(x)
  local dx = model:backward(dy, true)
  local check = math.abs(dx:norm() - grads[1]) / math.max(grads[1], 1e-300)
  return outs, grads, check, x:norm()
end

-- A 4-8-1 MLP (hidden activation `act`) trained on a toy regression. Returns the number of
-- distinct hidden units after training (a unit: its 4 incoming weights, its bias and its
-- outgoing weight, compared exactly), the largest change of a first-layer weight (the
-- training did move them) and the training loss before and after.
local function symmetry(constant, act)
  local w = constant and init.constant(0.3) or init.default
  local layers = { nn.linear { ["in"] = 4, out = 8, init = w, bias_init = init.zeros } }
  if act == "tanh" then layers[#layers + 1] = nn.tanh() end
  layers[#layers + 1] = nn.linear { ["in"] = 8, out = 1, init = w, bias_init = init.zeros }
  local model = nn.sequential(layers, { seed = ml.seed("sym") })
  local first, last = model:layer(1), model:layer(#layers)
  local w0 = first.weight:clone()
  local rng = ml.rng("sym-data")
  local x = rng:normal({ 256, 4 }, 0, 1)
  local y = x:matmul(T.from { { 1 }, { -2 }, { 0.5 }, { 3 } }):apply("tanh")
  local train = ml.data.dataset(x, y)
  local loss0 = model:evaluate(train, "mse").loss
  model:fit { data = train, loss = "mse", optim = ml.optim.sgd { lr = 0.1 },
    epochs = cfg.smoke and 5 or 50, batch = 32, seed = ml.seed("order") }
  local moved = (first.weight - w0):apply("abs"):max()
  -- 8 units of 6 numbers each, compared exactly
  local win, b, wout = first.weight:totable(), first.bias:totable(), last.weight:totable()[1]
  local units = {}
  for i = 1, #win do
    local u = { b[i], wout[i] }
    for _, v in ipairs(win[i]) do u[#u + 1] = v end
    units[i] = u
  end
  local distinct = 0
  for i = 1, #units do
    local same = false
    for j = 1, i - 1 do
      local eq = true
      for k = 1, #units[i] do
        if units[i][k] ~= units[j][k] then eq = false break end
      end
      if eq then same = true break end
    end
    if not same then distinct = distinct + 1 end
  end
  return distinct, moved, loss0, model:evaluate(train, "mse").loss
end

ml.study {
  name = "init_gradients",
  params = {
    init = { "normal(0,0.01)", "normal(0,1)", "xavier", "kaiming", "constant" },
    activation = { "identity", "tanh" },
  },
  select = { metric = "log10_ratio_abs" },
  trial = function(t)
    local p = t.params
    if p.init == "constant" then
      -- the symmetry experiment: a constant hidden layer against a random one
      local n_const, moved, loss0, loss1 = symmetry(true, p.activation)
      local n_rand, _, rloss0, rloss1 = symmetry(false, p.activation)
      print(string.format("%s: distinct hidden units after training: constant init %d of 8 (weights moved by up to %.3g; loss %.4g -> %.4g), random init %d of 8 (loss %.4g -> %.4g)",
        p.activation, n_const, moved, loss0, loss1, n_rand, rloss0, rloss1))
      return { distinct_units_constant = n_const, distinct_units_random = n_rand,
        weight_change_constant = moved, loss_constant = loss1, loss_random = rloss1 }
    end
    local outs, grads, check, xnorm = norms(p.init, p.activation)
    for l = 1, cfg.depth do
      t.run:log { layer = l, activation_norm = outs[l]:norm(), gradient_norm = grads[l] }
    end
    local ratio = grads[1] / grads[cfg.depth]
    print(string.format("%s, %s: gradient norm at layer 1 / layer %d = %.3g; activation norm at layer %d = %.3g (input %.3g)",
      p.init, p.activation, cfg.depth, ratio, cfg.depth, outs[cfg.depth]:norm(), xnorm))
    return { ratio = ratio, log10_ratio_abs = math.abs(math.log(ratio, 10)),
      first_gradient = grads[1], last_gradient = grads[cfg.depth],
      last_activation = outs[cfg.depth]:norm(), backward_check = check }
  end,
}
