local T = ...

T.it("exposes a version and the moon module", function()
  T.truthy(type(moon.version) == "string")
  T.eq(require("moon"), moon)
end)

T.it("binding errors are catchable Lua errors naming the function and option", function()
  T.raises(function() moon.inspect({}, {depth = "deep"}) end, "moon.inspect: option 'depth': expected integer, got string")
  T.raises(function() moon.inspect({}, {dept = 1}) end, "unknown option 'dept'")
  T.raises(function() moon.inspect({}, 5) end, "argument #2 'opts': expected table of options, got number")
end)

T.it("inspect renders nested tables and cycles", function()
  local t = {1, 2, x = {y = "z"}}
  T.eq(moon.inspect(t), '{1, 2, x = {y = "z"}}')
  t.me = t
  T.truthy(moon.inspect(t):find("<cycle", 1, true))
end)

T.it("many errors in a loop leave the state usable", function()
  local n = 0
  for i = 1, 10000 do
    if not pcall(moon.inspect, {}, {items = "x"}) then n = n + 1 end
  end
  T.eq(n, 10000)
end)

T.it("clock is monotonic", function()
  local a = moon.clock(); local b = moon.clock()
  T.truthy(b >= a)
end)
