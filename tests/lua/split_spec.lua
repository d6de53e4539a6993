-- moonlab.split: every splitter's folds have the documented shape (test sets disjoint and
-- covering the rows as stated, train and test disjoint, classes kept within one row of their
-- share, groups never split), seeds reproduce and vary the folds, bad arguments raise with the
-- argument named, and the deterministic splitters give exactly scikit-learn's indices
-- (tests/ref/split_reference.lua, made by tests/ref/make_split_reference.py; no Python here).
local ml = require "moonlab"
local split, data, T = ml.split, ml.data, ml.tensor
local run = require "moonlab.run"
local root = os.getenv("MOONLAB_ROOT") or "."
local ref = dofile(root .. "/tests/ref/split_reference.lua")

-- n rows of labels with uneven classes (values 3, 8, 13, ...), every class at least twice.
local function labels(n, classes, seed)
  local r = ml.core.rng.new(seed or 1)
  local y = {}
  for i = 1, n do
    local u, c = r:integer(classes * (classes + 1) // 2), 0
    while u > c + 1 do u = u - (c + 1); c = c + 1 end
    y[i] = 5 * c + 3
  end
  for c = 0, classes - 1 do y[2 * c + 1], y[2 * c + 2] = 5 * c + 3, 5 * c + 3 end
  return y
end

local function groups(n, count)
  local g = {}
  for i = 1, n do g[i] = (i * 7) % count + 100 end
  return g
end

-- Checks every fold of a list; returns how often each row was tested.
-- opts: cover (every row in some set of each fold), sorted (sets ascend), n (rows).
local function check_folds(folds, n, opts)
  opts = opts or {}
  local tested = {}
  for r = 1, n do tested[r] = 0 end
  local count = 0
  for i, fold in ipairs(folds) do
    count = i
    local where = {}
    for _, name in ipairs { "train", "val", "test" } do
      local set = fold[name]
      if set then
        local rows = set:totable()
        for j, r in ipairs(rows) do
          assert(r >= 1 and r <= n, string.format("fold %d %s: row %d outside 1..%d", i, name, r, n))
          assert(where[r] == nil, string.format("fold %d: row %d in %s and %s", i, r, where[r], name))
          where[r] = name
          if opts.sorted and j > 1 then
            assert(rows[j - 1] < r, string.format("fold %d %s: rows not ascending", i, name))
          end
        end
        if name == "test" then for _, r in ipairs(rows) do tested[r] = tested[r] + 1 end end
      end
    end
    if opts.cover then
      for r = 1, n do assert(where[r], string.format("fold %d: row %d in no set", i, r)) end
    end
  end
  assert.are.equal(#folds, count)
  return tested
end

local function all_equal(t, v, what)
  for r, x in ipairs(t) do
    assert(x == v, string.format("%s: row %d tested %d times, expected %d", what, r, x, v))
  end
end

-- Every class within one row of its share in each set of each fold.
local function check_strata(folds, y)
  local total = {}
  for _, c in ipairs(y) do total[c] = (total[c] or 0) + 1 end
  local n = #y
  for i, fold in ipairs(folds) do
    for _, name in ipairs { "train", "val", "test" } do
      local set = fold[name]
      if set and #set > 0 then
        local count = {}
        for _, r in ipairs(set:totable()) do count[y[r]] = (count[y[r]] or 0) + 1 end
        for c, cnt in pairs(total) do
          local share = cnt * #set / n
          local got = count[c] or 0
          assert(math.abs(got - share) < 1, string.format(
            "fold %d %s: class %s has %d rows, share %.2f", i, name, tostring(c), got, share))
        end
      end
    end
  end
end

-- No group with rows on two sides (train, test, or unused) of any fold.
local function check_groups(folds, g)
  for i, fold in ipairs(folds) do
    local side = {}
    for _, r in ipairs(fold.train:totable()) do side[r] = "train" end
    for _, r in ipairs(fold.test:totable()) do side[r] = "test" end
    local of = {}
    for r, grp in ipairs(g) do
      local s = side[r] or "unused"
      assert(of[grp] == nil or of[grp] == s,
        string.format("fold %d: group %s is in %s and %s", i, tostring(grp), of[grp], s))
      of[grp] = s
    end
  end
end

local function fold_strings(folds)
  local out = {}
  for i, f in ipairs(folds) do
    out[i] = table.concat(f.train:totable(), ",") .. "|" .. table.concat(f.test:totable(), ",")
      .. (f.val and ("|" .. table.concat(f.val:totable(), ",")) or "")
  end
  return out
end

-- Same folds from the same seed, other folds from another.
local function check_seeds(make)
  assert.are.same(fold_strings(make(1)), fold_strings(make(1)))
  assert.are_not.same(fold_strings(make(1)), fold_strings(make(2)))
end

local function as_folds(f) return { f } end -- a holdout as a one-fold list

describe("moonlab.split", function()
  before_each(function() run.reset { seed = 0 } end)

  it("is ml.split", function()
    assert.are.equal(require "moonlab.split", ml.split)
  end)

  describe("gives scikit-learn's indices", function()
    local function same(folds, want, what)
      assert.are.equal(#want, #folds, what .. ": number of folds")
      for i, w in ipairs(want) do
        assert.are.same(w.train, folds[i].train:totable(), what .. " fold " .. i .. " train")
        assert.are.same(w.test, folds[i].test:totable(), what .. " fold " .. i .. " test")
      end
    end

    it("for kfold without shuffling", function()
      for _, c in ipairs(ref.kfold) do
        same(split.kfold(c.n, c.k), c.folds, ("kfold n=%d k=%d"):format(c.n, c.k))
      end
    end)

    it("for stratified_kfold without shuffling (numbers, large values, strings)", function()
      for i, c in ipairs(ref.stratified_kfold) do
        same(split.stratified_kfold(#c.labels, c.k, { labels = c.labels }), c.folds,
          "stratified_kfold case " .. i)
      end
      local c = ref.stratified_kfold[1] -- the same labels as a tensor
      same(split.stratified_kfold(#c.labels, c.k, { labels = T.from(c.labels) }), c.folds,
        "stratified_kfold from a tensor")
    end)

    it("for group_kfold", function()
      for i, c in ipairs(ref.group_kfold) do
        same(split.group_kfold(#c.groups, c.k, { groups = c.groups }), c.folds, "group_kfold case " .. i)
      end
    end)

    it("for time_series_split with test, gap and max_train", function()
      for i, c in ipairs(ref.time_series_split) do
        same(split.time_series_split(c.n, c.splits, { test = c.test, gap = c.gap, max_train = c.max_train }),
          c.folds, "time_series_split case " .. i)
      end
    end)

    it("for leave_one_out and leave_p_out, in itertools order", function()
      for _, c in ipairs(ref.leave_one_out) do same(split.leave_one_out(c.n), c.folds, "leave_one_out") end
      for _, c in ipairs(ref.leave_p_out) do
        same(split.leave_p_out(c.n, c.p), c.folds, ("leave_p_out n=%d p=%d"):format(c.n, c.p))
      end
    end)

    it("for leave_one_group_out, groups in ascending order (numbers, strings, fractions)", function()
      for i, c in ipairs(ref.leave_one_group_out) do
        same(split.leave_one_group_out(#c.groups, { groups = c.groups }), c.folds, "leave_one_group_out " .. i)
      end
    end)

    it("for predefined_split", function()
      for i, c in ipairs(ref.predefined_split) do
        same(split.predefined_split(c.test_fold), c.folds, "predefined_split " .. i)
        same(split.predefined_split(#c.test_fold, T.from(c.test_fold)), c.folds, "predefined_split tensor " .. i)
      end
    end)
  end)

  describe("k-fold splitters", function()
    local y = labels(97, 4, 3)
    local ds = data.dataset(T.zeros(97, 2), T.from(y))

    it("kfold tests every row once, shuffled or not; the seed decides the shuffle", function()
      all_equal(check_folds(split.kfold(ds, 5), 97, { cover = true, sorted = true }), 1, "kfold")
      local f = split.kfold(ds, 5, { shuffle = true, seed = 3 })
      all_equal(check_folds(f, 97, { cover = true, sorted = true }), 1, "kfold shuffled")
      check_seeds(function(s) return split.kfold(ds, 5, { shuffle = true, seed = s }) end)
      assert.are.equal(5, #split.kfold(ds)) -- k defaults to 5
      assert.are.equal(5, #split.kfold(97, { shuffle = true })) -- options without k
    end)

    it("stratified_kfold keeps every class within one row of its share", function()
      for _, shuffle in ipairs { false, true } do
        local f = split.stratified_kfold(ds, 4, { shuffle = shuffle })
        all_equal(check_folds(f, 97, { cover = true, sorted = true }), 1, "stratified_kfold")
        check_strata(f, y)
      end
      check_seeds(function(s) return split.stratified_kfold(ds, 4, { shuffle = true, seed = s }) end)
    end)

    it("repeated_kfold and repeated_stratified_kfold test every row once per repeat", function()
      local f = split.repeated_kfold(ds, 4, { repeats = 3, seed = 5 })
      assert.are.equal(12, #f)
      all_equal(check_folds(f, 97, { cover = true, sorted = true }), 3, "repeated_kfold")
      -- the first repeat is kfold shuffled with the same seed; the second differs
      local one = split.kfold(ds, 4, { shuffle = true, seed = 5 })
      for i = 1, 4 do assert.are.same(one[i].test:totable(), f[i].test:totable()) end
      assert.are_not.same(f[1].test:totable(), f[5].test:totable())
      check_seeds(function(s) return split.repeated_kfold(ds, 4, { repeats = 2, seed = s }) end)
      local s = split.repeated_stratified_kfold(ds, 3, { repeats = 2 })
      assert.are.equal(6, #s)
      all_equal(check_folds(s, 97, { cover = true, sorted = true }), 2, "repeated_stratified_kfold")
      check_strata(s, y)
      check_seeds(function(sd) return split.repeated_stratified_kfold(ds, 3, { repeats = 2, seed = sd }) end)
      assert.are.equal(50, #split.repeated_kfold(ds)) -- 5 folds x 10 repeats by default
    end)

    it("group_kfold and stratified_group_kfold never split a group", function()
      local g = groups(97, 11)
      local f = split.group_kfold(ds, 4, { groups = g })
      all_equal(check_folds(f, 97, { cover = true, sorted = true }), 1, "group_kfold")
      check_groups(f, g)
      for _, shuffle in ipairs { false, true } do
        local s = split.stratified_group_kfold(ds, 3, { groups = T.from(g), shuffle = shuffle })
        all_equal(check_folds(s, 97, { cover = true, sorted = true }), 1, "stratified_group_kfold")
        check_groups(s, g)
      end
      -- one row per group: the stratification is as good as stratified_kfold's
      local single = {}
      for i = 1, 97 do single[i] = i end
      check_strata(split.stratified_group_kfold(ds, 4, { groups = single }), y)
      check_seeds(function(s)
        return split.stratified_group_kfold(ds, 3, { groups = single, shuffle = true, seed = s })
      end)
    end)
  end)

  describe("shuffle splitters", function()
    local y = labels(120, 3, 7)
    local ds = data.dataset(T.zeros(120, 1), T.from(y))

    it("shuffle_split draws the stated sizes, train and test apart", function()
      local f = split.shuffle_split(ds, 6, { test = 0.25, train = 60 })
      local tested = check_folds(f, 120)
      local total = 0
      for _, t in ipairs(tested) do total = total + t end
      assert.are.equal(6 * 30, total)
      for _, fold in ipairs(f) do
        assert.are.equal(60, #fold.train)
        assert.are.equal(30, #fold.test)
      end
      assert.are.equal(10, #split.shuffle_split(ds)) -- 10 splits, test 0.1 by default
      assert.are.equal(12, #split.shuffle_split(ds)[1].test)
      check_seeds(function(s) return split.shuffle_split(ds, 3, { seed = s }) end)
    end)

    it("stratified_shuffle_split keeps every class within one row of its share", function()
      local f = split.stratified_shuffle_split(ds, 8, { test = 0.3, train = 0.5 })
      local total = 0
      for _, t in ipairs(check_folds(f, 120)) do total = total + t end
      assert.are.equal(8 * 36, total)
      check_strata(f, y)
      check_seeds(function(s) return split.stratified_shuffle_split(ds, 3, { seed = s }) end)
    end)

    it("group_shuffle_split takes whole groups, sized in groups", function()
      local g = groups(120, 10) -- 10 groups of 12 rows
      local f = split.group_shuffle_split(ds, 5, { groups = g, test = 3, train = 0.5 })
      local total = 0
      for _, t in ipairs(check_folds(f, 120, { sorted = true })) do total = total + t end
      assert.are.equal(5 * 3 * 12, total)
      check_groups(f, g)
      for _, fold in ipairs(f) do assert.are.equal(60, #fold.train) end
      check_seeds(function(s) return split.group_shuffle_split(ds, 3, { groups = g, seed = s }) end)
    end)

    it("holdout makes train, val and test, stratified or not, shuffled or not", function()
      local h = split.holdout(ds, { train = 0.6, val = 0.2, test = 0.2 })
      assert.are.same({ 72, 24, 24 }, { #h.train, #h.val, #h.test })
      check_folds(as_folds(h), 120, { cover = true })
      local s = split.holdout(ds, { train = 0.6, val = 0.2, test = 0.2, stratify = true })
      check_folds(as_folds(s), 120, { cover = true })
      check_strata(as_folds(s), y)
      local plain = split.holdout(10, { test = 3, shuffle = false })
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7 }, plain.train:totable())
      assert.are.same({ 8, 9, 10 }, plain.test:totable())
      assert.are.equal(0, #plain.val)
      local d = split.holdout(ds) -- test 0.25 by default
      assert.are.same({ 90, 30 }, { #d.train, #d.test })
      check_seeds(function(sd) return as_folds(split.holdout(ds, { seed = sd })) end)
      check_seeds(function(sd) return as_folds(split.holdout(ds, { stratify = true, val = 0.1, seed = sd })) end)
    end)
  end)

  describe("leave-out and ordered splitters", function()
    it("leave_one_out and leave_p_out test every row as often as the combinations say", function()
      all_equal(check_folds(split.leave_one_out(7), 7, { cover = true, sorted = true }), 1, "leave_one_out")
      local f = split.leave_p_out(7, 3)
      assert.are.equal(35, #f)
      all_equal(check_folds(f, 7, { cover = true, sorted = true }), 15, "leave_p_out") -- C(6, 2)
    end)

    it("leave_one_group_out tests each group once and splits none", function()
      local g = groups(40, 6)
      local f = split.leave_one_group_out(40, { groups = g })
      assert.are.equal(6, #f)
      all_equal(check_folds(f, 40, { cover = true, sorted = true }), 1, "leave_one_group_out")
      check_groups(f, g)
    end)

    it("time_series_split tests the last splits x test rows once, always after the training rows", function()
      local f = split.time_series_split(50, 4, { test = 6, gap = 2, max_train = 10 })
      local tested = check_folds(f, 50, { sorted = true })
      for r = 1, 50 do assert.are.equal(r > 26 and 1 or 0, tested[r]) end
      for _, fold in ipairs(f) do
        assert.is_true(fold.train:max() + 2 < fold.test[1])
        assert.is_true(#fold.train <= 10)
      end
    end)

    it("predefined_split always trains on rows marked -1", function()
      local f = split.predefined_split { 2, -1, 1, 2, -1, 1 }
      local tested = check_folds(f, 6, { cover = true, sorted = true })
      assert.are.same({ 1, 0, 1, 1, 0, 1 }, tested)
      assert.are.same({ 3, 6 }, f[1].test:totable()) -- fold value 1 comes first
    end)
  end)

  describe("the fold list", function()
    it("is a list: #, [i], ipairs, pairs, and nil past the end", function()
      local f = split.kfold(10, 3)
      assert.are.equal(3, #f)
      assert.is_nil(f[4])
      assert.is_nil(f[0])
      local n = 0
      for i, fold in pairs(f) do n = n + 1; assert.are.equal(f[i].test[1], fold.test[1]) end
      assert.are.equal(3, n)
      assert.are.equal("folds(kfold: 3 folds of 10 samples)", tostring(f))
      assert.are.equal(f[2], f[2]) -- the same table while it is held
      assert.is_true(split.is_folds(f))
    end)

    it("computes folds on use, so leave_one_out over many rows holds one train set at a time", function()
      local f = split.leave_one_out(20000)
      assert.are.equal(20000, #f)
      assert.are.same({ 20000 }, f[20000].test:totable())
      assert.are.equal(19999, #f[12345].train)
    end)

    it("gives index sets that select dataset rows as views, never reading the features", function()
      local y = T.from(labels(60, 3, 2))
      local closed = T.zeros(60, 3)
      local ds = data.dataset(closed, y)
      closed:close() -- a split that touched the features would raise "tensor is closed"
      local f = split.stratified_kfold(ds, 3)
      assert.are.equal(3, #f)
      local x = T.zeros(60, 3)
      local sub = data.subset(data.dataset(x, y), f[1].train)
      assert.are.equal(x, sub.x) -- the same tensor: a view, not a copy
      assert.are.equal(#f[1].train, sub.n)
    end)

    it("uses a subset's own rows and labels", function()
      local y = {}
      for i = 1, 30 do y[i] = i <= 20 and 0 or 1 end
      local ds = data.dataset(T.zeros(30, 1), T.from(y))
      local sub = data.subset(ds, data.index { 1, 2, 21, 22, 3, 23, 4, 24 }) -- 4 and 4
      local f = split.stratified_kfold(sub, 4)
      for _, fold in ipairs(f) do
        local rows = fold.test:totable()
        assert.are.equal(2, #rows)
        local ys = { y[sub.rows[rows[1]]], y[sub.rows[rows[2]]] }
        table.sort(ys)
        assert.are.same({ 0, 1 }, ys) -- one of each class per fold
      end
    end)

    it("draws each split and each repeat from its own stream", function()
      local a, b = split.shuffle_split(50, 3, { seed = 4 }), split.shuffle_split(50, 8, { seed = 4 })
      for i = 1, 3 do assert.are.same(a[i].test:totable(), b[i].test:totable()) end
      local r2 = split.repeated_stratified_kfold(40, 4, { repeats = 2, seed = 4, labels = labels(40, 2) })
      local r5 = split.repeated_stratified_kfold(40, 4, { repeats = 5, seed = 4, labels = labels(40, 2) })
      assert.are.same(fold_strings(r2), { table.unpack(fold_strings(r5), 1, 8) })
    end)

    it("derives the default seed from the run's root seed and the splitter's name", function()
      local a = fold_strings(split.kfold(30, 3, { shuffle = true }))
      assert.are.same(fold_strings(split.kfold(30, 3, { shuffle = true, seed = run.seed("split/kfold") })), a)
      run.reset { seed = 1 }
      assert.are_not.same(fold_strings(split.kfold(30, 3, { shuffle = true })), a)
    end)

    it("splits 70000 rows into 5 stratified folds, each row in every fold's train or test", function()
      local y = T.zeros(70000)
      local r = ml.core.rng.new(1)
      for i = 1, 70000 do y[i] = r:integer(10) - 1 end
      local ds = data.dataset(T.zeros(70000, 1), y)
      local t0 = ml.clock()
      local f = split.stratified_kfold(ds, 5, { shuffle = true })
      local rows = 0
      for _, fold in ipairs(f) do rows = rows + #fold.train + #fold.test end
      local seconds = ml.clock() - t0
      assert.are.equal(5 * 70000, rows)
      -- the time is reported, not asserted (it depends on the machine)
      print(string.format("\nstratified_kfold: 5 folds of 70000 rows from a tensor in %.1f ms", seconds * 1e3))
    end)
  end)

  describe("bad arguments raise, naming the argument and its value", function()
    local ds = data.dataset(T.zeros(6, 1), T.from { 1, 1, 2, 2, 3, 3 })
    local cases = {
      { "more folds than samples", function() split.kfold(ds, 7) end, "kfold: k = 7 folds for 6 samples: needs k <= samples" },
      { "one fold", function() split.kfold(ds, 1) end, "kfold: k = 1: k-fold needs at least 2 folds" },
      { "a fractional k", function() split.kfold(ds, 2.5) end, "kfold: k must be an integer, got 2.5" },
      { "not a dataset", function() split.kfold("data", 2) end, "kfold: expected a dataset or a number of samples, got string" },
      { "an unknown option, with scikit-learn's name", function() split.kfold(ds, 2, { random_state = 1 }) end,
        "kfold: unknown option 'random_state' (scikit-learn's random_state is 'seed' here); options are seed, shuffle" },
      { "n_splits as an option", function() split.shuffle_split(ds, { n_splits = 3 }) end,
        "shuffle_split: unknown option 'n_splits' (the number of folds or splits is the second argument); options are seed, test, train" },
      { "a seed without shuffle", function() split.kfold(ds, 2, { seed = 1 }) end, "kfold: seed has no effect without shuffle = true" },
      { "shuffle not a boolean", function() split.kfold(ds, 2, { shuffle = "yes" }) end, "kfold: shuffle must be true or false, got yes" },
      { "more folds than any class", function() split.stratified_kfold(ds, 3) end,
        "stratified_kfold: k = 3 folds but no class has that many rows (the largest has 2)" },
      { "labels of the wrong length", function() split.stratified_kfold(6, 2, { labels = { 1, 2, 1 } }) end,
        "stratified_kfold: labels has 3 entries for 6 samples" },
      { "a label tensor of the wrong length", function() split.stratified_kfold(6, 2, { labels = T.zeros(5) }) end,
        "stratified_kfold: labels has 5 rows for 6 samples" },
      { "continuous labels", function() split.stratified_kfold(4, 2, { labels = { 0.5, 1, 1, 2 } }) end,
        "stratified_kfold: labels entry 1 is 0.5: class labels must be whole numbers or strings (is this a regression target?)" },
      { "no labels for a count", function() split.stratified_kfold(6, 2) end,
        "stratified_kfold: with a number of samples, pass labels = a list or a tensor" },
      { "a one-hot y", function() split.stratified_kfold(data.dataset(T.zeros(4, 1), T.zeros(4, 3)), 2) end,
        "stratified_kfold: the dataset's y is (4,3); stratifying needs one label per row: pass labels = ..." },
      { "mixed label types", function() split.stratified_kfold(3, 2, { labels = { "a", 1, "b" } }) end,
        "stratified_kfold: labels entry 2 is a number; the list holds strings" },
      { "groups missing", function() split.group_kfold(ds, 2) end,
        "group_kfold: groups = a list or a tensor (one group per row) is required" },
      { "groups of the wrong length", function() split.group_kfold(ds, 2, { groups = { 1, 2 } }) end,
        "group_kfold: groups has 2 entries for 6 samples" },
      { "more folds than groups", function() split.group_kfold(ds, 3, { groups = { 1, 1, 1, 2, 2, 2 } }) end,
        "group_kfold: k = 3 folds for 2 groups: needs k <= groups" },
      { "more stratified group folds than groups", function()
        split.stratified_group_kfold(ds, 2, { groups = { 1, 1, 1, 1, 1, 1 } }) end,
        "stratified_group_kfold: k = 2 folds for 1 groups: needs k <= groups" },
      { "zero repeats", function() split.repeated_kfold(ds, 2, { repeats = 0 }) end, "repeated_kfold: repeats = 0: needs at least 1" },
      { "a fraction above 1", function() split.shuffle_split(ds, 2, { test = 1.5 }) end,
        "shuffle_split: test = 1.5: a fraction must be in (0, 1)" },
      { "a count of all rows", function() split.shuffle_split(ds, 2, { test = 6 }) end,
        "shuffle_split: test = 6 of 6 samples: a count must be 1..5" },
      { "fractions summing past 1", function() split.holdout(ds, { train = 0.5, val = 0.3, test = 0.3 }) end,
        "holdout: train + val + test = 1.1: fractions must sum to at most 1" },
      { "counts past the rows", function() split.holdout(ds, { train = 4, test = 3 }) end,
        "holdout: train + val + test = 7 samples, more than the 6 there are" },
      { "an empty train set", function() split.holdout(ds, { val = 3, test = 3 }) end,
        "holdout: the train set would be empty (6 samples, val 3, test 3)" },
      { "a size that is not a number", function() split.holdout(ds, { test = "half" }) end,
        "holdout: test must be a fraction (a float in (0, 1)) or a count (an integer), got string" },
      { "stratified without shuffle", function() split.holdout(ds, { stratify = true, shuffle = false }) end,
        "holdout: a stratified holdout needs shuffle = true" },
      { "labels without stratify", function() split.holdout(ds, { labels = { 1, 1, 1, 2, 2, 2 } }) end,
        "holdout: labels are only used with stratify = true" },
      { "a class of one row", function() split.stratified_shuffle_split(5, 2, { labels = { 1, 1, 2, 2, 3 }, test = 2 }) end,
        "stratified_shuffle_split: labels: class 3 of 3 (in ascending order of label) has only 1 row; stratifying needs at least 2 per class" },
      { "a test set smaller than the classes", function() split.stratified_shuffle_split(ds, 2, { test = 2 }) end,
        "stratified_shuffle_split: test has 2 rows, fewer than the 3 classes" },
      { "group sizes past the groups", function() split.group_shuffle_split(ds, 2, { groups = { 1, 1, 2, 2, 3, 3 }, test = 3 }) end,
        "group_shuffle_split: test = 3 of 3 groups: a count must be 1..2" },
      { "leave_one_out of one row", function() split.leave_one_out(1) end, "leave_one_out: 1 samples: needs at least 2" },
      { "p >= n", function() split.leave_p_out(ds, 6) end, "leave_p_out: p = 6 must be less than the 6 samples" },
      { "too many combinations", function() split.leave_p_out(50, 10) end,
        "leave_p_out: p = 10 of 50 samples makes C(50, 10) folds, more than 1000000; use shuffle_split for random subsets" },
      { "one group to leave out", function() split.leave_one_group_out(ds, { groups = { 1, 1, 1, 1, 1, 1 } }) end,
        "leave_one_group_out: groups: 1 distinct group; needs at least 2" },
      { "too many time splits", function() split.time_series_split(ds, 6) end,
        "time_series_split: splits = 6 needs at least 7 samples, got 6" },
      { "no room to train", function() split.time_series_split(20, 4, { test = 4, gap = 4 }) end,
        "time_series_split: splits = 4 of test = 4 rows with gap = 4 leave no row to train on in 20 samples" },
      { "max_train of zero", function() split.time_series_split(20, 3, { max_train = 0 }) end,
        "time_series_split: max_train = 0: needs at least 1 row" },
      { "a fractional test fold", function() split.predefined_split { 1, 1.5, -1 } end,
        "predefined_split: test_fold entry 2 is 1.5, expected a whole fold number or -1" },
      { "a test fold of the wrong length", function() split.predefined_split(ds, { 1, 2 }) end,
        "predefined_split: test_fold has 2 entries for 6 samples" },
      { "nothing to test", function() split.predefined_split { -1, -1 } end,
        "predefined_split: test_fold: every entry is -1 (always train), so no fold tests anything" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function() assert.has_error(case[2], case[3]) end)
    end

    it("at the script's line", function()
      local ok, err = pcall(function() split.kfold(ds, 7) end)
      assert.is_false(ok)
      assert.truthy(err:find("split_spec.lua:%d+: kfold: k = 7", 1))
    end)
  end)

  describe("run:split", function()
    local results = ml.results
    before_each(function() results.reset() end)

    it("records fold lists, plain lists and holdouts, and rejects anything else", function()
      local r = results.run("cv")
      r:split("kfold", split.kfold(10, 2))
      r:split("hold", split.holdout(10, { val = 2, test = 2, seed = 1 }))
      r:split("mine", { { train = data.index { 1, 2 }, test = data.index { 3 } } })
      assert.are.same({ "kfold", "hold", "mine" }, r.split_order)
      assert.has_error(function() r:split("bad", { { train = { 1 }, test = data.index { 2 } } }) end,
        "run:split: fold 1: a fold must be {train = index set, test = index set [, val = index set]}")
      assert.has_error(function() r:split("a/b", split.kfold(4, 2)) end,
        "run:split: name must be a non-empty string without '/', got a/b")
      assert.has_error(function() r:split("none", {}) end, "run:split: 'none' has no folds")
    end)

    it("records each split's splitter, seed and parameters as attributes", function()
      local h = require "helpers"
      local d = h.tmpdir()
      local w = assert(ml.core.results.create(d .. "/a.h5"))
      results.run("cv")
        :split("shuffled", split.kfold(12, 3, { shuffle = true, seed = 42 }))
        :split("default_seed", split.stratified_shuffle_split(12, 2, { test = 4, labels = { 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1 } }))
        :split("plain", split.kfold(12, 4))
        :split("hold", split.holdout(12, { val = 0.25, test = 3, seed = 5, stratify = false }))
        :split("series", split.time_series_split(12, 3, { gap = 1, max_train = 5 }))
        :split("mine", { { train = data.index { 1, 2 }, test = data.index { 3 } } })
      results.write_runs(w)
      assert.is_true(w:commit())
      local f = assert(ml.core.rfile.open(d .. "/a.h5"))
      local g = "/runs/cv/splits/"
      assert.are.same({ folds = 3, kind = "kfold", samples = 12, seed = 42, k = 3, shuffle = 1 },
        f:attrs(g .. "shuffled"))
      assert.are.same({ folds = 2, kind = "stratified_shuffle_split", samples = 12,
        seed = ml.seed("split/stratified_shuffle_split"), splits = 2, test = 4 }, f:attrs(g .. "default_seed"))
      assert.are.same({ folds = 4, kind = "kfold", samples = 12, k = 4, shuffle = 0 }, f:attrs(g .. "plain"))
      assert.are.same({ folds = 1, kind = "holdout", samples = 12, seed = 5, val = 0.25, test = 3,
        shuffle = 1, stratify = 0 }, f:attrs(g .. "hold"))
      assert.are.same({ folds = 3, kind = "time_series_split", samples = 12, splits = 3, gap = 1,
        max_train = 5 }, f:attrs(g .. "series"))
      assert.are.same({ folds = 1 }, f:attrs(g .. "mine"))
      f:close()
      os.execute("rm -rf '" .. d .. "'")
    end)

    it("writes every fold through the result writer", function()
      local h = require "helpers"
      local d = h.tmpdir()
      local w = assert(ml.core.results.create(d .. "/s.h5"))
      results.run("cv"):split("kfold", split.kfold(10, 3)):split("hold", split.holdout(10, { val = 2 }))
      results.write_runs(w)
      w:int64("/plain", { 3, -1, 7 }) -- the writer underneath: lists as they are
      assert.has_error(function() w:int64("/plain", { 1 }) end,
        "results:int64: results: '/plain' already exists in '" .. d .. "/s.h5'")
      assert.has_error(function() w:int64("/bad", { 1, 2.5 }) end,
        "results:int64: entry 2 is 2.5, expected an integer")
      assert.has_error(function() w:int64("/bad", "rows") end,
        "results:int64: expected an index set or a list of integers, got string")
      assert.is_true(w:commit())
      assert.is_true(h.exists(d .. "/s.h5"))
      os.remove(d .. "/s.h5")
      os.remove(d)
    end)
  end)
end)
