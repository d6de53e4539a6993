-- The Slurm backend without a Slurm: the options, what a submission writes, the batch script
-- run by hand as Slurm would run an array task, crashes recorded as failures, and how
-- `moonlab status` tells running from lost trials. sbatch and squeue are stand-ins on PATH
-- here (a script that prints a job id; one that prints what the test sets); the real thing is
-- tests/slurm/slurm_spec.lua.
local h = require "helpers"
local core = require "moonlab.core"
local slurm = require "moonlab.slurm"

-- A trial waits while the file "hold" exists (for a test to stop its worker in the middle).
local STUDY = [[
local ml = require "moonlab"
local cfg = ml.config{ epochs = 20, crash = false }
local ds = ml.data.synthetic.polynomial{ n = 400, weights = {1.2, -3.4, 5.6}, bias = 5, noise = 0.5, seed = 7 }
local function held()
  local f = io.open("hold")
  if f then f:close() end
  return f ~= nil
end
ml.study {
  name = "toy",
  params = { width = {4, 8, 16} },
  data = ds,
  split = ml.split.kfold(ds, 2, { shuffle = true, seed = 3 }),
  trial = function(t)
    while held() do ml.core.proc.poll({}, 20) end
    if cfg.crash and t.params.width == 8 and t.fold == 1 then ml.core.proc.kill(ml.core.pid(), "SEGV") end
    local m = ml.nn.sequential({ ml.nn.linear(3, t.params.width), ml.nn.tanh(),
      ml.nn.linear(t.params.width, 1) }, { seed = ml.seed("init") })
    local h = m:fit{ data = t.train, loss = "mse", optim = ml.optim.adam{ lr = 0.01 },
      epochs = cfg.epochs, batch = 16, log = t.run, eval = { val = t.val }, seed = ml.seed("order") }
    return { val_loss = h[#h].val_loss }
  end,
  final = function(t) return { width = t.params.width } end,
}
]]

local FAKE_SBATCH = [[
#!/bin/sh
d=$(dirname "$0")
n=$(cat "$d/next" 2>/dev/null || echo 4242)
echo $((n + 1)) > "$d/next"
echo "$@" >> "$d/sbatch.args"
if [ -f "$d/sbatch.fail" ]; then cat "$d/sbatch.fail"; exit 1; fi
echo "$n"
]]

local FAKE_SQUEUE = [[
#!/bin/sh
d=$(dirname "$0")
cat "$d/queue" 2>/dev/null
exit $(cat "$d/queue.rc" 2>/dev/null || echo 0)
]]

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- A study directory with stand-ins for sbatch and squeue in bin/.
local function setup(text)
  local d = h.tmpdir()
  h.write(d .. "/study.lua", text or STUDY)
  os.execute(string.format("mkdir -p '%s/bin'", d))
  h.write(d .. "/bin/sbatch", FAKE_SBATCH)
  h.write(d .. "/bin/squeue", FAKE_SQUEUE)
  os.execute(string.format("chmod +x '%s/bin/sbatch' '%s/bin/squeue'", d, d))
  return d
end

-- Run a shell command line in d with bin/ first on PATH: exit code, output (stdout, stderr).
local function sh(d, cmd)
  local p = io.popen(string.format("cd '%s' && PATH=\"%s/bin:$PATH\" %s >.out 2>.err; echo $?", d, d, cmd))
  local code = tonumber(p:read("l"))
  p:close()
  return code, read(d .. "/.out"), read(d .. "/.err")
end

local function moonlab(d, args) return sh(d, string.format("'%s' %s", h.bin, args)) end

local function queue(d, text, rc)
  h.write(d .. "/bin/queue", text)
  h.write(d .. "/bin/queue.rc", tostring(rc or 0))
end

-- Run array task i of submission n by hand, as Slurm would.
local function run_task(d, n, i, job)
  return sh(d, string.format("SLURM_ARRAY_JOB_ID=%s SLURM_ARRAY_TASK_ID=%d bash results/toy/slurm/%d/job.sh",
    job, i, n))
end

local function totals(out) return out:match("totals: ([^\n]*)") end

describe("moonlab run --backend slurm", function()
  it("rejects Slurm options without the backend, and bad values, naming them", function()
    local d = setup()
    local cases = {
      { "--partition gpu", "--partition is an option of --backend slurm" },
      { "--wait", "--wait is an option of --backend slurm" },
      { "--backend pbs", "--backend pbs: expected local or slurm" },
      { "--backend slurm -j 2", "-j is for the local backend" },
      { "--backend slurm --max-parallel 0", "--max-parallel 0: expected a positive integer" },
      { "--backend slurm --trials-per-task x", "--trials-per-task x: expected a positive integer" },
      { "--backend slurm --time soon", "--time soon: expected a Slurm time limit" },
      { "--backend slurm --mem lots", "--mem lots: expected a memory size" },
      { "--backend slurm --partition 'a b'", "--partition a b: expected a partition name" },
      { "--backend slurm --sbatch-arg account=x", "--sbatch-arg account=x: expected an sbatch option" },
    }
    for _, c in ipairs(cases) do
      local code, _, err = moonlab(d, "run study.lua " .. c[1])
      assert.are.equal(2, code, c[1])
      assert.truthy(err:find(c[2], 1, true), c[1] .. ": " .. err)
    end
    h.write(d .. "/plain.lua", "print('not a study')\n")
    local code, _, err = moonlab(d, "run plain.lua --backend slurm")
    assert.are.equal(1, code)
    assert.truthy(err:find("--backend slurm are for scripts that declare a study", 1, true), err)
    assert.falsy(read(d .. "/bin/sbatch.args"), "sbatch was called")
  end)

  it("submits the trials as one array and records the script, the task map and the job id", function()
    local d = setup()
    local code, out, err = moonlab(d, "run study.lua --backend slurm --partition short --time 1:30:00 "
      .. "--cpus-per-task 2 --mem 1G --max-parallel 2 --trials-per-task 2 --sbatch-arg --account=proj "
      .. "--sbatch-arg --constraint=fast --set epochs=5")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("submitted job 4242: 6 trials in 3 array tasks (2 trials each, at most 2 at a "
      .. "time) on partition short", 1, true), out)
    assert.truthy(out:find("follow it: moonlab status results/toy.h5", 1, true), out)
    assert.truthy(out:find("the final evaluation runs after selection", 1, true), out)
    -- the spec's directory is under /tmp: the warning says the nodes may not see it
    assert.truthy(err:find("looks local to this machine (it is under /tmp", 1, true), err)
    local sub = d .. "/results/toy/slurm/1/"
    assert.are.equal("4242\n", read(sub .. "job_id"))
    local script = read(sub .. "job.sh")
    for _, line in ipairs({ "#SBATCH --array=0-2%2", "#SBATCH --partition=short", "#SBATCH --time=1:30:00",
      "#SBATCH --cpus-per-task=2", "#SBATCH --mem=1G", "#SBATCH --account=proj",
      "#SBATCH --constraint=fast", "#SBATCH --output=" .. d .. "/results/toy/slurm/1/task-%a.out",
      "#SBATCH --chdir=" .. d, "--threads 2", "--set 'epochs=5'", "for attempt in $(seq 2)" }) do
      assert.truthy(script:find(line, 1, true), line .. " missing in\n" .. script)
    end
    -- two trials per array index, in the manifest's order
    local idx = {}
    for i in read(sub .. "tasks"):gmatch("\n(%d) run %x+") do idx[#idx + 1] = tonumber(i) end
    assert.are.same({ 0, 0, 1, 1, 2, 2 }, idx)
    assert.truthy(read(d .. "/bin/sbatch.args"):find("--parsable", 1, true))
  end)

  it("runs the array tasks' trials, then submits the final evaluation and collects", function()
    local d = setup()
    assert.are.equal(0, (moonlab(d, "run study.lua --backend slurm --trials-per-task 4")))
    -- Slurm would run the two tasks; here they run by hand
    for i = 0, 1 do
      local code, out, err = run_task(d, 1, i, 4242)
      assert.are.equal(0, code, out .. err)
      assert.truthy(out:find("moonlab: task 4242_" .. i .. " ended with status 0", 1, true), out)
    end
    queue(d, "slurm_load_jobs error: Invalid job id specified\n", 1) -- the job is purged
    local code, out = moonlab(d, "status results/toy")
    assert.are.equal(0, code)
    assert.are.equal("6 done, 0 failed, 0 running, 0 lost, 1 pending (0 queued in Slurm)", totals(out))
    assert.truthy(out:find("\nfinal +pending "), out)
    -- the same command: the final evaluation alone
    code, out = moonlab(d, "run study.lua --backend slurm --trials-per-task 4")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("submitted job 4243: the final evaluation in 1 array task", 1, true), out)
    code, out = run_task(d, 2, 0, 4243)
    assert.are.equal(0, code, out)
    -- and again: nothing to submit, the study file is assembled
    code, out = moonlab(d, "run study.lua --backend slurm --trials-per-task 4")
    assert.are.equal(0, code, out)
    assert.falsy(out:find("submitted", 1, true), out)
    assert.truthy(out:find("study toy: 7 done, 0 failed of 7", 1, true), out)
    local f = assert(core.rfile.open(d .. "/results/toy.h5"))
    assert.are.equal(7, f:attrs("/").done)
    f:close()
  end)

  it("records a trial whose worker crashes as failed and runs the task's other trials", function()
    local d = setup()
    assert.are.equal(0, (moonlab(d, "run study.lua --backend slurm --trials-per-task 2 --set crash=true")))
    local code, out = run_task(d, 1, 1, 4242) -- width 8: fold 1 crashes, fold 2 runs
    -- (under AddressSanitizer the segfault is reported and the worker exits with status 1)
    local why = out:match("failed: (worker killed by signal 11 %(SIGSEGV%))")
      or out:match("failed: (worker exited with status 1)")
    assert.truthy(why, out)
    assert.are.equal(why:find("signal") and 139 or 1, code, out)
    queue(d, "", 0) -- job 4242 is known and has no task in the queue
    code, out = moonlab(d, "status results/toy")
    assert.are.equal("1 done, 1 failed, 0 running, 0 lost, 4 pending (0 queued in Slurm)", totals(out))
    assert.truthy(out:find("failed +1 +1 +4242_1 +width=8 +" .. why:gsub("%p", "%%%0")), out)
    -- a task whose script fails before any trial records nothing and leaves its trials pending
    h.write(d .. "/study.lua", "error('no data on this node')\n")
    local err
    code, out, err = run_task(d, 1, 2, 4242)
    assert.are.equal(1, code, out)
    assert.truthy(err:find("study.lua:1: no data on this node", 1, true), err)
    h.write(d .. "/study.lua", STUDY)
    code, out = moonlab(d, "status results/toy")
    assert.are.equal("1 done, 1 failed, 0 running, 0 lost, 4 pending (0 queued in Slurm)", totals(out))
  end)

  it("defers the final evaluation while a selection trial has failed", function()
    local d = setup()
    assert.are.equal(0, (moonlab(d, "run study.lua --backend slurm --trials-per-task 3 --set crash=true")))
    for i = 0, 1 do run_task(d, 1, i, 4242) end -- width 8, fold 1 crashes; the rest are done
    queue(d, "", 0)
    local code, out = moonlab(d, "status results/toy")
    assert.are.equal("5 done, 1 failed, 0 running, 0 lost, 0 pending (0 queued in Slurm)", totals(out))
    assert.truthy(out:find("\nfinal +deferred .-1 trial failed; the same command runs it again"), out)
    -- the same command submits the failed trial again, not the final evaluation
    code, out = moonlab(d, "run study.lua --backend slurm --trials-per-task 3 --set crash=true")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("submitted job 4243: 1 trial in 1 array task", 1, true), out)
    assert.falsy(read(d .. "/results/toy/slurm/2/tasks"):find("final", 1, true))
  end)

  it("leaves a trial Slurm stops lost, not failed, and submits failed trials again", function()
    local d = setup()
    assert.are.equal(0, (moonlab(d, "run study.lua --backend slurm --trials-per-task 2")))
    local ids = {}
    for id in read(d .. "/results/toy/slurm/1/tasks"):gmatch("run (%x+)") do ids[#ids + 1] = id end
    local trials = d .. "/results/toy/trials/"
    h.write(d .. "/hold", "")
    -- Start array task i of job 4242 by hand in a process group of its own (as slurmstepd
    -- does), its output appended to task-<i>.out, and wait until its worker holds its first
    -- trial (held there; a claim a killed worker left does not count). Returns the script's pid, the worker's pid and a handle whose
    -- output is "rc=<the script's exit status>" once the script has ended.
    local function start(i)
      local p = io.popen(string.format("cd '%s' && PATH=\"%s/bin:$PATH\" SLURM_ARRAY_JOB_ID=4242 "
        .. "SLURM_ARRAY_TASK_ID=%d sh -c 'echo $$; exec setsid bash results/toy/slurm/1/job.sh "
        .. ">>results/toy/slurm/1/task-%d.out 2>&1'; echo rc=$?", d, d, i, i))
      local pid = tonumber(p:read("l"))
      local t0 = core.clock()
      while core.clock() - t0 < 20 do
        local text = read(trials .. ids[2 * i + 1] .. ".claim")
        local worker = text and tonumber(text:match("^(%d+) "))
        if worker and core.proc.alive(worker) then return pid, worker, p end
        core.proc.poll({}, 20)
      end
      error("task " .. i .. " claimed no trial")
    end
    local function ended(p)
      local rc = p:read("a"):match("rc=(%d+)")
      p:close()
      return tonumber(rc)
    end
    local function task_out(i) return read(string.format("%s/results/toy/slurm/1/task-%d.out", d, i)) or "" end

    -- task 0: SIGTERM to the worker alone; the script lives on and asks --crashed
    local _, worker, p = start(0)
    core.proc.kill(worker, "TERM")
    assert.are.equal(143, ended(p))
    assert.truthy(task_out(0):find("moonlab: trial " .. ids[1] .. " stopped by SIGTERM, not failed", 1, true), task_out(0))
    assert.falsy(h.exists(trials .. ids[1] .. ".h5"), "a result was written for a stopped trial")
    assert.truthy(h.exists(trials .. ids[1] .. ".claim"))
    -- task 1: SIGTERM to the whole task, as Slurm sends it at the time limit, after
    -- slurmstepd has written why into the task's output
    local pid
    pid, _, p = start(1)
    h.write(d .. "/results/toy/slurm/1/task-1.out", task_out(1) .. "slurmstepd: error: *** JOB 4244 ON "
      .. "node1 CANCELLED AT 2026-01-01T00:00:00 DUE TO TIME LIMIT ***\n")
    core.proc.kill(pid, "TERM", true)
    assert.are.equal(143, ended(p))
    assert.truthy(task_out(1):find("moonlab: task 4242_1 stopped by SIGTERM; any trial it had not "
      .. "finished is left for the next submission", 1, true), task_out(1))
    assert.falsy(task_out(1):find("--crashed", 1, true) or task_out(1):find("failed", 1, true), task_out(1))
    assert.falsy(h.exists(trials .. ids[3] .. ".h5"))
    -- task 2: SIGKILL to the worker while Slurm ends the task: stopped, not failed
    queue(d, "4242_2 COMPLETING\n", 0)
    _, worker, p = start(2)
    core.proc.kill(worker, "KILL")
    assert.are.equal(137, ended(p))
    assert.truthy(task_out(2):find("moonlab: trial " .. ids[5] .. " killed by signal 9 (SIGKILL) while "
      .. "Slurm ends task 4242_2 (COMPLETING), not failed", 1, true), task_out(2))
    assert.falsy(h.exists(trials .. ids[5] .. ".h5"))
    -- ... and while Slurm runs it (the out-of-memory killer): a failure, and the task goes on
    queue(d, "4242_2 RUNNING\n", 0)
    _, worker, p = start(2)
    core.proc.kill(worker, "KILL")
    os.remove(d .. "/hold")
    assert.are.equal(137, ended(p), task_out(2))
    assert.truthy(task_out(2):find("moonlab: trial " .. ids[5] .. " failed: worker killed by signal 9 (SIGKILL)", 1, true), task_out(2))
    assert.truthy(h.exists(trials .. ids[6] .. ".h5"))

    queue(d, "", 0) -- job 4242 is known and has no task in the queue
    local code, out = moonlab(d, "status results/toy")
    assert.are.equal(0, code)
    assert.are.equal("1 done, 1 failed, 0 running, 2 lost, 2 pending (0 queued in Slurm)", totals(out))
    assert.truthy(out:find(ids[1] .. "  lost ", 1, true), out)
    assert.truthy(out:find(ids[3] .. "  lost .- task 4242_1 ended: JOB 4244 ON node1 CANCELLED AT "
      .. "2026%-01%-01T00:00:00 DUE TO TIME LIMIT\n"), out)
    assert.truthy(out:find(ids[5] .. "  failed .- worker killed by signal 9 %(SIGKILL%)"), out)
    -- the same command again: everything not done, the failed trial too (no --retry-failed)
    code, out = moonlab(d, "run study.lua --backend slurm --trials-per-task 2")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("trial " .. ids[5] .. " failed before (worker killed by signal 9 (SIGKILL)); "
      .. "it runs again", 1, true), out)
    assert.truthy(out:find("trial " .. ids[3] .. " was lost (task 4242_1 ended: JOB 4244", 1, true), out)
    assert.truthy(out:find("submitted job 4243: 5 trials in 3 array tasks", 1, true), out)
    assert.falsy(h.exists(trials .. ids[5] .. ".h5"))
    local map = read(d .. "/results/toy/slurm/2/tasks")
    for k = 1, 5 do assert.truthy(map:find("run " .. ids[k], 1, true), ids[k] .. " not in\n" .. map) end
  end)

  it("tells running from lost claims: Slurm's queue, the process, the heartbeat", function()
    local d = setup()
    assert.are.equal(0, (moonlab(d, "run study.lua --backend slurm")))
    local ids = {}
    for id in read(d .. "/results/toy/slurm/1/tasks"):gmatch("run (%x+)") do ids[#ids + 1] = id end
    local trials = d .. "/results/toy/trials/"
    local host = core.hostname()
    -- a live process on this host (the claim's pid) that Slurm says runs task 4242_0
    local p = io.popen("sleep 30 & echo $!")
    local live = tonumber(p:read("l"))
    p:close()
    h.write(trials .. ids[1] .. ".claim", string.format("%d %s 0 token=%s slurm=4242_0\n", live, host,
      assert(core.proc.token(live))))
    -- task 4242_1 is gone from the queue; its process on another node is too
    h.write(trials .. ids[2] .. ".claim", "123 node7 0 slurm=4242_1\n")
    -- task 4242_2 runs on another node
    h.write(trials .. ids[3] .. ".claim", "123 node7 0 slurm=4242_2\n")
    -- no Slurm task: another host's heartbeat, old and fresh
    h.write(trials .. ids[4] .. ".claim", "123 node8 0\n")
    os.execute("touch -d '30 minutes ago' '" .. trials .. ids[4] .. ".claim'")
    h.write(trials .. ids[5] .. ".claim", "123 node8 0\n")
    queue(d, "4242_0 RUNNING\n4242_2 RUNNING\n4242_5 PENDING\n", 0)
    local code, out = moonlab(d, "status results/toy.h5")
    assert.are.equal(0, code)
    assert.are.equal("0 done, 0 failed, 3 running, 2 lost, 1 pending (1 queued in Slurm)", totals(out))
    assert.truthy(out:find(ids[2] .. "  lost .-no longer in Slurm's queue"), out)
    assert.truthy(out:find(ids[4] .. "  lost .-no heartbeat from node8 for 30 min"), out)
    assert.truthy(out:find(ids[6] .. "  pending  1 +2 +4242_5 pending"), out)
    assert.truthy(out:find("slurm job 4242 (submission 1, 6 tasks): 1 pending, 2 running", 1, true), out)
    -- submitting again: the lost trials go to a new array, the running and queued ones do not
    code, out = moonlab(d, "run study.lua --backend slurm")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("submitted job 4243: 2 trials in 2 array tasks", 1, true), out)
    assert.falsy(h.exists(trials .. ids[2] .. ".claim"))
    assert.truthy(h.exists(trials .. ids[1] .. ".claim"))
    local map = read(d .. "/results/toy/slurm/2/tasks")
    assert.truthy(map:find("0 run " .. ids[2], 1, true) and map:find("1 run " .. ids[4], 1, true), map)
    os.execute("kill " .. live)
    -- a controller that does not answer: status says so; nothing is submitted
    queue(d, "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n", 1)
    code, out = moonlab(d, "status results/toy")
    assert.are.equal(0, code)
    assert.truthy(out:find("slurm: squeue: slurm_load_jobs error: Unable to contact slurm controller", 1, true), out)
    local err
    code, out, err = moonlab(d, "run study.lua --backend slurm")
    assert.are.equal(1, code, out)
    assert.truthy(err:find("cannot tell whether Slurm still holds trial", 1, true), err)
    assert.falsy(h.exists(d .. "/results/toy/slurm/3"))
  end)

  it("reports sbatch's refusal and keeps no submission", function()
    local d = setup()
    h.write(d .. "/bin/sbatch.fail", "sbatch: error: invalid partition specified: nope\n")
    local code, _, err = moonlab(d, "run study.lua --backend slurm --partition nope")
    assert.are.equal(1, code)
    assert.truthy(err:find("moonlab: sbatch: error: invalid partition specified: nope", 1, true), err)
    assert.are.same({}, slurm.submissions(d .. "/results/toy"))
  end)
end)

describe("moonlab status", function()
  it("shows a local run's trials from the files alone", function()
    local d = setup()
    assert.are.equal(0, (h.moonlab("run study.lua -j 2", d)))
    local code, out = moonlab(d, "status results/toy.h5")
    assert.are.equal(0, code)
    assert.truthy(out:find("study toy (results/toy): 6 trials + final", 1, true), out)
    assert.are.equal("7 done, 0 failed, 0 running, 0 lost, 0 pending", totals(out))
    assert.falsy(out:find("slurm", 1, true), out)
    assert.truthy(out:find("\nfinal +done .-width=16"), out)
    -- a dead worker's claim on this host: lost
    local id = out:match("\n(%x+) +done")
    os.remove(d .. "/results/toy/trials/" .. id .. ".h5")
    h.write(d .. "/results/toy/trials/" .. id .. ".claim", string.format("%d %s 0\n", 2 ^ 22 + 7, core.hostname()))
    code, out = moonlab(d, "status results/toy")
    assert.are.equal("5 done, 0 failed, 0 running, 1 lost, 0 pending", totals(out))
    assert.truthy(out:find("\nfinal +waiting "), out)
    local err
    code, _, err = moonlab(d, "status results/none.h5")
    assert.are.equal(1, code)
    assert.truthy(err:find("no study manifest", 1, true), err)
  end)
end)

describe("slurm helpers", function()
  it("tell a node-local directory", function()
    assert.truthy(slurm.node_local("/tmp/x/results"):find("under /tmp", 1, true))
    assert.truthy(slurm.node_local("/dev/shm"):find("tmpfs", 1, true))
    local p = io.popen("stat -f -c %T /usr")
    local fstype = p:read("l")
    p:close()
    if fstype ~= "tmpfs" and fstype ~= "ramfs" then assert.is_nil((slurm.node_local("/usr"))) end
  end)

  it("read squeue: a purged job is answered and empty; a failure is an error", function()
    local saved = slurm.exec
    slurm.exec = function(cmd)
      if cmd:find("--jobs=7 ", 1, true) then return true, "7_0 RUNNING\n7_3 PENDING\n" end
      if cmd:find("--jobs=8 ", 1, true) then return false, "slurm_load_jobs error: Invalid job id specified\n" end
      return false, "slurm_load_jobs error: Socket timed out on send/recv operation\n"
    end
    local q = slurm.query({ "7", "8", "9" })
    slurm.exec = saved
    assert.are.same({ ["7"] = true, ["8"] = true }, q.answered)
    assert.are.same({ ["7_0"] = "RUNNING", ["7_3"] = "PENDING" }, q.tasks)
    assert.are.equal("squeue: slurm_load_jobs error: Socket timed out on send/recv operation", q.error)
  end)

  it("make paths absolute against the working directory", function()
    local p = io.popen("pwd -P")
    local cwd = p:read("l")
    p:close()
    assert.are.equal("/a/b", slurm.absolute("/a/b"))
    assert.are.equal(cwd .. "/results/x", slurm.absolute("./results/x"))
    assert.are.equal(cwd, slurm.absolute("."))
  end)

  it("quote for sh", function()
    local p = io.popen("printf %s " .. slurm.quote("it's a $HOME `x`"))
    assert.are.equal("it's a $HOME `x`", p:read("a"))
    p:close()
  end)
end)
