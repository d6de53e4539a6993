-- A character-level language model of the Jargon File (Debian's jargon-text; d2l, "Recurrent
-- Neural Networks" and "Deep Recurrent Neural Networks"). The text's bytes are ids; the first
-- 90 % train, the last 10 % are held out. An LSTM or GRU of 1, 2 or 3 stacked layers reads
-- one-hot characters and predicts the next one at every step, trained by truncated
-- backpropagation through time: the training text is cut into `batch` parallel streams read in
-- windows of `steps` characters, the states carried from window to window (data.stream).
--
-- Held-out bits per character (cross-entropy in bits, the states carried through the held-out
-- text as in training) are compared with two baselines counted on the training text and scored
-- on exactly the same held-out positions: the unigram model p(c) and the bigram model p(c |
-- previous c), both add-one smoothed. Each trial also prints text sampled from its model at a
-- few temperatures (model:generate), and first trains its architecture on d2l's "hello" toy
-- (reading "hell", predict "ello": after an 'l' the answer is 'l' or 'o' depending on what came
-- before, which only a state can tell).
--   moonlab run experiments/char_lm.lua -j 2        (moonlab show / plot results/char_lm.h5)
local ml = require "moonlab"
local T, nn, data = ml.tensor, ml.nn, ml.data

local cfg = ml.config {
  hidden = 128, epochs = 8, batch = 32, steps = 64, lr = 2e-3, clip = 1, heldout = 0.1,
  first = 1, chars = 0, sample = 240, smoke = false,
}
local layer_counts = { 1, 2, 3 }
if cfg.smoke then -- a few seconds: 120 000 characters of the glossary, small models, two epochs
  layer_counts = { 1, 2 }
  cfg.hidden, cfg.epochs, cfg.batch, cfg.steps, cfg.lr = 64, 2, 16, 32, 5e-3
  cfg.first, cfg.chars, cfg.sample = 200001, 120000, 80
end
local LN2 = math.log(2)

local text = data.jargon() -- /usr/share/doc/jargon-text/jargon.txt.gz; a missing file names the package
local ids = text.ids:slice(1, cfg.first, cfg.chars > 0 and math.min(cfg.first + cfg.chars - 1, text.n) or text.n)
local n = ids:size(1)
local n_train = math.floor(n * (1 - cfg.heldout))
local train = data.stream(ids:slice(1, 1, n_train), { batch = cfg.batch, steps = cfg.steps })
local heldout = data.stream(ids:slice(1, n_train + 1, n), { batch = cfg.batch, steps = cfg.steps })
local V = text.size

-- Counts of (previous character, character) pairs over the positions of a stream dataset, as a
-- (V, V) tensor: one-hot rows of the inputs (the previous characters) times one-hot rows of the
-- targets, a block of positions at a time.
local onehot = data.one_hot(T.zeros(1), { classes = V })
local function pair_counts(ds)
  local x, y = ds.x:reshape(-1), ds.y:reshape(-1)
  local total = x:size(1)
  local counts = T.zeros(V, V)
  local block = 65536
  for a = 1, total, block do
    local b = math.min(a + block - 1, total)
    counts = counts + onehot:apply(x:slice(1, a, b)):t():matmul(onehot:apply(y:slice(1, a, b)))
  end
  return counts
end

-- Bits per character of the unigram and bigram models counted on train, on heldout's positions.
local function baselines()
  local tr, ho = pair_counts(train), pair_counts(heldout)
  local ones = T.ones { V, 1 }
  local n_ho = ho:sum()
  -- unigram: p(c) = (count(c) + 1) / (N + V), counts of the targets (column sums)
  local uni = ones:t():matmul(tr) + 1                         -- (1, V)
  local log_uni = (uni / uni:sum()):apply("log")
  local uni_bits = -(ones:t():matmul(ho) * log_uni):sum() / n_ho / LN2
  -- bigram: p(c | a) = (count(a, c) + 1) / (count(a) + V); transposed so that the row sums
  -- (one per previous character a) divide along rows
  local big = (tr + 1):t()                                    -- (c, a)
  local log_big = (big / ones:t():matmul(big):reshape(V)):apply("log")
  local big_bits = -(ho:t() * log_big):sum() / n_ho / LN2
  return uni_bits, big_bits, n_ho
end
local unigram_bpc, bigram_bpc, heldout_chars = baselines()

local function model_of(cell, layers, hidden, seed)
  return nn.sequential({
    nn.one_hot(V), nn[cell] { hidden = hidden, layers = layers, sequence = true }, nn.linear(V),
  }, { seed = seed })
end

-- The "hello" toy: reading h, e, l, l predict e, l, l, o. Returns the accuracy over the four
-- steps and the greedy continuation of "h".
local function hello(cell, layers)
  local toy = data.synthetic.next_char("hello")
  local ds = data.dataset(toy.x, toy.y)
  local model = nn.sequential({ nn.one_hot(toy.size), nn[cell] { hidden = 16, layers = layers,
    sequence = true }, nn.linear(toy.size) }, { seed = ml.seed("hello") })
  local h = model:fit { data = ds, loss = "cross_entropy", optim = ml.optim.adam { lr = 0.05 },
    epochs = 150, batch = 1 }
  local next_ids = model:generate(toy.encode("h"):reshape(1, 1), 4)
  return h[#h].accuracy, toy.decode(next_ids)
end

ml.study {
  name = "char_lm",
  params = { cell = { "lstm", "gru" }, layers = layer_counts },
  select = { metric = "val_bpc" },
  trial = function(t)
    local p = t.params
    local acc, cont = hello(p.cell, p.layers)
    print(string.format("hello toy: reading 'h', the model continues '%s' (training accuracy %.0f %%)",
      cont, 100 * acc))
    local model = model_of(p.cell, p.layers, cfg.hidden, ml.seed("model"))
    print(string.format("%s, %d layer(s) of %d: %d parameters; %d training / %d held-out characters (%d streams x %d steps)",
      p.cell, p.layers, cfg.hidden, model:info().nparams, train.n * cfg.steps, heldout_chars,
      cfg.batch, cfg.steps))
    model:fit {
      data = train, loss = "cross_entropy", optim = ml.optim.adam { lr = cfg.lr },
      epochs = cfg.epochs, clip = cfg.clip, eval = { val = heldout },
      on_epoch = function(row)
        row.train_bpc, row.val_bpc = row.loss / LN2, row.val_loss / LN2
        t.run:log(row)
        print(string.format("epoch %d  train %.3f bpc  held-out %.3f bpc  (unigram %.3f, bigram %.3f)  %.0f s",
          row.epoch, row.train_bpc, row.val_bpc, unigram_bpc, bigram_bpc, row.seconds))
      end,
    }
    local val_bpc = model:evaluate(heldout, "cross_entropy").loss / LN2
    local prime = "The hacker "
    local rng = ml.rng("sample")
    for _, temp in ipairs { 0.5, 0.8, 1.0 } do
      local out = model:generate(text.encode(prime):reshape(1, #prime), cfg.sample,
        { temperature = temp, rng = rng })
      local s = prime .. text.decode(out)
      print(string.format("-- temperature %.1f:\n%s", temp, s))
      t.run:attr(string.format("sample_t%.1f", temp), s)
    end
    t.run:attr("hello_continuation", cont)
    return { val_bpc = val_bpc, unigram_bpc = unigram_bpc, bigram_bpc = bigram_bpc,
      gain_over_bigram = bigram_bpc - val_bpc, hello_accuracy = acc,
      hello_solved = cont == "ello" and 1 or 0 }
  end,
}
