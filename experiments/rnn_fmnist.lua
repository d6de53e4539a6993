-- Recurrent networks on image rows (d2l, "Recurrent Neural Networks"; the classifier of the
-- seeds): each Fashion-MNIST image is read as a sequence of its 28 rows (T = 28 steps of 28
-- pixels), a 2-layer LSTM with 128 hidden units reads it, and a linear head on the last step
-- gives the class. `--set cell=gru` or `cell=rnn` runs one cell. Adam (lr 1e-3), batch 100,
-- softmax cross-entropy; test accuracy after every epoch goes into the result file. By default
-- the three cells run side by side as the trials of one study (-j runs them in parallel).
--   moonlab run experiments/rnn_fmnist.lua [--set cell=all|lstm|gru|rnn] [--set epochs=3] [-j 3]
local ml = require "moonlab"
local nn, optim, data = ml.nn, ml.optim, ml.data

local cfg = ml.config {
  cell = "all", hidden = 128, layers = 2, epochs = 3, lr = 1e-3, batch = 100, smoke = false,
}
local cells = cfg.cell == "all" and { "lstm", "gru", "rnn" } or { cfg.cell }
for _, c in ipairs(cells) do
  if c ~= "lstm" and c ~= "gru" and c ~= "rnn" then
    error("--set cell=" .. cfg.cell .. ": expected all, lstm, gru or rnn")
  end
end

local train = data.fashion_mnist { split = "train", layout = "rows" }
local test = data.fashion_mnist { split = "test", layout = "rows" }
if cfg.smoke then -- a few seconds: small subsets, one epoch
  train = data.subset(train, data.index(2000))
  test = data.subset(test, data.index(1000))
  cfg.epochs = 1
end

-- One trial per cell, side by side in one study file (moonlab show / plot compare them).
ml.study {
  name = "rnn_fmnist",
  params = { cell = cells },
  data = train,
  select = { metric = "test_accuracy", goal = "max" },
  trial = function(t)
    local cell = t.params.cell
    local model = nn.sequential({
      nn[cell] { ["in"] = 28, hidden = cfg.hidden, layers = cfg.layers },
      nn.linear(10),
    }, { seed = ml.seed("model") })
    t.run:attr("cell", cell):attr("hidden", cfg.hidden):attr("layers", cfg.layers)
    print(string.format("rnn_fmnist: %d-layer %s, %d hidden, %d training / %d test sequences of 28x28",
      cfg.layers, cell, cfg.hidden, t.train.n, test.n))
    print(string.format("%5s  %10s  %10s  %9s  %8s", "epoch", "train loss", "train acc", "test acc", "seconds"))
    local history = model:fit {
      data = t.train, loss = "cross_entropy", optim = optim.adam { lr = cfg.lr }, batch = cfg.batch,
      epochs = cfg.epochs, seed = ml.seed("order"), eval = { test = test }, eval_batch = 500,
      log = t.run, checkpoint = t.checkpoint,
      on_epoch = function(row)
        print(string.format("%5d  %10.4f  %9.2f%%  %8.2f%%  %8.1f", row.epoch, row.loss,
          100 * row.accuracy, 100 * row.test_accuracy, row.seconds))
      end,
    }
    local last = history[#history]
    return { test_accuracy = last.test_accuracy, test_loss = last.test_loss,
      train_loss = last.loss, epochs = cfg.epochs }
  end,
  checkpoint = { every = 1 },
}
