-- Recurrent layers in models: shapes, training end to end, losses over time.
local ml = require "moonlab"
local nn, T, data = ml.nn, ml.tensor, ml.data

local function tagging(n, steps, seed)
  -- each step's tag is 1 when its first feature is positive: learnable step by step
  local r = ml.core.rng.new(seed)
  local x = r:normal({ n, steps, 2 }, 0, 1)
  local y = T.zeros(n, steps)
  for i = 1, n do
    for t = 1, steps do y:set(i, t, x:get(i, t, 1) > 0 and 1 or 0) end
  end
  return data.dataset(x, y)
end

describe("recurrent layers", function()
  it("give the last step (B,H) or every step (B,T,H)", function()
    local x = T.zeros(4, 5, 3)
    assert.are.same({ 4, 6 }, nn.sequential { nn.lstm { ["in"] = 3, hidden = 6 } }:forward(x):shape())
    assert.are.same({ 4, 5, 6 }, nn.sequential { nn.gru { ["in"] = 3, hidden = 6, sequence = true } }:forward(x):shape())
    assert.are.same({ 4, 5, 2 }, nn.sequential { nn.rnn { ["in"] = 3, hidden = 6, sequence = true }, nn.linear(2) }:forward(x):shape())
  end)

  it("read time-major (T,B,D) data as the view x:transpose(1,2), with the same bits as a copy", function()
    local r = ml.core.rng.new(11)
    local xtm = r:normal({ 5, 3, 2 }, 0, 1)          -- (T,B,D)
    local view = xtm:transpose(1, 2)                 -- (B,T,D), no copy
    local copy = view:clone()                        -- (B,T,D), contiguous
    assert.are.same({ 3, 5, 2 }, view:shape())
    local len, dy = T.from { 5, 2, 4 }, r:normal({ 3, 5, 2 }, 0, 1)
    local function run(x)
      local m = nn.sequential({ nn.lstm { ["in"] = 2, hidden = 3, layers = 2, bidirectional = true,
                                          sequence = true }, nn.linear(2) }, { seed = 4 })
      local y = m:forward(x, len)
      local dx = m:backward(dy, true)
      local dh0, dc0 = m:state_grad(1)
      local h = m:fit { data = data.dataset(x, T.zeros(3, 5, 2), { lengths = len }), loss = "mse",
                        optim = ml.optim.adam { lr = 0.01 }, epochs = 2, batch = 2, seed = 1 }
      return { y = y:totable(), dx = dx:totable(), dh0 = dh0:totable(), dc0 = dc0:totable(),
               loss = h[2].loss, params = m:parameters():totable() }
    end
    local a, b = run(view), run(copy)
    assert.are.same({ 3, 5, 2 }, { #b.y, #b.y[1], #b.y[1][1] }) -- the output is batch-first
    assert.are.same(b, a)
  end)

  it("name the layer and the shapes on a wrong input", function()
    local m = nn.sequential { nn.lstm { ["in"] = 3, hidden = 6 } }
    assert.has_error(function() m:forward(T.zeros(4, 3)) end,
      "model:forward: input is (4,3), layer 1 (lstm) expects (B,T,3)")
    assert.has_error(function() nn.sequential { nn.linear(3, 4), nn.lstm { hidden = 2 } } end,
      "sequential: layer 2 (recurrent): a recurrent layer reads sequences (B,T,D); put it first or after other sequence layers")
    assert.has_error(function() nn.lstm { layers = 2 } end, "lstm: 'hidden' must be a positive integer")
  end)

  it("learn a per-step tagging task with a loss on every step", function()
    local train = tagging(400, 6, 1)
    local m = nn.sequential({ nn.gru { ["in"] = 2, hidden = 16, sequence = true }, nn.linear(2) }, { seed = 3 })
    local h = m:fit { data = train, loss = "cross_entropy", optim = ml.optim.adam { lr = 0.02 },
      epochs = 15, batch = 40 }
    assert.is_true(h[15].accuracy > 0.95, "accuracy " .. h[15].accuracy)
    assert.is_true(h[15].loss < 0.3 * h[1].loss)
  end)

  it("leave masked steps out of a per-step loss", function()
    local pred = ml.core.rng.new(2):normal({ 2, 3, 4 }, 0, 1)
    local y = T.from { { 0, 1, 2 }, { 3, 0, 1 } }
    local mask = T.from { { 1, 1, 0 }, { 1, 0, 0 } }
    local l, d = ml.loss.value("cross_entropy", pred, y, { weights = mask, reduce = "weighted_mean" })
    -- the same three steps as rows of a plain batch
    local rows = T.cat { pred[1]:slice(1, 1, 2), pred[2]:slice(1, 1, 1) }
    local l3 = ml.loss.value("cross_entropy", rows, T.from { 0, 1, 3 })
    assert.is_near(l3, l, 1e-6)
    for c = 1, 4 do
      assert.are.equal(0, d:get(1, 3, c))
      assert.are.equal(0, d:get(2, 2, c))
    end
  end)

  it("train an LSTM classifier on the last step, reproducibly", function()
    local function once()
      local r = ml.core.rng.new(4)
      local x = r:normal({ 64, 5, 3 }, 0, 1)
      local y = T.zeros(64)
      for i = 1, 64 do y[i] = x:get(i, 1, 1) > 0 and 1 or 0 end -- needs memory of step 1
      local m = nn.sequential({ nn.lstm { ["in"] = 3, hidden = 8, layers = 2 }, nn.linear(2) }, { seed = 5 })
      local h = m:fit { data = data.dataset(x, y), loss = "cross_entropy",
        optim = ml.optim.adam { lr = 0.01 }, epochs = 3, batch = 16 }
      return h[3].loss, m:parameters():totable()
    end
    local l1, p1 = once()
    local l2, p2 = once()
    assert.are.equal(l1, l2)
    assert.are.same(p1, p2)
  end)

  it("embed ids, refusing ids outside the vocabulary with their position", function()
    local m = nn.sequential { nn.embedding(5, 3), nn.lstm { hidden = 4 } }
    assert.are.same({ 2, 4 }, m:forward(T.from { { 0, 4, 1 }, { 2, 2, 3 } }):shape())
    assert.has_error(function() m:forward(T.from { { 0, 5 } }) end,
      "model:forward: layer 1 (embedding): id 5 at (1,2) is not an integer in 0..4")
    assert.has_error(function() m:forward(T.from { { 0, 1.5 } }) end)
    assert.has_error(function() nn.sequential { nn.linear(2, 2), nn.embedding(5, 3) } end,
      "sequential: layer 2 (embedding): an embedding reads ids (B,T) and must come first")
  end)

  it("give gradient only to the embedding rows a batch uses", function()
    local m = nn.sequential { nn.embedding(6, 2), nn.rnn { hidden = 3 }, nn.linear(1) }
    local y = m:forward(T.from { { 1, 3 } })
    m:zero_grad()
    m:backward(T.ones { 1, 1 })
    local dw = m:layer(1).dweight
    for row = 1, 6 do
      local used = row == 2 or row == 4 -- ids 1 and 3
      assert.are.equal(used, dw[row]:norm() > 0, "row " .. row)
    end
    assert.is_not_nil(y)
  end)
end)


describe("variable-length batches", function()
  -- sequences padded to T = 5 with large values the model must never read
  local function padded(seed)
    local r = ml.core.rng.new(seed)
    local x = r:normal({ 3, 5, 2 }, 0, 1)
    local len = T.from { 5, 2, 4 }
    for b = 1, 3 do
      for t = len[b] + 1, 5 do x:set(b, t, 1, 1e3); x:set(b, t, 2, -1e3) end
    end
    return x, len
  end

  it("give each sequence's own last step, zeros on padded steps, and final states at each end", function()
    local x, len = padded(11)
    local last = nn.sequential({ nn.gru { ["in"] = 2, hidden = 3, layers = 2, bidirectional = true } }, { seed = 1 })
    local every = nn.sequential({ nn.gru { ["in"] = 2, hidden = 3, layers = 2, bidirectional = true, sequence = true } }, { seed = 1 })
    local y = last:forward(x, len)
    local ys = every:forward(x, len)
    local hn = every:final_state(1)
    for b = 1, 3 do
      local n = len[b]
      -- the same sequence alone, cut to its own steps
      local alone = every:forward(x:slice(1, b, b):slice(2, 1, n):clone())
      local h1 = every:final_state(1)
      for t = 1, 5 do
        for j = 1, 6 do
          if t <= n then
            assert.is_near(alone:get(1, t, j), ys:get(b, t, j), 1e-5)
          else
            assert.are.equal(0, ys:get(b, t, j))
          end
        end
      end
      for j = 1, 6 do assert.is_near(ys:get(b, n, j), y:get(b, j), 1e-6) end
      for s = 1, 4 do
        for j = 1, 3 do assert.is_near(h1:get(s, 1, j), hn:get(s, b, j), 1e-5) end
      end
    end
  end)

  it("refuse lengths of zero, beyond T or of the wrong size, naming the layer and the shapes", function()
    local x = T.zeros(3, 5, 2)
    local m = nn.sequential { nn.lstm { ["in"] = 2, hidden = 3 } }
    assert.has_error(function() m:forward(x, T.from { 5, 0, 2 }) end,
      "model:forward: layer 1 (lstm): length 0 of sequence 2 is not an integer in 1..5 (T of the input (3,5,2))")
    assert.has_error(function() m:forward(x, T.from { 5, 6, 2 }) end,
      "model:forward: layer 1 (lstm): length 6 of sequence 2 is not an integer in 1..5 (T of the input (3,5,2))")
    assert.has_error(function() m:forward(x, T.from { 5, 2 }) end,
      "model:forward: lengths are (2,), expected (3,) for the input (3,5,2)")
    -- a per-step target out of range names its sequence and step, in fit and evaluate alike
    local tagger = nn.sequential { nn.gru { ["in"] = 2, hidden = 3, sequence = true }, nn.linear(4) }
    local y = T.zeros(3, 5)
    y:set(3, 4, 4)
    assert.has_error(function() tagger:evaluate(data.dataset(x, y), "cross_entropy") end,
      "model:evaluate: cross_entropy: target of sequence 3, step 4 is 4, expected a class index in [0, 4)")
    assert.has_error(function()
      tagger:fit { data = data.dataset(x, y), loss = "cross_entropy", optim = ml.optim.sgd { lr = 0.1 },
                   epochs = 1, shuffle = false }
    end, "fit: cross_entropy: target of sequence 3, step 4 is 4, expected a class index in [0, 4)")
    assert.has_error(function() data.dataset(x, T.zeros(3), { lengths = T.from { 1, 2, 6 } }) end,
      "dataset: lengths must be in 1..5 (T of x), got 1..6")
    assert.has_error(function() m:set_state(1, T.zeros(2, 3, 3)) end,
      "model:set_state: layer 1: lstm: h0 is (2,3,3), expected (1,B,3)")
  end)

  it("learn from the real steps only: a last-step task behind misleading padding", function()
    -- label: sign of the first feature of each sequence's last real step; the padding is drawn
    -- like the real steps, so a model that reads it (no lengths) cannot tell where a sequence
    -- ends and guesses for most of them
    local r = ml.core.rng.new(12)
    local n, steps = 300, 6
    local x = r:normal({ n, steps, 2 }, 0, 1)
    local y, len = T.zeros(n), T.zeros(n)
    for i = 1, n do
      local k = r:integer(steps)
      len[i] = k
      y[i] = x:get(i, k, 1) > 0 and 1 or 0
    end
    local function train(with_lengths)
      local m = nn.sequential({ nn.gru { ["in"] = 2, hidden = 8 }, nn.linear(2) }, { seed = 4 })
      local ds = data.dataset(x, y, { lengths = with_lengths and len or nil })
      local h = m:fit { data = ds, loss = "cross_entropy", optim = ml.optim.adam { lr = 0.03 },
        epochs = 12, batch = 30 }
      return h[#h].accuracy, m:evaluate(ds, "cross_entropy").accuracy
    end
    local acc, ev = train(true)
    assert.is_true(acc > 0.95 and ev > 0.95, "with lengths: " .. acc .. ", " .. ev)
    local acc0 = train(false)
    assert.is_true(acc0 < 0.8, "without lengths the padding misleads: " .. acc0)
  end)

  it("average per-step losses over the real steps only", function()
    local x, len = padded(13)
    local m = nn.sequential({ nn.lstm { ["in"] = 2, hidden = 3, sequence = true }, nn.linear(4) }, { seed = 2 })
    local y = T.from { { 0, 1, 2, 3, 0 }, { 1, 2, 3, 3, 3 }, { 2, 0, 1, 1, 0 } }
    local ev = m:evaluate(data.dataset(x, y, { lengths = len }), "cross_entropy")
    assert.are.equal(11, ev.samples) -- 5 + 2 + 4 real steps
    -- the same loss from the outputs, with a 0/1 mask over real steps
    local out = m:predict(x, len)
    local mask = T.zeros(3, 5)
    for b = 1, 3 do for t = 1, len[b] do mask:set(b, t, 1) end end
    local want = ml.loss.value("cross_entropy", out, y, { weights = mask, reduce = "weighted_mean" })
    assert.is_near(want, ev.loss, 1e-6)
    -- targets on padded steps change nothing
    local y2 = y:clone()
    y2:set(2, 4, 0); y2:set(3, 5, 3)
    assert.are.equal(ev.loss, m:evaluate(data.dataset(x, y2, { lengths = len }), "cross_entropy").loss)
  end)

  it("travel with subsets and row ranges of a dataset", function()
    local x, len = padded(14)
    local ds = data.dataset(x, T.zeros(3), { lengths = len })
    assert.are.equal(len, data.subset(ds, { 2, 3 }).lengths)
    assert.are.same({ 2, 4 }, data.materialize(data.subset(ds, { 2, 3 })).lengths:totable())
    assert.are.same({ 5, 2 }, data.rows(ds, 1, 2).lengths:totable())
  end)
end)

describe("truncated backpropagation through time", function()
  local function pattern_stream(n)
    -- 0 1 0 2 0 1 0 2 ...: after a 0 comes 1 or 2, depending on the step before the 0
    local pat, ids = { 0, 1, 0, 2 }, T.zeros(n)
    for i = 1, n do ids[i] = pat[(i - 1) % 4 + 1] end
    return ids
  end

  it("cut a stream into parallel streams of windows, targets one step ahead", function()
    local ids = T.from { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }
    local ds = data.stream(ids, { batch = 2, steps = 3 }) -- streams 0..7 and 8..15
    assert.are.same({ batch = 2, steps = 3, windows = 2 }, ds.stream)
    assert.are.same({ { 0, 1, 2 }, { 8, 9, 10 }, { 3, 4, 5 }, { 11, 12, 13 } }, ds.x:totable())
    assert.are.same({ { 1, 2, 3 }, { 9, 10, 11 }, { 4, 5, 6 }, { 12, 13, 14 } }, ds.y:totable())
    assert.has_error(function() data.stream(T.zeros(7), { batch = 2, steps = 3 }) end,
      "datasets.windows: stream: 7 ids make 2 streams of 3, too short for one window of 3 steps and its targets (at least B·(k+1) = 8 ids)")
  end)

  it("carry the states across windows: the second window continues the first", function()
    local r = ml.core.rng.new(15)
    local x = r:normal({ 2, 6, 3 }, 0, 1)
    local m = nn.sequential({ nn.lstm { ["in"] = 3, hidden = 4, layers = 2, sequence = true } }, { seed = 6 })
    local whole = m:forward(x)
    assert.is_false(m:carry_state(true))
    m:reset_state()
    m:forward(x:slice(2, 1, 3):clone())
    local second = m:forward(x:slice(2, 4, 6):clone())
    for b = 1, 2 do
      for t = 1, 3 do
        for j = 1, 4 do assert.is_near(whole:get(b, t + 3, j), second:get(b, t, j), 1e-6) end
      end
    end
    m:reset_state()
    local first = m:forward(x:slice(2, 1, 3):clone())
    assert.is_near(whole:get(1, 1, 1), first:get(1, 1, 1), 1e-7)
    assert.is_true(m:carry_state(false))
  end)

  it("let a character model learn what only the carried state knows", function()
    local ds = data.stream(pattern_stream(2000), { batch = 10, steps = 3 })
    local function train(carry)
      local m = nn.sequential({ nn.one_hot(3), nn.gru { hidden = 8, sequence = true }, nn.linear(3) }, { seed = 2 })
      m:fit { data = ds, loss = "cross_entropy", optim = ml.optim.adam { lr = 0.02 }, epochs = 8,
        carry_state = carry }
      return m:evaluate(ds, "cross_entropy", { carry_state = carry }).accuracy
    end
    -- windows of 3 start at every phase of the period 4: without the carried state the first
    -- step of a window that starts with a 0 is a coin toss (about 1/12 of the steps)
    local with, without = train(true), train(false)
    assert.is_true(with > 0.99, "carried: " .. with)
    assert.is_true(without < 0.95, "reset every window: " .. without)
  end)

  it("feed the output back: a trained character model continues the pattern", function()
    local ds = data.stream(pattern_stream(2000), { batch = 10, steps = 3 })
    local m = nn.sequential({ nn.one_hot(3), nn.gru { hidden = 8, sequence = true }, nn.linear(3) }, { seed = 2 })
    m:fit { data = ds, loss = "cross_entropy", optim = ml.optim.adam { lr = 0.02 }, epochs = 8 }
    -- after "0 1 0" comes 2 0 1 0 2 0 1 0
    assert.are.same({ { 2, 0, 1, 0, 2, 0, 1, 0 } }, m:generate(T.from { { 0, 1, 0 } }, 8):totable())
    local a = m:generate(T.from { { 0 } }, 20, { temperature = 1, rng = ml.core.rng.new(3) })
    local b = m:generate(T.from { { 0 } }, 20, { temperature = 1, rng = ml.core.rng.new(3) })
    assert.are.same(a:totable(), b:totable())
    assert.has_error(function() m:generate(T.from { { 0 } }, 0) end, "model:generate: steps must be >= 1, got 0")
  end)

  it("refuse shuffling or another batch size with carried states", function()
    local ds = data.stream(pattern_stream(200), { batch = 10, steps = 3 })
    local m = nn.sequential { nn.one_hot(3), nn.gru { hidden = 4, sequence = true }, nn.linear(3) }
    local o = ml.optim.adam {}
    assert.has_error(function() m:fit { data = ds, loss = "cross_entropy", optim = o, epochs = 1, shuffle = true } end,
      "fit: carried states need the batches in order; shuffle must be false")
    assert.has_error(function() m:fit { data = ds, loss = "cross_entropy", optim = o, epochs = 1, batch = 5 } end,
      "fit: a stream dataset is read in batches of its 10 streams; got batch = 5")
  end)
end)

describe("sequence-to-sequence models", function()
  it("learn to reverse short sequences with an encoder-decoder (N -> M)", function()
    local r = ml.core.rng.new(7)
    local function reversals(n)
      local x, y = T.zeros(n, 4), T.zeros(n, 4)
      for i = 1, n do
        for t = 1, 4 do local v = r:integer(4) - 1; x:set(i, t, v); y:set(i, 5 - t, v) end
      end
      return data.dataset(x, y)
    end
    local train, test = reversals(512), reversals(256)
    local m = nn.sequential(nn.encoder_decoder { input = nn.one_hot(4), encoder = nn.gru { hidden = 32 },
      decoder = nn.gru { hidden = 32 }, steps = 4, output = nn.linear(4) }, { seed = 1 })
    assert.are.equal("repeat", m:layer(3).kind)
    local h = m:fit { data = train, loss = "cross_entropy", optim = ml.optim.adam { lr = 0.02 },
      epochs = 20, batch = 32, eval = { test = test } }
    assert.is_true(h[20].test_accuracy > 0.95, "test accuracy " .. h[20].test_accuracy)
    assert.is_true(h[1].test_accuracy < 0.7)
  end)

  it("repeat a vector over steps (1 -> N)", function()
    local m = nn.sequential { nn.linear(2, 3), nn.repeat_steps(4), nn.lstm { hidden = 5, sequence = true } }
    assert.are.same({ 6, 4, 5 }, m:forward(T.zeros(6, 2)):shape())
    assert.has_error(function() nn.sequential { nn.lstm { ["in"] = 2, hidden = 3, sequence = true }, nn.repeat_steps(2) } end,
      "sequential: layer 2 (repeat): repeat reads vectors (B,F), not sequences; put it after a last-step recurrent layer or a linear layer")
    assert.has_error(function()
      nn.sequential { nn.lstm { ["in"] = 2, hidden = 3 }, nn.repeat_steps(2), nn.gru { hidden = 3, state_from = 1 } }
    end, "sequential: layer 3 (recurrent): cannot start from the states of layer 1: lstm with 1 state(s) of 3 units, this layer is gru with 1 of 3 (the same count and size, and an LSTM for an LSTM, are needed)")
  end)
end)

describe("learnable initial states", function()
  it("are parameters (layers·dirs, H), start at zero and train", function()
    local m = nn.sequential({ nn.lstm { ["in"] = 2, hidden = 3, layers = 2, learn_initial_state = true }, nn.linear(1) }, { seed = 3 })
    local p = m:layer(1).params
    assert.are.same({ 2, 3 }, p.h0.value:shape())
    assert.are.same({ 2, 3 }, p.c0.grad:shape())
    assert.are.equal(0, p.h0.value:norm())
    local _, names = m:named_parameters()
    assert.are.equal("1.h0", names[9])
    assert.are.equal("1.c0", names[10])
    local r = ml.core.rng.new(16)
    local x = r:normal({ 32, 4, 2 }, 0, 1)
    m:fit { data = data.dataset(x, r:normal({ 32, 1 }, 0, 1)), loss = "mse",
      optim = ml.optim.adam { lr = 0.05 }, epochs = 3, batch = 8 }
    assert.is_true(p.h0.value:norm() > 0 and p.c0.value:norm() > 0)
  end)
end)

describe("exploding recurrent values", function()
  it("stop training with the epoch and step named", function()
    local r = ml.core.rng.new(17)
    local x = r:normal({ 40, 30, 2 }, 0, 10)
    local m = nn.sequential({ nn.rnn { ["in"] = 2, hidden = 8, nonlinearity = "relu",
      init = ml.init.constant(3), bias_init = ml.init.constant(3) }, nn.linear(1) }, { seed = 1 })
    assert.has_error(function()
      m:fit { data = data.dataset(x, r:normal({ 40, 1 }, 0, 1)), loss = "mse",
        optim = ml.optim.sgd { lr = 0.1 }, epochs = 2, batch = 10, shuffle = false }
    end, "fit: loss is NaN at epoch 1, step 1 (lower the learning rate, clip gradients, or pass nonfinite = \"continue\")")
  end)
end)
