-- Recurrent networks on image rows (d2l, "Recurrent Neural Networks"; the classifier of the
-- seeds): each Fashion-MNIST image is read as a sequence of its 28 rows (T = 28 steps of 28
-- pixels), a 2-layer LSTM with 128 hidden units reads it, and a linear head on the last step
-- gives the class. `--set cell=gru` or `cell=rnn` swaps the cell. Adam (lr 1e-3), batch 100,
-- softmax cross-entropy; test accuracy after every epoch goes into the result file.
--   moonlab run experiments/rnn_fmnist.lua [--set cell=lstm|gru|rnn] [--set epochs=3]
local ml = require "moonlab"
local nn, optim, data = ml.nn, ml.optim, ml.data

local cfg = ml.config {
  cell = "lstm", hidden = 128, layers = 2, epochs = 3, lr = 1e-3, batch = 100, smoke = false,
}
if not nn[cfg.cell] then
  error("--set cell=" .. cfg.cell .. ": expected lstm, gru or rnn")
end

local train = data.fashion_mnist { split = "train", layout = "rows" }
local test = data.fashion_mnist { split = "test", layout = "rows" }
if cfg.smoke then -- a few seconds: small subsets, one epoch
  train = data.subset(train, data.index(2000))
  test = data.subset(test, data.index(1000))
  cfg.epochs = 1
end

local model = nn.sequential({
  nn[cfg.cell] { ["in"] = 28, hidden = cfg.hidden, layers = cfg.layers },
  nn.linear(10),
}, { seed = ml.seed("model") })

local run = ml.results.run(cfg.cell)
run:attr("cell", cfg.cell):attr("hidden", cfg.hidden):attr("layers", cfg.layers)
print(string.format("rnn_fmnist: %d-layer %s, %d hidden, %d training / %d test sequences of 28x28",
  cfg.layers, cfg.cell, cfg.hidden, train.n, test.n))
print(string.format("%5s  %10s  %10s  %9s  %8s", "epoch", "train loss", "train acc", "test acc", "seconds"))
local history = model:fit {
  data = train, loss = "cross_entropy", optim = optim.adam { lr = cfg.lr }, batch = cfg.batch,
  epochs = cfg.epochs, seed = ml.seed("order"), eval = { test = test }, eval_batch = 500,
  log = run,
  on_epoch = function(row)
    print(string.format("%5d  %10.4f  %9.2f%%  %8.2f%%  %8.1f", row.epoch, row.loss,
      100 * row.accuracy, 100 * row.test_accuracy, row.seconds))
  end,
}
local last = history[#history]
run:metrics { test_accuracy = last.test_accuracy, test_loss = last.test_loss,
  train_loss = last.loss, epochs = cfg.epochs }
