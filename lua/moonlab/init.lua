--- moonlab: the Lua side. `local ml = require "moonlab"` gives tensors, layers, losses,
--- optimizers, initializers, data, splits, shift tools, results and the run's settings and seeds.
local core = require "moonlab.core"

local ml = {
  core = core,
  version = core.version,
  tensor = require "moonlab.tensor",
  nn = require "moonlab.nn",
  loss = require "moonlab.loss",
  optim = require "moonlab.optim",
  init = require "moonlab.initializers",
  data = require "moonlab.data",
  split = require "moonlab.split",
  shift = require "moonlab.shift",
  results = require "moonlab.results",
}

local run = require "moonlab.run"

--- The script's settings: `ml.config{epochs = 100, lr = 0.01}` returns the defaults with the
--- command line's `--set key=value` overrides applied (type-checked against the defaults).
ml.config = run.config
--- The root seed (`--seed N`, default 0), or a seed derived from it by name and index.
ml.seed = run.seed
--- A random stream derived from the root seed by name and index.
ml.rng = function(name, index) return core.rng.new(run.seed(name, index)) end
--- BLIS threads for matrix products.
ml.threads = function(n) if n then core.set_threads(n) end return core.threads() end
--- ml.study{...}: declare the script's study (docs/api.md "Studies"); ml.study.grid{...},
--- ml.study.uniform(a, b), .loguniform, .integer, .choice describe its parameters.
local study = require "moonlab.study"
ml.study = setmetatable({ grid = study.grid, uniform = study.uniform, loguniform = study.loguniform,
  integer = study.integer, choice = study.choice }, { __call = function(_, def) return study.declare(def) end })
--- Seconds on a monotonic clock.
ml.clock = core.clock

return ml
