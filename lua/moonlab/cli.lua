--- The moonlab command line: `moonlab run SCRIPT.lua [--set k=v ...] [--out FILE.h5]
--- [--seed N] [--threads N]`, `moonlab show FILE.h5`, `moonlab plot FILE.h5 -o OUT`,
--- `moonlab --help`, `moonlab --version`.
local core = require "moonlab.core"
local run = require "moonlab.run"
local results = require "moonlab.results"

local cli = {}

local USAGE = [[
usage: moonlab run SCRIPT.lua [--set key=value ...] [--out FILE.h5] [--seed N] [--threads N]
       moonlab show FILE.h5 [--csv | --json]
       moonlab plot FILE.h5 -o OUT.png|svg|pdf [--x PARAM] [--metric NAME] [--kind KIND]
       moonlab --help | --version

  run SCRIPT.lua     run an experiment script and write its results to an HDF5 file
  --set key=value    override a setting the script declares with moonlab.config{...}
                     (repeatable; values: numbers, true/false, or text)
  --out FILE.h5      where to write the results (default: results/<script name>.h5)
  --seed N           root seed of every random stream in the run (default 0)
  --threads N        BLIS threads for matrix products (default: all cores)

  show FILE.h5       a result file in the terminal: a study's mean ± std per setting, the
                     selected one and the final test evaluation, or each run's final metrics
                     (--csv, --json: the same for other programs)
  plot FILE.h5       learning curves, error against a swept parameter and the spread over
                     folds, drawn with gnuplot into OUT (moonlab plot --help for the options)

Docs: README.md, docs/api.md (script API), docs/results.md (result file schema).]]

local function stderr(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
end

-- JSON for the resolved settings (keys sorted, so equal settings give equal text).
local function json(v)
  local t = type(v)
  if t == "table" then
    local parts = {}
    for _, k in ipairs(run.sorted_keys(v)) do
      parts[#parts + 1] = json(tostring(k)) .. ":" .. json(v[k])
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return ({ ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t' })[c]
        or string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return string.format("%.17g", v)
  elseif t == "boolean" then
    return tostring(v)
  end
  return "null"
end
cli.json = json

local function parse_args(argv)
  local o = { overrides = {}, seed = 0, threads = core.cores() }
  if #argv == 0 or argv[1] == "--help" or argv[1] == "-h" or argv[1] == "help" then
    return { help = true }
  end
  if argv[1] == "--version" then return { version = true } end
  if argv[1] ~= "run" then
    return nil, string.format("unknown command '%s'", argv[1])
  end
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
        local k, v = kv:match("^([%a_][%w_]*)=(.*)$")
        if not k then
          error({ usage = string.format("--set %s: expected key=value with a name for key", kv) })
        end
        o.overrides[#o.overrides + 1] = { k, run.parse_value(v) }
      elseif a == "--out" then
        o.out = value("--out")
      elseif a == "--seed" then
        local s = value("--seed")
        o.seed = math.tointeger(tonumber(s))
        if not o.seed or not s:match("^%d+$") then
          error({ usage = "--seed " .. s .. ": expected a non-negative integer" })
        end
      elseif a == "--threads" then
        local s = value("--threads")
        o.threads = math.tointeger(tonumber(s))
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
      local common = read_file(gitdir .. "/commondir")
      -- a linked worktree keeps its branches' refs in the common directory
      local sha = read_file(gitdir .. "/" .. ref)
        or (common and read_file(gitdir .. "/" .. common:match("%S+") .. "/" .. ref))
      if sha then return sha:match("^(%x+)") or "" end
      local packed = read_file(gitdir .. "/packed-refs")
        or (common and read_file(gitdir .. "/" .. common:match("%S+") .. "/packed-refs"))
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

function cli.run(o)
  local script = o.script
  local f = io.open(script, "r")
  if not f then return fail(nil, "moonlab: cannot open script '%s'", script) end
  f:close()
  local out = o.out or ("results/" .. script:match("([^/]+)$"):gsub("%.lua$", "") .. ".h5")
  local outdir = dirname(out)
  if not o.out and outdir ~= "." then
    local ok, err = core.mkdir(outdir)
    if not ok then return fail(nil, "moonlab: %s", err) end
  end
  -- Open the result file first: an unwritable --out fails before any work is done.
  local writer, werr = core.results.create(out)
  if not writer then return fail(nil, "moonlab: --out %s: %s", out, werr) end

  run.reset { seed = o.seed, overrides = o.overrides }
  results.reset()
  core.set_threads(o.threads)
  local started = os.date("!%Y-%m-%dT%H:%M:%SZ")

  local chunk, lerr = loadfile(script)
  if not chunk then
    return fail(writer, "%s", lerr)
  end
  local ok, err = xpcall(chunk, handler_for(script))
  if not ok then
    return fail(writer, "%s%s", err.message, err.traceback)
  end
  if #o.overrides > 0 and not run.declared then
    return fail(writer, "moonlab: --set %s: the script declares no settings (use moonlab.config{...})",
      o.overrides[1][1])
  end

  local sha = core.results.sha256_file(script) or ""
  local v = core.versions()
  local attrs = {
    moonlab_version = v.moonlab, script = script, script_sha256 = sha,
    config = json(run.declared or {}), seed = o.seed, threads = o.threads,
    started = started, finished = os.date("!%Y-%m-%dT%H:%M:%SZ"), host = core.hostname(),
    lua_version = v.lua, blis_version = v.blis, hdf5_version = v.hdf5,
    git_commit = git_commit(dirname(script)),
  }
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

function cli.main(argv)
  if argv[1] == "show" or argv[1] == "plot" then
    return require("moonlab." .. argv[1]).main(table.move(argv, 2, #argv, 1, {}))
  end
  local o, err = parse_args(argv)
  if not o then
    stderr("moonlab: %s\n%s", err, USAGE)
    return 2
  end
  if o.help then print(USAGE) return 0 end
  if o.version then
    local v = core.versions()
    print(string.format("moonlab %s (Lua %s, BLIS %s, HDF5 %s)", v.moonlab, v.lua, v.blis, v.hdf5))
    return 0
  end
  return cli.run(o)
end

return cli
