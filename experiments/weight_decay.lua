-- Weight decay and dropout (d2l, "Weight Decay" and "Dropout"). Two studies, chosen with
-- `--set part=`:
--
-- part=weight_decay (the default): d2l's high-dimensional linear regression. y = 0.05 +
--   sum_j 0.01 x_j + N(0, 0.01^2) over 200 features x ~ N(0, 1), with only 20 training samples
--   (and 100 test samples). A linear model, weights N(0, 1) and bias 0 at the start, trained by
--   SGD (batch 1, lr 0.003, 100 epochs) on the squared loss plus (lambda/2)||w||^2 (the decay
--   acts on the weights only, not the bias). With lambda = 0 the model fits the 20 samples
--   almost exactly and the test loss stays high (overfitting); with lambda = 3 the test loss is
--   orders of magnitude lower and ||w|| far smaller. Each lambda is a setting of the study,
--   replicated over `seeds` initializations and sample orders (the data are the same for all).
--
-- part=dropout: an MLP 784-256-256-10 (ReLU, dropout p after each hidden layer) on
--   Fashion-MNIST, SGD lr 0.5, batch 256, for p = 0, 0.2 and 0.5. Training and test loss and
--   accuracy per epoch, the training ones measured after each epoch in evaluation mode (dropout
--   off), so that the gap between them is the generalization gap. The study file goes to
--   results/weight_decay_dropout.h5.
--
--   moonlab run experiments/weight_decay.lua [-j 2]
--   moonlab run experiments/weight_decay.lua --set part=dropout [-j 2]
--   moonlab show results/weight_decay.h5; moonlab plot results/weight_decay.h5 -o wd.png
local ml = require "moonlab"
local nn, optim, data, init = ml.nn, ml.optim, ml.data, ml.init

local cfg = ml.config {
  part = "weight_decay", seeds = 3, smoke = false,
  -- weight decay: d2l's numbers
  n_train = 20, n_test = 100, features = 200, epochs = 100, lr = 0.003, batch = 1,
  -- dropout
  dropout_epochs = 10, dropout_lr = 0.5, dropout_batch = 256, hidden = 256, train_rows = 60000,
  test_rows = 10000,
}
if cfg.part ~= "weight_decay" and cfg.part ~= "dropout" then
  error("--set part=" .. cfg.part .. ": expected weight_decay or dropout")
end
if cfg.smoke then
  -- weight decay runs whole (it takes well under a second); for dropout, a small MLP overfits
  -- 1000 training images (smaller batches and rate, so that it sees enough steps)
  cfg.seeds = math.min(cfg.seeds, 2)
  cfg.train_rows, cfg.test_rows, cfg.hidden = 1000, 2000, 128
  cfg.dropout_epochs, cfg.dropout_batch, cfg.dropout_lr = 40, 32, 0.05
end

if cfg.part == "weight_decay" then
  -- The data, from the root seed: the same in the runner and in every worker.
  local train, test = data.synthetic.high_dim_linear {
    n_train = cfg.n_train, n_test = cfg.n_test, features = cfg.features, w = 0.01, b = 0.05,
    noise = 0.01, seed = ml.seed("data"),
  }

  ml.study {
    name = "weight_decay",
    params = { lambda = { 0, 1, 3, 10 } },
    seeds = cfg.seeds,
    -- no model selection here: the mark in `moonlab show` is simply the lowest test loss
    select = { metric = "test_loss", goal = "min" },
    trial = function(t)
      local lambda = t.params.lambda
      local model = nn.sequential({
        nn.linear { ["in"] = cfg.features, out = 1, init = init.normal(0, 1), bias_init = init.zeros },
      }, { seed = ml.seed("init") })
      model:fit {
        data = train, loss = "mse", optim = optim.sgd { lr = cfg.lr, weight_decay = lambda },
        batch = cfg.batch, epochs = cfg.epochs, seed = ml.seed("order"),
        eval = { train = train, test = test }, log = t.run,
      }
      local layer = model:layer(1)
      local m = {
        train_loss = model:evaluate(train, "mse").loss,
        test_loss = model:evaluate(test, "mse").loss,
        w_norm = layer.weight:norm(),
        w_error = (layer.weight:t() - train.w_true):norm(),
        bias = layer.bias[1],
      }
      print(string.format("lambda %-3g  train loss %10.4g  test loss %10.4g  ||w|| %8.4f  ||w - w_true|| %8.4f",
        lambda, m.train_loss, m.test_loss, m.w_norm, m.w_error))
      return m
    end,
  }
else
  local train = data.fashion_mnist { split = "train" }
  local test = data.fashion_mnist { split = "test" }
  if cfg.train_rows < train.n then
    -- a fixed random subset (the same for every setting), from the root seed
    local perm = ml.rng("rows"):permutation(train.n)
    local rows = {}
    for i = 1, cfg.train_rows do rows[i] = perm[i] end
    train = data.subset(train, data.index(rows))
  end
  if cfg.test_rows < test.n then test = data.rows(test, 1, cfg.test_rows) end

  ml.study {
    name = "weight_decay_dropout",
    params = { dropout = { 0, 0.2, 0.5 } },
    seeds = cfg.seeds,
    select = { metric = "test_accuracy", goal = "max" },
    trial = function(t)
      local p = t.params.dropout
      local model = nn.sequential({
        nn.linear(784, cfg.hidden), nn.relu(), nn.dropout(p),
        nn.linear(cfg.hidden), nn.relu(), nn.dropout(p),
        nn.linear(10),
      }, { seed = ml.seed("init") })
      local h = model:fit {
        data = train, loss = "cross_entropy", optim = optim.sgd { lr = cfg.dropout_lr },
        batch = cfg.dropout_batch, epochs = cfg.dropout_epochs, seed = ml.seed("order"),
        eval = { train = train, test = test }, eval_batch = 1000, log = t.run,
      }
      local last = h[#h]
      local m = {
        train_loss = last.train_loss, test_loss = last.test_loss,
        train_accuracy = last.train_accuracy, test_accuracy = last.test_accuracy,
        gap_loss = last.test_loss - last.train_loss,
        gap_accuracy = last.train_accuracy - last.test_accuracy,
      }
      print(string.format("dropout %-3g  train loss %.4f  test loss %.4f  train acc %.2f%%  test acc %.2f%%  gap %.2f points",
        p, m.train_loss, m.test_loss, 100 * m.train_accuracy, 100 * m.test_accuracy,
        100 * m.gap_accuracy))
      return m
    end,
  }
end
