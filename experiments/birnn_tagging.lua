-- Bidirectional recurrent networks (d2l, "Bidirectional Recurrent Neural Networks"): tagging
-- where a word's tag depends on the word after it. "Teddy bears are on sale" against "Teddy
-- Roosevelt was a president": whether "Teddy" is part of a name is decided by the next word.
-- data.synthetic.tagging draws sentences of 8 words from a vocabulary of 10: 2 ambiguous words
-- ("Teddy", 30 % of the words), 4 name words ("Roosevelt") and 4 other words ("bears"). A
-- name word is tagged 1, an ambiguous word 1 when the next word is a name word, everything
-- else 0.
--
-- The bound. A left-to-right tagger deciding word s has seen words 1..s only, and the next word
-- is drawn independently of them: it is a name word with probability q = 0.7 * 4/8 = 0.35. The
-- best such tagger says 0 for an ambiguous word (not the last) and is right with probability
-- 1 - q = 0.65 there, and right everywhere else, so its expected token accuracy is
--   1 - (7/8) * 0.3 * 0.35 = 0.908125
-- (docs/api.md, "The tagging task"; tests/c/test_synth.c checks it against every sentence).
-- No left-to-right model can do better; a bidirectional one reads the next word and can reach
-- 100 %. An embedding, one recurrent layer (every step, one or both directions) and a linear
-- layer per step, for the RNN, GRU and LSTM cells, each from 3 seeds.
--   moonlab run experiments/birnn_tagging.lua -j 2
--   moonlab show results/birnn_tagging.h5; moonlab plot results/birnn_tagging.h5 -o tagging.png
local ml = require "moonlab"
local nn, data = ml.nn, ml.data

local cfg = ml.config {
  n_train = 5000, n_test = 2000, embed = 16, hidden = 32, epochs = 10, lr = 1e-2, batch = 64,
  seeds = 3, smoke = false,
}
local cells = { "rnn", "gru", "lstm" }
if cfg.smoke then
  cells = { "gru" }
  cfg.n_train, cfg.n_test, cfg.epochs, cfg.seeds, cfg.lr = 2000, 1000, 8, 1, 3e-3
end

-- Drawn here, outside the trials, so that every model reads the same sentences.
local function sentences(n, part)
  local ds = data.synthetic.tagging { n = n, seed = ml.seed("tagging/" .. part) }
  local out = data.dataset(ds.x, ds.y)
  out.vocab, out.bound, out.bound_sample = ds.vocab, ds.best_unidirectional, ds.best_unidirectional_sample
  return out
end
local train, test = sentences(cfg.n_train, "train"), sentences(cfg.n_test, "test")

ml.study {
  name = "birnn_tagging",
  params = { cell = cells, directions = { 1, 2 } },         -- left to right, or both ways
  seeds = cfg.seeds,                                  -- initial weights and batch order
  select = { metric = "test_accuracy", goal = "max" },
  trial = function(t)
    local p = t.params
    local model = nn.sequential {
      nn.embedding(train.vocab, cfg.embed),
      nn[p.cell] { hidden = cfg.hidden, sequence = true, bidirectional = p.directions == 2 },
      nn.linear(2),
    }
    local h = model:fit {
      data = train, loss = "cross_entropy", optim = ml.optim.adam { lr = cfg.lr },
      epochs = cfg.epochs, batch = cfg.batch, eval = { test = test }, log = t.run,
      on_epoch = function(row)
        print(string.format("epoch %2d  train accuracy %.4f  test accuracy %.4f", row.epoch,
          row.accuracy, row.test_accuracy))
      end,
    }
    local acc = model:evaluate(test, "cross_entropy").accuracy
    print(string.format("%s%s: test token accuracy %.4f; best left-to-right tagger %.6f (expected), %.4f (on this test set)",
      p.directions == 2 and "bidirectional " or "", p.cell, acc, test.bound, test.bound_sample))
    return { test_accuracy = acc, train_accuracy = h[#h].accuracy, bound = test.bound,
      bound_sample = test.bound_sample, above_bound = acc - test.bound_sample }
  end,
}
