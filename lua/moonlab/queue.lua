--- The batch queue of scripts: `moonlab queue add|run|status|logs|retry|rm`.
---
--- The queue lives in a directory (--queue DIR, else $MOONLAB_QUEUE, else results/queue):
--- queue.db (SQLite, core.queue) and logs/<id>.log. Each entry runs as a child process
--- `moonlab run SCRIPT ARGS... --threads T` in the directory it was added from, its output
--- appended to its log. Any number of `queue run` processes may drain one queue; the store
--- hands each pending entry to exactly one of them, and entries held by a runner that died
--- are put back to pending by the next `queue run` or `queue status`.
local core = require "moonlab.core"

local proc = core.proc
local queue = {}

local USAGE = [[
usage: moonlab queue add SCRIPT.lua... [--set key=value ...] [--seed N] [--out FILE.h5]
       moonlab queue run [-j N] [--threads N] [--stale SECONDS]
       moonlab queue status [--json] [--stale SECONDS]
       moonlab queue logs ID
       moonlab queue retry [ID...]
       moonlab queue rm ID...
  every command takes --queue DIR (default: $MOONLAB_QUEUE, else results/queue)

  add      queue each script to run as `moonlab run SCRIPT [options]` from this directory
  run      run pending entries, N at once (-j, default 1; --threads per entry default
           cores/N), until none is left; several runners may drain one queue together.
           An entry held by a runner that is gone goes back to pending: at once on this
           host, after --stale seconds without heartbeat (default 60) on another host
  status   every entry: status, script, arguments, times, exit status and result or reason
  logs     everything an entry printed, every attempt
  retry    put failed entries back to pending (every failed one when no ID is given)
  rm       remove entries that are not running, with their logs]]

local HEARTBEAT = 5    -- seconds between a runner's heartbeats and recovery passes
local STALE = 60       -- seconds without heartbeat before another host's entry is taken back
local GRACE = 5        -- seconds a stopped entry gets between SIGTERM and SIGKILL
local REASON_WIDTH = 80 -- characters of a failure's reason in the status table (all in --json)

local SIGNALS = {
  [1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [5] = "SIGTRAP",
  [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL", [11] = "SIGSEGV",
  [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM", [24] = "SIGXCPU", [25] = "SIGXFSZ",
}
local function signal_name(n) return SIGNALS[n] or ("signal " .. n) end

-- Errors meant for the user travel as {message = ...} and end the command with exit 1;
-- usage mistakes as {usage = ...} with exit 2.
local function die(fmt, ...) error({ message = string.format(fmt, ...) }, 0) end
local function usage(fmt, ...) error({ usage = string.format(fmt, ...) }, 0) end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- A readable file that is not a directory (io.open succeeds on directories too).
local function readable_file(path)
  if not exists(path) then return false end
  local d = io.open(path .. "/.", "r")
  if d then d:close() return false end
  return true
end

-- Arguments for display, quoted for a POSIX shell where needed.
local function shell_quote(s)
  if s ~= "" and not s:find("[^%w%-%._/=:,+@%%]") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
local function command_line(script, args)
  local parts = { shell_quote(script) }
  for _, a in ipairs(args or {}) do parts[#parts + 1] = shell_quote(a) end
  return table.concat(parts, " ")
end

-- ---- the command line ----

local function parse(argv)
  local o = { cmd = argv[1], sets = {}, ids = {}, scripts = {} }
  local i = 2
  local function value(flag)
    i = i + 1
    if argv[i] == nil then usage("%s needs a value", flag) end
    return argv[i]
  end
  local function positive(flag, s)
    local n = math.tointeger(tonumber(s))
    if not n or n < 1 or not s:match("^%d+$") then
      usage("%s %s: expected a positive integer", flag, s)
    end
    return n
  end
  local takes = {
    add = { ["--set"] = true, ["--seed"] = true, ["--out"] = true },
    run = { ["-j"] = true, ["--jobs"] = true, ["--threads"] = true, ["--stale"] = true },
    status = { ["--json"] = true, ["--stale"] = true },
    logs = {}, retry = {}, rm = {},
  }
  if not takes[o.cmd] then
    if o.cmd == nil then usage("queue: no command given") end
    usage("queue: unknown command '%s'", o.cmd)
  end
  while i <= #argv do
    local a = argv[i]
    if a == "--queue" then
      o.queue = value(a)
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      if not takes[o.cmd][a] then usage("queue %s: unknown option %s", o.cmd, a) end
      if a == "--set" then
        local kv = value(a)
        if not kv:match("^[%a_][%w_]*=") then
          usage("--set %s: expected key=value with a name for key", kv)
        end
        o.sets[#o.sets + 1] = kv
      elseif a == "--seed" then
        local s = value(a)
        if not s:match("^%d+$") or not math.tointeger(tonumber(s)) then
          usage("--seed %s: expected a non-negative integer", s)
        end
        o.seed = s
      elseif a == "--out" then
        o.out = value(a)
      elseif a == "-j" or a == "--jobs" then
        o.jobs = positive(a, value(a))
      elseif a == "--threads" then
        o.threads = positive(a, value(a))
      elseif a == "--stale" then
        local s = value(a)
        o.stale = tonumber(s)
        if not o.stale or o.stale <= 0 then usage("--stale %s: expected a positive number of seconds", s) end
      elseif a == "--json" then
        o.json = true
      end
    elseif o.cmd == "add" then
      o.scripts[#o.scripts + 1] = a
    elseif o.cmd == "logs" or o.cmd == "retry" or o.cmd == "rm" then
      local id = a:match("^%d+$") and math.tointeger(tonumber(a))
      if not id then usage("queue %s: '%s' is not an entry id", o.cmd, a) end
      o.ids[#o.ids + 1] = id
    else
      usage("queue %s: unexpected argument '%s'", o.cmd, a)
    end
    i = i + 1
  end
  o.queue = o.queue or proc.getenv("MOONLAB_QUEUE") or "results/queue"
  o.queue = o.queue:gsub("(.)/+$", "%1")
  return o
end

-- ---- opening the queue ----

local function db_path(o) return o.queue .. "/queue.db" end
local function log_path(o, id) return string.format("%s/logs/%d.log", o.queue, id) end

-- The queue, created if `create`; nil when it does not exist and need not be created.
local function open(o, create)
  if create then
    local ok, err = core.mkdir(o.queue .. "/logs")
    if not ok then die("queue directory '%s': %s", o.queue, err) end
  elseif not exists(db_path(o)) then
    return nil
  end
  local q, err = core.queue.open(db_path(o), { create = create })
  if not q then die("%s", err) end
  return q
end

local function check(ok, err)
  if ok == nil then die("%s", err) end
  return ok
end

-- ---- add ----

local function cmd_add(o)
  if #o.scripts == 0 then usage("queue add: no script given") end
  if o.out and #o.scripts > 1 then
    usage("queue add: --out with %d scripts would have them all write %s", #o.scripts, o.out)
  end
  for _, s in ipairs(o.scripts) do
    if not readable_file(s) then die("cannot open script '%s'", s) end
  end
  local args = {}
  for _, kv in ipairs(o.sets) do
    args[#args + 1] = "--set"
    args[#args + 1] = kv
  end
  if o.seed then args[#args + 1] = "--seed" args[#args + 1] = o.seed end
  if o.out then args[#args + 1] = "--out" args[#args + 1] = o.out end
  local cwd = proc.cwd()
  local q <close> = open(o, true)
  for _, s in ipairs(o.scripts) do
    local id = check(q:add(s, cwd, args))
    print(string.format("added %d: moonlab run %s", id, command_line(s, args)))
  end
  return 0
end

-- ---- status ----

local function clock(t) return t and os.date("%m-%d %H:%M:%S", math.floor(t)) or "" end
local function iso(t) return t and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) or nil end

local function seconds_of(e)
  if not e.started then return nil end
  return (e.finished or proc.now()) - e.started
end

-- Path as seen from the current directory when it lies below it.
local function relative(path, cwd)
  if path and cwd and path:sub(1, #cwd + 1) == cwd .. "/" then return path:sub(#cwd + 2) end
  return path
end

-- At most n characters (UTF-8), the cut marked with an ellipsis.
local function clip(s, n)
  local len = utf8.len(s)
  if not len or len <= n then return s end
  return s:sub(1, utf8.offset(s, n) - 1) .. "…"
end

local function outcome(e, cwd)
  if e.status == "done" then return relative(e.result, cwd) or "" end
  if e.status == "running" then
    return string.format("pid %s on %s", tostring(e.pid or "?"), e.host or "?")
  end
  return clip(e.reason or "", REASON_WIDTH)
end

local function exit_of(e)
  if e.signal then return signal_name(e.signal) end
  if e.exit then return tostring(e.exit) end
  return ""
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ({ ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r' })[c]
      or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function json_value(v)
  if v == nil then return "null" end
  if type(v) == "string" then return json_string(v) end
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return string.format("%.3f", v) end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = json_value(x) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  return tostring(v)
end

local JSON_FIELDS = { "id", "status", "script", "args", "dir", "added", "started", "finished",
  "seconds", "attempts", "host", "runner_pid", "pid", "exit", "signal", "reason", "result", "log" }

local function entry_json(o, e)
  local v = {
    id = e.id, status = e.status, script = e.script, args = e.args, dir = e.dir,
    added = iso(e.added), started = iso(e.started), finished = iso(e.finished),
    seconds = seconds_of(e), attempts = e.attempts, host = e.host, runner_pid = e.runner_pid,
    pid = e.pid, exit = e.exit, signal = e.signal and signal_name(e.signal), reason = e.reason,
    result = e.result, log = exists(log_path(o, e.id)) and log_path(o, e.id) or nil,
  }
  local parts = {}
  for i, k in ipairs(JSON_FIELDS) do parts[i] = json_string(k) .. ":" .. json_value(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function summary(c)
  local total = c.pending + c.running + c.done + c.failed
  return string.format("%d entr%s: %d done, %d failed, %d running, %d pending", total,
    total == 1 and "y" or "ies", c.done, c.failed, c.running, c.pending)
end

local function cmd_status(o)
  local q <close> = open(o, false)
  local entries = {}
  if q then
    check(q:recover(o.stale or STALE))
    entries = check(q:list())
  end
  if o.json then
    local parts = {}
    for i, e in ipairs(entries) do parts[i] = entry_json(o, e) end
    print("[" .. table.concat(parts, ",\n ") .. "]")
    return 0
  end
  if #entries == 0 then
    print(string.format("queue %s: no entries", o.queue))
    return 0
  end
  local cwd = proc.cwd()
  local head = { "id", "status", "script", "args", "started", "finished", "seconds", "exit",
    "result / reason" }
  local right = { true, false, false, false, false, false, true, false, false }
  local rows = { head }
  local counts = { pending = 0, running = 0, done = 0, failed = 0 }
  for _, e in ipairs(entries) do
    counts[e.status] = counts[e.status] + 1
    local secs = seconds_of(e)
    local args = {}
    for i, a in ipairs(e.args) do args[i] = shell_quote(a) end
    rows[#rows + 1] = { tostring(e.id), e.status, e.script, table.concat(args, " "),
      clock(e.started), clock(e.finished), secs and string.format("%.1f", secs) or "",
      exit_of(e), outcome(e, cwd) }
  end
  local width = {}
  for _, r in ipairs(rows) do
    for c, s in ipairs(r) do width[c] = math.max(width[c] or 0, utf8.len(s) or #s) end
  end
  for _, r in ipairs(rows) do
    local cells = {}
    for c, s in ipairs(r) do
      local pad = string.rep(" ", width[c] - (utf8.len(s) or #s))
      cells[c] = c == #r and s or (right[c] and pad .. s or s .. pad)
    end
    print((table.concat(cells, "  "):gsub("%s+$", "")))
  end
  print(summary(counts))
  return 0
end

-- ---- logs, retry, rm ----

local function cmd_logs(o)
  if #o.ids ~= 1 then usage("queue logs: give one entry id") end
  local id = o.ids[1]
  local q <close> = open(o, false)
  if not q then die("no entry %d in the queue (queue %s has no entries)", id, o.queue) end
  local e = check(q:get(id))
  local f = io.open(log_path(o, id), "r")
  if not f then die("entry %d has no log yet (it is %s)", id, e.status) end
  while true do
    local chunk = f:read(65536)
    if not chunk then break end
    io.write(chunk)
  end
  f:close()
  return 0
end

local function cmd_retry(o)
  local q <close> = open(o, false)
  if not q then
    if #o.ids > 0 then die("no entry %d in the queue (queue %s has no entries)", o.ids[1], o.queue) end
    print("no failed entries")
    return 0
  end
  local n = check(q:retry(#o.ids > 0 and o.ids or nil))
  if n == 0 then
    print("no failed entries")
  else
    print(string.format("%d entr%s back to pending", n, n == 1 and "y" or "ies"))
  end
  return 0
end

local function cmd_rm(o)
  if #o.ids == 0 then usage("queue rm: give the ids of the entries to remove") end
  local q <close> = open(o, false)
  if not q then die("no entry %d in the queue (queue %s has no entries)", o.ids[1], o.queue) end
  check(q:remove(o.ids))
  local names = {}
  for i, id in ipairs(o.ids) do
    os.remove(log_path(o, id))
    names[i] = tostring(id)
  end
  print("removed " .. table.concat(names, ", "))
  return 0
end

-- ---- run ----

-- What an attempt printed: the log from offset on (its last 64 KiB at most).
local function attempt_output(path, offset)
  local f = io.open(path, "r")
  if not f then return "" end
  local size = f:seek("end")
  f:seek("set", math.max(offset, size - 65536))
  local text = f:read("a") or ""
  f:close()
  return text
end

-- The line that says why a script failed: the last one before its traceback, if any.
local function failure_line(text)
  local cut, from = nil, 1
  while true do
    local at = text:find("stack traceback:", from, true)
    if not at then break end
    cut, from = at, at + 1
  end
  local before = cut and text:sub(1, cut - 1) or text
  local last
  for line in before:gmatch("[^\n]+") do
    if line:find("%S") then last = line end
  end
  return last and (last:gsub("^%s+", ""):gsub("%s+$", "")) or nil
end

-- The result file a finished `moonlab run` reported ("results: PATH"), absolute.
local function result_path(text, dir)
  local path
  for line in text:gmatch("[^\n]+") do
    path = line:match("^results: (.+)$") or path
  end
  if path and path:sub(1, 1) ~= "/" then path = dir .. "/" .. path end
  return path
end

local function append(path, text)
  local f = io.open(path, "a")
  if f then
    f:write(text)
    f:close()
  end
end

local Runner = {}
Runner.__index = Runner

function Runner:say(fmt, ...)
  local line = os.date("%H:%M:%S ") .. string.format(fmt, ...)
  if self.tty then io.stdout:write("\r\27[K") end
  io.stdout:write(line, "\n")
  self:draw(true)
end

function Runner:draw(force)
  if not self.tty then return end
  local now = proc.now()
  if not force and now - (self.drawn or 0) < 0.2 then return end
  self.drawn = now
  local c = self.q:counts() or self.counts
  self.counts = c
  local total = c.pending + c.running + c.done + c.failed
  local eta = ""
  if self.done > 0 then
    -- entries still to go here, at this runner's mean time per finished entry
    local left = (self.busy / self.done) * (c.pending + self.active) / self.jobs
    eta = string.format(", about %s left", os.date("!%H:%M:%S", math.ceil(left)))
  end
  io.stdout:write(string.format("\r\27[Kqueue: %d/%d done, %d failed, %d running (%d here), %d pending; %s elapsed%s",
    c.done, total, c.failed, c.running, self.active, c.pending,
    os.date("!%H:%M:%S", math.floor(now - self.t0)), eta))
  io.stdout:flush()
end

function Runner:start(e)
  local log = log_path(self.o, e.id)
  local argv = { self.exe, "run", e.script }
  for _, a in ipairs(e.args) do argv[#argv + 1] = a end
  argv[#argv + 1] = "--threads"
  argv[#argv + 1] = tostring(self.threads)
  append(log, string.format("== %s entry %d, attempt %d, on %s (runner %d): moonlab run %s --threads %d\n",
    os.date("!%Y-%m-%dT%H:%M:%SZ"), e.id, e.attempts, core.hostname(), core.pid(),
    command_line(e.script, e.args), self.threads))
  local f = io.open(log, "r")
  local offset = f and f:seek("end") or 0
  if f then f:close() end
  local child, err
  if exists(e.dir .. "/.") then
    child, err = proc.spawn(argv, { log = log, dir = e.dir })
  else
    err = string.format("its directory %s is gone", e.dir)
  end
  if not child then
    local reason = "cannot start: " .. err
    append(log, "== " .. reason .. "\n")
    check(self.q:finish(e.id, "failed", { reason = reason }))
    self.failed = self.failed + 1
    self:say("FAILED %d: %s: %s", e.id, e.script, reason)
    return
  end
  check(self.q:started(e.id, child.pid))
  self.slots[e.id] = { entry = e, pid = child.pid, log = log, offset = offset, t = proc.now() }
  self.active = self.active + 1
  self:say("started %d: %s (pid %d)", e.id, command_line(e.script, e.args), child.pid)
end

-- Record how slot s ended; interrupted: put it back to pending unless it succeeded.
function Runner:ended(id, s, state, code, interrupted)
  self.slots[id] = nil
  self.active = self.active - 1
  local e = s.entry
  local secs = proc.now() - s.t
  local text = attempt_output(s.log, s.offset)
  if state == "exited" and code == 0 then
    local result = result_path(text, e.dir)
    local held = check(self.q:finish(id, "done", { exit = 0, result = result }))
    if held then
      self.done = self.done + 1
      self.busy = self.busy + secs
      self:say("done %d in %.1f s: %s", id, secs, relative(result, self.cwd) or e.script)
    else
      self:say("done %d in %.1f s, but another runner had taken it back", id, secs)
    end
    return
  end
  if interrupted then
    local why = "interrupted by " .. interrupted
    append(s.log, "== " .. why .. "; put back to pending\n")
    check(self.q:release(id, why))
    return
  end
  local line = failure_line(text)
  local fields
  if state == "killed" then
    fields = { signal = code,
      reason = "killed by " .. signal_name(code) .. (line and (": " .. line) or "") }
  else
    fields = { exit = code, reason = line or ("exit status " .. code) }
  end
  append(s.log, "== failed: " .. fields.reason .. "\n")
  local held = check(self.q:finish(id, "failed", fields))
  if held then self.failed = self.failed + 1 end
  self:say("FAILED %d after %.1f s (%s): %s: %s\n         log: %s", id, secs,
    state == "killed" and signal_name(code) or ("exit " .. code), e.script, fields.reason,
    relative(s.log, self.cwd))
end

function Runner:reap(interrupted)
  for id, s in pairs(self.slots) do
    local state, code = proc.wait(s.pid, false)
    if state ~= "running" then self:ended(id, s, state, code, interrupted) end
  end
end

-- Stop every running entry: SIGTERM to its process group, SIGKILL after GRACE seconds.
function Runner:stop(why)
  for _, s in pairs(self.slots) do pcall(proc.kill, s.pid, "TERM", true) end
  local deadline = proc.now() + GRACE
  while next(self.slots) and proc.now() < deadline do
    self:reap(why)
    if next(self.slots) then proc.poll({}, 50) end
  end
  for _, s in pairs(self.slots) do pcall(proc.kill, s.pid, "KILL", true) end
  for id, s in pairs(self.slots) do
    local state, code = proc.wait(s.pid, true)
    self:ended(id, s, state, code, why)
  end
end

function Runner:loop()
  local q, j = self.q, self.jobs
  local next_beat = 0
  while true do
    local sig = proc.interrupted()
    if sig then return sig end
    self:reap(nil)
    local now = proc.now()
    if now >= next_beat then
      check(q:heartbeat())
      local n = check(q:recover(self.stale))
      if n > 0 then self:say("put %d entr%s of a runner that is gone back to pending", n, n == 1 and "y" or "ies") end
      next_beat = now + HEARTBEAT
    end
    local idle = false
    while self.active < j and not proc.interrupted() do
      local e = check(q:claim())
      if not e then idle = true break end
      self:start(e)
    end
    if idle and self.active == 0 then
      -- nothing pending: one more look for entries of runners that died meanwhile
      if check(q:recover(self.stale)) == 0 then return nil end
    end
    self:draw(false)
    proc.poll({}, 100)
  end
end

local function cmd_run(o)
  local q <close> = open(o, false)
  if not q then
    print(string.format("queue %s: no entries", o.queue))
    return 0
  end
  core.mkdir(o.queue .. "/logs") -- in case it was removed; a failure shows at the first entry
  local jobs = o.jobs or 1
  local r = setmetatable({
    o = o, q = q, jobs = jobs, stale = o.stale or STALE,
    threads = o.threads or math.max(1, core.cores() // jobs),
    exe = proc.self_exe(), cwd = proc.cwd(), tty = proc.isatty(1),
    slots = {}, active = 0, done = 0, failed = 0, busy = 0, t0 = proc.now(),
    counts = { pending = 0, running = 0, done = 0, failed = 0 },
  }, Runner)
  io.stdout:setvbuf("line") -- log lines appear as they happen, also in a file
  proc.catch_signals()
  proc.wake_on_child_exit() -- a finished entry ends the loop's wait at once
  local ok, sig = pcall(r.loop, r)
  if not ok then
    -- the store failed (a full disk, a lock held too long): stop what runs, keep it resumable
    pcall(r.stop, r, "an error of the runner")
    error(sig, 0)
  end
  if sig then r:stop(sig) end
  r.counts = check(q:counts())
  if r.tty then io.stdout:write("\r\27[K") end
  local this = string.format("%d done, %d failed in %.1f s", r.done, r.failed, proc.now() - r.t0)
  if sig then
    print(string.format("interrupted by %s: %s; running entries put back to pending (queue: %s)",
      sig, this, summary(r.counts)))
    return sig == "SIGINT" and 130 or 143
  end
  print(string.format("queue run: %s (queue: %s)", this, summary(r.counts)))
  return r.failed > 0 and 1 or 0
end

-- ---- entry point ----

local commands = { add = cmd_add, run = cmd_run, status = cmd_status, logs = cmd_logs,
  retry = cmd_retry, rm = cmd_rm }

--- moonlab queue ARGS... (argv without "queue"); returns the exit code.
function queue.main(argv)
  if argv[1] == nil or argv[1] == "--help" or argv[1] == "-h" or argv[1] == "help" then
    print(USAGE)
    return argv[1] == nil and 2 or 0
  end
  local ok, res = pcall(function()
    local o = parse(argv)
    return commands[o.cmd](o)
  end)
  if ok then return res end
  if type(res) == "table" and res.usage then
    io.stderr:write("moonlab queue: ", res.usage, "\n", USAGE, "\n")
    return 2
  end
  if type(res) == "table" and res.message then
    io.stderr:write("moonlab queue: ", res.message, "\n")
    return 1
  end
  error(res, 0)
end

queue.USAGE = USAGE
return queue
