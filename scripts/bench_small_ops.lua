-- Small-op dispatch from Lua: ops per second on 4-element tensors (the REPL/script overhead that matters when a
-- researcher writes per-step logic). Compared by scripts/bench tensor with PyTorch eager from Python.
local a, b = moon.tensor{1, 2, 3, 4}, moon.tensor{5, 6, 7, 8}
local n = tonumber(arg[1]) or 200000
for _ = 1, 1000 do local _ = a + b end
local t0 = moon.clock()
for _ = 1, n do local _ = a + b end
local add = n / (moon.clock() - t0)
t0 = moon.clock()
for _ = 1, n do local _ = a:mul(b):sum() end
local chain = 2 * n / (moon.clock() - t0)
print(("small ops (moonlab, Lua): add %.0f ops/s, mul+sum %.0f ops/s"):format(add, chain))
print(("RESULT small_add %.0f"):format(add))
