-- Polynomial fitting: underfitting and overfitting (d2l, "Model Selection, Underfitting, and
-- Overfitting"). Data: y = 1.2x - 3.4x^2 + 5.6x^3 + 5 + e, e ~ N(0, 0.01^2), x ~ N(0, 1);
-- 100 training and 100 test samples. Three fits of a linear model by SGD on the squared loss:
--   normal   - features x, x^2, x^3 (the true model's form): recovers the weights;
--   underfit - the feature x alone: too simple, high training and test loss;
--   overfit  - features x, x^2, x^3 but only 2 training samples: low training, high test loss.
local ml = require "moonlab"
local nn, optim, data = ml.nn, ml.optim, ml.data

local cfg = ml.config {
  epochs = 100, lr = 0.01, batch = 10, n_train = 100, n_test = 100, noise = 0.01,
  smoke = false,
}
if cfg.smoke then cfg.epochs = math.min(cfg.epochs, 10) end

local true_w, true_b = { 1.2, -3.4, 5.6 }, 5.0
local all = data.synthetic.polynomial {
  n = cfg.n_train + cfg.n_test, weights = true_w, bias = true_b, noise = cfg.noise,
  seed = ml.seed("data"),
}
local train = data.rows(all, 1, cfg.n_train)
local test = data.rows(all, cfg.n_train + 1, cfg.n_train + cfg.n_test)

-- A dataset restricted to the first k feature columns (views, no copies).
local function features(ds, k)
  return data.dataset(ds.x:slice(2, 1, k), ds.y)
end

local fits = {
  { name = "normal", k = 3, n = cfg.n_train, label = "x, x^2, x^3" },
  { name = "underfit", k = 1, n = cfg.n_train, label = "x" },
  { name = "overfit", k = 3, n = 2, label = "x, x^2, x^3" },
}

print(string.format("poly_fit: y = 1.2x - 3.4x^2 + 5.6x^3 + 5 + N(0, %g^2); %d test samples; SGD lr %g, batch %d, %d epochs",
  cfg.noise, cfg.n_test, cfg.lr, cfg.batch, cfg.epochs))
print(string.format("%-9s %-12s %5s  %-28s %8s  %11s  %11s", "fit", "features", "train",
  "weights", "bias", "train loss", "test loss"))

local final = {}
for _, f in ipairs(fits) do
  local tr = features(data.rows(train, 1, f.n), f.k)
  local te = features(test, f.k)
  local model = nn.sequential({ nn.linear(f.k, 1) }, { seed = ml.seed("model/" .. f.name) })
  local run = ml.results.run(f.name)
  run:attr("features", f.label):attr("train_samples", f.n)
  model:fit {
    data = tr, loss = "mse", optim = optim.sgd { lr = cfg.lr },
    batch = math.min(cfg.batch, f.n), epochs = cfg.epochs, seed = ml.seed("order/" .. f.name),
    eval = { train = tr, test = te }, log = run,
  }
  local layer = model:layer(1)
  local w, b = layer.weight:totable()[1], layer.bias[1]
  local train_loss = model:evaluate(tr, "mse").loss
  local test_loss = model:evaluate(te, "mse").loss
  local m = { train_loss = train_loss, test_loss = test_loss, bias = b }
  local ws = {}
  for i, wi in ipairs(w) do
    m["w" .. i] = wi
    ws[i] = string.format("%.4f", wi)
  end
  run:metrics(m):params_of(model)
  final[f.name] = m
  print(string.format("%-9s %-12s %5d  %-28s %8.4f  %11.4g  %11.4g", f.name, f.label, f.n,
    "[" .. table.concat(ws, ", ") .. "]", b, train_loss, test_loss))
end
print(string.format("true      %-12s %5s  %-28s %8.4f", "x, x^2, x^3", "", "[1.2000, -3.4000, 5.6000]", true_b))
print(string.format("underfit: test loss %.0fx the normal fit's; overfit: test loss %.0fx its own train loss",
  final.underfit.test_loss / final.normal.test_loss, final.overfit.test_loss / final.overfit.train_loss))
