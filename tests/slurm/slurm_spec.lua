-- A study through a real Slurm (tests/slurm/setup.sh: slurmctld, slurmd and munged on this
-- machine, one node with 2 CPUs): 6 trials submitted as one job array, one pending task and
-- one running task cancelled with scancel and slurmd restarted mid-run; `moonlab status` sees
-- the cancelled trials as lost and pending; the same command again submits only them (and that
-- whole array is cancelled too); then again, with a partition, an sbatch option and two
-- trials per task, and that task hits its time limit after its first trial; then once more
-- with --wait, which also submits the final evaluation; the study file, from --wait and from
-- `moonlab collect`, has 6/6 trials done with metrics bit-identical to a local -j 2 run.
-- Run by tests/slurm/run.sh (root only).
local h = require "helpers"
local core = require "moonlab.core"

-- Under Slurm, a trial waits while the file hold-<its id> exists (for its task to reach its
-- time limit in the middle of it).
local STUDY = [[
local ml = require "moonlab"
local cfg = ml.config{ epochs = 5000 }
local function held(id)
  if not os.getenv("SLURM_ARRAY_JOB_ID") then return false end
  local f = io.open("hold-" .. id)
  if f then f:close() end
  return f ~= nil
end
local ds = ml.data.synthetic.polynomial{ n = 2000, weights = {1.2, -3.4, 5.6}, bias = 5, noise = 0.5, seed = 7 }
local function fit(t, epochs, val)
  local m = ml.nn.sequential({ ml.nn.linear(3, t.params.width), ml.nn.tanh(),
    ml.nn.linear(t.params.width, 1) }, { seed = ml.seed("init") })
  return m:fit{ data = t.train, loss = "mse", optim = ml.optim.adam{ lr = 0.01 }, epochs = epochs,
    batch = 16, log = t.run, eval = val and { val = val } or nil, seed = ml.seed("order") }
end
ml.study {
  name = "toy",
  params = { width = {4, 8, 16} },
  data = ds,
  split = ml.split.kfold(ds, 2, { shuffle = true, seed = 3 }),
  trial = function(t)
    while held(t.id) do ml.core.proc.poll({}, 100) end
    local h = fit(t, cfg.epochs, t.val)
    return { val_loss = h[#h].val_loss, train_loss = h[#h].loss }
  end,
  final = function(t)
    local h = fit(t, 200)
    return { final_loss = h[#h].loss, width = t.params.width }
  end,
}
]]

local state   -- the test cluster's directory
local env     -- "SLURM_CONF=... " for every command
local work    -- the study's directory

local function sh(cmd)
  local p = io.popen(string.format("cd '%s' && %s%s 2>&1; echo \"rc=$?\"", work, env, cmd))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return rc, (out:gsub("rc=%d+%s*$", ""))
end

local function moonlab(args) return sh(string.format("'%s' %s", h.bin, args)) end

local function sleep(s) core.proc.poll({}, math.floor(s * 1000)) end

-- Wait (at most `limit` seconds) until f() returns something true; returns it.
local function until_true(limit, f)
  local t0 = core.clock()
  while core.clock() - t0 < limit do
    local v, w = f()
    if v then return v, w end
    sleep(0.1)
  end
  error("timed out after " .. limit .. " s")
end

local function in_queue(job)
  local _, out = sh("squeue --noheader --array --jobs=" .. job .. " --format=%i")
  return out:find("%d") ~= nil and not out:find("Invalid job id")
end

-- Per-trial metrics of a study file (%.17g), the final's metrics and the aggregates.
local function numbers(path)
  local f = assert(core.rfile.open(path))
  local by = {}
  for _, c in ipairs(assert(f:table("/study/summary"))) do by[c.name] = c.values end
  local out = { trials = {}, final = {}, agg = {} }
  for i, id in ipairs(by.trial) do
    out.trials[id] = { status = by.status[i], val_loss = string.format("%.17g", by.val_loss[i]),
      train_loss = string.format("%.17g", by.train_loss[i]) }
  end
  for _, c in ipairs(assert(f:table("/study/final/metrics"))) do
    out.final[c.name] = string.format("%.17g", c.values[1])
  end
  for _, c in ipairs(assert(f:table("/study/aggregates"))) do
    out.agg[c.name] = {}
    for i, v in ipairs(c.values) do out.agg[c.name][i] = string.format("%.17g", v) end
  end
  local attrs = assert(f:attrs("/"))
  f:close()
  return out, attrs
end

describe("a study under a real Slurm", function()
  local t_setup

  setup(function()
    state = h.tmpdir()
    local t0 = core.clock()
    local ok = os.execute(string.format("bash '%s/tests/slurm/setup.sh' '%s'", h.root, state))
    t_setup = core.clock() - t0
    assert(ok, "tests/slurm/setup.sh failed")
    print(string.format("\nslurm: one-node cluster up (node registered and idle) in %.2f s", t_setup))
    env = string.format("SLURM_CONF='%s/slurm.conf' ", state)
    work = h.tmpdir()
    h.write(work .. "/study.lua", STUDY)
  end)

  teardown(function()
    if state then
      -- the daemons' logs stay with the study, for a failure to be looked into
      os.execute(string.format("cp '%s'/*.log '%s/' 2>/dev/null", state, work or state))
      os.execute(string.format("bash '%s/tests/slurm/teardown.sh' '%s'", h.root, state))
    end
  end)

  it("runs 6 trials as a job array, survives scancel and a slurmd restart, and matches a local run", function()
    local t0 = core.clock()
    -- 1. submit: one array of 6 tasks, at most 2 at a time; returns at once
    local rc, out = moonlab("run study.lua --backend slurm --max-parallel 2 --cpus-per-task 1 --time 10 --mem 200M")
    assert.are.equal(0, rc, out)
    local job = out:match("submitted job (%d+): 6 trials in 6 array tasks")
    assert.truthy(job, out)
    assert.truthy(out:find("looks local to this machine (it is under /tmp", 1, true), out)
    assert.truthy(out:find("moonlab status results/toy.h5", 1, true), out)
    local sub = work .. "/results/toy/slurm/1"
    assert.are.equal(job, io.open(sub .. "/job_id"):read("l"))
    local script = io.open(sub .. "/job.sh"):read("a")
    assert.truthy(script:find("#SBATCH --array=0-5%2", 1, true), script)
    assert.truthy(script:find("#SBATCH --time=10\n", 1, true), script)
    assert.truthy(script:find("#SBATCH --mem=200M\n", 1, true), script)
    local map = {}
    for idx, id in io.open(sub .. "/tasks"):read("a"):gmatch("\n(%d) run (%x+)") do map[tonumber(idx)] = id end
    assert.are.equal(6, #map + (map[0] and 1 or 0))

    -- 2. cancel task 5 while it waits (%2), and a task whose trial is running
    rc, out = sh("scancel " .. job .. "_5")
    assert.are.equal(0, rc, out)
    local victim, pid = until_true(30, function()
      for idx = 0, 4 do
        local c = io.open(work .. "/results/toy/trials/" .. map[idx] .. ".claim")
        if c then
          local text = c:read("a")
          c:close()
          if text:find("slurm=" .. job .. "_" .. idx, 1, true) then return idx, tonumber(text:match("^%d+")) end
        end
      end
    end)
    rc, out = sh("scancel " .. job .. "_" .. victim)
    assert.are.equal(0, rc, out)
    -- its worker ends before slurmd goes down (a cancel that reaches a stopping slurmd is
    -- delivered only once it is back)
    until_true(20, function() return not core.proc.alive(pid) end)
    assert.falsy(h.exists(work .. "/results/toy/trials/" .. map[victim] .. ".h5"), "the trial finished before scancel")
    -- 3. restart slurmd while the other tasks run: their trials go on
    rc, out = sh(string.format("pid=$(cat '%s/slurmd.pid') && kill $pid && while kill -0 $pid 2>/dev/null; do sleep 0.05; done; /usr/sbin/slurmd -f '%s/slurm.conf'",
      state, state))
    assert.are.equal(0, rc, out)
    rc, out = moonlab("status results/toy")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("slurm job " .. job .. " (submission 1, 6 tasks)", 1, true), out)

    until_true(90, function() return not in_queue(job) end)
    local t_first = core.clock() - t0

    -- 4. status: 4 done; the cancelled running trial lost, the cancelled pending one pending
    rc, out = moonlab("status results/toy.h5")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("totals: 4 done, 0 failed, 0 running, 1 lost, 1 pending (0 queued in Slurm)", 1, true), out)
    assert.truthy(out:find(map[victim] .. "  lost ", 1, true), out)
    assert.truthy(out:find("CANCELLED AT", 1, true), out)
    assert.truthy(out:find(map[5] .. "  pending ", 1, true), out)
    assert.truthy(out:find("\nfinal +waiting "), out)

    -- 5. the same command again submits only those two; scancel of the whole array
    local t1 = core.clock()
    rc, out = moonlab("run study.lua --backend slurm --max-parallel 2 --cpus-per-task 1 --time 10 --mem 200M")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("trial " .. map[victim] .. " was lost", 1, true), out)
    local job2 = out:match("submitted job (%d+): 2 trials in 2 array tasks")
    assert.truthy(job2, out)
    until_true(30, function()
      for _, name in ipairs(h.ls(work .. "/results/toy/trials")) do
        if name:match("%.claim$") and io.open(work .. "/results/toy/trials/" .. name):read("a")
            :find("slurm=" .. job2 .. "_", 1, true) then return true end
      end
    end)
    rc, out = sh("scancel " .. job2)
    assert.are.equal(0, rc, out)
    until_true(60, function() return not in_queue(job2) end)
    rc, out = moonlab("status results/toy")
    local lost, pending = out:match("totals: 4 done, 0 failed, 0 running, (%d) lost, (%d) pending")
    assert.are.equal(2, tonumber(lost) + tonumber(pending), out)

    -- 6. the time limit. The same command with a partition, an sbatch option and two trials per
    -- task: both go to one task, the first finishes, the second waits (its hold file) until
    -- the task's time limit, cut to 0 with scontrol, stops it. slurmctld looks at time limits
    -- every 30 s (a --time 1 task here ended 86 s after it started, a limit cut to 0 on a
    -- running one 23 s later): the local run of step 7 fills that wait.
    local first, held = map[victim], map[5]
    h.write(work .. "/hold-" .. held, "")
    rc, out = moonlab("run study.lua --backend slurm --partition test --time 1 --trials-per-task 2 "
      .. "--sbatch-arg --comment=moonlab-time-limit --max-parallel 2 --cpus-per-task 1 --mem 200M")
    assert.are.equal(0, rc, out)
    local job3 = out:match("submitted job (%d+): 2 trials in 1 array task on partition test")
    assert.truthy(job3, out)
    local sub3 = work .. "/results/toy/slurm/3"
    assert.truthy(io.open(sub3 .. "/tasks"):read("a"):find("\n0 run " .. first .. "\n0 run " .. held .. "\n", 1, true))
    script = io.open(sub3 .. "/job.sh"):read("a")
    for _, line in ipairs({ "#SBATCH --partition=test\n", "#SBATCH --time=1\n", "#SBATCH --comment=moonlab-time-limit\n" }) do
      assert.truthy(script:find(line, 1, true), line .. " missing in\n" .. script)
    end
    -- Slurm took them: the task's partition, comment and time limit
    rc, out = sh("squeue --noheader --array --jobs=" .. job3 .. " --format='%i %P %k %l'")
    assert.truthy(out:find(job3 .. "_0 test moonlab-time-limit 1:00", 1, true), out)
    local trials = work .. "/results/toy/trials/"
    until_true(60, function()
      local c = io.open(trials .. held .. ".claim")
      local text = c and c:read("a")
      if c then c:close() end
      return text and text:find("slurm=" .. job3 .. "_0", 1, true) and h.exists(trials .. first .. ".h5")
    end)
    rc, out = sh("scontrol update JobId=" .. job3 .. "_0 TimeLimit=0")
    assert.are.equal(0, rc, out)
    local t_cut = core.clock()

    -- 7. meanwhile, the same study run locally with -j 2 (the held trial sleeps)
    rc, out = moonlab("run study.lua -j 2 --out local/toy.h5")
    assert.are.equal(0, rc, out)
    local t_local = core.clock() - t_cut
    local local_numbers = numbers(work .. "/local/toy.h5")

    until_true(60, function() return not in_queue(job3) end)
    local t_limit = core.clock() - t_cut
    rc, out = moonlab("status results/toy")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("totals: 5 done, 0 failed, 0 running, 1 lost, 0 pending", 1, true), out)
    assert.truthy(out:find(first .. "  done ", 1, true), out)
    assert.truthy(out:find(held .. "  lost .- task " .. job3 .. "_0 ended: JOB %d+ ON %S+ CANCELLED AT %S+ DUE TO TIME LIMIT\n"), out)
    assert.falsy(h.exists(trials .. held .. ".h5"), "a result was written for the trial the time limit stopped")
    local task_out = io.open(sub3 .. "/task-0.out"):read("a")
    assert.truthy(task_out:find("moonlab: task " .. job3 .. "_0 stopped by SIGTERM", 1, true), task_out)
    os.remove(work .. "/hold-" .. held)

    -- 8. and again, with --wait: that trial, then the final; the study file
    rc, out = moonlab("run study.lua --backend slurm --max-parallel 2 --cpus-per-task 1 --time 10 --mem 200M --wait")
    local t_second = core.clock() - t1
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("trial " .. held .. " was lost (task " .. job3 .. "_0 ended: JOB", 1, true), out)
    assert.truthy(out:find("submitted job %d+: 1 trial in 1 array task"), out)
    assert.truthy(out:find("submitted job %d+: the final evaluation in 1 array task"), out)
    assert.truthy(out:find("study toy: 7 done, 0 failed of 7", 1, true), out)
    assert.truthy(out:find("results: results/toy.h5", 1, true), out)
    for _, name in ipairs(h.ls(work .. "/results/toy/trials")) do
      assert.falsy(name:match("%.claim$"), "claim left: " .. name)
    end
    local slurm_numbers, attrs = numbers(work .. "/results/toy.h5")
    assert.are.equal(7, attrs.done)

    -- 9. nothing left: the same command submits nothing and collects again
    rc, out = moonlab("run study.lua --backend slurm --max-parallel 2")
    assert.are.equal(0, rc, out)
    assert.falsy(out:find("submitted job", 1, true), out)
    assert.falsy(h.exists(work .. "/results/toy/slurm/6"))

    -- 10. moonlab collect builds the study file anew from the trial files
    assert.truthy(os.remove(work .. "/results/toy.h5"))
    rc, out = moonlab("collect results/toy.h5")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("results: results/toy.h5", 1, true), out)
    local collected = numbers(work .. "/results/toy.h5")

    -- 11. bit-identical metrics: Slurm (--wait and collect) and the local -j 2 run
    local n = 0
    for id, r in pairs(local_numbers.trials) do
      n = n + 1
      assert.are.equal("done", slurm_numbers.trials[id].status)
      assert.are.same(r, slurm_numbers.trials[id])
      assert.are.same(r, collected.trials[id])
    end
    assert.are.equal(6, n)
    assert.are.same(local_numbers.final, slurm_numbers.final)
    assert.are.same(local_numbers.agg, slurm_numbers.agg)
    assert.are.same(local_numbers.final, collected.final)
    assert.are.same(local_numbers.agg, collected.agg)
    print(string.format("slurm: first submission until the array left the queue %.1f s; the "
      .. "resubmissions (one cancelled, one stopped by its time limit) and the final %.1f s, of "
      .. "which %.1f s from cutting the time limit to the task's end (the local run took %.1f s "
      .. "of it); whole test %.1f s", t_first, t_second, t_limit, t_local, core.clock() - t0))
  end)
end)
