-- moon.dist collectives checked on every rank (any -np, also without mpirun): exits non-zero on a failed check.
local d = moon.dist
local r, n = d.rank(), d.size()
local function check(cond, what) if not cond then error(("rank %d: %s"):format(r, what), 2) end end
local function near(a, b) return math.abs(a - b) < 1e-5 end
check(r >= 0 and r < n, "rank in range")
check(d.is_main() == (r == 0), "is_main")
-- allreduce sum / mean / max, in place
local t = moon.tensor{r + 1, 2 * (r + 1), -r}
check(d.allreduce(t, {op = "sum"}) == t, "allreduce returns its tensor")
local s = n * (n + 1) / 2
local tt = t:totable()
check(near(tt[1], s) and near(tt[2], 2 * s) and near(tt[3], -n * (n - 1) / 2), "allreduce sum")
local m = moon.tensor{r + 1}; d.allreduce(m, {op = "mean"})
check(near(m:item(), (n + 1) / 2), "allreduce mean")
local x = moon.tensor{r, -r}; d.allreduce(x, {op = "max"})
check(near(x:totable()[1], n - 1) and near(x:totable()[2], 0), "allreduce max")
check(not pcall(d.allreduce, t, {op = "min"}), "unknown op rejected")
check(not pcall(d.allreduce, t, {opp = "sum"}), "unknown option rejected")
-- large buffers take the ring allreduce (>= 256 KB): uneven chunks, sum / max / mean, bit-identical on every rank
local big = 100003
local v1 = moon.arange(big) * 1e-3 + r
d.allreduce(v1, {op = "sum"})
local expect = moon.arange(big) * 1e-3 * n + n * (n - 1) / 2
check((v1 - expect):abs():max():item() < 1e-2, "ring allreduce sum")
local v2 = moon.arange(big) * (r % 2 == 0 and 1 or -1) + r
d.allreduce(v2, {op = "max"})
check(near(v2:totable()[big], (big - 1) + (n - 1 - ((n - 1) % 2 == 1 and 1 or 0))), "ring allreduce max")
local v3 = moon.randn(big, {generator = moon.generator(r + 1)})
d.allreduce(v3, {op = "mean"})
local sums = d.allgather(v3)
for k = 2, n do check((sums[k] - sums[1]):abs():max():item() == 0, "ring allreduce identical on every rank") end
-- broadcast of a tensor (in place) and of a Lua value, from the last rank
local root = n - 1
local b = moon.full({2, 2}, r == root and 7 or 0); d.broadcast(b, root)
check(near(b:sum():item(), 28), "broadcast tensor")
local ids = moon.tensor(r == root and {5, 6} or {0, 0}, {dtype = "int64"}); d.broadcast(ids, root)
check(ids:totable()[2] == 6, "broadcast int64 tensor")
local v = d.broadcast(r == root and {a = 1, s = "hi", t = moon.tensor{{1, 2}}, l = {1, 2, 3}, f = 0.25, yes = true} or nil, root)
check(v.a == 1 and math.type(v.a) == "integer" and v.s == "hi" and v.f == 0.25 and v.yes == true and #v.l == 3, "broadcast value")
check(v.t.shape[2] == 2 and near(v.t:sum():item(), 3), "broadcast value with a tensor")
local err = select(2, pcall(d.broadcast, moon.zeros(1), n))
check(tostring(err):find("moon.dist.broadcast: argument #2 'root'", 1, true), "bad root names the call: " .. tostring(err))
-- allgather of values and of tensors of different shapes
local g = d.allgather({rank = r, name = "r" .. r, x = 1.5})
check(#g == n, "allgather count")
for k = 1, n do check(g[k].rank == k - 1 and g[k].name == "r" .. (k - 1) and g[k].x == 1.5, "allgather value " .. k) end
local gt = d.allgather(moon.ones(r + 1, 2))
for k = 1, n do check(gt[k].shape[1] == k, "allgather tensor " .. k) end
check(d.allgather("s")[n] == "s" and d.allgather(3)[1] == 3, "allgather scalars")
err = select(2, pcall(d.allgather, {f = print}))
check(tostring(err):find("moon.dist.allgather: value.f: cannot send a function", 1, true), "unsendable value: " .. tostring(err))
-- gradient buckets
local p1, p2 = moon.ones(2, 2, {requires_grad = true}), moon.zeros(3, {requires_grad = true})
local flat = d.flatten({p1, p2}, {extra = {9}})
check(#flat == 8 and near(flat:sum():item(), 13), "flatten values + extra")
local loss = (p1 * (r + 1)):sum(); loss:backward()  -- p2 gets no gradient: counts as zeros
local gflat = d.flatten({p1, p2}, {grad = true, extra = {r}})
d.allreduce(gflat, {op = "sum"})
local rest = d.unflatten(gflat, {p1, p2}, {grad = true})
check(near(p1.grad:totable()[1][1], s) and p2.grad ~= nil and near(p2.grad:sum():item(), 0), "unflatten gradients")
check(#rest == 1 and near(rest[1], n * (n - 1) / 2), "unflatten extra")
d.unflatten(moon.full({7}, 2), {p1, p2})
check(near(p1:sum():item(), 8) and near(p2:sum():item(), 6), "unflatten values")
check(not pcall(d.unflatten, moon.zeros(3), {p1, p2}), "short flat rejected")
d.barrier()
check(d.timeout() > 0 and d.timeout(900) == 900, "timeout")
print(("dist collectives: rank %d of %d ok"):format(r, n))
