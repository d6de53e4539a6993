-- Shared helpers for the busted specs: run the moonlab command, temp paths.
local M = {}

M.bin = os.getenv("MOONLAB_BIN") or "build/moonlab"
M.root = os.getenv("MOONLAB_ROOT") or "."

function M.tmpdir()
  local p = io.popen("mktemp -d /tmp/moonlab-spec.XXXXXX")
  local d = p:read("l")
  p:close()
  return d
end

function M.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The bytes of a file.
function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- Files in a directory (names only).
function M.ls(dir)
  local out = {}
  local p = io.popen("ls -A '" .. dir .. "' 2>/dev/null")
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

-- Run `moonlab ARGS` in dir; returns exit code, stdout, stderr. prefix goes before the command
-- (environment settings such as "MOONLAB_TEST_HOOKS=1", or "timeout 60").
function M.moonlab(args, dir, prefix)
  local d = dir or M.tmpdir()
  local cmd = string.format("cd '%s' && %s '%s' %s >'%s/.out' 2>'%s/.err'; echo $?", d, prefix or "",
    M.bin, args, d, d)
  local p = io.popen(cmd)
  local code = tonumber(p:read("l"))
  p:close()
  local function slurp(f)
    local h = io.open(f)
    local s = h:read("a")
    h:close()
    os.remove(f)
    return s
  end
  return code, slurp(d .. "/.out"), slurp(d .. "/.err")
end

return M
