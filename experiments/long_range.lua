-- Long-range dependencies: the adding problem (Hochreiter & Schmidhuber 1997; d2l, "Modern
-- Recurrent Neural Networks"). Each sequence has T steps of two channels: a U(0, 1) value and a
-- marker that is 1 at exactly two steps, one in the first half and one in the second; the target
-- is the sum of the two marked values, read after the last step. Predicting 1 whatever the input
-- has a mean squared error of 1/6 ≈ 0.167 (the variance of the sum), the baseline a model that
-- cannot carry the first marked value over at least T/2 steps stays at.
--
-- A vanilla tanh RNN, a GRU and an LSTM (one layer, same width) learn it at T = 50, 100 and 200,
-- with and without gradient-norm clipping (clip = 1: the global gradient norm is cut to 1;
-- clip = 0: off); Adam, and the same data, initial weights and batch order for both clip
-- settings. The gated cells leave the baseline at T = 100 (MSE < 0.01) while the RNN stays on
-- it. Why: the norm of the gradient of the loss with respect to the hidden state h_t, against
-- the distance T - t between h_t and the loss, before and after training. It is measured exactly
-- by running the model from h_t (model:set_state) over the remaining steps and reading
-- model:state_grad after the backward pass; for the RNN it falls geometrically with the distance
-- (vanishing gradients), so the first marker's value never reaches the weights. Each trial keeps
-- both curves (params grad_norm_init and grad_norm_trained, indexed by distance: entry d is
-- the norm at distance d) and prints them at a few distances.
--
-- MSE here is the plain mean squared error; moonlab's squared loss (with its 1/2) is half of it.
--   moonlab run experiments/long_range.lua -j 2
--   moonlab show results/long_range.h5; moonlab plot results/long_range.h5 --x cell -o long_range.png
local ml = require "moonlab"
local T, nn, data = ml.tensor, ml.nn, ml.data

local cfg = ml.config {
  hidden = 64, n_train = 10000, n_test = 1000, epochs = 15, lr = 2e-3, batch = 50, probe = 100,
  smoke = false,
}
local cells, lengths = { "rnn", "gru", "lstm" }, { 50, 100, 200 }
if cfg.smoke then -- a few seconds: one shorter length, small data, the RNN against the GRU
  cells, lengths = { "rnn", "gru" }, { 40 }
  cfg.hidden, cfg.n_train, cfg.n_test, cfg.epochs, cfg.lr = 32, 3000, 500, 10, 5e-3
end
local BASELINE = 1 / 6

-- Seeds taken here, outside the trials, so that every cell and both clip settings of a length
-- read the same data, and both clip settings of a cell start from the same weights.
local data_seed, init_seed = ml.seed("adding"), ml.seed("init")
local derive = ml.core.rng.derive

local function adding(n, t, part)
  local ds = data.synthetic.adding { n = n, t = t, seed = derive(data_seed, part, t) }
  return data.dataset(ds.x, ds.y)
end

-- ‖∂L/∂h_t‖ for t = T-1 .. 0 (distance d = T - t = 1 .. T) on a batch: the model reads the first
-- t steps, its final state h_t becomes the initial state of a run over the last d steps, and
-- the backward pass of that run gives the gradient with respect to h_t. (For the LSTM, h_t with
-- the cell state c_t held fixed.) Returns a tensor (T): entry d is the norm at distance d.
local function gradient_by_distance(model, x, y)
  local B, steps = x:size(1), x:size(2)
  local norms = {}
  for t = 0, steps - 1 do
    model:set_state(1, nil)
    local h, c
    if t > 0 then
      model:forward(x:slice(2, 1, t):clone())
      h, c = model:final_state(1)
      h, c = h:clone(), c and c:clone()
    else
      h = T.zeros(1, B, cfg.hidden)
      if model:layer(1).kind == "lstm" then c = T.zeros(1, B, cfg.hidden) end
    end
    model:set_state(1, h, c)
    model:zero_grad()
    local _, dy = ml.loss.value("mse", model:forward(x:slice(2, t + 1, steps):clone()), y)
    model:backward(dy)
    norms[steps - t] = model:state_grad(1):norm()
  end
  model:set_state(1, nil)
  model:zero_grad()
  return T.from(norms)
end

local function mse(model, ds) return 2 * model:evaluate(ds, "mse").loss end

ml.study {
  name = "long_range",
  params = { cell = cells, t = lengths, clip = { 0, 1 } },
  select = { metric = "test_mse" },
  trial = function(tr)
    local p = tr.params
    local train, test = adding(cfg.n_train, p.t, "train"), adding(cfg.n_test, p.t, "test")
    local seed = derive(init_seed, p.cell, p.t * 1000 + tr.replicate)
    local model = nn.sequential({ nn[p.cell] { ["in"] = 2, hidden = cfg.hidden }, nn.linear(1) },
      { seed = seed })
    local probe = data.rows(test, 1, math.min(cfg.probe, test.n))
    local g0 = gradient_by_distance(model, probe.x, probe.y)
    model:fit {
      data = train, loss = "mse", optim = ml.optim.adam { lr = cfg.lr }, batch = cfg.batch,
      epochs = cfg.epochs, clip = p.clip > 0 and p.clip or nil, seed = seed ~ 0x5eed,
      eval = { test = test },
      on_epoch = function(row)
        row.train_mse, row.test_mse = 2 * row.loss, 2 * row.test_loss
        tr.run:log(row)
        print(string.format("epoch %2d  train MSE %.4f  test MSE %.4f  grad norm %.3g  %.1f s",
          row.epoch, row.train_mse, row.test_mse, row.grad_norm, row.seconds))
      end,
    }
    local g1 = gradient_by_distance(model, probe.x, probe.y)
    tr.run:param("grad_norm_init", g0, { index = "distance" })
    tr.run:param("grad_norm_trained", g1, { index = "distance" })
    local test_mse = mse(model, test)
    local ratio, ratio0 = g1[p.t] / g1[1], g0[p.t] / g0[1]
    print(string.format("%s, T = %d, clip %s: test MSE %.4f (baseline %.4f); gradient at distance %d / at distance 1: %.3g at init, %.3g trained",
      p.cell, p.t, p.clip > 0 and p.clip or "off", test_mse, BASELINE, p.t, ratio0, ratio))
    local dist = {}
    for _, d in ipairs { 1, 5, 10, 25, 50, 100, 200 } do
      if d <= p.t then dist[#dist + 1] = string.format("d=%d %.3g", d, g1[d] / g1[1]) end
    end
    print("relative gradient norm by distance, trained: " .. table.concat(dist, ", "))
    -- (the last epoch's training MSE stays in the history: as a metric beside test_mse it
    -- would double the lines of moonlab plot's first panel)
    return { test_mse = test_mse, solved = test_mse < 0.01 and 1 or 0, grad_ratio = ratio,
      grad_ratio_init = ratio0 }
  end,
}
