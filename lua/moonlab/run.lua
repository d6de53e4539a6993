--- The state of one run: root seed, `--set` overrides and which of them the script declared.
--- The CLI fills it in before the script starts; scripts reach it through ml.config / ml.seed.
local core = require "moonlab.core"

local run = {
  root_seed = 0,
  overrides = {},      -- key -> value parsed from --set
  override_order = {}, -- keys in command-line order
  declared = nil,      -- the resolved settings once the script called ml.config
  models = 0,          -- models built without a seed so far (nn.sequential's n); 0 again per trial
}

function run.reset(opts)
  opts = opts or {}
  run.root_seed = opts.seed or 0
  run.overrides, run.override_order = {}, {}
  for _, kv in ipairs(opts.overrides or {}) do
    run.overrides[kv[1]] = kv[2]
    run.override_order[#run.override_order + 1] = kv[1]
  end
  run.declared = nil
  run.models = 0
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end
run.sorted_keys = sorted_keys

--- JSON text of a value (keys sorted, so equal tables give equal text; NaN and Inf as null).
local function json(v)
  local t = type(v)
  if t == "table" then
    local parts = {}
    for _, k in ipairs(sorted_keys(v)) do
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
run.json = json

--- ml.config(defaults) -> settings. Each --set key must be one of the defaults' keys and its
--- value must have the default's type (integer settings take integers only).
function run.config(defaults)
  if type(defaults) ~= "table" then
    error("config: expected a table of default settings, got " .. type(defaults), 2)
  end
  if run.declared then
    error("config: called twice; declare every setting in one ml.config{...}", 2)
  end
  local out = {}
  for k, v in pairs(defaults) do
    if type(k) ~= "string" then error("config: setting names must be strings", 2) end
    out[k] = v
  end
  for _, k in ipairs(run.override_order) do
    local v = run.overrides[k]
    local d = defaults[k]
    if d == nil then
      error(string.format("--set %s: the script has no setting '%s' (it has: %s)", k, k,
        table.concat(sorted_keys(defaults), ", ")), 2)
    end
    local want = type(d)
    if want == "number" and math.type(d) == "integer" then
      if math.type(v) ~= "integer" then
        error(string.format("--set %s=%s: '%s' is an integer setting", k, tostring(v), k), 2)
      end
    elseif want == "number" then
      if type(v) ~= "number" then
        error(string.format("--set %s=%s: '%s' is a number setting", k, tostring(v), k), 2)
      end
      v = v + 0.0
    elseif want == "boolean" then
      if type(v) ~= "boolean" then
        error(string.format("--set %s=%s: '%s' is a boolean setting (true or false)", k, tostring(v), k), 2)
      end
    elseif want == "string" then
      v = tostring(v)
    else
      error(string.format("--set %s: setting '%s' is a %s and cannot be set from the command line", k, k, want), 2)
    end
    out[k] = v
  end
  run.declared = out
  return out
end

--- ml.seed() -> root seed; ml.seed(name [, index]) -> a seed derived from it.
function run.seed(name, index)
  if name == nil then return run.root_seed end
  return core.rng.derive(run.root_seed, tostring(name), index or 0)
end

--- Parse a --set value: true/false, integers, numbers, otherwise a string (Lua's tonumber
--- rules, read in C: engine/src/setting.c).
run.parse_value = core.setting.value

return run
