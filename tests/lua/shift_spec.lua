-- moonlab.shift end to end: the generators return index views where only rows change (the
-- feature tensor is the input's own) and new tensors where values change, with the realised
-- shift reported; on a synthetic problem with a known answer (three Gaussian classes, a
-- softmax regression; a quadratic target fitted by a line) each detector fires on shifted data
-- and not on unshifted data at its stated rate over 40 seeded repetitions, and each correction
-- recovers most of the accuracy or loss lost to the shift; bad input raises one error naming
-- the function, the argument and its value, at the script's line. The statistics themselves
-- are checked against SciPy and scikit-learn in tests/c/test_shift.c.
local ml = require "moonlab"
local shift, data, T = ml.shift, ml.data, ml.tensor

local MEANS = { { 0, 0 }, { 1.5, 0 }, { 0, 1.5 } }
local UNIFORM = { 1 / 3, 1 / 3, 1 / 3 }

-- n rows of three Gaussian classes N(MEANS[c], I) (plus offset) with the given priors.
local function mixture(n, priors, seed, offset)
  local r = ml.core.rng.new(seed)
  local xs, ys = {}, {}
  for c = 1, #priors do
    local k = math.floor(n * priors[c] + 0.5)
    if k > 0 then
      xs[#xs + 1] = r:normal({ k, 2 }, 0, 1) + T.from(MEANS[c]) + (offset or 0)
      ys[#ys + 1] = T.full({ k }, c - 1)
    end
  end
  return data.dataset(T.cat(xs, 1), T.cat(ys, 1))
end

-- Fraction of rows whose argmax score is the label.
local function accuracy(scores, y)
  local _, _, correct = ml.loss.value("cross_entropy", scores, y)
  return correct / y:size(1)
end

-- The error message of f(), which must fail.
local function failure(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function assert_error(f, text)
  local msg = failure(f)
  assert(msg:find(text, 1, true), "expected '" .. text .. "' in: " .. msg)
  assert(msg:find("shift_spec.lua:", 1, true), "error not raised at the script's line: " .. msg)
end

local function close(a, b, tol)
  assert(math.abs(a - b) <= tol, string.format("%.6g and %.6g differ by more than %g", a, b, tol))
end

local softmax_model
local function trained_model()
  if not softmax_model then
    softmax_model = ml.nn.sequential({ ml.nn.linear(2, 3) }, { seed = 5 })
    softmax_model:fit { data = mixture(3000, UNIFORM, 1), loss = "cross_entropy",
      optim = ml.optim.sgd { lr = 0.5 }, epochs = 20, batch = 100 }
  end
  return softmax_model
end

describe("shift: label shift generators", function()
  local pool = mixture(900, UNIFORM, 3) -- 300 rows per class

  it("resample draws exact class counts as an index view and reports the priors", function()
    local out, r = shift.resample(pool, { priors = { 0.2, 0.3, 0.5 }, seed = 1 })
    assert.are.equal(600, out.n) -- class 2 (300 rows at 0.5) limits the size
    assert.are.equal(pool.x, out.x) -- the same tensor: no copy
    assert.are.equal(pool.y, out.y)
    assert.are.equal(600, #out.rows)
    assert.are.same({ 0.2, 0.3, 0.5 }, r.priors_after)
    for c = 1, 3 do close(r.priors_before[c], 1 / 3, 1e-12) end
    assert.are.equal("label", r.kind)
    assert.are.equal(0, r.changed)
    assert.are.equal(900, r.n_before)
    assert.are.equal(600, r.n_after)
    -- the same seed gives the same rows, another seed others
    local again = shift.resample(pool, { priors = { 0.2, 0.3, 0.5 }, seed = 1 })
    assert.are.same(out.rows:totable(), again.rows:totable())
    local other = shift.resample(pool, { priors = { 0.2, 0.3, 0.5 }, seed = 2 })
    assert.are_not.same(out.rows:totable(), other.rows:totable())
    -- with replacement and a size
    local big, rb = shift.resample(pool, { priors = { 0.1, 0.1, 0.8 }, size = 2000, replace = true })
    assert.are.equal(2000, big.n)
    close(rb.priors_after[3], 0.8, 1e-12)
    -- a model trains on the view as on a dataset
    local m = ml.nn.sequential({ ml.nn.linear(2, 3) }, { seed = 1 })
    local h = m:fit { data = out, loss = "cross_entropy", optim = ml.optim.sgd { lr = 0.1 }, epochs = 1 }
    assert(h[1].loss > 0)
  end)

  it("resampling a subset composes the row numbers", function()
    local half = data.subset(pool, data.index(450)) -- classes 0 (300 rows) and 1 (150 rows)
    local out, r = shift.resample(half, { priors = { 0.5, 0.5, 0 }, seed = 3 })
    assert.are.equal(300, out.n)
    assert(out.rows:max() <= 450)
    assert.are.same({ 0.5, 0.5, 0 }, r.priors_after)
    close(r.priors_before[1], 300 / 450, 1e-12)
  end)

  it("dirichlet, tweak_one, knock_out and only_class", function()
    local d, rd = shift.dirichlet(pool, { alpha = 0.5, seed = 4 })
    local s = 0
    for c = 1, 3 do s = s + rd.target_priors[c] end
    close(s, 1, 1e-12)
    for c = 1, 3 do close(rd.priors_after[c], rd.target_priors[c], 1 / d.n) end
    local t, rt = shift.tweak_one(pool, { class = 1, rho = 0.8, seed = 4 })
    close(rt.priors_after[2], 0.8, 1 / t.n)
    close(rt.priors_after[1], 0.1, 1 / t.n)
    local k, rk = shift.knock_out(pool, { class = 2, fraction = 0.5, seed = 4 })
    assert.are.equal(750, k.n)
    close(rk.priors_after[3], 150 / 750, 1e-12)
    local o, ro = shift.only_class(pool, { class = 0 })
    assert.are.equal(300, o.n)
    assert.are.same({ 1, 0, 0 }, ro.priors_after)
    assert.are.equal(300, shift.only_class(pool, 0).n)
  end)
end)

describe("shift: covariate and concept shift generators", function()
  it("selection keeps rows by a logistic function of chosen features", function()
    local pool = mixture(3000, UNIFORM, 7)
    local out, r = shift.selection(pool, { features = { 1 }, coef = { 3 }, bias = -2, seed = 1 })
    assert.are.equal(pool.x, out.x)
    assert(out.n > 300 and out.n < 2000)
    assert.are.equal("covariate", r.kind)
    -- the selected rows move toward large x_1, and class 1 (mean x_1 = 1.5) gains weight
    assert(r.mean_diff:get(1) > 0.5 and math.abs(r.mean_diff:get(2)) < 0.3)
    close(r.mean_shift, math.sqrt(r.mean_diff:get(1) ^ 2 + r.mean_diff:get(2) ^ 2), 1e-6)
    assert(r.priors_after[2] > 0.5)
    local sized = shift.selection(pool, { features = { 1 }, coef = { 3 }, bias = -2, size = 500, seed = 1 })
    assert.are.equal(500, sized.n)
  end)

  it("corrupts Fashion-MNIST images, flat or (N, 28, 28)", function()
    local f = io.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    if not f then
      pending("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
      return
    end
    f:close()
    local test = ml.data.fashion_mnist { split = "test" }
    local sub = data.subset(test, data.index(400))
    local last = 0
    for _, s in ipairs { 1, 10, 100 } do
      local out, r = shift.corrupt(sub, { kind = "noise", level = s, fraction = 0.5, seed = 1 })
      assert.are.equal(400, out.n)
      assert.are.same({ 400, 784 }, out.x:shape())
      assert.are_not.equal(test.x, out.x) -- values change: a new tensor
      assert.are.equal(200, #r.corrupted)
      assert(r.changed > 0.45 and r.changed <= 0.5)
      -- the mean absolute change grows with the severity
      local diff = (out.x - data.materialize(sub).x):apply("abs"):mean()
      assert(diff > last)
      last = diff
      assert(out.x:min() >= 0 and out.x:max() <= 1)
    end
    assert.are.same(data.materialize(sub).y:totable(), select(1, shift.corrupt(sub,
      { kind = "invert", fraction = 1 })).y:totable())
    local img = ml.data.fashion_mnist { split = "test", layout = "image" }
    local blurred, rb = shift.corrupt(data.subset(img, data.index(50)),
      { kind = "blur", level = 1, fraction = 1, seed = 2 })
    assert.are.same({ 50, 28, 28 }, blurred.x:shape())
    assert(rb.changed > 0.9 and rb.mean_shift > 0)
    for _, kind in ipairs { "brightness", "contrast" } do
      local o = shift.corrupt(sub, { kind = kind, level = 0.5, fraction = 0.25 })
      assert(o.x:max() <= 1 and o.x:min() >= 0)
    end
  end)

  it("relabels by a swap where a feature exceeds a threshold, or by a map", function()
    local pool = mixture(900, UNIFORM, 8)
    local out, r = shift.relabel(pool, { swap = { 0, 1 }, where = { feature = 2, above = 0.5 } })
    assert.are.equal(pool.x, out.x)
    assert.are_not.equal(pool.y, out.y)
    assert.are.equal("concept", r.kind)
    local x, y0, y1 = pool.x:totable(), pool.y:totable(), out.y:totable()
    local changed = 0
    for i = 1, 900 do
      local want = y0[i]
      if x[i][2] > 0.5 and y0[i] < 2 then want = 1 - y0[i] end
      assert.are.equal(want, y1[i])
      if want ~= y0[i] then changed = changed + 1 end
    end
    close(r.changed, changed / 900, 1e-12)
    local m, rm = shift.relabel(pool, { map = { [2] = 0 } })
    assert.are.same({ 2 / 3, 1 / 3, 0 }, { rm.priors_after[1], rm.priors_after[2], rm.priors_after[3] })
    close(rm.changed, 1 / 3, 1e-12)
    assert(m.y:max() < 2)
    local p, rp = shift.relabel(pool, { map = { [0] = 1 }, fraction = 0.5, seed = 3 })
    close(rp.changed, 1 / 6, 0.05)
    assert.are.equal(900, p.n)
  end)
end)

describe("shift: detection", function()
  it("each detector fires on shifted data and not on unshifted data at its rate", function()
    local model = trained_model()
    local reps, alpha = 40, 0.05
    local false_pos = { ks = 0, chi2 = 0, mmd = 0, classifier = 0 }
    local power = { ks = 0, chi2 = 0, mmd = 0, classifier = 0 }
    for i = 1, reps do
      local source = mixture(300, UNIFORM, 1000 + i)
      local same = mixture(300, UNIFORM, 2000 + i)
      -- label shift (class 0 from 1/3 to 0.7) for the tests on model outputs, a covariate shift
      -- (every mean moved by 0.5) for the tests on the inputs
      local labelled = shift.tweak_one(mixture(900, UNIFORM, 3000 + i), { class = 0, rho = 0.7, seed = i })
      local moved = mixture(300, UNIFORM, 4000 + i, 0.5)
      local out_s, out_0 = model:predict(source.x), model:predict(same.x)
      local out_l = model:predict(data.materialize(labelled).x)
      local tests = {
        ks = function(a, b) return shift.ks_test(a, b, { alpha = alpha }) end,
        chi2 = function(a, b) return shift.chi2_test(a, b, { alpha = alpha }) end,
        mmd = function(a, b) return shift.mmd_test(a, b, { alpha = alpha, permutations = 100, seed = i }) end,
        classifier = function(a, b) return shift.classifier_test(a, b, { alpha = alpha, seed = i }) end,
      }
      for name, test in pairs(tests) do
        local on_outputs = name == "ks" or name == "chi2"
        local null = on_outputs and test(out_s, out_0) or test(source, same)
        local alt = on_outputs and test(out_s, out_l) or test(source, moved)
        if null.shifted then false_pos[name] = false_pos[name] + 1 end
        if alt.shifted then power[name] = power[name] + 1 end
        assert.are.equal(alt.p_value < alpha, alt.shifted)
      end
    end
    for name in pairs(false_pos) do
      assert(false_pos[name] / reps <= 0.15, name .. ": false-positive rate " .. false_pos[name] / reps)
      assert(power[name] / reps >= 0.9, name .. ": power " .. power[name] / reps)
    end
  end)

  it("reports the statistic, the p-value and the verdict", function()
    local a, b = mixture(200, UNIFORM, 1), mixture(200, UNIFORM, 2, 1.0)
    local ks = shift.ks_test(a.x, b.x)
    assert.are.equal(2, #ks.statistics)
    close(ks.p_value, math.min(1, 2 * math.min(ks.p_values[1], ks.p_values[2])), 1e-15)
    assert.is_true(ks.shifted)
    local chi = shift.chi2_test(a.y, b.y) -- labels straight from the data: no shift in P(y)
    assert.is_false(chi.shifted)
    assert.are.same({ 67, 67, 67 }, chi.counts.source)
    assert.are.equal(2, chi.df)
    local mmd = shift.mmd_test(a, b, { seed = 1, permutations = 50 })
    close(mmd.p_value, 1 / 51, 1e-12) -- no permutation reaches a clear shift
    assert(mmd.bandwidth > 0 and mmd.statistic > 0)
    local clf = shift.classifier_test(a, b, { seed = 1 })
    assert(clf.statistic > 0.6 and clf.total == 202) -- 101 held-out rows of each sample
    close(clf.correct / clf.total, clf.statistic, 1e-15)
    -- the same seed gives the same p-value
    assert.are.equal(mmd.p_value, shift.mmd_test(a, b, { seed = 1, permutations = 50 }).p_value)
  end)
end)

describe("shift: corrections", function()
  local train = mixture(3000, UNIFORM, 1)
  local val = mixture(3000, UNIFORM, 2)
  local target = shift.resample(mixture(6000, UNIFORM, 3), { priors = { 0.7, 0.2, 0.1 }, seed = 4 })
  local tx, ty = data.materialize(target).x, data.materialize(target).y
  local true_w = { 2.1, 0.6, 0.3 } -- p_t(y) / p_s(y)

  it("BBSE and EM recover most of the accuracy lost to label shift", function()
    local model = trained_model()
    local out = model:predict(tx)
    local plain = accuracy(out, ty)
    local oracle = accuracy(shift.recalibrate(out, true_w, { logits = true }), ty)
    assert(oracle - plain > 0.08, "the shift must cost accuracy for this test to mean anything")
    local est = shift.bbse(model:predict(val.x), val, out)
    for c = 1, 3 do close(est.weights[c], true_w[c], 0.25 * true_w[c] + 0.05) end
    close(est.priors[1], 0.7, 0.05)
    close(est.ridge, 1 / 2857, 1e-12)
    for c = 1, 3 do close(est.source_priors[c], 1 / 3, 1e-12) end
    local bbse = accuracy(shift.recalibrate(out, est.weights, { logits = true }), ty)
    local em = shift.em(out, shift.priors(train), { logits = true })
    assert.is_true(em.converged)
    close(em.priors[1], 0.7, 0.07)
    local em_acc = accuracy(em.posteriors, ty)
    assert((bbse - plain) / (oracle - plain) >= 0.7, "BBSE recovers " .. (bbse - plain) / (oracle - plain))
    assert((em_acc - plain) / (oracle - plain) >= 0.7, "EM recovers " .. (em_acc - plain) / (oracle - plain))
  end)

  it("re-weighting the training loss by BBSE's weights recovers the accuracy", function()
    local model = trained_model()
    local out = model:predict(tx)
    local plain = accuracy(out, ty)
    local oracle = accuracy(shift.recalibrate(out, true_w, { logits = true }), ty)
    local est = shift.bbse(model:predict(val.x), val.y, out)
    local weights = shift.class_weights(train, est.weights)
    assert.are.equal(3000, weights:size(1))
    close(weights:get(1), est.weights[1], 1e-6) -- row 1 is class 0
    local m = ml.nn.sequential({ ml.nn.linear(2, 3) }, { seed = 5 })
    m:fit { data = shift.weighted(train, weights), loss = "cross_entropy", reduce = "weighted_mean",
      optim = ml.optim.sgd { lr = 0.5 }, epochs = 20, batch = 100 }
    local rw = accuracy(m:predict(tx), ty)
    assert((rw - plain) / (oracle - plain) >= 0.7, "re-weighting recovers " .. (rw - plain) / (oracle - plain))
  end)

  it("importance weights recover most of the loss lost to covariate shift", function()
    -- y = x^2 + noise, fitted by a line: the source (x ~ N(0, 1)) gives a flat line, the target
    -- (rows kept with probability sigmoid(3x - 3)) needs the slope near x = 1.5
    local function quadratic(n, seed)
      local r = ml.core.rng.new(seed)
      local x = r:normal({ n, 1 }, 0, 1)
      return data.dataset(x, x:apply("square") + r:normal({ n, 1 }, 0, 0.3))
    end
    local src = quadratic(2000, 11)
    local tgt = shift.selection(quadratic(6000, 12), { features = { 1 }, coef = { 3 }, bias = -3, seed = 13 })
    local function fit(ds, reduce)
      local m = ml.nn.sequential({ ml.nn.linear(1, 1) }, { seed = 7 })
      m:fit { data = ds, loss = "mse", reduce = reduce, optim = ml.optim.sgd { lr = 0.05 }, epochs = 30, batch = 50 }
      return m:evaluate(tgt, "mse").loss
    end
    local w, h = shift.importance_weights(src, tgt, { clip = 10 })
    assert.are.equal(2000, w:size(1))
    assert(w:max() <= 10 and w:min() > 0)
    assert(h.weights:get(1) > 1) -- the classifier sees the target at large x
    local plain, weighted, oracle = fit(src), fit(shift.weighted(src, w), "weighted_mean"), fit(tgt)
    assert((plain - weighted) / (plain - oracle) >= 0.7, "importance weighting recovers " ..
      (plain - weighted) / (plain - oracle))
    -- normalize = true rescales to mean 1
    close(shift.importance_weights(src, tgt, { classifier = h, normalize = true }):mean(), 1, 1e-5)
  end)

  it("weighted places a subset's weights at its rows", function()
    local ds = mixture(30, UNIFORM, 9)
    local sub = data.subset(ds, { 5, 2, 9 })
    local w = shift.weighted(sub, T.from { 1, 2, 3 })
    assert.are.equal(30, w.weights:size(1))
    assert.are.same({ 2, 1, 3 }, { w.weights:get(2), w.weights:get(5), w.weights:get(9) })
    assert.are.equal(0, w.weights:get(1))
    assert.are.equal(sub.rows, w.rows)
    local dup = data.subset(ds, { 5, 5 })
    assert_error(function() shift.weighted(dup, T.from { 1, 2 }) end,
      "weighted: row 5 appears twice in the subset with weights 1.0 and 2.0")
    assert_error(function() shift.weighted(sub, T.from { 1, 2 }) end,
      "weighted: weights are (2) for a dataset of 3 rows")
  end)
end)

describe("shift: bad input", function()
  local ds = mixture(30, UNIFORM, 1)

  it("names the argument and its value", function()
    assert_error(function() shift.resample(ds, { priors = { 0.5, 0.5, 0.2 } }) end,
      "resample: priors sum to 1.2, expected 1")
    assert_error(function() shift.resample(ds, { priors = { 1.2, -0.2, 0 } }) end,
      "resample: priors[2] = -0.2; priors must be >= 0")
    assert_error(function() shift.resample(ds, { priors = { 0.5, 0.5 } }) end,
      "resample: y row 21 is class 2, outside the 2 classes 0..1")
    assert_error(function() shift.knock_out(ds, { class = 1, fraction = 1.5 }) end,
      "knock_out: fraction = 1.5 is outside [0, 1]")
    assert_error(function() shift.corrupt(ds, { kind = "noise", level = 10, fraction = -0.1 }) end,
      "corrupt: fraction = -0.1 is outside [0, 1]")
    assert_error(function() shift.corrupt(ds, { kind = "noise", level = 10, fraction = 0.1 }) end,
      "corrupt: x row 1 holds") -- Gaussian features are not images in [0, 1]
    assert_error(function() shift.tweak_one(ds, { class = 3, rho = 0.5 }) end,
      "tweak_one: class = 3 is outside the 3 classes 0..2")
    assert_error(function() shift.tweak_one(ds, { class = 1, rho = 1.5 }) end,
      "tweak_one: rho = 1.5 is outside [0, 1]")
    assert_error(function() shift.dirichlet(ds, { alpha = -1 }) end, "dirichlet: alpha = -1 must be > 0")
    assert_error(function() shift.selection(ds, { features = { 3 }, coef = { 1 } }) end,
      "selection: features[1] = 3 is outside the row's 1..2 values")
    assert_error(function() shift.selection(ds, { features = { 1, 2 }, coef = { 1 } }) end,
      "selection: 2 features but 1 coefficients")
    assert_error(function() shift.relabel(ds, { map = { [1] = 7 }, classes = 3 }) end,
      "relabel: the mapping 1 -> 7 leaves the 3 classes 0..2")
    assert_error(function() shift.corrupt(ds, { kind = "fog", level = 1 }) end,
      "corrupt: kind = 'fog' is not a corruption")
    assert_error(function() shift.resample(ds, { prior = { 1, 0, 0 } }) end,
      "resample: unknown option 'prior'")
    local big = data.dataset(T.from { { 0 }, { 1 } }, T.from { 0, 5 })
    assert_error(function() shift.tweak_one(big, { class = 0, rho = 0.5, classes = 3 }) end,
      "tweak_one: y row 2 is class 5, outside the 3 classes 0..2")
  end)

  it("refuses mismatched sizes", function()
    local out = trained_model():predict(ds.x)
    assert_error(function() shift.bbse(out, ds.y:slice(1, 1, 29), out) end,
      "bbse: 30 source predictions for 29 source labels")
    assert_error(function() shift.em(out, { 0.5, 0.5 }, { logits = true }) end,
      "em: source_priors has 2 entries for 3 classes")
    assert_error(function() shift.em(T.from { { 0.5, 0.6 } }, { 0.5, 0.5 }) end,
      "em: row 1 sums to 1.1; probabilities sum to 1")
    assert_error(function() shift.recalibrate(out, { 1, 1 }, { logits = true }) end,
      "recalibrate: 2 class weights for 3 classes")
    assert_error(function() shift.ks_test(ds.x, out) end,
      "ks_test: source rows have 2 values, target rows 3")
    assert_error(function() shift.mmd_test(ds.x, ds.x:slice(1, 1, 1)) end,
      "mmd_test: 30 source and 1 target rows")
    assert_error(function() shift.chi2_test(out, T.from { { 1, 0 } }) end,
      "chi2_test: target has 2 score columns for 3 classes")
    assert_error(function() shift.classifier_test(ds, ds, { holdout = 1 }) end,
      "classifier_test: holdout = 1 is outside (0, 1)")
    assert_error(function() shift.importance_weights(ds.x, out) end,
      "domain_classifier: source rows have 2 values, target rows 3")
  end)
end)

describe("shift.stats", function()
  it("gives the distributions behind the p-values", function()
    close(shift.stats.binom_sf(6, 10, 0.5), 386 / 1024, 1e-15)
    close(shift.stats.chi2_sf(2, 2), math.exp(-1), 1e-14) -- chi2 with 2 df is Exp(1/2)
    close(shift.stats.gamma_q(1, 3), math.exp(-3), 1e-14)
    close(shift.stats.ks2_sf(2, 2, 1), 1 / 3, 1e-15) -- 2 of the 6 orderings put both a's first or last
    close(shift.stats.kolmogorov_sf(1.3580986), 0.05, 1e-6)
  end)
end)
