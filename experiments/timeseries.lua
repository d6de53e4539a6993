-- Forecasting a time series with a stacked LSTM (the forecaster of the seeds; d2l, "Sequence
-- Models"): yearly sunspot numbers 1700-2008 (statsmodels' `sunspots`, Debian
-- python3-statsmodels). From the last `window` = 60 years predict the next year.
--
-- Windows are split in time order: the first 70 % train, the next 10 % validate, the last 20 %
-- (the latest years) test; the series is standardized with the mean and standard deviation of
-- the years the training windows cover. Three forecasters on the same split, test RMSE in
-- sunspot numbers:
--   naive  the last value of the window (tomorrow is like today);
--   ar     a linear autoregression on the last `ar_order` years, least squares (full-batch Adam
--          run to convergence);
--   lstm   LSTM 80 (every step) -> dropout 0.2 -> LSTM 100 (last step) -> dropout 0.2 -> dense 1,
--          Adam, `seeds` runs from different initial weights.
--   moonlab run experiments/timeseries.lua -j 2        (moonlab show / plot results/timeseries.h5)
local ml = require "moonlab"
local nn, data = ml.nn, ml.data

local cfg = ml.config {
  window = 60, train = 0.7, val = 0.1, ar_order = 9, epochs = 100, lr = 1e-3, batch = 16,
  seeds = 3, smoke = false,
}
if cfg.smoke then cfg.epochs, cfg.seeds = 15, 1 end

local sun = data.statsmodels("sunspots")
local years = sun.x
local W = cfg.window
local n_windows = sun.n - W
local n_train = math.floor(n_windows * cfg.train)
local n_val = math.floor(n_windows * cfg.val)
-- standardize with the years the training windows cover (inputs and targets)
local scaler = data.standardize(sun.y:slice(1, 1, n_train + W), { global = true })
local std = scaler.std[1]
local all = data.windows(scaler:apply(sun.y), { window = W })   -- x (N, W, 1), y (N, 1)
local function part(a, b) return data.dataset(all.x:slice(1, a, b), all.y:slice(1, a, b)) end
local train = part(1, n_train)
local val = part(n_train + 1, n_train + n_val)
local test = part(n_train + n_val + 1, n_windows)
local function year(i) return math.floor(years:get(i, 1)) end -- year of window i's target
local span = string.format("train targets %d-%d (%d), validation %d-%d (%d), test %d-%d (%d)",
  year(W + 1), year(W + n_train), train.n, year(W + n_train + 1), year(W + n_train + n_val), val.n,
  year(W + n_train + n_val + 1), year(sun.n), test.n)

-- RMSE in sunspot numbers of predictions (N, 1) against a part's targets (standardized units)
local function rmse(pred, ds) return math.sqrt(((pred - ds.y) ^ 2):mean()) * std end

-- The last k values of each window, as a (N, k) matrix (views, copied once).
local function lags(ds, k)
  local n = ds.x:size(1)
  return ds.x:reshape(n, W):slice(2, W - k + 1, W):clone()
end

local forecasters = {
  naive = function()
    return function(ds) return lags(ds, 1) end
  end,
  ar = function(t)
    local k = cfg.ar_order
    local model = nn.sequential({ nn.linear(k, 1) }, { seed = ml.seed("ar") })
    model:fit { data = data.dataset(lags(train, k), train.y), loss = "mse",
      optim = ml.optim.adam { lr = 0.01 }, epochs = cfg.smoke and 500 or 3000, batch = train.n,
      shuffle = false }
    local w = model:layer(1).weight:totable()[1]
    local coef = {}
    for i = k, 1, -1 do coef[#coef + 1] = string.format("%.3f", w[i]) end
    print("AR coefficients, lag 1 first: " .. table.concat(coef, ", "))
    return function(ds) return model:predict(lags(ds, k)) end
  end,
  lstm = function(t)
    local model = nn.sequential({
      nn.lstm { ["in"] = 1, hidden = 80, sequence = true }, nn.dropout(0.2),
      nn.lstm { hidden = 100 }, nn.dropout(0.2),
      nn.linear(1),
    }, { seed = ml.seed("lstm") })
    model:fit {
      data = train, loss = "mse", optim = ml.optim.adam { lr = cfg.lr }, epochs = cfg.epochs,
      batch = cfg.batch, eval = { val = val },
      on_epoch = function(row)
        -- RMSE in sunspot numbers (the squared loss is half the mean squared error)
        row.train_rmse, row.val_rmse = math.sqrt(2 * row.loss) * std, math.sqrt(2 * row.val_loss) * std
        t.run:log(row)
        if row.epoch % 10 == 0 or row.epoch == cfg.epochs then
          print(string.format("epoch %3d  train RMSE %.2f (dropout on)  validation RMSE %.2f",
            row.epoch, row.train_rmse, row.val_rmse))
        end
      end,
    }
    return function(ds) return model:predict(ds.x) end
  end,
}

ml.study {
  name = "timeseries",
  params = { model = { "naive", "ar", "lstm" } },
  seeds = cfg.seeds,
  select = { metric = "val_rmse" },
  trial = function(t)
    print("sunspots, window " .. W .. ": " .. span)
    local predict = forecasters[t.params.model](t)
    local m = { train_rmse = rmse(predict(train), train), val_rmse = rmse(predict(val), val),
      test_rmse = rmse(predict(test), test) }
    print(string.format("%s: RMSE train %.2f, validation %.2f, test %.2f", t.params.model,
      m.train_rmse, m.val_rmse, m.test_rmse))
    return m
  end,
}
