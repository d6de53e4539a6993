--- Studies on a Slurm cluster (docs/slurm.md). `moonlab run study.lua --backend slurm`
--- prepares the trial directory as the local runner does and hands the trials that are left to
--- Slurm as one job array; each array task runs `moonlab __task`, a standalone worker
--- (study.worker) that claims its trials and writes the same atomic trial files as a local run.
--- Slurm only runs processes: the files in the results directory, which the nodes share, stay
--- the truth. `moonlab status` and every new submission read them and ask `squeue` (never
--- `sacct`, which needs an accounting database) only to tell a live claim from one whose task
--- is gone, and which trials are still queued.
local core = require "moonlab.core"
local run = require "moonlab.run"
local study = require "moonlab.study"

local proc = core.proc
local trial_path = study.trial_path

local slurm = {}

-- A claim from another host whose Slurm task cannot be asked about is dead once its heartbeat
-- is older than this (the local runner's limit).
slurm.HEARTBEAT_LIMIT = 600
-- Seconds between two looks at the queue and the files while --wait waits: from the first to
-- the last, 1.5 times longer each time (squeue is a request to the cluster's controller).
slurm.POLL_FIRST, slurm.POLL_LAST = 0.5, 10

-- squeue states in which a task's processes run (or are about to stop).
local LIVE = { RUNNING = true, COMPLETING = true, CONFIGURING = true, SUSPENDED = true,
  STOPPED = true, SIGNALING = true, STAGE_OUT = true, RESIZING = true }
-- squeue states in which a task will still run its trials.
local QUEUED = { PENDING = true, CONFIGURING = true, RUNNING = true, SUSPENDED = true,
  REQUEUED = true, REQUEUE_HOLD = true, REQUEUE_FED = true, RESV_DEL_HOLD = true }

local SIGNAMES = { [4] = "SIGILL", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL",
  [11] = "SIGSEGV" }

local function positive(s)
  local n = math.tointeger(tonumber(s))
  return s:match("^%d+$") and n and n >= 1 and n or nil
end

--- The options of `moonlab run --backend slurm`: {field (of the command's options), check
--- (text -> value, or nil when it is not one), expect (for the message), list (repeatable)}.
slurm.options = {
  ["--partition"] = { field = "partition", expect = "a partition name (or a comma-separated list)",
    check = function(s) return s:match("^[%w_.,-]+$") and s or nil end },
  ["--time"] = { field = "time",
    expect = "a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS",
    check = function(s)
      return (s:match("^%d+$") or s:match("^%d+:%d+$") or s:match("^%d+:%d+:%d+$")
        or s:match("^%d+%-%d+$") or s:match("^%d+%-%d+:%d+$") or s:match("^%d+%-%d+:%d+:%d+$")
        or s == "UNLIMITED" or s == "INFINITE") and s or nil
    end },
  ["--cpus-per-task"] = { field = "cpus", expect = "a positive integer", check = positive },
  ["--mem"] = { field = "mem", expect = "a memory size such as 4000, 500M or 4G",
    check = function(s) return s:match("^%d+[KMGTkmgt]?$") and s or nil end },
  ["--max-parallel"] = { field = "max_parallel", expect = "a positive integer", check = positive },
  ["--trials-per-task"] = { field = "per_task", expect = "a positive integer", check = positive },
  ["--sbatch-arg"] = { field = "sbatch_args", list = true,
    expect = "an sbatch option starting with '-', such as --account=proj",
    check = function(s) return s:match("^%-") and not s:find("[\n\r]") and s or nil end },
}

---------------------------------------------------------------------------------------------
-- Commands and paths
---------------------------------------------------------------------------------------------

--- s in single quotes for sh.
local function quote(s)
  return "'" .. (tostring(s):gsub("'", [['\'']])) .. "'"
end
slurm.quote = quote

--- Run a command line with sh; returns true when it exits 0, and what it printed (stdout and
--- stderr together).
function slurm.exec(cmd)
  local p, err = io.popen(cmd .. " 2>&1", "r")
  if not p then return false, tostring(err) end
  local out = p:read("a") or ""
  local ok = p:close()
  return ok == true, out
end

local function first_line(s)
  return (s or ""):match("^%s*([^\n]*[^\n%s])") or ""
end

--- path made absolute against the working directory (for the batch script: the tasks start
--- elsewhere); nil, message if the working directory cannot be told.
function slurm.absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local ok, out = slurm.exec("pwd -P")
  local cwd = ok and out:match("^(/[^\n]*)")
  if not cwd then return nil, "cannot tell the working directory: " .. first_line(out) end
  while path:sub(1, 2) == "./" do path = path:sub(3) end
  if path == "." or path == "" then return cwd end
  return (cwd == "/" and "" or cwd) .. "/" .. path
end

local TEMP_DIRS = { "/tmp", "/var/tmp", "/dev/shm", "/run" }
local MEMORY_FS = { tmpfs = true, ramfs = true }

--- Why the directory (an absolute path) looks local to this machine, or nil; and its
--- filesystem type as `stat -f` names it (nil if unknown).
function slurm.node_local(dir)
  local ok, out = slurm.exec("stat -f -c %T " .. quote(dir))
  local fstype = ok and out:match("^%s*(%S+)") or nil
  if fstype and MEMORY_FS[fstype] then
    return string.format("it is on a %s filesystem, in this machine's memory", fstype), fstype
  end
  for _, p in ipairs(TEMP_DIRS) do
    if dir == p or dir:sub(1, #p + 1) == p .. "/" then
      return "it is under " .. p .. ", which is usually each machine's own", fstype
    end
  end
  return nil, fstype
end

local function read_text(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_text(path, text)
  local f, err = io.open(path, "w")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then return nil, werr or cerr end
  return true
end

local function fmt_age(s)
  if s >= 3600 then return string.format("%.1f h", s / 3600) end
  if s >= 60 then return string.format("%.0f min", s / 60) end
  return string.format("%.0f s", s)
end

---------------------------------------------------------------------------------------------
-- Slurm's view: claims and the queue
---------------------------------------------------------------------------------------------

--- A trial's claim file: {pid =, host =, time =, task = "JOB_INDEX" (a Slurm array task) or
--- nil, mtime = last heartbeat} or nil when there is none.
function slurm.read_claim(path)
  local text = read_text(path)
  if not text then return nil end
  local pid, host, t = text:match("^(%d+) (%S+) (%S+)")
  return { pid = math.tointeger(tonumber(pid)), host = host, time = tonumber(t),
    token = text:match(" token=(%S+)"), task = text:match("slurm=(%d+_%d+)"), mtime = proc.mtime(path) }
end

--- Slurm's view of the array jobs named (a list of job ids): {answered = {[job] = true},
--- tasks = {["JOB_INDEX"] = squeue state}, error = message}. A job squeue does not know any
--- more (it fails with "Invalid job id" once the job is purged) is answered with no tasks;
--- when squeue cannot answer (not installed, controller down) error says why and the jobs
--- after it are not asked.
function slurm.query(jobs)
  local q = { answered = {}, tasks = {} }
  for _, job in ipairs(jobs) do
    local ok, out = slurm.exec("squeue --noheader --array --jobs=" .. job .. " --format='%i %T'")
    if ok then
      q.answered[job] = true
      for line in out:gmatch("[^\n]+") do
        local id, st = line:match("^%s*(%S+)%s+(%S+)")
        if id then q.tasks[id] = st end
      end
    elseif out:find("Invalid job id", 1, true) then
      q.answered[job] = true
    else
      q.error = "squeue: " .. first_line(out)
      break
    end
  end
  return q
end

-- "running" or "lost" (with the reason) for a claim, from Slurm when it knows the claim's
-- task, else from the process (this host) or the heartbeat (another host).
local function claim_state(c, host, q)
  if c.host == host and study.claim_alive(c, host) then return "running" end
  local job = c.task and c.task:match("^(%d+)_")
  if job and q.answered[job] then
    local st = q.tasks[c.task]
    if not st then return "lost", "its task " .. c.task .. " is no longer in Slurm's queue" end
    if not LIVE[st] then return "lost", "its task " .. c.task .. " is " .. st end
    if c.host == host then return "lost", "its process " .. tostring(c.pid) .. " is gone" end
    return "running"
  end
  if c.host == host then
    return "lost", string.format("its process %s on %s is gone", tostring(c.pid), host)
  end
  local age = c.mtime and proc.now() - c.mtime
  if age and age <= slurm.HEARTBEAT_LIMIT then return "running" end
  return "lost", string.format("no heartbeat from %s for %s", tostring(c.host),
    age and fmt_age(age) or "ever")
end

---------------------------------------------------------------------------------------------
-- Submissions: results/<study>/slurm/<n>/{job.sh, tasks, job_id, task-<index>.out}
---------------------------------------------------------------------------------------------

--- The submissions recorded under dir/slurm, oldest first: {n =, job =, dir =, ntasks =,
--- tasks = {[index] = {line, ...}}}. A submission sbatch refused has no job_id and is left out.
function slurm.submissions(dir)
  local names = proc.list_dir(dir .. "/slurm")
  local subs = {}
  for _, name in ipairs(names or {}) do
    local n = math.tointeger(tonumber(name:match("^(%d+)$")))
    local sdir = dir .. "/slurm/" .. name
    local job = n and (read_text(sdir .. "/job_id") or ""):match("^(%d+)")
    local map = job and read_text(sdir .. "/tasks")
    if map then
      local s = { n = n, job = job, dir = sdir, tasks = {}, ntasks = 0 }
      for line in map:gmatch("[^\n]+") do
        local idx, what = line:match("^(%d+) (%a+ %S+)$")
        idx = math.tointeger(tonumber(idx))
        if idx then
          s.tasks[idx] = s.tasks[idx] or {}
          table.insert(s.tasks[idx], what)
          s.ntasks = math.max(s.ntasks, idx + 1)
        end
      end
      subs[#subs + 1] = s
    end
  end
  table.sort(subs, function(a, b) return a.n < b.n end)
  return subs
end

--- The worker lines of array task `index` in the task map `path`: {line, ...} or nil, message.
function slurm.task_lines(path, index)
  local map = read_text(path)
  if not map then return nil, "cannot read the task map " .. path end
  local lines = {}
  for line in map:gmatch("[^\n]+") do
    local idx, what = line:match("^(%d+) (%a+ %S+)$")
    if idx and tonumber(idx) == index then lines[#lines + 1] = what end
  end
  if #lines == 0 then return nil, string.format("%s: no trials for array index %d", path, index) end
  return lines
end

--- The array task this process runs in, "JOB_INDEX", from Slurm's environment (or nil).
function slurm.task_id()
  local job, idx = proc.getenv("SLURM_ARRAY_JOB_ID"), proc.getenv("SLURM_ARRAY_TASK_ID")
  if job and idx and job:match("^%d+$") and idx:match("^%d+$") then return job .. "_" .. idx end
  return nil
end

-- Why a task ended, from its output file: Slurm's own word when it stopped the task
-- (slurmstepd's "error: *** JOB 19 ON node CANCELLED AT <time> DUE TO TIME LIMIT ***", which
-- the batch script's last lines follow), else the last line; nil when there is nothing.
local function task_note(sub, index)
  local text = read_text(string.format("%s/task-%d.out", sub.dir, index))
  if not text then return nil end
  local last, slurm_said
  for line in text:gmatch("[^\n]+") do
    if line:find("%S") then last = line end
    slurm_said = line:match("%*%*%* (.-) %*%*%*") or slurm_said
  end
  last = slurm_said or (last and last:gsub("^%s+", ""):gsub("%s+$", ""))
  if not last then return nil end
  if #last > 100 then last = last:sub(1, 97) .. "..." end
  return last
end

---------------------------------------------------------------------------------------------
-- Survey: the state of every trial
---------------------------------------------------------------------------------------------

--- The study in dir (manifest m): the state of each trial from its files, its claim and
--- Slurm's queue. Returns {rows = {...}, final = row or nil, subs, q}, each row
--- {id, line ("run <id>" | "final <setting>"), setting, seed, fold, state, info, claim,
--- task ("JOB_INDEX" of its latest submission), slurm (that task's squeue state, "gone" when
--- Slurm no longer has it), queued (a queued task will run it), note}. States: done, failed,
--- running (a live process holds its claim), lost (its claim's process or task is gone),
--- pending; the final row is "waiting" until every selection trial has finished, "deferred"
--- when they have but some failed.
function slurm.survey(dir, m)
  local host = core.hostname()
  local subs = slurm.submissions(dir)
  local rows = {}
  local function file_row(r)
    local path = trial_path(dir, r.id, ".h5")
    local info = study.read_trial(path)
    if not info then
      r.claim = slurm.read_claim(trial_path(dir, r.id, ".claim"))
      -- a trial that finished between the two looks has no claim any more, but its result
      if not r.claim then info = study.read_trial(path) end
    end
    if info then
      r.state, r.info, r.claim = info.status == "done" and "done" or "failed", info, nil
    end
    return r
  end
  local finished, failed = true, 0
  for i, tr in ipairs(m.trials) do
    rows[i] = file_row({ id = tr.id, line = "run " .. tr.id, setting = tr.setting, seed = tr.seed,
      fold = tr.fold })
    if not rows[i].state then finished = false end
    if rows[i].state == "failed" then failed = failed + 1 end
  end
  local final
  if m.has_final then
    if finished and failed > 0 then
      -- the test set is touched once, after selection among every setting (docs/api.md)
      final = { state = "deferred", note = string.format("%d trial%s failed; the same command runs %s again",
        failed, failed == 1 and "" or "s", failed == 1 and "it" or "them") }
    elseif finished then
      local si = study.choose({ select_metric = m.select_metric, select_goal = m.select_goal }, dir,
        m.trials, #m.settings)
      if si then
        local ft = study.final_trial({ name = m.study, seeds = m.seeds, identity = m.identity }, si, m.settings[si])
        final = file_row({ id = ft.id, line = "final " .. si, setting = si, seed = ft.seed, fold = 0,
          final = true })
      else
        final = { state = "none", note = "no setting has every trial done" }
      end
    else
      final = { state = "waiting", note = "runs once every selection trial has finished" }
    end
  end
  local all = {}
  for _, r in ipairs(rows) do all[#all + 1] = r end
  if final and final.line then all[#all + 1] = final end

  -- the latest submission of each line
  local latest = {}
  for _, s in ipairs(subs) do
    for idx = 0, s.ntasks - 1 do
      for _, line in ipairs(s.tasks[idx] or {}) do latest[line] = { sub = s, index = idx } end
    end
  end
  -- ask Slurm about the jobs unfinished trials depend on
  local jobs, seen = {}, {}
  local function want(job)
    if job and not seen[job] then seen[job] = true; jobs[#jobs + 1] = job end
  end
  for _, r in ipairs(all) do
    if not r.state then
      local l = latest[r.line]
      want(l and l.sub.job)
      want(r.claim and r.claim.task and r.claim.task:match("^(%d+)_"))
    end
  end
  local q = #jobs > 0 and slurm.query(jobs) or { answered = {}, tasks = {} }
  for _, r in ipairs(all) do
    local l = latest[r.line]
    if l then r.task = l.sub.job .. "_" .. l.index end
    if not r.state then
      -- queued: whether the latest task of the trial will still run it (nil: Slurm did not say)
      r.queued = false
      if l then
        r.slurm = q.tasks[r.task] or (q.answered[l.sub.job] and "gone") or nil
        if q.answered[l.sub.job] then r.queued = QUEUED[r.slurm] or false else r.queued = nil end
      end
      if r.claim then
        r.state, r.note = claim_state(r.claim, host, q)
      else
        r.state = "pending"
      end
      if l and (r.state == "lost" or (r.state == "pending" and r.slurm == "gone")) then
        local why = task_note(l.sub, l.index)
        if why then r.note = "task " .. r.task .. " ended: " .. why end
      end
    end
  end
  return { rows = rows, final = final, subs = subs, q = q }
end

local function counts(sv)
  local c = { done = 0, failed = 0, running = 0, lost = 0, pending = 0, queued = 0 }
  local function add(r)
    if c[r.state] then c[r.state] = c[r.state] + 1 end
    if r.state == "pending" and r.queued then c.queued = c.queued + 1 end
  end
  for _, r in ipairs(sv.rows) do add(r) end
  if sv.final and sv.final.line then add(sv.final) end
  return c
end
slurm.counts = counts

---------------------------------------------------------------------------------------------
-- `moonlab status RESULTS`
---------------------------------------------------------------------------------------------

local function describe(p)
  local parts = {}
  for _, k in ipairs(run.sorted_keys(p or {})) do
    local v = p[k]
    parts[#parts + 1] = k .. "=" .. (math.type(v) == "float" and string.format("%.4g", v) or tostring(v))
  end
  return table.concat(parts, " ")
end

-- A finished trial's result in a few words: its selection metric, else its metrics.
local function metric_text(m, info)
  local v = info and info.metrics[m.select_metric]
  if type(v) == "number" then return string.format("%s=%.6g", m.select_metric, v) end
  local parts = {}
  for _, k in ipairs(run.sorted_keys(info and info.metrics or {})) do
    local x = info.metrics[k]
    parts[#parts + 1] = k .. "=" .. (type(x) == "number" and string.format("%.6g", x) or tostring(x))
  end
  return table.concat(parts, " ")
end

local function totals_text(c, has_slurm)
  return string.format("%d done, %d failed, %d running, %d lost, %d pending%s", c.done, c.failed,
    c.running, c.lost, c.pending, has_slurm and string.format(" (%d queued in Slurm)", c.queued) or "")
end

--- `moonlab status RESULTS`: each trial's state and the totals. Returns the exit status.
function slurm.status(dir, out)
  out = out or io.stdout
  local m, merr = study.read_manifest(dir)
  if not m then
    io.stderr:write("moonlab: status: ", merr, "\n")
    return 1
  end
  local sv = slurm.survey(dir, m)
  local has_slurm = #sv.subs > 0
  local ntr = #m.trials
  out:write(string.format("study %s (%s): %d trial%s%s\n", m.study, dir, ntr, ntr == 1 and "" or "s",
    m.has_final and " + final" or ""))
  local header = { "trial", "state", "seed", "fold" }
  if has_slurm then header[#header + 1] = "slurm task" end
  header[#header + 1] = "parameters"
  header[#header + 1] = "result"
  local lines = { header }
  local function add(r, label)
    local cells = { label or r.id, r.state, r.seed and tostring(r.seed) or "", r.fold and tostring(r.fold) or "" }
    if has_slurm then
      cells[#cells + 1] = r.task and (r.task .. (r.slurm and (" " .. r.slurm:lower()) or "")) or ""
    end
    cells[#cells + 1] = r.setting and describe(m.settings[r.setting]) or ""
    local res
    if r.state == "done" then
      res = metric_text(m, r.info)
    elseif r.state == "failed" then
      res = r.info and r.info.error or ""
    else
      res = r.note or ""
    end
    if #res > 160 then res = res:sub(1, 157) .. "..." end
    cells[#cells + 1] = res
    lines[#lines + 1] = cells
  end
  for _, r in ipairs(sv.rows) do add(r) end
  if sv.final then add(sv.final, "final") end
  local widths = {}
  for _, cells in ipairs(lines) do
    for i, c in ipairs(cells) do widths[i] = math.max(widths[i] or 0, utf8.len(c) or #c) end
  end
  for _, cells in ipairs(lines) do
    local parts = {}
    for i, c in ipairs(cells) do
      parts[i] = i < #cells and (c .. string.rep(" ", widths[i] - (utf8.len(c) or #c))) or c
    end
    out:write((table.concat(parts, "  "):gsub("%s+$", "")), "\n")
  end
  out:write("totals: ", totals_text(counts(sv), has_slurm), "\n")
  for _, s in ipairs(sv.subs) do
    if sv.q.answered[s.job] then
      local n, by = 0, {}
      for id, st in pairs(sv.q.tasks) do
        if id:match("^(%d+)_") == s.job then n = n + 1; by[st] = (by[st] or 0) + 1 end
      end
      local parts = {}
      for _, st in ipairs(run.sorted_keys(by)) do parts[#parts + 1] = by[st] .. " " .. st:lower() end
      out:write(string.format("slurm job %s (submission %d, %d task%s): %s\n", s.job, s.n, s.ntasks,
        s.ntasks == 1 and "" or "s", n > 0 and table.concat(parts, ", ") or "no longer in the queue"))
    end
  end
  if sv.q.error then
    out:write("slurm: ", sv.q.error, " (states from the files alone)\n")
  end
  return 0
end

---------------------------------------------------------------------------------------------
-- Submitting
---------------------------------------------------------------------------------------------

-- A value for an #SBATCH line: as it is, or in double quotes when it has blanks.
local function sbatch_value(v)
  return v:find("%s") and ('"' .. v .. '"') or v
end

--- The batch script of a submission. s = {study, n, ntasks, per_task, max_parallel, cpus,
--- partition, time, mem, extra = {ARG, ...}, output, chdir, exe, script, dir, seed, threads,
--- set_args = {"k=v", ...}, list}.
function slurm.batch_script(s)
  local L = { "#!/bin/bash" }
  local function opt(x) L[#L + 1] = "#SBATCH " .. x end
  opt("--job-name=moonlab-" .. s.study)
  opt(string.format("--array=0-%d%s", s.ntasks - 1, s.max_parallel and ("%" .. s.max_parallel) or ""))
  if s.partition then opt("--partition=" .. s.partition) end
  if s.time then opt("--time=" .. s.time) end
  if s.cpus then opt("--cpus-per-task=" .. s.cpus) end
  if s.mem then opt("--mem=" .. s.mem) end
  opt("--output=" .. sbatch_value(s.output))
  opt("--open-mode=append")
  opt("--chdir=" .. sbatch_value(s.chdir))
  for _, a in ipairs(s.extra or {}) do opt(a) end -- --sbatch-arg: one line each, as given
  local argv = { "__task", quote(s.script), "--dir", quote(s.dir), "--seed", tostring(s.seed),
    "--threads", tostring(s.threads) }
  for _, kv in ipairs(s.set_args or {}) do argv[#argv + 1] = "--set"; argv[#argv + 1] = quote(kv) end
  argv[#argv + 1] = "--list"
  argv[#argv + 1] = quote(s.list)
  argv[#argv + 1] = '--index "$SLURM_ARRAY_TASK_ID"'
  local args = table.concat(argv, " ")
  local text = table.concat(L, "\n") .. "\n" .. string.format([[
#
# moonlab study %s, submission %d: %d array task%s, each running its lines of the task map
# %s ("INDEX run TRIAL" or "INDEX final SETTING") in a standalone worker that
# claims each trial and writes %s/trials/<trial>.h5.
moonlab=%s
crashed=0
# Slurm stops a task (its time limit, scancel, its node going down) with SIGTERM to every
# process of it, SIGKILL after KillWait. The worker dies of it and its claim stays: the trial
# it ran is lost, for the next submission, not failed. This shell notes the signal and lets the
# worker end first (a handler: an ignored signal, trap '', would be ignored by the worker too).
stopped=
trap 'stopped=SIGTERM' TERM
trap 'stopped=SIGINT' INT
for attempt in $(seq %d); do
  [ -z "$stopped" ] || break
  "$moonlab" %s 3>/dev/null
  status=$?
  [ "$status" -ne 0 ] && [ -z "$stopped" ] || break
  # The worker ended badly while this script lived: a crash, the out-of-memory killer or an
  # error before its trials. If it held a trial, record the trial as failed, as a local run
  # does, and go on with the task's other trials (--crashed leaves a trial Slurm stopped alone).
  crashed=$status
  "$moonlab" %s --crashed "$status" 3>/dev/null || break
done
task=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
if [ -n "$stopped" ]; then
  echo "moonlab: task $task stopped by $stopped; any trial it had not finished is left for the next submission"
  if [ "$stopped" = SIGTERM ]; then exit 143; else exit 130; fi
fi
[ "$status" -ne 0 ] || status=$crashed
echo "moonlab: task $task ended with status $status"
exit "$status"
]], s.study, s.n, s.ntasks, s.ntasks == 1 and "" or "s", s.list, s.dir, quote(s.exe), s.per_task, args, args)
  return text
end

-- A new submission directory dir/slurm/<n> holding the task map: n, its path.
local function new_submission(dir, map)
  local base = dir .. "/slurm"
  local ok, err = core.mkdir(base)
  if not ok then return nil, err end
  local n = 0
  for _, name in ipairs(proc.list_dir(base) or {}) do
    local k = math.tointeger(tonumber(name:match("^(%d+)$")))
    if k and k > n then n = k end
  end
  for k = n + 1, n + 100 do
    local sdir = base .. "/" .. k
    local mok, merr = core.mkdir(sdir)
    if not mok then return nil, merr end
    local created, cerr = proc.create_exclusive(sdir .. "/tasks", map)
    if created == nil then return nil, cerr end
    if created then return k, sdir end
  end
  return nil, "cannot make a new submission directory under " .. base
end

local function plural(n, word) return string.format("%d %s%s", n, word, n == 1 and "" or "s") end

-- Submit lines (worker lines, in order) as one array: returns the job id, submission or nil, message.
local function submit(d, o, lines)
  local per = o.per_task or 1
  local ntasks = (#lines + per - 1) // per
  local map = { string.format("# moonlab study %s: array index, then the worker line of each trial it runs", d.name) }
  for i, line in ipairs(lines) do map[#map + 1] = string.format("%d %s", (i - 1) // per, line) end
  local n, sdir = new_submission(o.dir, table.concat(map, "\n") .. "\n")
  if not n then return nil, sdir end
  local script = slurm.batch_script({ study = d.name, n = n, ntasks = ntasks, per_task = per,
    max_parallel = o.max_parallel, cpus = o.cpus, partition = o.partition, time = o.time, mem = o.mem,
    extra = o.sbatch_args, output = sdir .. "/task-%a.out", chdir = o.cwd, exe = o.exe,
    script = o.script_abs, dir = o.dir, seed = o.seed, threads = o.threads, set_args = o.set_args,
    list = sdir .. "/tasks" })
  local wok, werr = write_text(sdir .. "/job.sh", script)
  if not wok then return nil, "cannot write " .. sdir .. "/job.sh: " .. tostring(werr) end
  local ok, out = slurm.exec("sbatch --parsable " .. quote(sdir .. "/job.sh"))
  local job, said = nil, {}
  for line in out:gmatch("[^\n]+") do
    local j = ok and (line:match("^%s*(%d+)%s*$") or line:match("^%s*(%d+);"))
    if j then job = j else said[#said + 1] = line end
  end
  if not job then
    os.rename(sdir, o.dir .. "/slurm/refused-" .. n .. "-" .. core.pid())
    local msg = said[1] or "sbatch failed without a message"
    if not msg:find("^sbatch") then msg = "sbatch: " .. msg end
    if out:lower():find("array") and out:lower():find("size") then
      msg = msg .. " (fewer array tasks: --trials-per-task N runs N trials in each)"
    end
    return nil, msg
  end
  for _, line in ipairs(said) do io.stderr:write(line, "\n") end -- sbatch's warnings
  write_text(sdir .. "/job_id", job .. "\n")
  return job, { n = n, dir = sdir, ntasks = ntasks }
end

-- Lines still to submit: every trial not done. Lost claims are removed, and so are the results
-- of failed trials (unless this command submitted them: --wait reports a trial that failed
-- again, and does not submit it over and over). Returns the lines; prints what it does.
local function plan(d, o, sv, say)
  local lines = {}
  local function consider(r)
    local lost = r.state == "lost" and (r.note or "its worker is gone")
    if lost then
      os.remove(trial_path(o.dir, r.id, ".claim"))
      r.state, r.claim = "pending", nil
    elseif r.state == "failed" and not o.submitted_here[r.line] then
      local err = tostring(r.info and r.info.error or "")
      if #err > 100 then err = err:sub(1, 97) .. "..." end
      os.remove(trial_path(o.dir, r.id, ".h5"))
      say(string.format("%s failed before (%s); it runs again", r.final and "the final evaluation"
        or ("trial " .. r.id), err))
      r.state, r.info = "pending", nil
      r.queued = false
    end
    if r.state ~= "pending" then return true end
    if r.queued == nil then
      return nil, string.format("cannot tell whether Slurm still holds trial %s in task %s (%s); "
        .. "nothing submitted", r.id, r.task or "?", sv.q.error or "squeue did not answer")
    end
    local label = r.final and "the final evaluation" or ("trial " .. r.id)
    if r.queued then
      if lost then say(string.format("%s was lost (%s); its task %s is queued again", label, lost, r.task)) end
    elseif o.submitted_here[r.line] then
      if lost then say(string.format("%s was lost again (%s)", label, lost)) end
    else
      lines[#lines + 1] = r.line
      if lost then say(string.format("%s was lost (%s); it runs again", label, lost)) end
    end
    return true
  end
  for _, r in ipairs(sv.rows) do
    local ok, err = consider(r)
    if not ok then return nil, err end
  end
  local selection_open = false
  for _, r in ipairs(sv.rows) do
    if r.state ~= "done" and r.state ~= "failed" then selection_open = true end
  end
  if sv.final and sv.final.line and not selection_open then
    local ok, err = consider(sv.final)
    if not ok then return nil, err end
  end
  return lines
end

-- Wait until none of the jobs has a task in the queue, printing trials as they finish.
local function wait_jobs(o, jobs, watch, say)
  local reported, failures, pause = {}, 0, slurm.POLL_FIRST
  while true do
    for _, r in ipairs(watch) do
      if not reported[r.id] then
        local info = study.read_trial(trial_path(o.dir, r.id, ".h5"))
        if info then
          reported[r.id] = true
          o.finished = o.finished + 1
          say(string.format("%s %s %s  %s%s  %.1fs  [%d/%d]%s", r.final and "final" or "trial", r.id,
            info.status, describe(o.settings[r.setting]),
            (r.fold or 0) > 0 and (" fold " .. r.fold) or "", tonumber(info.seconds) or 0, o.finished,
            o.total, info.status == "done" and ("  " .. metric_text(o.m, info))
              or ("  " .. tostring(info.error))):gsub("%s+$", ""))
        end
      end
    end
    if #jobs == 0 then
      -- only claims of other processes: look again after a while
      proc.poll({}, math.floor(slurm.POLL_LAST * 1000))
      return true
    end
    local q = slurm.query(jobs)
    if q.error then
      -- a busy or restarting controller: try again for a while before giving up
      failures = failures + 1
      if failures >= 30 then return nil, q.error end
    else
      failures = 0
    end
    local live = q.error ~= nil
    for _, job in ipairs(jobs) do
      for id in pairs(q.tasks) do
        if id:match("^(%d+)_") == job then live = true end
      end
    end
    if not live then return true end
    proc.poll({}, math.floor(pause * 1000))
    pause = math.min(slurm.POLL_LAST, pause * 1.5)
  end
end

--- `moonlab run study.lua --backend slurm ...`: o = {script, exe, dir (absolute), out, seed,
--- threads, set_args, attrs, cwd, script_abs, partition, time, cpus, mem, max_parallel,
--- per_task, sbatch_args, wait}. Submits every trial not done (failed ones too: --retry-failed
--- is implied) and returns at once
--- (exit status 0), or with o.wait waits for the jobs, submits the final evaluation once
--- selection is complete, and collects the study file (0 when every trial is done).
function slurm.run(d, o)
  local function say(text)
    io.stdout:write(text, "\n")
    io.stdout:flush()
  end
  local settings, trials = study.prepare(d, o)
  if not settings then
    io.stderr:write("moonlab: ", trials, "\n")
    return 1
  end
  local why, fstype = slurm.node_local(o.dir)
  if why then
    io.stderr:write(string.format("moonlab: warning: the results directory %s looks local to this "
      .. "machine (%s); Slurm's nodes must see it: put the results on a filesystem they share "
      .. "(--out)\n", o.dir, why))
  end
  local m, merr = study.read_manifest(o.dir)
  if not m then
    io.stderr:write("moonlab: ", merr, "\n")
    return 1
  end
  o.m, o.settings = m, settings
  o.submitted_here = {}
  o.total = #trials + (d.final and 1 or 0)
  local started = core.clock()
  say(string.format("study %s: %s (%s x %s x %s)%s; results in %s%s", d.name, plural(#trials, "trial"),
    plural(#settings, "setting"), plural(#d.seeds, "seed"),
    d.folds > 0 and plural(d.folds, "fold") or "no folds", d.final and " + final" or "", o.dir,
    fstype and (" (" .. fstype .. ")") or ""))
  local first = true
  while true do
    local sv = slurm.survey(o.dir, m)
    local lines, perr = plan(d, o, sv, say)
    if not lines then
      io.stderr:write("moonlab: ", perr, "\n")
      return 1
    end
    local c = counts(sv)
    if first then
      o.finished = c.done
      if c.done > 0 then say(string.format("%d done before", c.done)) end
      first = false
    end
    if c.running + c.queued > 0 then
      say(string.format("%d running and %d queued in Slurm already", c.running, c.queued))
    end
    local job, sub
    if #lines > 0 then
      job, sub = submit(d, o, lines)
      if not job then
        io.stderr:write("moonlab: ", sub, "\n")
        return 1
      end
      for _, l in ipairs(lines) do o.submitted_here[l] = true end
      local rel = sub.dir:sub(#o.dir + 2)
      local finals = lines[#lines]:match("^final") and 1 or 0
      local how = {}
      if sub.ntasks > 1 then
        how[#how + 1] = plural(math.min(o.per_task or 1, #lines), "trial") .. " each"
        if o.max_parallel then how[#how + 1] = "at most " .. o.max_parallel .. " at a time" end
      end
      say(string.format("submitted job %s: %s%s in %s%s%s; %s/{job.sh,tasks,task-<index>.out}",
        job, finals > 0 and #lines == 1 and "the final evaluation" or plural(#lines - finals, "trial"),
        finals > 0 and #lines > 1 and " + the final evaluation" or "", plural(sub.ntasks, "array task"),
        #how > 0 and (" (" .. table.concat(how, ", ") .. ")") or "",
        o.partition and (" on partition " .. o.partition) or "", o.dir .. "/" .. rel))
    end
    local live = job ~= nil or c.running + c.queued > 0
    if not live then
      -- nothing runs and nothing is left that this command may submit: collect
      local open = c.pending + c.lost + c.running
      local cok, cerr = study.collect(o.dir, o.out)
      if not cok then
        io.stderr:write("moonlab: ", tostring(cerr), "\n")
        return 1
      end
      if sv.final and sv.final.state == "deferred" then say("final evaluation deferred: " .. sv.final.note) end
      say(string.format("study %s: %d done, %d failed of %d%s; wall %.0f s", d.name, c.done, c.failed,
        o.total, open > 0 and string.format(", %d not finished (run the same command again to "
          .. "submit them)", open) or "", core.clock() - started))
      say("results: " .. o.out)
      return (c.failed > 0 or open > 0 or (sv.final and sv.final.state ~= "done")) and 1 or 0
    end
    if not o.wait then
      if sv.final and sv.final.state == "waiting" then
        say("the final evaluation runs after selection: run this command again once these trials "
          .. "have finished (or add --wait)")
      end
      say(string.format("follow it: moonlab status %s", o.out))
      return 0
    end
    -- wait for every job that holds unfinished trials
    local jobs, seen, watch = {}, {}, {}
    local function add_job(j) if j and not seen[j] then seen[j] = true; jobs[#jobs + 1] = j end end
    add_job(job)
    local rows = {}
    for _, r in ipairs(sv.rows) do rows[#rows + 1] = r end
    if sv.final and sv.final.line then rows[#rows + 1] = sv.final end
    for _, r in ipairs(rows) do
      if r.state == "running" or r.state == "pending" then
        watch[#watch + 1] = r
        if r.queued then add_job(r.task:match("^(%d+)_")) end
        if r.claim and r.claim.task then add_job(r.claim.task:match("^(%d+)_")) end
      end
    end
    if #jobs > 0 then
      say(string.format("waiting for job%s %s", #jobs == 1 and "" or "s", table.concat(jobs, ", ")))
    else
      say("waiting for trials other processes hold")
    end
    local wok, werr = wait_jobs(o, jobs, watch, say)
    if not wok then
      io.stderr:write("moonlab: ", werr, "\n")
      return 1
    end
  end
end

---------------------------------------------------------------------------------------------
-- Inside an array task
---------------------------------------------------------------------------------------------

-- Signals that ask a process to stop: Slurm sends SIGTERM to a task at its time limit, on
-- scancel, when its node shuts down (and SIGKILL after KillWait).
local STOP_SIGNALS = { [2] = "SIGINT", [15] = "SIGTERM" }
-- squeue states of a task that Slurm is ending (the state shows COMPLETING while it kills).
local ENDING = { COMPLETING = true, CANCELLED = true, TIMEOUT = true, DEADLINE = true,
  NODE_FAIL = true, PREEMPTED = true, BOOT_FAIL = true, SIGNALING = true, REQUEUED = true,
  REQUEUE_HOLD = true, REQUEUE_FED = true }

-- Why a worker of task tag ("JOB_INDEX" or nil) that ended with shell status `status` was
-- stopped rather than failed, or nil: a stop signal, or any death while Slurm ends the task.
function slurm.stopped(status, tag)
  local sig = status > 128 and status - 128 or nil
  if sig and STOP_SIGNALS[sig] then return "stopped by " .. STOP_SIGNALS[sig] end
  local job = tag and tag:match("^(%d+)_")
  if not job then return nil end
  local st = slurm.query({ job }).tasks[tag]
  if st and ENDING[st] then
    return string.format("%s while Slurm ends task %s (%s)", sig and string.format("killed by "
      .. "signal %d (%s)", sig, SIGNAMES[sig] or "?") or ("exited with status " .. status), tag, st)
  end
  return nil
end

--- `moonlab __task ... --crashed STATUS`: the task's worker ended with the shell's exit status
--- STATUS (128 + N: killed by signal N). If it held a trial, write the trial's failed result,
--- as the local runner does; unless Slurm stopped it (slurm.stopped), which leaves the trial's
--- claim: the trial is lost, and the next submission runs it. d: the declared study, lines:
--- the task's worker lines. Returns 0 when a failed trial was recorded (the task goes on with
--- its other trials), else 1.
function slurm.record_crash(d, o, lines, status)
  local host, tag = core.hostname(), slurm.task_id()
  local by_id, settings = {}, study.settings(d, o.seed)
  for _, tr in ipairs(study.trials(d, o.seed)) do by_id[tr.id] = tr end
  local recorded = 0
  for _, line in ipairs(lines) do
    local cmd, arg = line:match("^(%S+) (%S+)$")
    local tr
    if cmd == "run" then
      tr = by_id[arg]
    elseif cmd == "final" then
      local si = math.tointeger(tonumber(arg))
      tr = si and settings[si] and study.final_trial(d, si, settings[si])
    end
    local claim = tr and trial_path(o.dir, tr.id, ".claim")
    local c = claim and slurm.read_claim(claim)
    if c and c.host == host and c.task == tag and c.pid and not proc.alive(c.pid) then
      local stopped = slurm.stopped(status, tag)
      if stopped then
        print(string.format("moonlab: trial %s %s, not failed: it is left for the next submission",
          tr.id, stopped))
        return 1
      end
      local sig = status - 128
      local reason = sig > 0 and string.format("worker killed by signal %d (%s)", sig, SIGNAMES[sig] or "?")
        or string.format("worker exited with status %d", status)
      local ok, err = study.write_crash(o.dir, d, tr, reason, proc.now() - (c.time or proc.now()))
      if not ok then
        io.stderr:write("moonlab: cannot record the crash of trial ", tr.id, ": ", tostring(err), "\n")
        return 1
      end
      os.remove(claim)
      print(string.format("moonlab: trial %s failed: %s", tr.id, reason))
      recorded = recorded + 1
    end
  end
  return recorded > 0 and 0 or 1
end

return slurm
