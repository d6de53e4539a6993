--- The moonlab command line: `moonlab run SCRIPT.lua [--set k=v ...] [--out FILE.h5]
--- [--seed N] [--threads N]` (a study: also -j, --retry-failed, --backend slurm and its
--- options), `moonlab status RESULTS`, `moonlab collect RESULTS`, `moonlab show FILE.h5`,
--- `moonlab plot FILE.h5 -o OUT`, `moonlab --help`, `moonlab --version`.
local core = require "moonlab.core"
local run = require "moonlab.run"
local results = require "moonlab.results"
local study = require "moonlab.study"

local cli = {}

local USAGE = [[
usage: moonlab run SCRIPT.lua [--set key=value ...] [--out FILE.h5] [--seed N] [--threads N]
                   [-j N] [--retry-failed] [--rerun-stale | --keep-stale]
       moonlab run STUDY.lua --backend slurm [--partition P] [--time T] [--cpus-per-task C]
                   [--mem M] [--max-parallel K] [--trials-per-task N] [--sbatch-arg ARG ...]
                   [--wait] [--set ...] [--out ...] [--seed N] [--threads N]
       moonlab status RESULTS
       moonlab collect RESULTS
       moonlab show FILE.h5 [--csv | --json]
       moonlab plot FILE.h5 -o OUT.png|svg|pdf [--x PARAM] [--metric NAME] [--kind KIND]
       moonlab --help | --version

  run SCRIPT.lua     run an experiment script and write its results to an HDF5 file; a
                     script that declares a study (ml.study{...}) runs its trials in worker
                     processes, and running it again resumes where it stopped
  --set key=value    override a setting the script declares with moonlab.config{...}
                     (repeatable; values: numbers, true/false, or text)
  --out FILE.h5      where to write the results (default: results/<script name>.h5, or
                     results/<study name>.h5 for a study)
  --seed N           root seed of every random stream in the run (default 0)
  --threads N        BLIS threads for matrix products (default: all cores; for a study,
                     cores / workers per worker)
  -j N, --jobs N     a study's worker processes (default 1)
  --retry-failed     run a study's failed trials again (finished ones are kept; under
                     --backend slurm the same command always submits them again)
  --rerun-stale      run again the finished trials an earlier version of the script made
  --keep-stale       keep them (without either, such trials stop the run with a message)
  --backend slurm    submit a study's trials to Slurm as one job array and return
                     (docs/slurm.md); the same command again submits what is not done:
                     never run, cancelled, timed out, lost or failed
  --partition P, --time T, --cpus-per-task C, --mem M
                     the array tasks' partition, time limit, CPUs (also their BLIS threads
                     unless --threads is given) and memory
  --max-parallel K   at most K array tasks at a time (sbatch --array=0-N%K)
  --trials-per-task N  run N trials one after another in each array task (default 1)
  --sbatch-arg ARG   pass another option to sbatch, e.g. --sbatch-arg --account=proj
                     (repeatable)
  --wait             wait for the jobs, submit the final evaluation once selection is
                     complete, and assemble the study file
  status RESULTS     each trial of a study: done, failed, running, lost or pending, with
                     its Slurm task, and the totals (Slurm is asked with squeue)
  collect RESULTS    assemble a study file again from its trial directory
                     (RESULTS: the study file or its directory results/<study>)

  show FILE.h5       a result file in the terminal: a study's mean ± std per setting, the
                     selected one and the final test evaluation, or each run's final metrics
                     (--csv, --json: the same for other programs)
  plot FILE.h5       learning curves, error against a swept parameter and the spread over
                     folds, drawn with gnuplot into OUT (moonlab plot --help for the options)

Batch queue of scripts: moonlab queue add|run|status|logs|retry|rm (moonlab queue --help)

Docs: README.md, docs/api.md (script API), docs/results.md (result file schema).]]

local function stderr(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
end

local json = run.json
cli.json = json

-- The options of --backend slurm: {field =, check = fn(text) -> value or nil, expect =}.
local SLURM_OPTIONS = require("moonlab.slurm").options

local function parse_args(argv)
  local o = { overrides = {}, seed = 0, threads = core.cores() }
  if #argv == 0 or argv[1] == "--help" or argv[1] == "-h" or argv[1] == "help" then
    return { help = true }
  end
  if argv[1] == "--version" then return { version = true } end
  if argv[1] == "collect" or argv[1] == "status" then
    if not argv[2] or argv[3] then return nil, argv[1] .. ": expected one RESULTS path" end
    return { [argv[1]] = argv[2] }
  end
  if argv[1] ~= "run" and argv[1] ~= "__worker" and argv[1] ~= "__task" then
    return nil, string.format("unknown command '%s'", argv[1])
  end
  o.worker = argv[1] == "__worker"
  o.task = argv[1] == "__task"
  o.set_args = {}
  o.sbatch_args = {}
  local i = 2
  local function value(flag)
    i = i + 1
    if argv[i] == nil then error({ usage = flag .. " needs a value" }) end
    return argv[i]
  end
  local ok, err = pcall(function()
    while i <= #argv do
      local a = argv[i]
      if a == "--set" then
        local kv = value("--set")
        local k, v = core.setting.parse(kv)
        if not k then error({ usage = v }) end
        o.overrides[#o.overrides + 1] = { k, v }
        o.set_args[#o.set_args + 1] = kv
      elseif a == "--out" then
        o.out = value("--out")
      elseif a == "--seed" then
        local s = value("--seed")
        o.seed = math.tointeger(tonumber(s))
        if not o.seed or not s:match("^%d+$") then
          error({ usage = "--seed " .. s .. ": expected a non-negative integer" })
        end
      elseif a == "-j" or a == "--jobs" then
        local s = value(a)
        o.jobs = math.tointeger(tonumber(s))
        if not o.jobs or o.jobs < 1 or o.jobs > 64 then
          error({ usage = a .. " " .. s .. ": expected a number of workers from 1 to 64" })
        end
      elseif a == "--retry-failed" then
        o.retry_failed = true
      elseif a == "--rerun-stale" or a == "--keep-stale" then
        local choice = a == "--rerun-stale" and "rerun" or "keep"
        if o.stale and o.stale ~= choice then
          error({ usage = "--rerun-stale and --keep-stale: give one of them" })
        end
        o.stale = choice
      elseif a == "--dir" and (o.worker or o.task) then
        o.dir = value(a)
      elseif a == "--backend" then
        o.backend = value(a)
        if o.backend ~= "local" and o.backend ~= "slurm" then
          error({ usage = "--backend " .. o.backend .. ": expected local or slurm" })
        end
      elseif SLURM_OPTIONS[a] then
        local spec, s = SLURM_OPTIONS[a], value(a)
        local v = spec.check(s)
        if v == nil then error({ usage = string.format("%s %s: expected %s", a, s, spec.expect) }) end
        if spec.list then table.insert(o[spec.field], v) else o[spec.field] = v end
        o.slurm_flag = o.slurm_flag or a
      elseif a == "--wait" then
        o.wait = true
        o.slurm_flag = o.slurm_flag or a
      elseif (a == "--list" or a == "--index" or a == "--crashed") and o.task then
        local s = value(a)
        if a == "--list" then
          o.list = s
        else
          o[a:sub(3)] = math.tointeger(tonumber(s))
          if not o[a:sub(3)] or o[a:sub(3)] < 0 then error({ usage = a .. " " .. s .. ": expected an integer" }) end
        end
      elseif a == "--threads" then
        local s = value("--threads")
        o.threads = math.tointeger(tonumber(s))
        o.threads_set = true
        if not o.threads or o.threads < 1 then
          error({ usage = "--threads " .. s .. ": expected a positive integer" })
        end
      elseif a:sub(1, 2) == "--" then
        error({ usage = "unknown option " .. a })
      elseif o.script then
        error({ usage = "more than one script given: " .. o.script .. " and " .. a })
      else
        o.script = a
      end
      i = i + 1
    end
  end)
  if not ok then
    if type(err) == "table" then return nil, err.usage end
    error(err, 0)
  end
  if not o.script then return nil, "run: no script given" end
  if o.slurm_flag and o.backend ~= "slurm" then
    return nil, o.slurm_flag .. " is an option of --backend slurm"
  end
  if o.backend == "slurm" and o.jobs then
    return nil, "-j is for the local backend; under Slurm, --max-parallel K limits the tasks running at once"
  end
  if o.task and (not o.dir or not o.list or not o.index) then
    return nil, "__task: needs --dir, --list and --index"
  end
  return o
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The commit checked out in the git work tree holding dir, read from .git itself (no git
-- process to start); "" outside a work tree.
local function git_commit(dir)
  local d = dir
  for _ = 1, 64 do
    local gitdir = d .. "/.git"
    local head = read_file(gitdir .. "/HEAD")
    if not head then
      -- a worktree or submodule: .git is a file "gitdir: <path>"
      local link = read_file(gitdir)
      local target = link and link:match("^gitdir: (%S+)")
      if target then
        gitdir = target:sub(1, 1) == "/" and target or (d .. "/" .. target)
        head = read_file(gitdir .. "/HEAD")
      end
    end
    if head then
      local ref = head:match("^ref: (%S+)")
      if not ref then return head:match("^(%x+)") or "" end
      -- a worktree's branches live in the common directory of the main checkout
      local common = (read_file(gitdir .. "/commondir") or ""):match("%S+")
      if common and common:sub(1, 1) ~= "/" then common = gitdir .. "/" .. common end
      local sha = read_file(gitdir .. "/" .. ref) or (common and read_file(common .. "/" .. ref))
      if sha then return sha:match("^(%x+)") or "" end
      local packed = read_file(gitdir .. "/packed-refs")
        or (common and read_file(common .. "/packed-refs"))
      if packed then
        for line in packed:gmatch("[^\n]+") do
          local h, r = line:match("^(%x+) (%S+)$")
          if r == ref then return h end
        end
      end
      return "" -- a branch with no commit yet
    end
    local parent = d:match("^(.*)/[^/]+$")
    if d == "/" or parent == nil then
      if d:sub(1, 1) ~= "/" then d = (os.getenv("PWD") or ".") .. "/" .. d else return "" end
    else
      d = parent == "" and "/" or parent
    end
  end
  return ""
end
cli.git_commit = git_commit

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- Message handler: give the error the script's position (script.lua:LINE:) when it comes
-- from the engine or the library, and add a traceback.
local function handler_for(script)
  local src = "@" .. script
  return function(e)
    local msg = type(e) == "string" and e or ("(error object is a " .. type(e) .. " value)")
    -- A position inside moonlab's own Lua modules says nothing to the script's author.
    msg = msg:gsub("^[^\n:]*moonlab/[%w_]+%.lua:%d+: ", "")
    if not msg:find("^" .. script:gsub("%p", "%%%0") .. ":%d+:") then
      for level = 2, 50 do
        local info = debug.getinfo(level, "Sl")
        if not info then break end
        if info.source == src and info.currentline > 0 then
          msg = string.format("%s:%d: %s", script, info.currentline, msg)
          break
        end
      end
    end
    return { message = msg, traceback = debug.traceback("", 2) }
  end
end

local function fail(writer, fmt, ...)
  if writer then writer:abort() end
  stderr(fmt, ...)
  return 1
end

-- Run the script's chunk with the run's settings; returns true or nil, error {message, traceback}.
local function load_script(o)
  run.reset { seed = o.seed, overrides = o.overrides }
  results.reset()
  study.declared = nil
  study.script_name = o.script:match("([^/]+)$"):gsub("%.lua$", "")
  local chunk, lerr = loadfile(o.script)
  if not chunk then return nil, { message = lerr, traceback = "" } end
  local ok, err = xpcall(chunk, handler_for(o.script))
  if not ok then return nil, err end
  if #o.overrides > 0 and not run.declared then
    return nil, { message = string.format(
      "moonlab: --set %s: the script declares no settings (use moonlab.config{...})", o.overrides[1][1]),
      traceback = "" }
  end
  return true
end

local function root_attrs(o, started)
  local v = core.versions()
  return {
    moonlab_version = v.moonlab, script = o.script, script_sha256 = core.results.sha256_file(o.script) or "",
    config = json(run.declared or {}), seed = o.seed, threads = o.threads,
    started = started, finished = os.date("!%Y-%m-%dT%H:%M:%SZ"), host = core.hostname(),
    lua_version = v.lua, blis_version = v.blis, hdf5_version = v.hdf5,
    git_commit = git_commit(dirname(o.script)),
  }
end

local function run_study(o, started)
  local d = study.declared
  local out = o.out or ("results/" .. d.name .. ".h5")
  local outdir = dirname(out)
  local ok, err = core.mkdir(outdir)
  if not ok then return fail(nil, "moonlab: %s", err) end
  o.jobs = o.jobs or 1
  if not o.threads_set then o.threads = math.max(1, core.cores() // o.jobs) end
  local exe = core.proc.self_exe()
  if o.backend == "slurm" then
    -- the tasks start elsewhere: every path they see is absolute
    local slurm = require "moonlab.slurm"
    local cwd, cerr = slurm.absolute(".")
    if not cwd then return fail(nil, "moonlab: %s", cerr) end
    local absdir, script_abs = slurm.absolute(outdir), slurm.absolute(o.script)
    local dir = absdir .. "/" .. d.name
    if dir:find('["%%\n]') then
      return fail(nil, "moonlab: the results directory %s has a character Slurm's file names cannot hold ('\"', '%%' or a newline)", dir)
    end
    if not o.threads_set then o.threads = o.cpus or 1 end
    return slurm.run(d, {
      script = o.script, exe = exe, dir = dir, out = out, seed = o.seed, threads = o.threads,
      set_args = o.set_args, stale = o.stale,
      attrs = root_attrs(o, started), cwd = cwd, script_abs = script_abs, partition = o.partition, time = o.time, cpus = o.cpus,
      mem = o.mem, max_parallel = o.max_parallel, per_task = o.per_task,
      sbatch_args = o.sbatch_args, wait = o.wait })
  end
  return study.run_local(d, {
    script = o.script, exe = exe, dir = outdir .. "/" .. d.name, out = out, seed = o.seed,
    threads = o.threads, jobs = o.jobs, set_args = o.set_args, retry_failed = o.retry_failed,
    stale = o.stale, attrs = root_attrs(o, started) })
end

-- `moonlab __worker SCRIPT --dir DIR ...`: a study's worker process (started by the runner).
local function run_worker(o)
  core.set_threads(o.threads)
  return study.worker({ dir = o.dir, seed = o.seed, script = o.script }, function()
    local ok, err = load_script(o)
    if not ok then return nil, err.message end
    if not study.declared then return nil, o.script .. ": declares no study" end
    return study.declared, handler_for(o.script)
  end)
end

-- `moonlab __task SCRIPT --dir DIR ... --list MAP --index I [--crashed STATUS]`: one task of a
-- Slurm job array, a standalone worker for the trials the task map gives index I.
local function run_task(o)
  local slurm = require "moonlab.slurm"
  core.set_threads(o.threads)
  local lines, lerr = slurm.task_lines(o.list, o.index)
  if not lines then return fail(nil, "moonlab: %s", lerr) end
  -- no runner reads this process's messages: what goes wrong is printed, into the task's output
  local function load()
    local ok, err = load_script(o)
    if not ok then
      stderr("%s%s", err.message, err.traceback)
      return nil, err.message
    end
    if not study.declared then
      stderr("moonlab: %s declares no study", o.script)
      return nil, o.script .. ": declares no study"
    end
    return study.declared, handler_for(o.script)
  end
  local tag = slurm.task_id()
  if o.crashed then
    local d = load()
    if not d then return 1 end
    return slurm.record_crash(d, o, lines, o.crashed)
  end
  print(string.format("moonlab: task %s on %s, pid %d: %s", tag or "(not in Slurm)", core.hostname(),
    core.pid(), table.concat(lines, ", ")))
  io.stdout:flush()
  return study.worker({ dir = o.dir, seed = o.seed, script = o.script, standalone = true, lines = lines,
    claim_tag = tag and ("slurm=" .. tag) }, load)
end

function cli.run(o)
  local script = o.script
  local f = io.open(script, "r")
  if not f then return fail(nil, "moonlab: cannot open script '%s'", script) end
  f:close()
  if o.worker then return run_worker(o) end
  if o.task then return run_task(o) end
  local out = o.out or ("results/" .. script:match("([^/]+)$"):gsub("%.lua$", "") .. ".h5")
  local outdir = dirname(out)
  if outdir ~= "." then
    local ok, err = core.mkdir(outdir)
    if not ok then return fail(nil, "moonlab: --out %s: %s", out, err) end
  end
  -- Open the result file first: an unwritable --out fails before any work is done.
  local writer, werr = core.results.create(out)
  if not writer then return fail(nil, "moonlab: --out %s: %s", out, werr) end

  core.set_threads(o.threads)
  local started = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local ok, err = load_script(o)
  if not ok and not study.declared and #results.order > 0 then
    -- what the script logged before its error is kept, marked as a failed run
    local attrs = root_attrs(o, started)
    attrs.status, attrs.error = "failed", err.message
    local wok = pcall(function()
      for _, k in ipairs(run.sorted_keys(attrs)) do writer:attr("/", k, attrs[k]) end
      results.write_runs(writer)
    end)
    if wok and writer:commit() then
      stderr("%s%s\nmoonlab: the script failed; what it logged before is kept in %s (status=failed)",
        err.message, err.traceback, out)
      return 1
    end
    return fail(writer, "%s%s", err.message, err.traceback)
  end
  if not ok then
    return fail(writer, "%s%s", err.message, err.traceback)
  end
  if study.declared then
    writer:abort()
    return run_study(o, started)
  end
  if o.jobs or o.retry_failed or o.stale or o.backend == "slurm" then
    return fail(writer, "moonlab: -j, --retry-failed, --rerun-stale, --keep-stale and --backend slurm are for scripts that declare a study (ml.study{...})")
  end

  local attrs = root_attrs(o, started)
  attrs.status = "done"
  local wok, werr2 = pcall(function()
    for _, k in ipairs(run.sorted_keys(attrs)) do writer:attr("/", k, attrs[k]) end
    results.write_runs(writer)
  end)
  if not wok then return fail(writer, "moonlab: writing %s: %s", out, tostring(werr2)) end
  local cok, cerr = writer:commit()
  if not cok then return fail(nil, "moonlab: %s", cerr) end
  print(string.format("results: %s", out))
  return 0
end

-- `moonlab status RESULTS`: the state of each trial (files and Slurm's queue).
local function status(path)
  local dir = path:gsub("/+$", "")
  if dir:match("%.h5$") then
    dir = dirname(dir) .. "/" .. dir:match("([^/]+)%.h5$")
  end
  return require("moonlab.slurm").status(dir)
end

-- `moonlab collect RESULTS`: the study file again from the trial directory.
local function collect(path)
  local dir = path:gsub("/+$", "")
  if dir:match("%.h5$") then
    dir = dirname(dir) .. "/" .. dir:match("([^/]+)%.h5$")
  end
  local m = study.read_manifest(dir)
  if not m then
    -- a study file written with --out NAME.h5 keeps its trials under <dir>/<study>
    return fail(nil, "moonlab: collect %s: no study manifest in %s", path, dir)
  end
  local ok, err, kind = study.collect(dir, path:match("%.h5$") and path or m.out)
  if not ok then
    return fail(nil, "moonlab: %s%s", err, kind == "storage" and ("\nmoonlab: " .. study.RESUME_HINT) or "")
  end
  print(string.format("results: %s", path:match("%.h5$") and path or m.out))
  return 0
end

function cli.main(argv)
  if argv[1] == "show" or argv[1] == "plot" or argv[1] == "queue" then
    return require("moonlab." .. argv[1]).main(table.move(argv, 2, #argv, 1, {}))
  end
  local o, err = parse_args(argv)
  if not o then
    stderr("moonlab: %s\n%s", err, USAGE)
    return 2
  end
  if o.help then print(USAGE) return 0 end
  if o.collect then return collect(o.collect) end
  if o.status then return status(o.status) end
  if o.version then
    local v = core.versions()
    print(string.format("moonlab %s (Lua %s, BLIS %s, HDF5 %s)", v.moonlab, v.lua, v.blis, v.hdf5))
    return 0
  end
  return cli.run(o)
end

return cli
