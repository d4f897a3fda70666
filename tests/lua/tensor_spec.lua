local T = ...

T.it("builds tensors from nested tables and reads them back", function()
  local t = moon.tensor{{1, 2, 3}, {4, 5, 6}}
  T.eq(t:size(), {2, 3})
  T.eq(t.shape, {2, 3})
  T.eq(t:totable(), {{1, 2, 3}, {4, 5, 6}})
  T.eq(#t, 2)
  T.eq(t[2][3], 6)
  T.eq(t[-1][1], 4)
  T.eq(moon.tensor({1, 2}, {dtype = "int64"}):type(), "int64")
end)

T.it("reduces over 1-based dims with keepdim", function()
  local t = moon.tensor{{1, 2}, {3, 4}}
  T.eq(t:sum(1):totable(), {4, 6})
  T.eq(t:sum(2):totable(), {3, 7})
  T.eq(t:sum(-1, true):size(), {2, 1})
  T.eq(t:sum():item(), 10)
  T.near(t:mean():item(), 2.5)
  local v, i = t:max(2)
  T.eq(v:totable(), {2, 4}); T.eq(i:totable(), {1, 1})
end)

T.it("supports operators with numbers on either side and broadcasting", function()
  local a = moon.tensor{{1, 2}, {3, 4}}
  T.eq((a + 1):totable(), {{2, 3}, {4, 5}})
  T.eq((10 - a):totable(), {{9, 8}, {7, 6}})
  T.eq((a * moon.tensor{10, 100}):totable(), {{10, 200}, {30, 400}})
  T.eq((-a):totable(), {{-1, -2}, {-3, -4}})
  T.eq((a ^ 2):totable(), {{1, 4}, {9, 16}})
  T.eq(a:matmul(moon.eye(2)):totable(), a:totable())
end)

T.it("indexing assigns through views", function()
  local t = moon.zeros(2, 3)
  t[1] = 5
  t[2] = moon.tensor{1, 2, 3}
  T.eq(t:totable(), {{5, 5, 5}, {1, 2, 3}})
  local n = t:narrow(2, 2, 2)
  n:fill_(7)
  T.eq(t:totable(), {{5, 7, 7}, {1, 7, 7}})
end)

T.it("autograd matches analytic gradients and finite differences", function()
  moon.manual_seed(7)
  local x = moon.randn(3, 4, {requires_grad = true})
  local w = moon.randn(4, 2, {requires_grad = true})
  local loss = (x:matmul(w):tanh() ^ 2):sum()
  loss:backward()
  -- finite difference on one entry of w
  local eps = 1e-2
  local function f()
    return moon.no_grad(function() return (x:matmul(w):tanh() ^ 2):sum():item() end)
  end
  local base = w[2][1]
  moon.no_grad(function() w[2][1] = base + eps end); local up = f()
  moon.no_grad(function() w[2][1] = base - eps end); local down = f()
  moon.no_grad(function() w[2][1] = base end)
  T.near(w.grad[2][1], (up - down) / (2 * eps), 2e-2)
  T.truthy(x.grad:allclose(x.grad), "grad exists")
end)

T.it("no_grad stops recording and returns the function's values", function()
  local x = moon.ones(2, {requires_grad = true})
  local y, k = moon.no_grad(function(a) return x * a, "k" end, 3)
  T.eq(y.requires_grad, false)
  T.eq(k, "k")
end)

T.it("optimisers minimise a quadratic", function()
  for _, make in ipairs{
    function(p) return moon.optim.sgd(p, {lr = 0.1, momentum = 0.9}) end,
    function(p) return moon.optim.adam(p, {lr = 0.1}) end,
    function(p) return moon.optim.adamw(p, {lr = 0.1, weight_decay = 0}) end,
  } do
    local x = moon.tensor({3, -2}, {requires_grad = true})
    local opt = make({x})
    for i = 1, 200 do
      opt:zero_grad();
      ((x - 1) ^ 2):sum():backward()
      opt:step()
    end
    T.truthy((x - 1):abs():max():item() < 1e-2, tostring(opt) .. " did not converge: " .. tostring(x))
  end
end)

T.it("schedules and optimiser state round-trip", function()
  local s = moon.optim.schedule{kind = "cosine", lr = 1, min_lr = 0, total = 10}
  T.near(s:lr(0), 1); T.near(s:lr(10), 0, 1e-6)
  local x = moon.tensor({1, 2}, {requires_grad = true})
  local opt = moon.optim.adam({x}, {lr = 0.01})
  ;(x * x):sum():backward(); opt:step()
  local state = opt:state_dict()
  local opt2 = moon.optim.adam({x}, {lr = 0.01})
  opt2:load_state_dict(state)
  T.eq(opt2:steps(), 1)
end)

T.it("same seed, same numbers; generators are independent", function()
  moon.manual_seed(42); local a = moon.randn(5)
  moon.manual_seed(42); local b = moon.randn(5)
  T.truthy(a:allclose(b))
  local g1, g2 = moon.generator(9), moon.generator(9)
  T.truthy(moon.rand(4, {generator = g1}):allclose(moon.rand(4, {generator = g2})))
end)

T.it("bad input is a clear error naming function and argument", function()
  local t = moon.tensor{{1, 2}, {3, 4}}
  T.raises(function() return t:matmul(moon.zeros(3, 5)) end, "Tensor:matmul: argument #2: expected shape [2, *], got [3, 5]")
  T.raises(function() return t:sum(3) end, "Tensor:sum")
  T.raises(function() return t:sum(0) end, "dims are 1-based")
  T.raises(function() return moon.tensor{{1, 2}, {3}} end, "ragged table")
  T.raises(function() return moon.tensor{{1, "a"}} end, "expected numbers in the table")
  T.raises(function() return t + "x" end, "expected moon.Tensor, number or table, got string")
  T.raises(function() return moon.randn(3):backward() end, "backward")
  T.raises(function() return moon.zeros(1e12) end, "at most")
  T.raises(function() return moon.optim.sgd({t}, {lr = 0.1, momentun = 0.9}) end, "unknown option 'momentun'")
  T.raises(function() return t[3] end, "expected a position in 1...2")
end)

T.it("tensors created in a loop do not grow memory (the collector is told about tensor bytes)", function()
  local function rss()
    local f = io.open("/proc/self/statm"); if not f then return nil end
    local s = f:read("a"); f:close()
    return tonumber(s:match("%d+%s+(%d+)")) * 4096
  end
  for i = 1, 2e4 do local t = moon.zeros(1000) end
  local before = rss()
  if not before then return end
  for i = 1, 2e5 do local t = moon.zeros(1000) end   -- 800 MB allocated in total
  collectgarbage()
  local grown = rss() - before
  T.truthy(grown < 64 * 2^20, "RSS grew by " .. grown .. " bytes")
  T.truthy(select(1, moon.tensor_bytes()) < 64 * 2^20)
end)

T.it("prints values with a Torch-style footer", function()
  local s = tostring(moon.tensor{{1, 2}, {3, 4}})
  T.truthy(s:find("[moon.Tensor float32 of size 2x2]", 1, true), s)
  T.truthy(tostring(moon.randn(100, 100)):find("...", 1, true))
end)
