-- A study whose results directory fills up, or turns read-only, in the middle of the run: the
-- runner starts no more trials and stops with one error naming the file and the cause; the
-- trials that finished stay as they are; nothing half-written is left; and the same command,
-- once there is room again, completes with the metrics of an uninterrupted run. The file
-- systems are tmpfs mounts made here, so this needs root: run by tests/storage/run.sh, which
-- skips it otherwise and unmounts whatever a failure leaves mounted.
local h = require "helpers"
local core = require "moonlab.core"

-- Under the sanitizer build busted runs with the ASan runtime preloaded; mount and the other
-- shell tools must not inherit it.
local NO_PRELOAD = "unset LD_PRELOAD; "
local base = assert(os.getenv("MOONLAB_STORAGE_DIR"), "run through tests/storage/run.sh")

-- 20 fast trials (5 settings x 2 seeds x 2 folds) + final. Trials of width 16 and 32 (the last
-- 8, trials run setting by setting) wait until the file MOONLAB_TEST_GATE exists, so that the
-- directory can be made read-only at a known point: 12 trials finished, the next ones running.
-- An environment variable rather than a --set, which would change the trial ids.
local STUDY = [[
local ml = require "moonlab"
local gate = os.getenv("MOONLAB_TEST_GATE")
local function closed()
  local f = gate and io.open(gate)
  if f then f:close() end
  return gate and not f
end
local ds = ml.data.synthetic.polynomial{ n = 1000, weights = {1.2, -3.4, 5.6}, bias = 5, noise = 0.5, seed = 7 }
ml.study {
  name = "toy",
  params = { width = {2, 4, 8, 16, 32} },
  seeds = 2,
  data = ds,
  split = ml.split.kfold(ds, 2, { shuffle = true, seed = 3 }),
  trial = function(t)
    while t.params.width >= 16 and closed() do ml.core.proc.poll({}, 20) end
    local m = ml.nn.sequential({ ml.nn.linear(3, t.params.width), ml.nn.tanh(),
      ml.nn.linear(t.params.width, 1) }, { seed = ml.seed("init") })
    local h = m:fit{ data = t.train, loss = "mse", optim = ml.optim.adam{ lr = 0.01 },
      epochs = 50, batch = 16, log = t.run, eval = { val = t.val }, seed = ml.seed("order") }
    return { val_loss = h[#h].val_loss, train_loss = h[#h].loss }
  end,
  final = function(t)
    return { chosen_width = t.params.width }
  end,
}
]]
local NTRIALS, BEFORE_GATE = 20, 12
local RUN = "run study.lua -j 2 --out out/toy.h5"

local function sh(cmd)
  local ok, how, code = os.execute(NO_PRELOAD .. cmd)
  assert(ok, string.format("'%s' failed (%s %s)", cmd, how, code))
end

local function workdir(name)
  local d = base .. "/" .. name
  sh("mkdir -p '" .. d .. "'")
  h.write(d .. "/study.lua", STUDY)
  return d
end

local function mount_tmpfs(dir, kib)
  sh(string.format("mkdir -p '%s' && mount -t tmpfs -o size=%dk moonlab-test '%s'", dir, kib, dir))
end

local function unmount(dir)
  os.execute(NO_PRELOAD .. "umount -l '" .. dir .. "' 2>/dev/null")
end

local gate = assert(os.getenv("MOONLAB_TEST_GATE"), "run through tests/storage/run.sh")
local function open_gate() h.write(gate, "") end
local function close_gate() os.remove(gate) end

local function sleep_ms(ms) core.proc.poll({}, ms) end

-- Names of the trial files (<id>.h5) in a study directory.
local function trial_files(dir)
  local out = {}
  for _, name in ipairs(h.ls(dir .. "/trials")) do
    if name:match("^%x+%.h5$") then out[#out + 1] = name end
  end
  return out
end

-- Files that a write left half-done (".<name>.tmp-<pid>") anywhere under dir.
local function leftovers(dir)
  local out = {}
  local p = io.popen("find '" .. dir .. "' -name '.*.tmp-*' 2>/dev/null")
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local function fmt(v)
  return type(v) == "number" and string.format("%.17g", v) or tostring(v)
end

-- What a trial file holds: its status and error, and every value of its metrics and history
-- (numbers as %.17g) but the epochs' wall times.
local function trial_content(path)
  local f = assert(core.rfile.open(path))
  local a = assert(f:attrs("/"))
  local out = { status = a.status, error = a.error }
  for _, tname in ipairs({ "metrics", "history" }) do
    local t = {}
    for _, c in ipairs(assert(f:table("/runs/trial/" .. tname))) do
      if c.name ~= "seconds" then
        local vals = {}
        for i, v in ipairs(c.values) do vals[i] = fmt(v) end
        t[c.name] = vals
      end
    end
    out[tname] = t
  end
  f:close()
  return out
end

-- The study file's summary rows by trial id, and the final evaluation's metrics.
local function study_content(path)
  local f = assert(core.rfile.open(path))
  local by = {}
  for _, c in ipairs(assert(f:table("/study/summary"))) do by[c.name] = c.values end
  local rows = {}
  for i, id in ipairs(by.trial) do
    rows[id] = { status = by.status[i], val_loss = fmt(by.val_loss[i]), train_loss = fmt(by.train_loss[i]) }
  end
  local final = {}
  for _, c in ipairs(assert(f:table("/study/final/metrics"))) do final[c.name] = fmt(c.values[1]) end
  local a = assert(f:attrs("/"))
  f:close()
  return { rows = rows, final = final, done = a.done, failed = a.failed }
end

local function count(s, pattern)
  local _, n = s:gsub(pattern, "")
  return n
end

-- The error of a run stopped by its storage: one message, naming a file of the study and the
-- cause, and how to go on; no FAILED trial, no HDF5 error stack.
local function assert_one_storage_error(out, err, cause, finished)
  assert.are.equal(1, count(err, cause), err)
  assert.truthy(err:find("'out/toy/trials/%x+%.%w+': [^\n]*" .. cause), err)
  assert.truthy(err:find(string.format("stopped with %d of %d trials finished", finished, NTRIALS + 1), 1, true), err)
  assert.truthy(err:find("run the same command again to resume", 1, true), err)
  assert.are.equal(2, count(err, "\n"), err)
  assert.falsy(err:find("HDF5", 1, true) or err:find("errno", 1, true), err)
  assert.falsy(out:find("FAILED", 1, true), out)
end

describe("a study on storage that fails mid-run", function()
  local ref -- the trial directory of an uninterrupted run on an ordinary disk
  local reference -- its study file's content

  setup(function()
    open_gate()
    local d = workdir("reference")
    local code, out, err = h.moonlab(RUN, d)
    assert(code == 0, out .. err)
    ref = d .. "/out/toy"
    reference = study_content(d .. "/out/toy.h5")
    assert(#trial_files(ref) == NTRIALS + 1 and reference.done == NTRIALS + 1)
  end)

  it("stops at a full disk with one error, keeps the finished trials, and resumes once there is room", function()
    local d = workdir("full")
    local out_dir = d .. "/out"
    finally(function() unmount(out_dir) end)
    -- half of what the study's trial directory takes: the disk fills about half-way through
    local p = io.popen(NO_PRELOAD .. "du -sk '" .. ref .. "'")
    local kib = math.tointeger(tonumber(p:read("a"):match("^(%d+)")))
    p:close()
    mount_tmpfs(out_dir, kib // 2)

    local code, out, err = h.moonlab(RUN, d)
    assert.are.equal(1, code, out .. err)
    local kept = trial_files(out_dir .. "/toy")
    assert.truthy(#kept > 0 and #kept < NTRIALS, "trials finished before the disk was full: " .. #kept)
    assert_one_storage_error(out, err, "No space left on device", #kept)
    -- what finished is intact: the same values as the uninterrupted run
    for _, name in ipairs(kept) do
      assert.are.same(trial_content(ref .. "/trials/" .. name), trial_content(out_dir .. "/toy/trials/" .. name))
    end
    assert.are.same({}, leftovers(out_dir))
    assert.falsy(h.exists(out_dir .. "/toy.h5"))

    -- room again: the same command does the rest
    sh(string.format("mount -o remount,size=%dk '%s'", kib * 4, out_dir))
    code, out, err = h.moonlab(RUN, d)
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find(string.format("resuming: %d finished before", #kept), 1, true), out)
    assert.are.same(reference, study_content(out_dir .. "/toy.h5"))
    assert.are.same({}, leftovers(out_dir))

    -- moonlab collect on the full disk: one error, and the study file stays as it was
    local before = h.read(out_dir .. "/toy.h5")
    os.execute(NO_PRELOAD .. "dd if=/dev/zero of='" .. out_dir .. "/filler' bs=4k 2>/dev/null")
    code, out, err = h.moonlab("collect out/toy.h5", d)
    assert.are.equal(1, code, out .. err)
    assert.are.equal(1, count(err, "No space left on device"), err)
    assert.truthy(err:find("'out/toy.h5': No space left on device", 1, true), err)
    assert.truthy(err:find("run the same command again", 1, true), err)
    assert.falsy(err:find("HDF5", 1, true) or err:find("errno", 1, true), err)
    assert.are.equal(before, h.read(out_dir .. "/toy.h5"))
    assert.are.same({}, leftovers(out_dir))
  end)

  it("stops when the results directory turns read-only, keeps the finished trials, and resumes", function()
    local d = workdir("readonly")
    local rw, ro = d .. "/rw", d .. "/ro"
    local pid_file = d .. "/run.pid"
    finally(function()
      local f = io.open(pid_file)
      local pid = f and f:read("n")
      if f then f:close() end
      if pid and core.proc.alive(pid) then core.proc.kill(pid, "KILL") end
      open_gate()
      unmount(ro)
      unmount(rw)
    end)
    -- out -> rw (a tmpfs) while the study runs; then out -> ro, a read-only bind mount of the
    -- same file system. (Remounting the tmpfs itself read-only is refused while the workers hold
    -- their logs open for writing.)
    mount_tmpfs(rw, 16384)
    sh(string.format("mkdir -p '%s' && mount --bind '%s' '%s' && mount -o remount,bind,ro '%s'", ro, rw, ro, ro))
    sh(string.format("cd '%s' && ln -s rw out", d))
    close_gate()
    sh(string.format("cd '%s' && ('%s' %s >run.out 2>run.err & echo $! >'%s'; wait $!; echo $? >run.rc) &",
      d, h.bin, RUN, pid_file))
    -- wait until the trials before the gate are done (the next ones wait at the gate)
    local waited = 0
    while #trial_files(rw .. "/toy") < BEFORE_GATE and waited < 120000 do
      sleep_ms(50)
      waited = waited + 50
    end
    assert.are.equal(BEFORE_GATE, #trial_files(rw .. "/toy"))
    sh(string.format("cd '%s' && ln -s ro out.new && mv -T out.new out", d))
    open_gate()
    waited = 0
    while not h.exists(d .. "/run.rc") and waited < 120000 do
      sleep_ms(50)
      waited = waited + 50
    end
    local f = assert(io.open(d .. "/run.rc"))
    local code = f:read("n")
    f:close()
    local out, err = h.read(d .. "/run.out"), h.read(d .. "/run.err")
    assert.are.equal(1, code, out .. err)
    assert_one_storage_error(out, err, "Read%-only file system", BEFORE_GATE)
    local kept = trial_files(rw .. "/toy")
    assert.are.equal(BEFORE_GATE, #kept)
    for _, name in ipairs(kept) do
      assert.are.same(trial_content(ref .. "/trials/" .. name), trial_content(rw .. "/toy/trials/" .. name))
    end
    assert.are.same({}, leftovers(rw))

    -- writable again: the same command does the rest
    sh(string.format("cd '%s' && ln -s rw out.new && mv -T out.new out", d))
    local code2, out2, err2 = h.moonlab(RUN, d)
    assert.are.equal(0, code2, out2 .. err2)
    assert.truthy(out2:find(string.format("resuming: %d finished before", BEFORE_GATE), 1, true), out2)
    assert.are.same(reference, study_content(rw .. "/toy.h5"))
    assert.are.same({}, leftovers(rw))
  end)
end)
