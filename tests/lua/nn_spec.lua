local ml = require "moonlab"
local helpers = require "helpers"
local nn, optim, data, T = ml.nn, ml.optim, ml.data, ml.tensor

local function regression(n, seed)
  local r = ml.core.rng.new(seed)
  local x = r:normal({ n, 3 }, 0, 1)
  local w = T.from { { 2 }, { -1 }, { 0.5 } }
  return data.dataset(x, x:matmul(w) + 0.3)
end

describe("moonlab.nn", function()
  it("builds a sequential model with inferred input sizes", function()
    local m = nn.sequential { nn.linear(4, 8), nn.relu(), nn.linear(2), nn.log_softmax() }
    local info = m:info()
    assert.are.equal(4, info["in"])
    assert.are.equal(2, info.out)
    assert.are.equal(4 * 8 + 8 + 8 * 2 + 2, info.nparams)
    assert.are.equal(4 * 8 + 8 + 8 * 2 + 2, m:parameters():size())
    local l3 = m:layer(3)
    assert.are.same({ 2, 8 }, l3.weight:shape())
  end)

  it("names the layer whose sizes do not fit", function()
    assert.has_error(function() nn.sequential { nn.linear(4, 8), nn.relu(), nn.linear(5, 2) } end,
      "sequential: layer 3 (linear): expects 5 input features but the previous layer gives 8")
    assert.has_error(function() nn.sequential { nn.dropout(1.5) } end)
    assert.has_error(function() nn.sequential {} end)
  end)

  it("raises with both shapes on a wrong input width", function()
    local m = nn.sequential { nn.linear(3, 1) }
    assert.has_error(function() m:forward(T.zeros(5, 4)) end,
      "model:forward: input is (5,4), layer 1 (linear) expects (B,3)")
  end)

  it("is initialised reproducibly from its seed", function()
    local a = nn.sequential({ nn.linear(3, 5) }, { seed = 7 })
    local b = nn.sequential({ nn.linear(3, 5) }, { seed = 7 })
    local c = nn.sequential({ nn.linear(3, 5) }, { seed = 8 })
    assert.are.same(a:parameters():totable(), b:parameters():totable())
    assert.are_not.same(a:parameters():totable(), c:parameters():totable())
    local bound = 1 / math.sqrt(3)
    assert.is_true(a:parameters():max() <= bound and a:parameters():min() >= -bound)
  end)

  it("fits a linear regression and the losses fall", function()
    local train = regression(200, 1)
    local m = nn.sequential({ nn.linear(3, 1) }, { seed = 1 })
    local h = m:fit { data = train, loss = "mse", optim = optim.sgd { lr = 0.05 }, batch = 20,
      epochs = 60, eval = { train = train } }
    assert.are.equal(60, #h)
    assert.is_true(h[60].train_loss < 1e-4 * h[1].train_loss)
    local w = m:layer(1).weight:totable()[1]
    assert.is_near(2, w[1], 1e-2)
    assert.is_near(-1, w[2], 1e-2)
    assert.is_near(0.3, m:layer(1).bias[1], 1e-2)
  end)

  it("gives bit-identical results for the same seeds", function()
    local function once()
      local m = nn.sequential({ nn.linear(3, 4), nn.tanh(), nn.dropout(0.2), nn.linear(1) }, { seed = 3 })
      m:fit { data = regression(64, 2), loss = "mse", optim = optim.adam { lr = 0.01 }, batch = 8,
        epochs = 5, seed = 11 }
      return m:parameters():totable()
    end
    assert.are.same(once(), once())
  end)

  it("stops on a NaN loss naming the epoch and step", function()
    local x = T.from { { 1 }, { 0 / 0 } }
    local ds = { x = x, y = T.from { { 1 }, { 2 } } }
    local m = nn.sequential { nn.linear(1, 1) }
    assert.has_error(function()
      m:fit { data = ds, loss = "mse", optim = optim.sgd {}, batch = 1, epochs = 2, shuffle = false }
    end, "fit: loss is NaN at epoch 1, step 2 (lower the learning rate, clip gradients, or pass nonfinite = \"continue\")")
    -- and goes on when asked to
    local h = m:fit { data = ds, loss = "mse", optim = optim.sgd {}, batch = 1, epochs = 1,
      shuffle = false, nonfinite = "continue" }
    assert.is_true(h[1].loss ~= h[1].loss)
  end)

  it("rejects data with NaN when building a dataset", function()
    assert.has_error(function() data.dataset(T.from { { 0 / 0 } }, T.from { { 1 } }) end,
      "dataset: x has NaN or Inf values")
  end)

  it("rejects unknown fit options and bad losses", function()
    local m = nn.sequential { nn.linear(3, 1) }
    local ds = regression(10, 1)
    assert.has_error(function()
      m:fit { data = ds, loss = "mse", optim = optim.sgd {}, epochs = 1, epoch = 3 }
    end, "fit: unknown option 'epoch'")
    assert.has_error(function()
      m:fit { data = ds, loss = "hinge", optim = optim.sgd {}, epochs = 1 }
    end, "model:train_epoch: option 'loss' must be one of mse, cross_entropy, bce_logits; got hinge")
  end)

  it("saves time checkpoints between steps and resumes inside an epoch bit-identically", function()
    -- seconds = 0: a save after every step. When epoch 1's row is out, the file holds the save
    -- after step 4 of its 5 (the epoch's end is saved after on_epoch); a copy taken then plays
    -- a fit killed there, and a new fit from that copy ends as the uninterrupted one.
    local ds = regression(40, 9)
    local dir = helpers.tmpdir()
    local function fit(ck, on_epoch)
      local m = nn.sequential({ nn.linear(3, 8), nn.relu(), nn.dropout(0.3), nn.linear(1) }, { seed = 4 })
      local h = m:fit { data = ds, loss = "mse", optim = optim.adam { lr = 0.01 }, batch = 8,
        epochs = 3, seed = 5, checkpoint = ck, on_epoch = on_epoch }
      local rows = {}
      for i, r in ipairs(h) do rows[i] = string.format("%.17g %.17g %.17g", r.loss, r.grad_norm, r.lr) end
      local w = {}
      for i = 1, m:parameters():size() do w[i] = string.format("%.9g", m:parameters()[i]) end
      return { rows = rows, w = table.concat(w, " ") }
    end
    local saved
    local whole = fit({ path = dir .. "/a", seconds = 0 }, function(row)
      if row.epoch == 1 then saved = helpers.read(dir .. "/a-1.h5") end
    end)
    assert.are.same(fit(nil), whole) -- saving does not change the numbers
    helpers.write(dir .. "/b-1.h5", saved)
    local r = assert(ml.core.rfile.open(dir .. "/b-1.h5"))
    local a = r:attrs("/")
    r:close()
    assert.are.same({ 0, 4, 32 }, { a.epoch, a.step, a.part_samples })
    local at
    assert.are.same(whole, fit({ path = dir .. "/b", seconds = 1e9,
      on_resume = function(epoch, _, step) at = { epoch, step } end }))
    assert.are.same({ 0, 4 }, at)
    assert.has_error(function() fit({ path = dir .. "/c", seconds = -1 }) end,
      "fit: checkpoint 'seconds' must be a number >= 0, got -1")
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("classifies with cross-entropy and reports accuracy", function()
    local r = ml.core.rng.new(5)
    local x = r:normal({ 300, 2 }, 0, 1)
    -- class = 1 if x1 + x2 > 0
    local s = x:matmul(T.from { { 1 }, { 1 } })
    local y = T.zeros(300)
    for i = 1, 300 do y[i] = s:get(i, 1) > 0 and 1 or 0 end
    local ds = data.dataset(x, y)
    local m = nn.sequential({ nn.linear(2, 16), nn.relu(), nn.linear(2) }, { seed = 2 })
    local h = m:fit { data = ds, loss = "cross_entropy", optim = optim.sgd { lr = 0.1, momentum = 0.9 },
      batch = 30, epochs = 30 }
    assert.is_true(h[30].accuracy > 0.95)
    assert.is_true(m:evaluate(ds, "cross_entropy").accuracy > 0.95)
  end)

  it("computes a loss and its gradient directly", function()
    local l, d = ml.loss.value("mse", T.from { { 3 }, { 1 } }, T.from { { 1 }, { 1 } })
    assert.is_near(1.0, l, 1e-7) -- (1/2 * 2^2 + 0) / 2
    assert.are.same({ { 1 }, { 0 } }, d:totable())
  end)

  it("backpropagates through forward/backward by hand", function()
    local m = nn.sequential({ nn.linear(2, 1, { bias = false }) }, { seed = 1 })
    local x = T.from { { 1, 2 } }
    local y = m:forward(x)
    m:zero_grad()
    local dx = m:backward(T.from { { 1 } }, true)
    assert.are.same(m:layer(1).weight:totable(), dx:totable())
    assert.are.same({ { 1, 2 } }, m:layer(1).dweight:totable())
    assert.is_not_nil(y)
  end)
end)
