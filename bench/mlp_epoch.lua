-- Benchmark: one training epoch of an MLP 784-256-10 (ReLU, softmax cross-entropy, SGD lr 0.1,
-- batch 100, shuffled) over 60000 inputs. The PyTorch twin is bench/mlp_epoch_torch.py; both
-- are driven by bench/run. moonlab has no Fashion-MNIST loader yet, so the inputs are random
-- N(0, 1) rows with random labels 0..9 (same shapes as Fashion-MNIST's training set).
--
--   build/moonlab run bench/mlp_epoch.lua --threads T --out /tmp/b.h5
--
-- Times only the core training call (model.core:train_epoch: batches, forward, loss, backward,
-- SGD step; no evaluation pass): one warm-up epoch, then the median of `epochs` timed epochs.
-- Also times a large square BLIS product at the same thread count, as the GEMM rate to compare
-- the epoch's achieved GFLOP/s with. Output: one "key=value ..." line per measurement.
local ml = require "moonlab"

local cfg = ml.config { n = 60000, epochs = 3, gemm = 1024 }

local D, H, C, B = 784, 256, 10, 100
local rng = ml.rng("bench/mlp")
local x = rng:normal({ cfg.n, D }, 0, 1)
local y = ml.tensor.zeros(cfg.n)
for i = 1, cfg.n do y[i] = rng:integer(C) - 1 end -- class indices 0..C-1

local model = ml.nn.sequential({ ml.nn.linear(D, H), ml.nn.relu(), ml.nn.linear(C) }, { seed = 1 })
local o = ml.optim.sgd { lr = 0.1 }

local function epoch(e)
  local t0 = ml.clock()
  local st, msg = model.core:train_epoch { x = x, y = y, loss = "cross_entropy", optim = o,
    batch = B, shuffle = true, seed = 1, epoch = e }
  local dt = ml.clock() - t0
  if not st then error("train_epoch: " .. tostring(msg)) end
  return dt, st
end

epoch(1) -- warm-up: first-use buffer allocation, BLIS thread pool, page faults
local times = {}
local last
for e = 2, cfg.epochs + 1 do
  times[#times + 1], last = epoch(e)
end
table.sort(times)
local median = times[(#times + 1) // 2]

-- Forward of both layers, weight gradient of both, input gradient of layer 2 only.
local flops_per_sample = 2 * (D * H * 2 + H * C * 3)
local gflop = flops_per_sample * cfg.n / 1e9
print(string.format("mlp_epoch threads=%d seconds=%.6f min=%.6f max=%.6f gflop=%.4f gflops=%.3f loss=%.4f",
  ml.threads(), median, times[1], times[#times], gflop, gflop / median, last.loss))

-- GEMM reference: (g,g) @ (g,g), best of 5 after a warm-up.
local g = cfg.gemm
local a, b = rng:normal({ g, g }, 0, 1), rng:normal({ g, g }, 0, 1)
local _ = a:matmul(b)
local best = math.huge
for _ = 1, 5 do
  local t0 = ml.clock()
  local c = a:matmul(b)
  best = math.min(best, ml.clock() - t0)
  c:close()
end
print(string.format("gemm threads=%d size=%d seconds=%.6f gflops=%.3f",
  ml.threads(), g, best, 2 * g * g * g / 1e9 / best))
