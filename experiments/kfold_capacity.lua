-- Model selection by K-fold cross-validation over model capacity (d2l, "Model Selection,
-- Underfitting, and Overfitting"; seed 000's figure of model complexity against error).
-- Data: y = 5 + 1.2x - 3.4x^2 + 5.6x^3 + e, e ~ N(0, noise^2), x ~ U(-1, 1); a small training
-- set and a separate test set. Candidates: linear models on the features x, x^2, ..., x^d for
-- degree d = 1..10, each fitted by full-batch Adam to (near) least squares. 5-fold CV on the
-- training set scores every degree; training error falls as the degree grows while validation
-- error is U-shaped (too simple below 3, fitting the noise above). The degree with the lowest
-- mean validation loss is then fitted on the whole training set and the test set is touched
-- once, for that model only.
local ml = require "moonlab"
local nn, optim, data = ml.nn, ml.optim, ml.data

local cfg = ml.config {
  n_train = 40, n_test = 1000, noise = 0.5, max_degree = 10, folds = 5, seeds = 1,
  epochs = 3000, lr = 0.05, smoke = false,
}
if cfg.smoke then
  cfg.max_degree, cfg.folds, cfg.epochs = 4, 3, 1000
end

-- The data, from the root seed: x ~ U(-1, 1), features x^1..x^max_degree (bounded by 1).
local rng = ml.rng("data")
local function make(n)
  local x = rng:uniform({ n, 1 }, -1, 1)
  local feats = x:powers(cfg.max_degree)
  local cubic = feats:slice(2, 1, 3):matmul(ml.tensor.from({ { 1.2 }, { -3.4 }, { 5.6 } }))
  local y = cubic + 5 + rng:normal({ n, 1 }, 0, cfg.noise)
  return data.dataset(feats, y)
end
local train, test = make(cfg.n_train), make(cfg.n_test)

-- The first d feature columns of a dataset (or of an index view of one), as views.
local function degree(ds, d)
  local v = data.dataset(ds.x:slice(2, 1, d), ds.y)
  if ds.rows then v = data.subset(v, ds.rows) end
  return v
end

local function fit(ds, d, run, eval)
  local model = nn.sequential({ nn.linear(d, 1) }, { seed = ml.seed("init") })
  local h = model:fit {
    data = ds, loss = "mse", optim = optim.adam { lr = cfg.lr }, epochs = cfg.epochs,
    batch = ds.n, shuffle = false, log = run, eval = eval,
  }
  return model, h[#h]
end

local degrees = {}
for d = 1, cfg.max_degree do degrees[d] = d end

ml.study {
  name = "kfold_capacity",
  params = { degree = degrees },
  seeds = cfg.seeds,
  data = train,
  split = ml.split.kfold(train, cfg.folds, { shuffle = true, seed = ml.seed("folds") }),
  trial = function(t)
    local d = t.params.degree
    local tr, va = degree(t.train, d), degree(t.val, d)
    local model = fit(tr, d, t.run, { val = va })
    return { train_loss = model:evaluate(tr, "mse").loss, val_loss = model:evaluate(va, "mse").loss }
  end,
  final = function(t)
    local d = t.params.degree
    local model = fit(degree(t.train, d), d, t.run)
    local w = model:layer(1).weight:totable()[1]
    local m = { train_loss = model:evaluate(degree(t.train, d), "mse").loss,
      test_loss = model:evaluate(degree(test, d), "mse").loss, bias = model:layer(1).bias[1] }
    for i, wi in ipairs(w) do m["w" .. i] = wi end
    print(string.format("chosen degree %d: test loss %.4f (noise floor %.4f)", d, m.test_loss,
      cfg.noise ^ 2 / 2))
    return m
  end,
}
