-- Benchmark: training and inference throughput of a recurrent classifier over Fashion-MNIST
-- shaped sequences: 28 steps of 28 features, hidden 128, a linear head (10 classes) on the last
-- step, softmax cross-entropy, Adam lr 1e-3, batch 100. The PyTorch twin is
-- bench/rnn_epoch_torch.py; both are driven by bench/run (section 3). Inputs are random N(0, 1)
-- with random labels 0..9 (the time per pass does not depend on the values); generation is not
-- timed.
--
--   build/moonlab run bench/rnn_epoch.lua --set model=lstm|gru|rnn --threads T --out /tmp/b.h5
--
-- model: lstm (2 layers), gru (2 layers) or rnn (1 layer, tanh). One pass = one training epoch
-- over n samples (model.core:train_epoch: shuffled batches, forward, loss, backward, Adam step)
-- followed by one inference pass over the same samples (model:evaluate, batch 100: forward and
-- loss, no gradients). One warm-up pass over the first `warmup` samples (0: all n), then the
-- median of `passes` timed passes over all n, each part timed on its own. Also times BLIS at
-- the same thread count on a large square product and on one time step's product
-- (B, 2H) @ (2H, G*H), the rates the recurrent passes are compared with; at 1 thread, the share
-- of a training pass spent in GEMM and the rate of those GEMMs.
-- Output: one "key=value ..." line per measurement.
local ml = require "moonlab"

local cfg = ml.config { model = "lstm", n = 6000, warmup = 0, passes = 3, gemm = 1024 }

local T, D, H, C, B = 28, 28, 128, 10, 100
local shapes = { -- layers, gates per cell (G: the cell's weights are (G*H, D) and (G*H, H))
  lstm = { layers = 2, gates = 4 },
  gru = { layers = 2, gates = 3 },
  rnn = { layers = 1, gates = 1 },
}
local shape = shapes[cfg.model]
if not shape then
  error("rnn_epoch: model must be lstm, gru or rnn, got " .. tostring(cfg.model))
end
local warmup = cfg.warmup > 0 and cfg.warmup or cfg.n
if cfg.n % B ~= 0 or warmup % B ~= 0 or warmup > cfg.n then
  error(string.format("rnn_epoch: n and warmup must be multiples of %d, warmup at most n", B))
end
local L, G = shape.layers, shape.gates

local rng = ml.rng("bench/rnn")
local x = rng:normal({ cfg.n, T, D }, 0, 1)
local y = ml.tensor.zeros(cfg.n)
for i = 1, cfg.n do y[i] = rng:integer(C) - 1 end -- class indices 0..C-1

local cell = ml.nn[cfg.model] { ["in"] = D, hidden = H, layers = L }
local model = ml.nn.sequential({ cell, ml.nn.linear(C) }, { seed = 1 })
local o = ml.optim.adam { lr = 1e-3 }

-- One pass over the first m samples (views, no copy): seconds training, seconds inferring.
local function pass(e, m)
  local xs, ys = x:slice(1, 1, m), y:slice(1, 1, m)
  local t0 = ml.clock()
  local st, msg = model.core:train_epoch { x = xs, y = ys, loss = "cross_entropy", optim = o,
    batch = B, shuffle = true, seed = 1, epoch = e }
  local t1 = ml.clock()
  if not st then error("train_epoch: " .. tostring(msg)) end
  local r = model:evaluate({ x = xs, y = ys }, "cross_entropy", { batch = B })
  local t2 = ml.clock()
  return t1 - t0, t2 - t1, st, r
end

pass(1, warmup) -- warm-up: first-use buffers and BPTT caches, BLIS thread pool, page faults
local train, infer = {}, {}
local st, r
for e = 2, cfg.passes + 1 do
  train[#train + 1], infer[#infer + 1], st, r = pass(e, cfg.n)
end
table.sort(train)
table.sort(infer)
local function median(t) return t[(#t + 1) // 2] end

-- GEMM FLOPs of the cells only (the head and the element-wise gate maths are left out): per
-- step and layer, (B, D or H) @ (D or H, G*H) for the input and (B, H) @ (H, G*H) for the
-- state; training is about 3x forward (forward, input gradients, weight gradients).
local forward = T * 2 * G * H * (D + H) + (L - 1) * T * 2 * G * H * (H + H)
local gflop = 3 * forward * cfg.n / 1e9
print(string.format("rnn_epoch model=%s layers=%d threads=%d n=%d train_seconds=%.6f "
  .. "train_min=%.6f train_max=%.6f train_sps=%.1f infer_seconds=%.6f infer_min=%.6f "
  .. "infer_max=%.6f infer_sps=%.1f forward_flops=%d gflops=%.3f loss=%.4f eval_loss=%.4f",
  cfg.model, L, ml.threads(), cfg.n, median(train), train[1], train[#train], cfg.n / median(train),
  median(infer), infer[1], infer[#infer], cfg.n / median(infer), forward, gflop / median(train),
  st.loss, r.loss))

-- One more training pass with every GEMM timed (moonlab.core.gemm_count): the share of the
-- training time spent in GEMM and the rate those GEMMs reach. At 1 thread only: with more, the
-- per-thread products of the time loop run side by side and their times add up.
if ml.threads() == 1 then
  local core = require "moonlab.core"
  local t0 = ml.clock()
  core.gemm_count(true)
  local st, msg = model.core:train_epoch { x = x, y = y, loss = "cross_entropy", optim = o,
    batch = B, shuffle = true, seed = 1, epoch = cfg.passes + 2 }
  local g = core.gemm_count(false)
  local t = ml.clock() - t0
  if not st then error("train_epoch: " .. tostring(msg)) end
  print(string.format("rnn_gemm model=%s threads=1 train_seconds=%.6f gemm_seconds=%.6f "
    .. "gemm_fraction=%.3f gemm_calls=%d gemm_gflops=%.3f", cfg.model, t, g.seconds,
    g.seconds / t, g.calls, g.flops / g.seconds / 1e9))
end

-- BLIS rates at this thread count: best of `reps` after a warm-up.
local function gemm_rate(name, m, k, n, reps)
  local a, b = rng:normal({ m, k }, 0, 1), rng:normal({ k, n }, 0, 1)
  a:matmul(b):close()
  local best = math.huge
  for _ = 1, reps do
    local t0 = ml.clock()
    local c = a:matmul(b)
    best = math.min(best, ml.clock() - t0)
    c:close()
  end
  print(string.format("%s threads=%d shape=%dx%dx%d seconds=%.7f gflops=%.3f",
    name, ml.threads(), m, k, n, best, 2 * m * k * n / 1e9 / best))
end
gemm_rate("gemm", cfg.gemm, cfg.gemm, cfg.gemm, 5)
gemm_rate("gemm_step", B, H + H, G * H, 200)
