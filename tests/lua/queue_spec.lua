-- moonlab queue end to end (build/moonlab and tiny scripts): add/status/run/logs/retry/rm,
-- failures recorded with their reason while the rest completes, two runners draining one
-- queue (each entry runs once), kill -9 of a runner and Ctrl-C (SIGINT) leaving everything
-- resumable, and one clear error line for each bad input.
local h = require "helpers"
local json = require "dkjson"

-- Appends its id to ran.txt, sleeps, records a metric. With once = true it sleeps only on its
-- first attempt (the marker file <id>.started holds that attempt's pid).
local NOTE = [[
local ml = require "moonlab"
local core = require "moonlab.core"
local cfg = ml.config { id = 0, sleep = 0.0, once = false, fail = "" }
local f = assert(io.open("ran.txt", "a"))
f:write(cfg.id, "\n")
f:close()
print("entry " .. cfg.id .. " says hello")
if cfg.fail == "raise" then error("entry " .. cfg.id .. " cannot go on") end
if cfg.fail == "kill" then os.execute("kill -KILL $PPID") end
local marker = cfg.id .. ".started"
if not cfg.once or not io.open(marker) then
  local m = assert(io.open(marker, "w"))
  m:write(core.pid())
  m:close()
  if cfg.sleep > 0 then os.execute("sleep " .. cfg.sleep) end
end
ml.results.run("r"):metric("id", cfg.id)
]]

local function sh(d, cmd)
  local p = io.popen(string.format("cd '%s' && %s >'%s/.out' 2>'%s/.err'; echo $?", d, cmd, d, d))
  local code = tonumber(p:read("l"))
  p:close()
  local function slurp(f)
    local fh = io.open(f)
    local s = fh:read("a")
    fh:close()
    return s
  end
  return code, slurp(d .. "/.out"), slurp(d .. "/.err")
end

local function ml(d, args) return h.moonlab(args, d) end

local function setup()
  local d = h.tmpdir()
  h.write(d .. "/note.lua", NOTE)
  return d
end

local function status(d)
  local code, out, err = ml(d, "queue status --json")
  assert.are.equal(0, code, err)
  local t = json.decode(out)
  assert.is_table(t, out)
  return t
end

local function lines(path)
  local out = {}
  local f = io.open(path)
  if not f then return out end
  for l in f:lines() do out[#out + 1] = l end
  f:close()
  return out
end

local function wait_for(what, fn, seconds)
  local deadline = os.time() + (seconds or 30)
  while os.time() <= deadline do
    local v = fn()
    if v then return v end
    os.execute("sleep 0.05")
  end
  error("timed out waiting for " .. what)
end

-- Start `moonlab ARGS` in the background in d; its exit code lands in d/<tag>.rc.
local function background(d, args, tag)
  os.execute(string.format("cd '%s' && ( '%s' %s >%s.out 2>%s.err; echo $? >%s.rc.tmp; mv %s.rc.tmp %s.rc ) >/dev/null 2>&1 &",
    d, h.bin, args, tag, tag, tag, tag, tag))
end

local function exit_code(d, tag)
  return wait_for(tag .. " to end", function()
    local l = lines(d .. "/" .. tag .. ".rc")
    return l[1] and tonumber(l[1])
  end, 60)
end

-- 1 if pid names a live process that has not finished (a zombie has).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("a")
  f:close()
  local state = s:match("%) (%a)")
  return state ~= "Z" and state ~= "X"
end

local function by_id(entries)
  local t = {}
  for _, e in ipairs(entries) do t[e.id] = e end
  return t
end

describe("moonlab queue", function()
  it("adds, shows, runs, logs and removes entries", function()
    local d = setup()
    local code, out, err = ml(d, "queue add note.lua --set id=1 --set sleep=0.1")
    assert.are.equal(0, code, err)
    assert.are.equal("added 1: moonlab run note.lua --set id=1 --set sleep=0.1\n", out)
    code, out = ml(d, "queue add note.lua note.lua --set id=2 --seed 5")
    assert.are.equal(0, code)
    assert.are.equal("added 2: moonlab run note.lua --set id=2 --seed 5\n"
      .. "added 3: moonlab run note.lua --set id=2 --seed 5\n", out)
    code, out = ml(d, "queue add note.lua --set id=4 --out four.h5")
    assert.are.equal(0, code)

    code, out = ml(d, "queue status")
    assert.are.equal(0, code)
    assert.truthy(out:match("^id%s+status%s+script%s+args%s+started%s+finished%s+seconds%s+exit%s+result / reason\n"), out)
    assert.truthy(out:find("\n 2  pending  note.lua  --set id=2 --seed 5\n", 1, true), out)
    assert.truthy(out:find("4 entries: 0 done, 0 failed, 0 running, 4 pending\n", 1, true), out)

    code, out, err = ml(d, "queue run -j 2")
    assert.are.equal(0, code, err .. out)
    assert.truthy(out:find("started 1: note.lua --set id=1 --set sleep=0.1 (pid ", 1, true), out)
    assert.truthy(out:find("done 4 in [%d.]+ s: four%.h5"), out)
    assert.truthy(out:find("queue run: 4 done, 0 failed in", 1, true), out)
    local ran = lines(d .. "/ran.txt")
    table.sort(ran)
    assert.are.same({ "1", "2", "2", "4" }, ran)

    local es = status(d)
    assert.are.equal(4, #es)
    for i, e in ipairs(es) do
      assert.are.equal(i, e.id)
      assert.are.equal("done", e.status)
      assert.are.equal(0, e.exit)
      assert.are.equal(1, e.attempts)
      assert.truthy(e.seconds >= 0 and e.started <= e.finished)
      assert.is_true(h.exists(e.result), e.result)
      assert.are.equal("results/queue/logs/" .. i .. ".log", e.log)
    end
    assert.are.equal(d .. "/results/note.h5", es[1].result)
    assert.are.equal(d .. "/four.h5", es[4].result)
    assert.are.same({ "--set", "id=2", "--seed", "5" }, es[2].args)
    assert.are.equal(d, es[2].dir)
    assert.truthy(es[1].seconds >= 0.1)

    code, out = ml(d, "queue logs 2")
    assert.are.equal(0, code)
    assert.truthy(out:match("^== %d+%-%d+%-%d+T[%d:]+Z entry 2, attempt 1, on .- %(runner %d+%): moonlab run note%.lua %-%-set id=2 %-%-seed 5 %-%-threads %d+\n"), out)
    assert.truthy(out:find("entry 2 says hello\nresults: results/note.h5\n", 1, true), out)

    code, out = ml(d, "queue rm 1 3")
    assert.are.equal(0, code)
    assert.are.equal("removed 1, 3\n", out)
    assert.is_false(h.exists(d .. "/results/queue/logs/1.log"))
    assert.is_true(h.exists(d .. "/results/queue/logs/2.log"))
    es = status(d)
    assert.are.same({ 2, 4 }, { es[1].id, es[2].id })
    -- ids are never reused
    code, out = ml(d, "queue add note.lua")
    assert.are.equal("added 5: moonlab run note.lua\n", out)
  end)

  it("records failures with their reason when they happen while the rest completes", function()
    local d = setup()
    h.write(d .. "/fixable.lua", [[
require("moonlab").config { id = 0 }
if not io.open("fixed") then error("the input is not ready") end
print("fixed now")
]])
    assert.are.equal(0, (ml(d, "queue add note.lua --set id=1 --set sleep=0.3")))
    assert.are.equal(0, (ml(d, "queue add note.lua --set id=2 --set fail=raise")))
    assert.are.equal(0, (ml(d, "queue add note.lua --set id=3 --set fail=kill")))
    assert.are.equal(0, (ml(d, "queue add fixable.lua note.lua --set id=4")))
    local code, out = ml(d, "queue run -j 2")
    assert.are.equal(1, code)
    -- the failure is printed as it happens, before entries that end later
    local fail2 = out:find("FAILED 2 after [%d.]+ s %(exit 1%): note%.lua: note%.lua:8: entry 2 cannot go on\n")
    local done1 = out:find("done 1 in", 1, true)
    assert.truthy(fail2 and done1 and fail2 < done1, out)
    assert.truthy(out:find("FAILED 3 after [%d.]+ s %(SIGKILL%): note%.lua: killed by SIGKILL: entry 3 says hello\n"), out)
    assert.truthy(out:find("log: results/queue/logs/2.log", 1, true), out)
    assert.truthy(out:find("queue run: 2 done, 3 failed", 1, true), out)

    local es = by_id(status(d))
    assert.are.equal("done", es[1].status)
    assert.are.equal("done", es[5].status)
    assert.are.equal("failed", es[2].status)
    assert.are.equal(1, es[2].exit)
    assert.are.equal("note.lua:8: entry 2 cannot go on", es[2].reason)
    assert.are.equal("failed", es[3].status)
    assert.are.equal("SIGKILL", es[3].signal)
    assert.is_nil(es[3].exit)
    assert.are.equal("fixable.lua:2: the input is not ready", es[4].reason)
    assert.is_nil(es[2].result)

    local text
    code, text = ml(d, "queue status")
    assert.truthy(text:find("\n%s*2%s+failed%s+note%.lua%s+%-%-set id=2 %-%-set fail=raise%s"), text)
    assert.truthy(text:find("SIGKILL  killed by SIGKILL: entry 3 says hello", 1, true), text)

    -- retry one by id, then fix the other and retry every failed entry
    code, out = ml(d, "queue retry 3")
    assert.are.equal(0, code)
    assert.are.equal("1 entry back to pending\n", out)
    code, _, text = ml(d, "queue retry 1")
    assert.are.equal(1, code)
    assert.are.equal("moonlab queue: entry 1 is done, not failed\n", text)
    h.write(d .. "/fixed", "")
    code, out = ml(d, "queue retry")
    assert.are.equal("2 entries back to pending\n", out)
    es = by_id(status(d))
    assert.are.equal("pending", es[2].status)
    assert.is_nil(es[2].reason)
    assert.are.equal("pending", es[3].status)
    assert.are.equal("pending", es[4].status)
    code = ml(d, "queue run -j 2")
    assert.are.equal(1, code) -- 2 and 3 fail again
    es = by_id(status(d))
    assert.are.equal("done", es[4].status)
    assert.are.equal(2, es[4].attempts)
    assert.are.equal("failed", es[2].status)
    assert.are.equal(2, es[2].attempts)
    code, out = ml(d, "queue logs 4")
    assert.truthy(out:find("entry 4, attempt 1,.-not ready.-== failed: fixable%.lua:2: the input is not ready\n== .-entry 4, attempt 2,.-fixed now\n"), out)
  end)

  it("gives each entry to exactly one of two runners started at once", function()
    local d = setup()
    for i = 1, 8 do
      assert.are.equal(0, (ml(d, "queue add note.lua --set sleep=0.2 --set id=" .. i)))
    end
    background(d, "queue run -j 1", "a")
    background(d, "queue run -j 1", "b")
    assert.are.equal(0, exit_code(d, "a"))
    assert.are.equal(0, exit_code(d, "b"))
    local ran = lines(d .. "/ran.txt")
    table.sort(ran, function(x, y) return tonumber(x) < tonumber(y) end)
    assert.are.same({ "1", "2", "3", "4", "5", "6", "7", "8" }, ran)
    local runners, n = {}, 0
    for _, e in ipairs(status(d)) do
      assert.are.equal("done", e.status)
      assert.are.equal(1, e.attempts)
      if not runners[e.runner_pid] then n = n + 1 end
      runners[e.runner_pid] = true
    end
    assert.are.equal(2, n) -- both runners took part
  end)

  it("finishes everything after kill -9 of a runner in the middle of an entry", function()
    local d = setup()
    assert.are.equal(0, (ml(d, "queue add note.lua --set id=1 --set sleep=30 --set once=true")))
    assert.are.equal(0, (ml(d, "queue add note.lua --set id=2")))
    assert.are.equal(0, (ml(d, "queue add note.lua --set id=3")))
    background(d, "queue run -j 1", "a")
    local child = wait_for("entry 1 to start", function() return lines(d .. "/1.started")[1] end)
    local e = by_id(status(d))[1]
    assert.are.equal("running", e.status)
    assert.are.equal(tonumber(child), e.pid)
    os.execute("kill -9 " .. e.runner_pid)
    assert.are.equal(137, exit_code(d, "a"))
    assert.is_true(alive(child)) -- the entry's process outlives its runner ...

    local code, out, err = ml(d, "queue run")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("put 1 entry of a runner that is gone back to pending", 1, true), out)
    assert.is_false(alive(child)) -- ... until the next runner kills it
    local es = by_id(status(d))
    for id = 1, 3 do assert.are.equal("done", es[id].status) end
    assert.are.equal(2, es[1].attempts)
    assert.are.equal(1, es[2].attempts)
    local ran = lines(d .. "/ran.txt")
    assert.are.same({ "1", "1", "2", "3" }, ran) -- entry 1 twice: the killed attempt and the rerun
  end)

  it("stops cleanly on SIGINT and resumes", function()
    local d = setup()
    assert.are.equal(0, (ml(d, "queue add note.lua --set id=1 --set sleep=30 --set once=true")))
    assert.are.equal(0, (ml(d, "queue add note.lua --set id=2")))
    background(d, "queue run -j 1", "a")
    local child = tonumber(wait_for("entry 1 to start", function() return lines(d .. "/1.started")[1] end))
    local runner = by_id(status(d))[1].runner_pid
    os.execute("kill -INT " .. runner)
    assert.are.equal(130, exit_code(d, "a"))
    assert.is_false(alive(child))
    local out = table.concat(lines(d .. "/a.out"), "\n")
    assert.truthy(out:find("interrupted by SIGINT: 0 done, 0 failed in [%d.]+ s; running entries put back to pending"), out)
    local es = by_id(status(d))
    assert.are.equal("pending", es[1].status)
    assert.are.equal("interrupted by SIGINT", es[1].reason)
    assert.are.equal("pending", es[2].status)
    local _, log = ml(d, "queue logs 1")
    assert.truthy(log:find("== interrupted by SIGINT; put back to pending\n", 1, true), log)

    local code, _, err = ml(d, "queue run")
    assert.are.equal(0, code, err)
    es = by_id(status(d))
    assert.are.equal("done", es[1].status)
    assert.are.equal("done", es[2].status)
    assert.are.equal(2, es[1].attempts)
  end)

  it("fails an entry whose directory is gone, naming it", function()
    local d = setup()
    os.execute("mkdir '" .. d .. "/sub' && cp '" .. d .. "/note.lua' '" .. d .. "/sub/'")
    local code, out, err = sh(d .. "/sub", string.format("'%s' queue add note.lua --queue ../q", h.bin))
    assert.are.equal(0, code, err)
    os.execute("rm -r '" .. d .. "/sub'")
    code, out = ml(d, "queue run --queue q")
    assert.are.equal(1, code)
    local _, json_out = ml(d, "queue status --json --queue q")
    local e = json.decode(json_out)[1]
    assert.are.equal("failed", e.status)
    assert.are.equal("cannot start: its directory " .. d .. "/sub is gone", e.reason)
    assert.truthy(out:find("FAILED 1: note.lua: cannot start: its directory", 1, true), out)
  end)

  it("finds its queue through --queue and MOONLAB_QUEUE", function()
    local d = setup()
    assert.are.equal(0, (ml(d, "queue add note.lua --queue q1")))
    assert.is_true(h.exists(d .. "/q1/queue.db"))
    local code, out = sh(d, string.format("MOONLAB_QUEUE=q2 '%s' queue add note.lua --set id=7", h.bin))
    assert.are.equal(0, code)
    assert.is_true(h.exists(d .. "/q2/queue.db"))
    code, out = sh(d, string.format("MOONLAB_QUEUE=q2 '%s' queue run", h.bin))
    assert.are.equal(0, code)
    assert.are.same({ "7" }, lines(d .. "/ran.txt"))
    code, out = ml(d, "queue status --queue q1")
    assert.truthy(out:find("1 entry: 0 done, 0 failed, 0 running, 1 pending", 1, true), out)
    code, out = ml(d, "queue status")
    assert.are.equal(0, code)
    assert.are.equal("queue results/queue: no entries\n", out)
    assert.is_false(h.exists(d .. "/results/queue")) -- looking does not create it
  end)

  it("rejects bad input with one clear line", function()
    local d = setup()
    local function fails(args, want, want_code)
      local code, out, err = ml(d, args)
      assert.are.equal(want_code or 1, code, args)
      if want_code == 2 then
        assert.truthy(err:find("^moonlab queue: " .. want:gsub("%p", "%%%0") .. "\nusage: moonlab queue add"), err)
      else
        assert.are.equal("moonlab queue: " .. want .. "\n", err)
      end
      assert.are.equal("", out)
    end
    fails("queue add nope.lua", "cannot open script 'nope.lua'")
    fails("queue add note.lua nope.lua", "cannot open script 'nope.lua'")
    fails("queue add .", "cannot open script '.'")
    assert.is_false(h.exists(d .. "/results")) -- nothing was added
    h.write(d .. "/file", "")
    fails("queue add note.lua --queue file/q",
      "queue directory 'file/q': cannot create directory 'file/q': Not a directory")
    fails("queue logs 9", "no entry 9 in the queue (queue results/queue has no entries)")
    assert.are.equal(0, (ml(d, "queue add note.lua")))
    fails("queue logs 9", "no entry 9 in the queue")
    fails("queue logs 1", "entry 1 has no log yet (it is pending)")
    fails("queue rm 1 9", "no entry 9 in the queue")
    fails("queue retry 9", "no entry 9 in the queue")
    fails("queue retry 1", "entry 1 is pending, not failed")
    assert.are.equal(1, #status(d)) -- the failed rm removed nothing
    os.execute("mkdir -p '" .. d .. "/bad' && echo 'not a database at all, just some text here' >'" .. d .. "/bad/queue.db'")
    local code, _, err = ml(d, "queue status --queue bad")
    assert.are.equal(1, code)
    assert.truthy(err:match("^moonlab queue: queue database 'bad/queue.db': cannot open %(is it a queue database%?%): file is not a database\n$"), err)

    fails("queue frob", "queue: unknown command 'frob'", 2)
    fails("queue run -j 0", "-j 0: expected a positive integer", 2)
    fails("queue run --threads x", "--threads x: expected a positive integer", 2)
    fails("queue add note.lua --set 3=x", "--set 3=x: expected key=value with a name for key", 2)
    fails("queue add note.lua --seed -1", "--seed -1: expected a non-negative integer", 2)
    fails("queue add a.lua b.lua --out x.h5", "queue add: --out with 2 scripts would have them all write x.h5", 2)
    fails("queue add", "queue add: no script given", 2)
    fails("queue rm", "queue rm: give the ids of the entries to remove", 2)
    fails("queue logs one", "queue logs: 'one' is not an entry id", 2)
    fails("queue status --set a=1", "queue status: unknown option --set", 2)
  end)
end)
