--- Reading moonlab result files back (docs/results.md) for `moonlab show` and `moonlab plot`:
--- a run file's runs (metrics, history) or a study file's aggregates, summary, trials and
--- final evaluation, as plain Lua tables. The HDF5 reading is core.rfile (C); this module
--- only knows the schema. Every problem with the file raises an error object
--- {message = "FILE: OBJECT: what"}; anything else raised is a bug.
local core = require "moonlab.core"

local rfile = {}

local function fail(fmt, ...)
  error({ message = string.format(fmt, ...) }, 0)
end
rfile.fail = fail

--- rfile.is_error(e): true for the errors this module raises about a file.
function rfile.is_error(e)
  return type(e) == "table" and type(e.message) == "string"
end

local function must(v, err, ...)
  if v == nil then fail("%s", err) end
  return v, err, ...
end

-- ---- JSON (the params attributes): objects, arrays, strings, numbers, true/false/null ----

local function decode_json(s, where)
  local pos = 1
  local function bad(what)
    fail("%s: %s at character %d of %q", where, what, pos, s)
  end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == "" then bad("unterminated string") end
      if c == '"' then pos = pos + 1 break end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
          n = "\n", r = "\r", t = "\t" })[e]
        if simple then
          out[#out + 1] = simple
          pos = pos + 2
        elseif e == "u" and s:sub(pos + 2, pos + 5):match("^%x%x%x%x$") then
          out[#out + 1] = utf8.char(tonumber(s:sub(pos + 2, pos + 5), 16))
          pos = pos + 6
        else
          bad("bad escape")
        end
      else
        out[#out + 1] = c
        pos = pos + 1
      end
    end
    return table.concat(out)
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local obj, order = {}, {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1 return obj, order end
      while true do
        ws()
        if s:sub(pos, pos) ~= '"' then bad("expected a key") end
        local k = str()
        ws()
        if s:sub(pos, pos) ~= ":" then bad("expected ':'") end
        pos = pos + 1
        obj[k] = value()
        order[#order + 1] = k
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return obj, order end
        if d ~= "," then bad("expected ',' or '}'") end
      end
    elseif c == "[" then
      local arr = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1 return arr end
      while true do
        arr[#arr + 1] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return arr end
        if d ~= "," then bad("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif s:find("^true", pos) then pos = pos + 4 return true
    elseif s:find("^false", pos) then pos = pos + 5 return false
    elseif s:find("^null", pos) then pos = pos + 4 return nil
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" or num == "-" then bad("unexpected character") end
      pos = pos + #num
      return math.tointeger(tonumber(num)) or tonumber(num) or bad("bad number")
    end
  end
  local v, order = value()
  ws()
  if pos <= #s then bad("trailing text") end
  return v, order
end
rfile.decode_json = decode_json

-- ---- the reader ----

local Reader = {}
Reader.__index = Reader

--- rfile.open(path) -> reader; raises {message} for a missing, unreadable or non-moonlab file.
function rfile.open(path)
  local r, err = core.rfile.open(path)
  if not r then fail("%s", err) end
  local self = setmetatable({ r = r, path = path }, Reader)
  self.is_study = must(r:kind("/study")) == "group"
  local has_runs = must(r:kind("/runs")) == "group"
  local attrs, aerr = r:attrs("/")
  if not (self.is_study or has_runs or (attrs and attrs.moonlab_version ~= nil)) then
    r:close()
    if not attrs then fail("%s", aerr) end -- why the root's attributes could not be read
    fail("%s: not a moonlab result file (no moonlab_version attribute, /runs or /study)", path)
  end
  self.attrs = must(attrs, aerr)
  return self
end

function Reader:close() self.r:close() end

function Reader:kind(path) return must(self.r:kind(path)) end
function Reader:list(path) return must(self.r:list(path)) end
function Reader:attrs_of(path) return must(self.r:attrs(path)) end

--- reader:table(path) -> {names = {...}, types = {name = type}, cols = {name = values}, n =}
function Reader:table(path)
  local cols, n = self.r:table(path)
  if not cols then fail("%s", n) end
  local t = { names = {}, types = {}, cols = {}, n = n, path = path }
  for i, c in ipairs(cols) do
    t.names[i] = c.name
    t.types[c.name] = c.type
    t.cols[c.name] = c.values
  end
  return t
end

--- reader:optional_table(path) -> table, or nil when nothing is at path.
function Reader:optional_table(path)
  if not self:kind(path) then return nil end
  return self:table(path)
end

-- The one row of a metrics table as (names in table order, values by name).
local function one_row(t)
  local values = {}
  for _, name in ipairs(t.names) do values[name] = t.cols[name][1] end
  return t.names, values
end

-- Numeric order for names that are numbers ("2" before "10"), byte order otherwise.
local function natural_less(a, b)
  local na, nb = tonumber(a), tonumber(b)
  if na and nb then return na < nb end
  if na or nb then return na ~= nil end
  return a < b
end
rfile.natural_less = natural_less

--- reader:runs() -> list of {name, metric_names, metrics, history (table or nil), attrs}
function Reader:runs()
  local out = {}
  if self:kind("/runs") ~= "group" then return out end
  local names = self:list("/runs")
  table.sort(names, natural_less)
  for _, name in ipairs(names) do
    local g = "/runs/" .. name
    if self:kind(g) == "group" then
      local run = { name = name, metric_names = {}, metrics = {}, attrs = self:attrs_of(g) }
      local m = self:optional_table(g .. "/metrics")
      if m then
        if m.n ~= 1 then fail("%s: %s/metrics: %d rows, expected 1", self.path, g, m.n) end
        run.metric_names, run.metrics = one_row(m)
      end
      run.history = self:optional_table(g .. "/history")
      out[#out + 1] = run
    end
  end
  return out
end

--- reader:study() -> the study's tables and facts:
---   params   parameter names (the aggregate columns before n)
---   metrics  metric names (with <m>_mean and <m>_std aggregate columns), in column order
---   agg      the aggregates table; selected = its selected row (or nil)
---   summary  the summary table (or nil)
---   final    {params = decoded JSON, params_json, metric_names, metrics, history} or nil
function Reader:study()
  local s = { name = self.attrs.study, params = {}, metrics = {} }
  local agg = self:table("/study/aggregates")
  local n_at
  for i, name in ipairs(agg.names) do
    if name == "n" then n_at = i break end
  end
  if not n_at then
    fail("%s: /study/aggregates: no 'n' column (not a moonlab study table)", self.path)
  end
  for i = 1, n_at - 1 do s.params[i] = agg.names[i] end
  for i = n_at + 1, #agg.names do
    local m = agg.names[i]:match("^(.+)_mean$")
    if m and agg.types[m .. "_std"] then s.metrics[#s.metrics + 1] = m end
  end
  s.agg = agg
  local sel = agg.cols.selected
  if sel then
    for row = 1, agg.n do
      if sel[row] == 1 then s.selected = row break end
    end
  end
  s.summary = self:optional_table("/study/summary")
  if self:kind("/study/final") == "group" then
    local fa = self:attrs_of("/study/final")
    local f = { params_json = fa.params, metric_names = {}, metrics = {} }
    if type(fa.params) == "string" and fa.params ~= "" then
      f.params, f.param_order = decode_json(fa.params, self.path .. ": /study/final: params")
    end
    local m = self:optional_table("/study/final/metrics")
    if m and m.n >= 1 then f.metric_names, f.metrics = one_row(m) end
    f.history = self:optional_table("/study/final/history")
    s.final = f
  end
  return s
end

--- reader:trials() -> list of {id, attrs, params (decoded), history (table or nil)} for every
--- group under /study/trials, in id order.
function Reader:trials()
  local out = {}
  if self:kind("/study/trials") ~= "group" then return out end
  local ids = self:list("/study/trials")
  for _, id in ipairs(ids) do
    local g = "/study/trials/" .. id
    if self:kind(g) == "group" then
      local a = self:attrs_of(g)
      local t = { id = id, attrs = a }
      if type(a.params) == "string" and a.params ~= "" then
        t.params = decode_json(a.params, self.path .. ": " .. g .. ": params")
      end
      t.history = self:optional_table(g .. "/history")
      out[#out + 1] = t
    end
  end
  return out
end

--- reader:trial_vector(id, name) -> list of numbers and what its entries count (the
--- dataset's "index" attribute, or nil), or nil when trial `id` has no one-dimensional dataset
--- `name` among its parameters (/study/trials/<id>/params/<name>: what a trial's
--- `run:param(name, tensor [, {index =}])` recorded, e.g. a gradient norm per distance).
function Reader:trial_vector(id, name)
  if name:find("/", 1, true) or name == "" or name == "." or name == ".." then return nil end
  local path = "/study/trials/" .. id .. "/params/" .. name
  if self:kind(path) ~= "dataset" then return nil end
  local t = must(self.r:tensor(path))
  if t:dim() ~= 1 then return nil end
  local index = self:attrs_of(path).index
  return t:totable(), type(index) == "string" and index ~= "" and index or nil
end

-- ---- formatting shared by show and plot ----

--- rfile.is_nan(v)
function rfile.is_nan(v) return v ~= v end

--- rfile.value_text(v): a parameter or cell as text (integers as they are, floats %.6g).
function rfile.value_text(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then
    if v ~= v then return "nan" end
    return string.format("%.6g", v)
  end
  if type(v) == "boolean" then return tostring(v) end
  if v == nil then return "" end
  return tostring(v)
end

return rfile
