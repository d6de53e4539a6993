--- Studies: a script declares its trials — parameter settings × seeds × folds — with
--- ml.study{...}, and `moonlab run` runs them in worker processes, each trial writing its own
--- result file atomically, then assembles the study file (docs/api.md "Studies",
--- docs/results.md "Study files"). Trials are named by a hash of what they are, never by run
--- order, so a run can be interrupted and resumed and any worker may run any trial.
local core = require "moonlab.core"
local run = require "moonlab.run"
local results = require "moonlab.results"

local proc = core.proc
local json = run.json

local study = {}

---------------------------------------------------------------------------------------------
-- Parameter specifications
---------------------------------------------------------------------------------------------

local Spec = {}
Spec.__index = Spec

local function spec(kind, t)
  t.kind = kind
  return setmetatable(t, Spec)
end

local function check_number(v, what)
  if type(v) ~= "number" or v ~= v then error(what .. " must be a number, got " .. tostring(v), 3) end
end

--- study.grid{v1, v2, ...}: every value in turn (a plain list means the same).
function study.grid(values)
  if type(values) ~= "table" or #values == 0 then
    error("study.grid: expected a non-empty list of values", 2)
  end
  return spec("grid", { values = values })
end

--- study.uniform(a, b), study.loguniform(a, b), study.integer(a, b) (inclusive), study.choice{...}:
--- drawn `samples` times per grid point from the study's parameter stream.
function study.uniform(a, b)
  check_number(a, "study.uniform: a"); check_number(b, "study.uniform: b")
  if b < a then error("study.uniform: b < a", 2) end
  return spec("uniform", { a = a, b = b })
end

function study.loguniform(a, b)
  check_number(a, "study.loguniform: a"); check_number(b, "study.loguniform: b")
  if not (a > 0 and b >= a) then error("study.loguniform: need 0 < a <= b", 2) end
  return spec("loguniform", { a = a, b = b })
end

function study.integer(a, b)
  if math.type(a) ~= "integer" or math.type(b) ~= "integer" or b < a then
    error("study.integer: need integers a <= b", 2)
  end
  return spec("integer", { a = a, b = b })
end

function study.choice(values)
  if type(values) ~= "table" or #values == 0 then
    error("study.choice: expected a non-empty list of values", 2)
  end
  return spec("choice", { values = values })
end

local function draw(s, rng)
  if s.kind == "uniform" then return s.a + (s.b - s.a) * rng:float() end
  if s.kind == "loguniform" then return math.exp(math.log(s.a) + (math.log(s.b) - math.log(s.a)) * rng:float()) end
  if s.kind == "integer" then return s.a + rng:integer(s.b - s.a + 1) - 1 end
  return s.values[rng:integer(#s.values)]
end

---------------------------------------------------------------------------------------------
-- Declaration
---------------------------------------------------------------------------------------------

local RESERVED = { trial = 1, status = 1, fold = 1, seed = 1, seconds = 1, error = 1, n = 1,
  selected = 1 }

local function is_value(v)
  local t = type(v)
  return t == "number" or t == "string" or t == "boolean"
end

local function normalize_params(params)
  local names, specs = {}, {}
  for name, v in pairs(params or {}) do
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
      error("study: parameter names must be identifiers, got " .. tostring(name), 4)
    end
    if RESERVED[name] then
      error("study: '" .. name .. "' is a column of the summary table; name the parameter otherwise", 4)
    end
    if getmetatable(v) == Spec then
      specs[name] = v
    elseif type(v) == "table" then
      if #v == 0 then error("study: parameter '" .. name .. "' has an empty list of values", 4) end
      for i, x in ipairs(v) do
        if not is_value(x) then
          error(string.format("study: parameter '%s' value %d is a %s; expected a number, string or boolean",
            name, i, type(x)), 4)
        end
      end
      specs[name] = spec("grid", { values = v })
    elseif is_value(v) then
      specs[name] = spec("grid", { values = { v } })
    else
      error("study: parameter '" .. name .. "' is a " .. type(v), 4)
    end
    names[#names + 1] = name
  end
  table.sort(names)
  return names, specs
end

local KNOWN = { name = 1, params = 1, samples = 1, seeds = 1, data = 1, split = 1, val = 1,
  trial = 1, select = 1, final = 1, checkpoint = 1 }

--- ml.study{name =, params =, samples =, seeds =, data =, split =, val =, trial =, select =,
--- final =}: declare the script's study (docs/api.md "Studies"). Call it once, at the top level.
function study.declare(def)
  if type(def) ~= "table" then error("study: expected a table", 2) end
  for k in pairs(def) do
    if not KNOWN[k] then error("study: unknown field '" .. tostring(k) .. "'", 2) end
  end
  if study.declared then error("study: declared twice; a script declares one study", 2) end
  if type(def.trial) ~= "function" then error("study: 'trial' must be a function(t)", 2) end
  if def.final ~= nil and type(def.final) ~= "function" then
    error("study: 'final' must be a function(t)", 2)
  end
  local d = { trial = def.trial, final = def.final, data = def.data, val = def.val }
  d.name = def.name or study.script_name
  if type(d.name) ~= "string" or not d.name:match("^[%w_.-]+$") then
    error("study: 'name' must be letters, digits, '_', '-' or '.', got " .. tostring(d.name), 2)
  end
  d.names, d.specs = normalize_params(def.params)
  local random = false
  for _, n in ipairs(d.names) do
    if d.specs[n].kind ~= "grid" then random = true end
  end
  if random then
    if math.type(def.samples) ~= "integer" or def.samples < 1 then
      error("study: random parameters need 'samples', a positive integer", 2)
    end
  end
  d.samples = random and def.samples or 1
  d.random = random
  local seeds = def.seeds or 1
  if math.type(seeds) == "integer" then
    if seeds < 1 then error("study: 'seeds' must be >= 1, got " .. seeds, 2) end
    local l = {}
    for i = 1, seeds do l[i] = i end
    seeds = l
  elseif type(seeds) == "table" then
    for i, s in ipairs(seeds) do
      if math.type(s) ~= "integer" then error("study: seeds[" .. i .. "] is not an integer", 2) end
    end
    if #seeds == 0 then error("study: 'seeds' is empty", 2) end
  else
    error("study: 'seeds' must be a count or a list of integers", 2)
  end
  d.seeds = seeds
  if def.split ~= nil then
    if type(def.data) ~= "table" or not def.data.x then
      error("study: a split needs 'data', the dataset it splits", 2)
    end
    local sp = def.split
    if type(sp) == "table" and sp.kind == "holdout" and sp.train ~= nil then
      -- one holdout (ml.split.holdout): one fold, validated on val, or on test without val
      local val = sp.val and #sp.val > 0 and sp.val or sp.test
      d.split = { { train = sp.train, val = val, test = val ~= sp.test and sp.test or nil } }
      d.split_info = { kind = sp.kind, samples = sp.samples, seed = sp.seed, params = sp.params }
    elseif type(sp) ~= "table" or #sp == 0 then
      error("study: 'split' must be a list of folds or a holdout (from ml.split)", 2)
    else
      d.split = sp
      if require("moonlab.split").is_folds(sp) then
        d.split_info = { kind = sp.kind, samples = sp.samples, seed = sp.seed, params = sp.params }
      end
    end
    d.folds = #d.split
  else
    d.folds = 0
  end
  if def.checkpoint ~= nil then
    local c = def.checkpoint
    if type(c) ~= "table" or (c.every ~= nil and (math.type(c.every) ~= "integer" or c.every < 1))
        or (c.seconds ~= nil and (type(c.seconds) ~= "number" or c.seconds <= 0)) then
      error("study: 'checkpoint' must be {every = epochs, seconds = s}", 2)
    end
    d.checkpoint = { every = c.every or (c.seconds and math.maxinteger) or 1, seconds = c.seconds }
  end
  local sel = def.select or {}
  d.select_metric = sel.metric or "val_loss"
  d.select_goal = sel.goal or "min"
  if d.select_goal ~= "min" and d.select_goal ~= "max" then
    error("study: select.goal must be \"min\" or \"max\", got " .. tostring(sel.goal), 2)
  end
  study.declared = d
end

---------------------------------------------------------------------------------------------
-- Trials
---------------------------------------------------------------------------------------------

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- The parameter settings of a declared study, in order: the grid's product (the last name
--- varying fastest), each grid point with `samples` random draws.
function study.settings(d, root_seed)
  local out = { {} }
  for _, name in ipairs(d.names) do
    local s = d.specs[name]
    if s.kind == "grid" then
      local nxt = {}
      for _, p in ipairs(out) do
        for _, v in ipairs(s.values) do
          local q = copy(p)
          q[name] = v
          nxt[#nxt + 1] = q
        end
      end
      out = nxt
    end
  end
  if d.random then
    local rng = core.rng.new(core.rng.derive(root_seed, "study.params", 0))
    local nxt = {}
    for _, p in ipairs(out) do
      for _ = 1, d.samples do
        local q = copy(p)
        for _, name in ipairs(d.names) do
          local s = d.specs[name]
          if s.kind ~= "grid" then q[name] = draw(s, rng) end
        end
        nxt[#nxt + 1] = q
      end
    end
    out = nxt
  end
  return out
end

-- A trial is also what the script's settings (after --set) and the root seed make it: a smoke
-- run and a full run of one study, or two --seed values, never share trials.
local function trial_id(d, params, seed, fold)
  return core.results.sha256(table.concat({ d.name, d.identity or "", json(params), tostring(seed),
    tostring(fold) }, "\0")):sub(1, 16)
end

--- Every selection trial: {id, setting (index), params, seed, fold}, settings × seeds × folds.
function study.trials(d, root_seed)
  d.identity = json({ config = run.declared or {}, seed = root_seed })
  local list = {}
  for si, p in ipairs(study.settings(d, root_seed)) do
    for _, s in ipairs(d.seeds) do
      for f = (d.folds > 0 and 1 or 0), d.folds do
        list[#list + 1] = { id = trial_id(d, p, s, f), setting = si, params = p, seed = s, fold = f }
      end
    end
  end
  return list
end

--- The final trial for the chosen setting: trained on all of `data`, seed = the first seed.
function study.final_trial(d, si, params)
  return { id = trial_id(d, params, "final", "final"), setting = si, params = params,
    seed = d.seeds[1], fold = 0, final = true }
end

---------------------------------------------------------------------------------------------
-- The trial directory
---------------------------------------------------------------------------------------------

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function trial_path(dir, id, ext) return dir .. "/trials/" .. id .. ext end

local function write_atomic(path, text)
  local tmp = path .. ".tmp-" .. core.pid()
  local f, err = io.open(tmp, "w")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    return nil, werr or cerr
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp) return nil, rerr end
  return true
end

-- Lua text for a value (the manifest is a Lua table, read back without running code).
local function lua_literal(v, indent)
  local t = type(v)
  if t == "table" then
    indent = indent or ""
    local parts, inner = {}, indent .. "  "
    local n = #v
    for i = 1, n do parts[#parts + 1] = inner .. lua_literal(v[i], inner) end
    for _, k in ipairs(run.sorted_keys(v)) do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then
        parts[#parts + 1] = inner .. "[" .. lua_literal(k) .. "] = " .. lua_literal(v[k], inner)
      end
    end
    return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
  elseif t == "string" then
    return string.format("%q", v)
  elseif t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v then return "(0/0)" end
    if v == math.huge then return "math.huge" end
    if v == -math.huge then return "-math.huge" end
    return string.format("%.17g", v)
  end
  return tostring(v)
end

function study.read_manifest(dir)
  local path = dir .. "/manifest.lua"
  local f = io.open(path, "r")
  if not f then return nil, "no study manifest at " .. path end
  local text = f:read("a")
  f:close()
  local chunk, err = load("return " .. text, "@" .. path, "t", { math = { huge = math.huge } })
  if not chunk then return nil, err end
  local ok, m = pcall(chunk)
  if not ok or type(m) ~= "table" then return nil, path .. ": not a study manifest" end
  return m
end

---------------------------------------------------------------------------------------------
-- Reading trial files
---------------------------------------------------------------------------------------------

-- {status =, error =, seconds =, metrics = {name = value}} of a trial file, or nil if it is
-- missing or unreadable (then the trial runs again).
function study.read_trial(path)
  local f = core.rfile and core.rfile.open(path)
  if not f then return nil end
  local ok, info = pcall(function()
    local a = assert(f:attrs("/"))
    local m = {}
    if f:kind("/runs/trial/metrics") == "dataset" then
      local cols = assert(f:table("/runs/trial/metrics"))
      for _, c in ipairs(cols) do m[c.name] = c.values[1] end
    end
    return { status = a.status, error = a.error or "", seconds = a.seconds or 0 / 0, metrics = m,
      script_sha256 = a.script_sha256 }
  end)
  f:close()
  if not ok or type(info.status) ~= "string" then return nil end
  return info
end

---------------------------------------------------------------------------------------------
-- Worker: runs trials it is sent, one at a time
---------------------------------------------------------------------------------------------

-- Messages to the runner go to descriptor 3, one line each, tab-separated.
local function send(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]):gsub("[\t\n]", " ") end
  proc.write(3, table.concat(parts, "\t", 1, parts.n) .. "\n")
end

local function nonfinite_metric(m)
  for k, v in pairs(m) do
    if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then return k, v end
  end
end

-- The data a trial sees.
local function trial_context(d, tr, seed)
  local data = require "moonlab.data"
  local t = { id = tr.id, params = copy(tr.params), seed = seed, replicate = tr.seed,
    fold = tr.fold, final = tr.final or false }
  if tr.final or d.folds == 0 then
    t.train, t.val = d.data, not tr.final and d.val or nil
  else
    local f = d.split[tr.fold]
    t.train = data.subset(d.data, f.train)
    t.val = data.subset(d.data, f.val or f.test)
  end
  return t
end

-- The SHA-256 of the script o.script ("" when unknown or unreadable), read once per process.
local function script_sha256(o)
  if o.script_sha256 == nil then
    o.script_sha256 = o.script and core.results.sha256_file(o.script) or ""
  end
  return o.script_sha256
end

-- Runs one trial in this process and writes its file; returns status, message. Status is
-- "unwritten" when the file system refused the trial's file (full, read-only, no permission):
-- the trial is then not recorded at all, so that a later run does it again.
local function run_trial(d, tr, o, handler)
  local dir = o.dir
  local claim = trial_path(dir, tr.id, ".claim")
  proc.redirect_output(trial_path(dir, tr.id, ".log"))
  print(string.format("== trial %s: %s seed %d fold %d%s (%s)", tr.id, json(tr.params), tr.seed,
    tr.fold, tr.final and " (final)" or "", os.date("!%Y-%m-%dT%H:%M:%SZ")))
  results.reset()
  local seed = core.rng.derive(o.seed, tr.id, 0)
  run.root_seed = seed
  run.models = 0 -- unseeded models count from 1 in each trial, whatever ran before it here
  local r = results.run("trial")
  local last_beat = core.clock()
  r.on_log = function(row)
    send("epoch", tr.id, row.epoch or "", row.loss or "")
    if core.clock() - last_beat > study.HEARTBEAT then
      proc.touch(claim)
      last_beat = core.clock()
    end
  end
  local started = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local t0 = core.clock()
  local ctx = trial_context(d, tr, seed)
  ctx.run = r
  local ckpath = trial_path(dir, tr.id, ".ckpt")
  if d.checkpoint then
    ctx.checkpoint = { path = ckpath, every = d.checkpoint.every, seconds = d.checkpoint.seconds,
      on_resume = function(epoch, file, step)
        print(string.format("== resumed from %s at epoch %d%s", file, epoch,
          step > 0 and string.format(", step %d of epoch %d", step, epoch + 1) or ""))
      end }
  end
  local fn = tr.final and d.final or d.trial
  local ok, ret = xpcall(fn, handler, ctx)
  local status, err, tb = "done", "", ""
  if not ok then
    status, err, tb = "failed", ret.message, ret.traceback
  elseif ret ~= nil and type(ret) ~= "table" then
    status, err = "failed", "the trial function returned a " .. type(ret) .. "; expected a table of metrics"
  else
    local mok, merr = pcall(function() if ret then r:metrics(ret) end end)
    if not mok then
      status, err = "failed", tostring(merr):gsub("^[^\n:]*moonlab/[%w_]+%.lua:%d+: ", "")
    else
      local k, v = nonfinite_metric(r.metric_values)
      if k then
        status, err = "failed", string.format("metric '%s' is %s", k, v ~= v and "NaN" or v > 0 and "Inf" or "-Inf")
      end
    end
  end
  local seconds = core.clock() - t0
  local attrs = { study = d.name, trial = tr.id, status = status, params = json(tr.params),
    seed = tr.seed, fold = tr.fold, final = tr.final and 1 or 0, started = started,
    finished = os.date("!%Y-%m-%dT%H:%M:%SZ"), seconds = seconds, host = core.hostname(),
    error = err, traceback = tb, trial_seed = seed, script_sha256 = script_sha256(o) }
  for k, v in pairs(attrs) do r:attr(k, v) end
  if status == "failed" then io.stderr:write(err, tb ~= "" and ("\n" .. tb) or "", "\n") end
  local w, werr, wkind = core.results.create(trial_path(dir, tr.id, ".h5"))
  if not w then
    status, err = "failed", "cannot write the trial's result: " .. tostring(werr)
  else
    local wok, e2 = pcall(function()
      for _, k in ipairs(run.sorted_keys(attrs)) do w:attr("/", k, attrs[k]) end
      results.write_runs(w)
    end)
    local cok, cerr = true, nil
    if wok then cok, cerr, wkind = w:commit() else w:abort() end
    werr = e2 or cerr
    if not wok or not cok then
      status, err = "failed", "cannot write the trial's result: " .. tostring(werr)
    end
  end
  if wkind == "storage" then status, err = "unwritten", tostring(werr) end
  print(string.format("== %s in %.2f s%s", status, seconds, err ~= "" and (": " .. err) or ""))
  io.stdout:flush()
  io.stderr:flush()
  for k = 1, ctx.checkpoint and ctx.checkpoint.calls or 0 do os.remove(ckpath .. "-" .. k .. ".h5") end
  -- temporary files of this trial that a killed worker left (".<id>.ckpt-1.h5.tmp-<pid>")
  local prefix = "." .. tr.id .. "."
  for _, name in ipairs(proc.list_dir(dir .. "/trials") or {}) do
    if name:sub(1, #prefix) == prefix and name:match("%.tmp%-%d+$") then os.remove(dir .. "/trials/" .. name) end
  end
  os.remove(claim)
  return status, err, seconds
end

--- `moonlab __worker SCRIPT ...`: load the script (which declares the study), then run each
--- trial named on stdin ("run <id>" or "final <setting>"), reporting on descriptor 3.
--- o = {dir, seed [, standalone = true, lines = {...}, claim_tag]}: standalone (a Slurm array
--- task, no runner) reads the lines given, skips finished or live-claimed trials and claims its
--- own; claim_tag (e.g. "slurm=JOB_INDEX") ends its claims (study.claim_text).
function study.worker(o, load_script)
  if not o.standalone and not proc.die_with_parent() then proc.exit(1) end
  local d, handler = load_script()
  if not d then
    send("fatal", handler)
    proc.exit(1)
  end
  local by_id = {}
  local settings = study.settings(d, o.seed)
  for _, tr in ipairs(study.trials(d, o.seed)) do by_id[tr.id] = tr end
  send("ready")
  local lines = o.lines and function() return table.remove(o.lines, 1) end or io.stdin:lines()
  local host = core.hostname()
  for line in lines do
    local cmd, arg = line:match("^(%S+)%s+(%S+)$")
    local tr
    if cmd == "run" then
      tr = by_id[arg]
    elseif cmd == "final" then
      local si = math.tointeger(tonumber(arg))
      tr = si and settings[si] and study.final_trial(d, si, settings[si])
    end
    if not tr then
      send("fatal", "worker: unknown trial '" .. tostring(arg) .. "'")
      proc.exit(1)
    end
    local go = true
    if o.standalone then
      -- no runner: skip what is finished or held by a live process, claim the rest ourselves
      local st = study.scan_trial(o.dir, tr, host)
      go = st == "pending" and proc.create_exclusive(trial_path(o.dir, tr.id, ".claim"),
        study.claim_text(core.pid(), host, o.claim_tag)) == true
    end
    if go then
      send("start", tr.id)
      local status, err, seconds = run_trial(d, tr, o, handler)
      send(status, tr.id, string.format("%.3f", seconds), err)
    end
  end
  proc.exit(0)
end

---------------------------------------------------------------------------------------------
-- Runner: hands trials to N worker processes, records what happens, resumes what is left
---------------------------------------------------------------------------------------------

local SIGNAMES = { [2] = "SIGINT", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL",
  [11] = "SIGSEGV", [15] = "SIGTERM" }

local function describe_params(p)
  local parts = {}
  for _, k in ipairs(run.sorted_keys(p)) do
    local v = p[k]
    parts[#parts + 1] = k .. "=" .. (math.type(v) == "float" and string.format("%.4g", v) or tostring(v))
  end
  return table.concat(parts, " ")
end

local function fmt_duration(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%d:%02d:%02d", s // 3600, s % 3600 // 60, s % 60) end
  return string.format("%d:%02d", s // 60, s % 60)
end

-- Seconds between two heartbeats of a running trial's claim (the runner touches the claims of
-- its workers' trials), and the age after which a claim from another host counts as dead.
study.HEARTBEAT, study.HEARTBEAT_LIMIT = 2, 600

--- The text of a claim on a trial run by process pid on host: "PID HOST TIME
--- token=BOOT_ID:START_TIME[ TAG]", the token naming the process across pid reuse and reboots.
function study.claim_text(pid, host, tag)
  return string.format("%d %s %.0f token=%s%s\n", pid, host, proc.now(), proc.token(pid) or "?",
    tag and (" " .. tag) or "")
end

--- A claim file read: {pid =, host =, time =, token =, mtime = last heartbeat} or nil.
function study.read_claim(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a") or ""
  f:close()
  local pid, host, t = text:match("^(%d+) (%S+) (%S+)")
  return { pid = math.tointeger(tonumber(pid)), host = host, time = tonumber(t),
    token = text:match(" token=(%S+)"), mtime = proc.mtime(path) }
end

--- Whether claim c still holds its trial. On this host: only while its process runs, the same
--- process (pid, boot id and start time all match; a claim without them is dead). From
--- another host: while its heartbeat is younger than study.HEARTBEAT_LIMIT.
function study.claim_alive(c, host)
  if c.host == host then
    return c.pid ~= nil and c.token ~= nil and proc.token(c.pid) == c.token
  end
  return c.mtime ~= nil and proc.now() - c.mtime <= study.HEARTBEAT_LIMIT
end

local scan_trial
-- State of a trial from its files: "done", "failed", "claimed" (a live worker somewhere runs
-- it) or "pending". A claim whose process is gone is removed.
function study.scan_trial(dir, tr, host)
  local info = study.read_trial(trial_path(dir, tr.id, ".h5"))
  local claim = trial_path(dir, tr.id, ".claim")
  local c = study.read_claim(claim)
  local stale = false
  if c then
    stale = not study.claim_alive(c, host)
    -- a worker killed after writing its result but before removing its claim leaves both
    if stale or info then os.remove(claim) end
  end
  if info then return info.status == "done" and "done" or "failed", info end
  if not c or stale then return "pending" end
  return "claimed"
end
scan_trial = study.scan_trial

-- The failed-trial file the runner writes when a worker dies in the middle of a trial.
local function write_crash(dir, d, tr, reason, seconds)
  local w, err, kind = core.results.create(trial_path(dir, tr.id, ".h5"))
  if not w then return nil, err, kind end
  local attrs = { study = d.name, trial = tr.id, status = "failed", params = json(tr.params),
    seed = tr.seed, fold = tr.fold, final = tr.final and 1 or 0, started = "", finished =
    os.date("!%Y-%m-%dT%H:%M:%SZ"), seconds = seconds, host = core.hostname(), error = reason,
    traceback = "" }
  local ok, e = pcall(function()
    for _, k in ipairs(run.sorted_keys(attrs)) do
      w:attr("/", k, attrs[k])
      w:attr("/runs/trial", k, attrs[k])
    end
    w:table("/runs/trial/history", 0, { { name = "epoch", type = "int", values = {} } })
  end)
  if not ok then w:abort() return nil, e end
  return w:commit()
end
study.write_crash = write_crash

-- The chosen setting: the best mean of the selection metric over its trials, among settings
-- whose trials all finished. Returns setting index or nil, and the per-setting stats.
local function select_setting(d, trials, infos, nsettings)
  local sum, cnt, bad, total = {}, {}, {}, {}
  for _, tr in ipairs(trials) do
    local si = tr.setting
    total[si] = (total[si] or 0) + 1
    local info = infos[tr.id]
    local v = info and info.status == "done" and info.metrics[d.select_metric]
    if type(v) == "number" then
      sum[si] = (sum[si] or 0) + v
      cnt[si] = (cnt[si] or 0) + 1
    else
      bad[si] = true
    end
  end
  local best, bestv
  for si = 1, nsettings do
    if not bad[si] and cnt[si] == total[si] then
      local m = sum[si] / cnt[si]
      if not best or (d.select_goal == "min" and m < bestv) or (d.select_goal == "max" and m > bestv) then
        best, bestv = si, m
      end
    end
  end
  return best, bestv
end

local Progress = {}
Progress.__index = Progress

local function progress_new(name, total, tty)
  return setmetatable({ name = name, total = total, done = 0, failed = 0, tty = tty,
    started = core.clock(), lines = {}, width = 0 }, Progress)
end

function Progress:clear()
  if self.tty and self.width > 0 then
    io.stdout:write("\r", string.rep(" ", self.width), "\r")
    self.width = 0
  end
end

-- A line that stays (trial finished or failed).
function Progress:say(text)
  self:clear()
  io.stdout:write(text, "\n")
  io.stdout:flush()
end

-- The status line (terminal only): counts, what each worker is doing, ETA.
function Progress:status(workers)
  if not self.tty then return end
  local finished = self.done + self.failed
  local el = core.clock() - self.started
  local eta = finished > 0 and fmt_duration(el / finished * (self.total - finished)) or "?"
  local parts = { string.format("[%s] %d/%d done, %d failed, ETA %s", self.name, self.done,
    self.total, self.failed, eta) }
  for i, w in ipairs(workers) do
    if w.trial then
      parts[#parts + 1] = string.format("w%d %s%s", i, w.trial.id:sub(1, 6),
        w.epoch and string.format(" ep %s loss %s", w.epoch, w.loss) or "")
    end
  end
  local line = table.concat(parts, " | ")
  if #line > 150 then line = line:sub(1, 150) end
  self:clear()
  io.stdout:write(line)
  io.stdout:flush()
  self.width = #line
end

--- Finished trials (and finals) in o.dir that another version of the script made, by the
--- SHA-256 each trial file records: with o.stale == "rerun" their files are removed (they run
--- again), with "keep" they stay; without either, nil and a message that names the choice.
--- Trial files that record no script hash are taken as they are.
function study.check_stale(d, o, settings, trials)
  local current = script_sha256(o)
  if current == "" then return true end
  local ids = {}
  for _, tr in ipairs(trials) do ids[#ids + 1] = tr.id end
  for si, setting in ipairs(d.final and settings or {}) do
    ids[#ids + 1] = study.final_trial(d, si, setting).id
  end
  local stale, recorded = {}, nil
  for _, id in ipairs(ids) do
    local info = study.read_trial(trial_path(o.dir, id, ".h5"))
    if info and info.script_sha256 and info.script_sha256 ~= "" and info.script_sha256 ~= current then
      stale[#stale + 1] = id
      recorded = recorded or info.script_sha256
    end
  end
  if #stale == 0 or o.stale == "keep" then return true end
  if o.stale == "rerun" then
    for _, id in ipairs(stale) do os.remove(trial_path(o.dir, id, ".h5")) end
    return true
  end
  return nil, string.format("%d trial%s in %s %s made by another version of %s (script sha256 %s…, now %s…): "
    .. "run again with --rerun-stale to run %s anew, or with --keep-stale to use %s as %s",
    #stale, #stale == 1 and "" or "s", o.dir, #stale == 1 and "was" or "were", o.script or "the script",
    recorded:sub(1, 12), current:sub(1, 12), #stale == 1 and "it" or "them", #stale == 1 and "it" or "them",
    #stale == 1 and "it is" or "they are")
end

--- Run the declared study d: o = {script, exe, dir, out, seed, threads, jobs, set_args,
--- retry_failed, stale, attrs (root attributes of the study file)}. Returns the exit status.
--- Make the trial directory ready (writable; manifest; split indices): returns settings,
--- trials or nil, message. Shared by the local runner and other backends.
function study.prepare(d, o)
  local dir = o.dir
  local ok, err = core.mkdir(dir .. "/trials")
  if not ok then return nil, "results directory: " .. err end
  local probe = dir .. "/.write-test-" .. core.pid()
  local pok, perr = proc.create_exclusive(probe, "")
  if pok == nil then return nil, "results directory '" .. dir .. "' is not writable: " .. perr end
  os.remove(probe)

  local settings = study.settings(d, o.seed)
  local trials = study.trials(d, o.seed)
  local sok, serr = study.check_stale(d, o, settings, trials)
  if not sok then return nil, serr end

  -- The manifest: everything `moonlab collect` needs without running the script again.
  local manifest = { study = d.name, identity = d.identity, script = o.script, out = o.out, seed = o.seed,
    names = d.names, folds = d.folds, seeds = d.seeds, select_metric = d.select_metric,
    select_goal = d.select_goal, has_final = d.final ~= nil, attrs = o.attrs, settings = settings,
    trials = {} }
  for i, tr in ipairs(trials) do
    manifest.trials[i] = { id = tr.id, setting = tr.setting, seed = tr.seed, fold = tr.fold }
  end
  local mok, merr = write_atomic(dir .. "/manifest.lua", lua_literal(manifest) .. "\n")
  if not mok then return nil, "cannot write " .. dir .. "/manifest.lua: " .. tostring(merr) end
  if d.split and not io.open(dir .. "/splits.h5", "r") then
    local w, werr = core.results.create(dir .. "/splits.h5")
    if not w then return nil, werr end
    for f, fold in ipairs(d.split) do
      w:int64("/splits/" .. f .. "/train", fold.train)
      w:int64("/splits/" .. f .. "/val", fold.val or fold.test)
      if fold.val and fold.test then w:int64("/splits/" .. f .. "/test", fold.test) end
    end
    w:attr("/splits", "folds", #d.split)
    local info = d.split_info
    if info then
      w:attr("/splits", "kind", info.kind)
      if info.samples then w:attr("/splits", "samples", info.samples) end
      results.split_attrs(w, "/splits", info)
    end
    local cok, cerr = w:commit()
    if not cok then return nil, cerr end
  end
  return settings, trials
end

--- The chosen setting's index (or nil) from the trial files, as the study file will say.
function study.choose(d, dir, trials, nsettings)
  local infos = {}
  for _, tr in ipairs(trials) do infos[tr.id] = study.read_trial(trial_path(dir, tr.id, ".h5")) end
  return select_setting(d, trials, infos, nsettings)
end

study.trial_path = trial_path

--- What to do after a result write the file system refused (ML_ESTORAGE).
study.RESUME_HINT = "free space (or make the results directory writable), then run the same command again to resume"

function study.run_local(d, o)
  local dir, host = o.dir, core.hostname()
  local settings, trials = study.prepare(d, o)
  if not settings then
    io.stderr:write("moonlab: ", trials, "\n")
    return 1
  end

  -- What is left to do.
  local queue, infos, elsewhere, watch = {}, {}, 0, {}
  local done0, failed0 = 0, 0
  for _, tr in ipairs(trials) do
    local st, info = scan_trial(dir, tr, host)
    infos[tr.id] = info
    if st == "done" then
      done0 = done0 + 1
    elseif st == "failed" and not o.retry_failed then
      failed0 = failed0 + 1
    elseif st == "claimed" then
      elsewhere = elsewhere + 1
      watch[#watch + 1] = tr
    else
      if st == "failed" then os.remove(trial_path(dir, tr.id, ".h5")) infos[tr.id] = nil end
      queue[#queue + 1] = tr
    end
  end
  local total = #trials + (d.final and 1 or 0)
  local tty = proc.isatty(1)
  local pr = progress_new(d.name, total, tty)
  pr.done, pr.failed = done0, failed0
  local resumed = done0 + failed0
  local function plural(n, word) return string.format("%d %s%s", n, word, n == 1 and "" or "s") end
  pr:say(string.format("study %s: %s (%s x %s x %s)%s, %s x %s%s",
    d.name, plural(#trials, "trial"), plural(#settings, "setting"), plural(#d.seeds, "seed"),
    d.folds > 0 and plural(d.folds, "fold") or "no folds", d.final and " + final" or "",
    plural(o.jobs, "worker"), plural(o.threads, "thread"),
    resumed > 0 and string.format("; resuming: %d finished before", resumed) or ""))
  if elsewhere > 0 then
    pr:say(string.format("%d trials are being run by another moonlab process; waiting for them", elsewhere))
  end

  proc.catch_signals()
  local workers = {}
  local fatal
  local phase = "select"
  local final_tr

  local function spawn()
    local argv = { o.exe, "__worker", o.script, "--dir", dir, "--seed", tostring(o.seed),
      "--threads", tostring(o.threads) }
    for _, kv in ipairs(o.set_args) do argv[#argv + 1] = "--set"; argv[#argv + 1] = kv end
    local p, serr = proc.spawn(argv, { pipes = true })
    if not p then fatal = serr return nil end
    local w = { pid = p.pid, stdin = p.stdin, messages = p.messages, buf = "" }
    workers[#workers + 1] = w
    return w
  end

  local function finish(w, status, seconds, message)
    local tr = w.trial
    w.trial, w.epoch, w.loss = nil, nil, nil
    local info = study.read_trial(trial_path(dir, tr.id, ".h5"))
    infos[tr.id] = info or { status = status, error = message, metrics = {} }
    local label = tr.final and "final" or ("trial " .. tr.id)
    if status == "done" then
      pr.done = pr.done + 1
      local m = info and info.metrics[d.select_metric]
      pr:say(string.format("%s done  %s%s  %.1fs  [%d/%d]", label, describe_params(tr.params),
        tr.fold > 0 and (" fold " .. tr.fold) or "",
        tonumber(seconds) or 0, pr.done + pr.failed, total)
        .. (type(m) == "number" and string.format("  %s=%.6g", d.select_metric, m) or ""))
    else
      pr.failed = pr.failed + 1
      pr:say(string.format("%s FAILED  %s%s: %s  (log: %s)", label, describe_params(tr.params),
        tr.fold > 0 and (" fold " .. tr.fold) or "", message,
        trial_path(dir, tr.id, ".log")))
    end
  end

  -- The first write of a result (or claim) that the file system refused (disk or quota full,
  -- read-only, no permission): from then on no trial starts, the running ones finish, and the
  -- run ends with this one message; what finished stays, and a rerun resumes.
  local stopped

  -- A trial whose file could not be written: not counted, so a rerun does it again.
  local function unwritten(w, message)
    w.trial, w.epoch, w.loss = nil, nil, nil
    stopped = stopped or message
  end

  local function assign(w, tr)
    local claim = trial_path(dir, tr.id, ".claim")
    local created, cerr = proc.create_exclusive(claim, study.claim_text(w.pid, host))
    if created == false then
      -- another process claimed it meanwhile: wait for its result
      watch[#watch + 1] = tr
      return false
    elseif created == nil then
      stopped = stopped or tostring(cerr)
      return false
    end
    w.trial, w.t0 = tr, core.clock()
    local line = tr.final and ("final " .. tr.setting .. "\n") or ("run " .. tr.id .. "\n")
    local wok = proc.write(w.stdin, line)
    if not wok then os.remove(claim) end
    return true
  end

  local function handle(w, line)
    local f = {}
    for part in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = part end
    local kind = f[1]
    if kind == "epoch" then
      w.epoch, w.loss = f[3], tonumber(f[4]) and string.format("%.4g", tonumber(f[4])) or f[4]
    elseif kind == "done" or kind == "failed" then
      if w.trial and w.trial.id == f[2] then finish(w, kind, f[3], f[4]) end
    elseif kind == "unwritten" then
      if w.trial and w.trial.id == f[2] then unwritten(w, f[4]) end
    elseif kind == "fatal" then
      fatal = f[2]
    end
  end

  local function reap(w)
    local state, code = proc.wait(w.pid, true)
    proc.close(w.stdin)
    proc.close(w.messages)
    w.dead = true
    if w.trial then
      local tr = w.trial
      local reason = state == "killed"
        and string.format("worker killed by signal %d (%s)", code, SIGNAMES[code] or "?")
        or string.format("worker exited with status %d", code)
      -- what the worker last said (a sanitizer's report under a sanitized build)
      local f = io.open(trial_path(dir, tr.id, ".log"), "r")
      if f then
        local text = f:read("a") or ""
        f:close()
        local last = text:match("ERROR: (AddressSanitizer: %S+[^\n]*)")
          or text:match("([^\n]*%S[^\n]*)\n?$")
        if last and not last:match("^== trial ") then reason = reason .. ": " .. last:sub(1, 200) end
      end
      local seconds = core.clock() - w.t0
      local _, cerr, ckind = write_crash(dir, d, tr, reason, seconds)
      os.remove(trial_path(dir, tr.id, ".claim"))
      if ckind == "storage" then unwritten(w, cerr) else finish(w, "failed", seconds, reason) end
    end
  end

  local function stop_workers()
    for _, w in ipairs(workers) do
      if not w.dead then
        proc.kill(w.pid, "TERM", true)
        proc.wait(w.pid, true)
        proc.close(w.stdin)
        proc.close(w.messages)
        if w.trial then os.remove(trial_path(dir, w.trial.id, ".claim")) end
        w.dead = true
      end
    end
  end

  local qi = 1
  local last_beat = core.clock()
  while true do
    if core.clock() - last_beat >= study.HEARTBEAT then
      -- the heartbeat of every running trial, whether or not it logs anything
      for _, w in ipairs(workers) do
        if w.trial and not w.dead then proc.touch(trial_path(dir, w.trial.id, ".claim")) end
      end
      last_beat = core.clock()
    end
    if proc.interrupted() then
      stop_workers()
      pr:say(string.format("interrupted (%s): %d of %d trials finished; run the same command again to resume",
        proc.interrupted(), pr.done + pr.failed, total))
      return 130
    end
    if fatal then
      stop_workers()
      pr:say("moonlab: " .. fatal)
      return 1
    end
    -- drop dead workers
    local live = {}
    for _, w in ipairs(workers) do if not w.dead then live[#live + 1] = w end end
    workers = live
    -- hand out work
    for _, w in ipairs(workers) do
      while not stopped and not w.trial and w.ready and qi <= #queue do
        local tr = queue[qi]
        qi = qi + 1
        assign(w, tr)
      end
    end
    local remaining, idle, starting = #queue - qi + 1, 0, 0
    for _, w in ipairs(workers) do
      if not w.ready then starting = starting + 1 elseif not w.trial then idle = idle + 1 end
    end
    while #workers < o.jobs and remaining > idle + starting and not fatal and not stopped do
      if not spawn() then break end
      starting = starting + 1
    end
    local working = false
    for _, w in ipairs(workers) do if w.trial or (not w.ready and not stopped) then working = true end end
    local exhausted = qi > #queue or stopped
    if not working and exhausted and #watch > 0 and not stopped then
      -- trials another process runs: take over those whose claim is gone without a result
      local still = {}
      for _, tr in ipairs(watch) do
        local st, info = scan_trial(dir, tr, host)
        if st == "claimed" then
          still[#still + 1] = tr
        elseif st == "pending" then
          queue[#queue + 1] = tr
        else
          infos[tr.id] = info
          if st == "done" then pr.done = pr.done + 1 else pr.failed = pr.failed + 1 end
          pr:say(string.format("trial %s %s (run by another process)", tr.id, st))
        end
      end
      watch = still
      if #watch > 0 and qi > #queue then proc.poll({}, 500) end
    elseif not working and exhausted then
      local failed_sel = 0
      for _, tr in ipairs(trials) do
        if not (infos[tr.id] and infos[tr.id].status == "done") then failed_sel = failed_sel + 1 end
      end
      if phase == "select" and d.final and not stopped and failed_sel > 0 then
        -- the test set is touched once, after selection among every setting: not while a
        -- --retry-failed run could still change the choice
        phase = "final"
        pr:say(string.format("final evaluation deferred: %s failed; rerun with --retry-failed",
          plural(failed_sel, "trial")))
      elseif phase == "select" and d.final and not stopped then
        phase = "final"
        local si = select_setting(d, trials, infos, #settings)
        if si then
          final_tr = study.final_trial(d, si, settings[si])
          local st, info = scan_trial(dir, final_tr, host)
          if st == "failed" and o.retry_failed then
            os.remove(trial_path(dir, final_tr.id, ".h5"))
            st = "pending"
          end
          infos[final_tr.id] = info
          if st == "pending" then
            queue[#queue + 1] = final_tr
          elseif st == "done" then
            pr.done = pr.done + 1
          elseif st == "failed" then
            pr.failed = pr.failed + 1
          end
        else
          pr:say("no setting has every trial done; the final evaluation is skipped")
        end
      else
        break
      end
    else
      local fds = {}
      for i, w in ipairs(workers) do fds[i] = w.messages end
      local ready = proc.poll(fds, 250)
      for i, w in ipairs(workers) do
        if ready[i] then
          local chunk = proc.read(w.messages)
          if chunk == "" then
            reap(w)
          elseif chunk then
            w.buf = w.buf .. chunk
            while true do
              local line, rest = w.buf:match("^([^\n]*)\n(.*)$")
              if not line then break end
              w.buf = rest
              if line == "ready" then w.ready = true else handle(w, line) end
            end
          end
        end
      end
      pr:status(workers)
    end
  end
  -- no more work: let the workers go
  for _, w in ipairs(workers) do
    proc.close(w.stdin)
  end
  for _, w in ipairs(workers) do
    proc.wait(w.pid, true)
    proc.close(w.messages)
  end
  pr:clear()
  if stopped then
    io.stderr:write(string.format("moonlab: %s\nmoonlab: stopped with %d of %d trials finished (kept in %s); %s\n",
      stopped, pr.done + pr.failed, total, dir, study.RESUME_HINT))
    return 1
  end
  local cok, cerr, ckind = study.collect(dir, o.out)
  if not cok then
    io.stderr:write("moonlab: ", tostring(cerr), "\n")
    if ckind == "storage" then io.stderr:write("moonlab: ", study.RESUME_HINT, "\n") end
    return 1
  end
  pr:say(string.format("study %s: %d done, %d failed of %d; wall %s", d.name, pr.done, pr.failed,
    total, fmt_duration(core.clock() - pr.started)))
  print(string.format("results: %s", o.out))
  return pr.failed > 0 and 1 or 0
end

---------------------------------------------------------------------------------------------
-- Collect: the study file from the trial files
---------------------------------------------------------------------------------------------

local function mean_std(values)
  local n = #values
  if n == 0 then return 0 / 0, 0 / 0 end
  local m = 0
  for _, v in ipairs(values) do m = m + v end
  m = m / n
  if n < 2 then return m, 0 / 0 end
  local ss = 0
  for _, v in ipairs(values) do ss = ss + (v - m) ^ 2 end
  return m, math.sqrt(ss / (n - 1))
end

local function column_type(values)
  local ty = "int"
  for _, v in ipairs(values) do
    if type(v) == "string" then return "string" end
    if math.type(v) ~= "integer" then ty = "float" end
  end
  return ty
end

-- Per-parameter column of the settings (strings stay strings, booleans become 0/1).
local function param_column(name, values)
  local out = {}
  for i, v in ipairs(values) do out[i] = type(v) == "boolean" and (v and 1 or 0) or v end
  return { name = name, type = column_type(out), values = out }
end

--- study.collect(dir, out): assemble the study file at out from dir's manifest and trial files.
--- Returns true, or nil, message and, when the file system refused the write, "storage"; an
--- older study file at out is then left as it was.
function study.collect(dir, out)
  local m, merr = study.read_manifest(dir)
  if not m then return nil, merr end
  out = out or m.out
  local infos = {}
  local rows = {}
  local metric_names, seen = {}, {}
  local clash = { trial = 1, status = 1, fold = 1, seed = 1, seconds = 1, error = 1 }
  for _, n in ipairs(m.names) do clash[n] = 1 end
  for _, tr in ipairs(m.trials) do
    local path = trial_path(dir, tr.id, ".h5")
    local info = study.read_trial(path)
    infos[tr.id] = info
    if info then
      for k, v in pairs(info.metrics) do
        if not seen[k] and type(v) ~= "string" then seen[k] = true; metric_names[#metric_names + 1] = k end
      end
    end
  end
  table.sort(metric_names)
  local settings = m.settings
  -- summary
  local cols = { trial = {}, status = {}, fold = {}, seed = {}, seconds = {}, error = {} }
  local pcols, mcols = {}, {}
  for _, n in ipairs(m.names) do pcols[n] = {} end
  for _, k in ipairs(metric_names) do mcols[k] = {} end
  local done, failed = 0, 0
  for i, tr in ipairs(m.trials) do
    local info = infos[tr.id]
    cols.trial[i] = tr.id
    cols.status[i] = info and info.status or "pending"
    cols.fold[i] = tr.fold
    cols.seed[i] = tr.seed
    cols.seconds[i] = info and tonumber(info.seconds) or 0 / 0
    cols.error[i] = info and info.error or ""
    if info and info.status == "done" then done = done + 1 elseif info then failed = failed + 1 end
    for _, n in ipairs(m.names) do pcols[n][i] = settings[tr.setting][n] end
    for _, k in ipairs(metric_names) do
      local v = info and info.status == "done" and info.metrics[k]
      mcols[k][i] = type(v) == "number" and v or 0 / 0
    end
  end
  local summary = {
    { name = "trial", type = "string", values = cols.trial },
    { name = "status", type = "string", values = cols.status },
    { name = "fold", type = "int", values = cols.fold },
    { name = "seed", type = "int", values = cols.seed },
  }
  for _, n in ipairs(m.names) do summary[#summary + 1] = param_column(n, pcols[n]) end
  for _, k in ipairs(metric_names) do
    summary[#summary + 1] = { name = clash[k] and ("metric." .. k) or k, type = "float", values = mcols[k] }
  end
  summary[#summary + 1] = { name = "seconds", type = "float", values = cols.seconds }
  summary[#summary + 1] = { name = "error", type = "string", values = cols.error }

  -- aggregates over folds and seeds, per setting
  local per = {}
  for si = 1, #settings do per[si] = { n = 0, values = {} } end
  for _, tr in ipairs(m.trials) do
    local info = infos[tr.id]
    if info and info.status == "done" then
      local a = per[tr.setting]
      a.n = a.n + 1
      for _, k in ipairs(metric_names) do
        local v = info.metrics[k]
        if type(v) == "number" then
          a.values[k] = a.values[k] or {}
          table.insert(a.values[k], v)
        end
      end
    end
  end
  local trials_sel = {}
  for i, tr in ipairs(m.trials) do trials_sel[i] = tr end
  local chosen = select_setting({ select_metric = m.select_metric, select_goal = m.select_goal },
    trials_sel, infos, #settings)
  local agg = {}
  for _, n in ipairs(m.names) do
    local vals = {}
    for si, p in ipairs(settings) do vals[si] = p[n] end
    agg[#agg + 1] = param_column(n, vals)
  end
  local ncol = {}
  for si = 1, #settings do ncol[si] = per[si].n end
  agg[#agg + 1] = { name = "n", type = "int", values = ncol }
  for _, k in ipairs(metric_names) do
    local mean, sd = {}, {}
    for si = 1, #settings do mean[si], sd[si] = mean_std(per[si].values[k] or {}) end
    agg[#agg + 1] = { name = k .. "_mean", type = "float", values = mean }
    agg[#agg + 1] = { name = k .. "_std", type = "float", values = sd }
  end
  local selcol = {}
  for si = 1, #settings do selcol[si] = si == chosen and 1 or 0 end
  agg[#agg + 1] = { name = "selected", type = "int", values = selcol }

  local w, werr, wkind = core.results.create(out)
  if not w then return nil, werr, wkind end
  local ok, e = pcall(function()
    local attrs = copy(m.attrs or {})
    attrs.study = m.study
    attrs.trials = #m.trials + (m.has_final and 1 or 0)
    attrs.select_metric = m.select_metric
    attrs.select_goal = m.select_goal
    attrs.selected = chosen and json(settings[chosen]) or ""
    local final_tr = chosen and m.has_final and study.final_trial({ name = m.study, seeds = m.seeds, identity = m.identity },
      chosen, settings[chosen])
    local final_info = final_tr and study.read_trial(trial_path(dir, final_tr.id, ".h5"))
    if final_info then
      if final_info.status == "done" then done = done + 1 else failed = failed + 1 end
    end
    attrs.done, attrs.failed = done, failed
    attrs.finished = os.date("!%Y-%m-%dT%H:%M:%SZ") -- the manifest's was the start
    for _, k in ipairs(run.sorted_keys(attrs)) do w:attr("/", k, attrs[k]) end
    w:table("/study/summary", #m.trials, summary)
    w:table("/study/aggregates", #settings, agg)
    w:group("/study/trials")
    for _, tr in ipairs(m.trials) do
      if infos[tr.id] then
        w:copy("/study/trials/" .. tr.id, trial_path(dir, tr.id, ".h5"), "/runs/trial")
      end
    end
    local splits = dir .. "/splits.h5"
    local sf = io.open(splits, "r")
    if sf then
      sf:close()
      w:copy("/study/splits", splits, "/splits")
    end
    if final_info then
      w:copy("/study/final", trial_path(dir, final_tr.id, ".h5"), "/runs/trial")
    end
  end)
  if not ok then
    w:abort()
    return nil, "writing " .. out .. ": " .. tostring(e)
  end
  return w:commit()
end

return study
