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

  it("name the layer and the shapes on a wrong input", function()
    local m = nn.sequential { nn.lstm { ["in"] = 3, hidden = 6 } }
    assert.has_error(function() m:forward(T.zeros(4, 3)) end,
      "model:forward: forward: input is (4,3), layer 1 (lstm) expects (B,T,3)")
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

