--- A small busted-style test runner for moonlab's Lua-side tests.
-- local T = require("moon.test")
-- T.describe("tensor", function() T.it("adds", function() T.eq(1 + 1, 2) end) end)
-- os.exit(T.report())
local T = {}
local results = {passed = 0, failed = 0, failures = {}}
local prefix = {}

function T.describe(name, body)
  prefix[#prefix + 1] = name
  body()
  prefix[#prefix] = nil
end

function T.it(name, body)
  local full = table.concat(prefix, " ") .. " " .. name
  local ok, err = xpcall(body, debug.traceback)
  if ok then
    results.passed = results.passed + 1
  else
    results.failed = results.failed + 1
    results.failures[#results.failures + 1] = full .. "\n    " .. tostring(err):gsub("\n", "\n    ")
  end
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

--- Fails unless a == b (deep for tables).
function T.eq(a, b, msg)
  local function same(x, y)
    if type(x) ~= "table" or type(y) ~= "table" then return x == y end
    for k, v in pairs(x) do if not same(v, y[k]) then return false end end
    for k in pairs(y) do if x[k] == nil then return false end end
    return true
  end
  if not same(a, b) then
    error((msg or "values differ") .. ": expected " .. show(b) .. ", got " .. show(a), 2)
  end
end

--- Fails unless |a - b| <= tol.
function T.near(a, b, tol, msg)
  tol = tol or 1e-6
  if type(a) ~= "number" or math.abs(a - b) > tol then
    error((msg or "not near") .. ": expected " .. show(b) .. " ± " .. tol .. ", got " .. show(a), 2)
  end
end

function T.truthy(v, msg) if not v then error(msg or "expected a true value", 2) end end

--- Fails unless fn raises an error whose message contains `pattern` (plain text).
function T.raises(fn, pattern)
  local ok, err = pcall(fn)
  if ok then error("expected an error" .. (pattern and (" matching '" .. pattern .. "'") or ""), 2) end
  if pattern and not tostring(err):find(pattern, 1, true) then
    error("error '" .. tostring(err) .. "' does not contain '" .. pattern .. "'", 2)
  end
  return err
end

--- Runs Lua `code` in a child moonlab (moon.executable()); returns its stdout and stderr together, and whether it
-- exited with status 0. For what only a fresh process shows: warnings printed once, help() output, exit codes.
function T.child(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w")); f:write(code); f:close()
  local p = io.popen(("%q run %q 2>&1"):format(moon.executable(), path))
  local out = p:read("a")
  local ok = p:close()
  os.remove(path)
  return out, ok == true
end

--- Prints failures and the summary line; returns the exit status.
function T.report()
  for _, f in ipairs(results.failures) do io.stderr:write("FAIL ", f, "\n") end
  print(string.format("lua: %d passed, %d failed", results.passed, results.failed))
  return results.failed == 0 and 0 or 1
end

return T
