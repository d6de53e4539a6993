-- Sequence to sequence: learning addition from characters (an N -> M encoder-decoder; d2l,
-- "Encoder-Decoder Architecture" and "Sequence-to-Sequence Learning"; Cho et al. 2014). The
-- input is a sum as text, "123+45" (3 to 7 characters, read with its own length), the target
-- its value as text, "168" left-aligned and padded with spaces to 4 characters. The encoder
-- reads the input characters one-hot and its final state starts the decoder, which reads the
-- encoder's summary at each of the 4 output steps and gives a character per step.
--
-- Sums are held out: the test pairs (a, b) never occur in training (nor b + a for a test a + b,
-- so the model cannot pass by commutativity). Exact-match accuracy counts a test sum right only
-- when all 4 output characters are (the predicted character per step is the argmax of the
-- logits); character accuracy is per step.
--   moonlab run experiments/seq2seq_add.lua -j 2     (moonlab show / plot results/seq2seq_add.h5)
local ml = require "moonlab"
local T, nn, data = ml.tensor, ml.nn, ml.data

local cfg = ml.config {
  digits = 3, n_train = 40000, n_test = 2000, hidden = 128, epochs = 30, lr = 2e-3, batch = 64,
  smoke = false,
}
local cells = { "gru", "lstm" }
if cfg.smoke then
  cells = { "gru" }
  cfg.digits, cfg.n_train, cfg.n_test, cfg.hidden, cfg.epochs, cfg.lr = 2, 6000, 500, 64, 12, 1e-2
end

local VOCAB = " +0123456789" -- sorted by byte, as the text loaders order a vocabulary
local N_IN, M = 2 * cfg.digits + 1, cfg.digits + 1
local function encode(s) return ml.core.datasets.encode(VOCAB, s) end
local function decode(ids) return ml.core.datasets.decode(VOCAB, ids) end

-- Distinct pairs (a, b), a and b uniform in 0 .. 10^digits - 1: first the test pairs, then
-- training pairs that are neither a test pair nor one turned round. Drawn here, outside the
-- trials, so that every model sees the same sums.
local rng = ml.rng("sums")
local top = math.floor(10 ^ cfg.digits)
local function draw(n, taken, avoid)
  local pairs_ = {}
  while #pairs_ < n do
    local a, b = rng:integer(top) - 1, rng:integer(top) - 1
    local key = a * top + b
    if not taken[key] and not (avoid and avoid[b * top + a]) then
      taken[key] = true
      pairs_[#pairs_ + 1] = { a, b }
    end
  end
  return pairs_
end
local test_taken = {}
local test_pairs = draw(cfg.n_test, test_taken)
local train_taken = setmetatable({}, { __index = test_taken })
local train_pairs = draw(cfg.n_train, train_taken, test_taken)

-- Text to ids: each question padded to N_IN characters (the padding is not read: lengths), each
-- answer to M; one string per part, encoded once.
local function dataset(list)
  local q, a, len = {}, {}, {}
  for i, p in ipairs(list) do
    local s = p[1] .. "+" .. p[2]
    q[i] = s .. string.rep(" ", N_IN - #s)
    len[i] = #s
    local r = tostring(p[1] + p[2])
    a[i] = r .. string.rep(" ", M - #r)
  end
  local n = #list
  local ds = data.dataset(encode(table.concat(q)):reshape(n, N_IN), encode(table.concat(a)):reshape(n, M),
    { lengths = T.from(len) })
  ds.questions = q
  return ds
end
local train, test = dataset(train_pairs), dataset(test_pairs)

-- Exact-match accuracy: a row is right when every step's argmax is its target. The mismatches of
-- a row, summed, are 0 exactly then; min(s, 1) = s - relu(s - 1) counts the wrong rows.
local function exact_match(model, ds)
  local pred = model:predict(ds.x, ds.lengths):argmax()            -- (N, M) ids
  local wrong_steps = (pred - ds.y):apply("abs")                   -- > 0 where a step is wrong
  local s = wrong_steps:matmul(T.ones { M, 1 })                    -- (N, 1)
  local wrong_rows = (s - (s - 1):apply("relu")):sum()             -- ids differ by whole numbers
  return 1 - wrong_rows / ds.n, pred
end

ml.study {
  name = "seq2seq_add",
  params = { cell = cells },
  select = { metric = "test_exact", goal = "max" },
  trial = function(t)
    local cell = t.params.cell
    local model = nn.sequential(nn.encoder_decoder {
      input = nn.one_hot(#VOCAB),
      encoder = nn[cell] { hidden = cfg.hidden },
      decoder = nn[cell] { hidden = cfg.hidden },
      steps = M,
      output = nn.linear(#VOCAB),
    })
    print(string.format("%s encoder-decoder, %d hidden, %d parameters; %d training and %d held-out sums of %d-digit numbers",
      cell, cfg.hidden, model:info().nparams, train.n, test.n, cfg.digits))
    model:fit {
      data = train, loss = "cross_entropy", optim = ml.optim.adam { lr = cfg.lr },
      epochs = cfg.epochs, batch = cfg.batch, clip = 1, eval = { test = test },
      on_epoch = function(row)
        row.test_exact = exact_match(model, test)
        t.run:log(row)
        print(string.format("epoch %2d  loss %.4f  character accuracy: train %.4f, test %.4f  exact-match test %.4f",
          row.epoch, row.loss, row.accuracy, row.test_accuracy, row.test_exact))
      end,
    }
    local exact, pred = exact_match(model, test)
    local train_exact = exact_match(model, train)
    local chars = model:evaluate(test, "cross_entropy").accuracy
    local shown = {}
    for i = 1, 8 do
      local got = decode(pred[i])
      local want = decode(test.y[i])
      shown[#shown + 1] = string.format("%s= %s%s", test.questions[i], got,
        got == want and "" or " (wrong: " .. want .. ")")
    end
    print("held-out sums:\n  " .. table.concat(shown, "\n  "))
    return { test_exact = exact, train_exact = train_exact, test_char_accuracy = chars }
  end,
}
