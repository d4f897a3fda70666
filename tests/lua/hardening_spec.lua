-- The boundary's guarantees (README, "Guarantees at the Lua boundary"), one family of the hardening issue per test:
-- each input here once killed the process by a signal; now it is a catchable error naming the argument, or works.
local T = ...

local function fails(pattern, f, ...)
  local ok, err = pcall(f, ...)
  T.truthy(not ok, "expected an error matching '" .. pattern .. "', got a result")
  T.truthy(type(err) == "string" and err:find(pattern), "error '" .. tostring(err) .. "' does not match '" .. pattern .. "'")
  return err
end

local exe = moon.executable()
local function tmpdir()
  local d = os.tmpname(); os.remove(d); assert(os.execute("mkdir -p " .. d)); return d
end
local function child(code, env)
  local dir = tmpdir()
  local f = assert(io.open(dir .. "/child.lua", "w")); f:write(code); f:close()
  local p = io.popen(("cd %s && %s %q run child.lua 2>&1"):format(dir, env or "", exe))
  local out = p:read("a")
  local ok, _, status = p:close()
  return out, ok, status, dir
end

local extremes = {0 / 0, 1 / 0, -1 / 0, 1e308, 2 ^ 63, math.maxinteger, math.mininteger, 1.5}

T.it("1. numbers: NaN, ±inf, 1e308, 2^63, math.maxinteger and 1.5 in integer slots are errors naming the argument", function()
  local t = moon.tensor{{1, 2}, {3, 4}}
  for _, v in ipairs(extremes) do
    fails("moon.zeros: argument #1 'size': expected an integer", moon.zeros, v)
    fails("moon.zeros: element 2 of argument #1 'size': expected an integer", moon.zeros, {2, v})
    fails("Tensor:reshape: argument #2 'shape'", t.reshape, t, v)
    fails("Tensor:view: element 1 of argument #2 'shape'", t.view, t, {v})
    fails("Tensor:expand: argument #3 'shape'", t.expand, t, 2, v)
    fails("Tensor:permute: argument #2 'dims'", t.permute, t, v, 1)
    fails("moon.tokenizer.decode: element 2 of argument #1 'ids'", moon.tokenizer.decode, {65, v})
    fails("moon.one_hot: argument #2 'num_classes'", moon.one_hot, moon.tensor({1}, {dtype = "int64"}), v)
    fails("Tensor:multinomial: argument #2 'n'", t.multinomial, t, v)
    fails("moon.tensor: argument #1 'data': element 2", moon.tensor, {1, v}, {dtype = "int64"})
    fails("option 'max_new_tokens'", moon.vlm.new({width = 16, layers = 1, heads = 2, intermediate = 32, vision_width = 16,
      vision_layers = 1, vision_heads = 2}).generate, moon.vlm.new({width = 16, layers = 1, heads = 2, intermediate = 32,
      vision_width = 16, vision_layers = 1, vision_heads = 2}), {prompt = "x", image = moon.zeros(3, 64, 64)}, {max_new_tokens = v})
  end
  -- seeds keep the full 64-bit range
  moon.manual_seed(math.maxinteger); moon.manual_seed(math.mininteger); moon.manual_seed(0)
  T.eq(moon.generator(math.maxinteger):seed(), math.maxinteger)
end)

T.it("2. size arithmetic: products of sizes and counts are checked for overflow", function()
  fails("moon.zeros", moon.zeros, 2 ^ 40, 2 ^ 40)
  fails("moon.one_hot: argument #2 'num_classes'", moon.one_hot, moon.tensor({1, 2}, {dtype = "int64"}), 2 ^ 52)
  fails("Tensor:multinomial: argument #2 'n'", moon.tensor{{0.5, 0.5}}.multinomial, moon.tensor{{0.5, 0.5}}, 2 ^ 52)
  fails("moon.randint", moon.randint, 0, 5, {2 ^ 30, 2 ^ 30, 2 ^ 30})
end)

T.it("3. no try!/precondition reachable: huge model sizes, LoRA ranks and inspect counts are errors", function()
  fails("at most 65536", moon.vlm.new, {width = 2 ^ 20})
  fails("cannot allocate", moon.vlm.new, {width = 65536, intermediate = 65536, heads = 4, kv_heads = 4})
  local p = moon.vlm.new{width = 16, layers = 1, heads = 2, intermediate = 32, vision_width = 16, vision_layers = 1,
                         vision_heads = 2}
  fails("lora.rank", p.lora, p, {rank = 2 ^ 40})
  fails("lora.rank", p.lora, p, {rank = 65536 * 2})
  fails("option 'items': expected a count >= 0", moon.inspect, {1, 2}, {items = -1})
  fails("option 'depth'", moon.inspect, {1, 2}, {depth = -1})
end)

T.it("4. recursion: nesting beyond 200 levels is an error for JSON, inspect and tensors, never a C-stack overflow", function()
  local function deep(n) local t = {}; local c = t; for _ = 1, n do c[1] = {}; c = c[1] end; return t end
  T.eq(moon.json.encode(deep(150)):sub(1, 3), "[[[")
  fails("moon.json.encode: argument #1 'value': nested more than 200 levels deep", moon.json.encode, deep(5000))
  fails("moon.json.decode: argument #1 'text': nested more than 200 levels deep", moon.json.decode,
        string.rep("[", 300) .. string.rep("]", 300))
  T.truthy(not pcall(moon.json.decode, string.rep("[", 100000) .. string.rep("]", 100000)))
  T.truthy(moon.inspect(deep(5000), {depth = 200}):find("{...}", 1, true))
  fails("nested more than 16 levels", moon.tensor, deep(60))
  local t = moon.zeros(1); for _ = 1, 40 do t = t:unsqueeze(1) end
  T.eq(#t:totable(), 1)
  collectgarbage(); collectgarbage()  -- the heap is intact (the old failure surfaced at the next collection)
end)

T.it("5. coroutines: every binding works inside a coroutine, and Swift calls back into Lua from one", function()
  T.eq(coroutine.wrap(function() return moon.zeros(3) end)():numel(), 3)
  local ok, v = coroutine.resume(coroutine.create(function() return moon.ones(2, 2):sum():item() end))
  T.truthy(ok); T.eq(v, 4)
  local gen = coroutine.wrap(function()
    for i = 1, 3 do coroutine.yield(moon.tensor{i, i}:sum():item()) end
  end)
  T.eq(gen() + gen() + gen(), 12)
  -- callbacks: no_grad's function, a reward function, a Lua env
  local r = coroutine.wrap(function()
    local inner = moon.no_grad(function() return coroutine.wrap(function() return moon.eye(2):sum():item() end)() end)
    local env = moon.env.wrap(moon.env.make("numberline"), {reward = function(_, _, reward) return reward + 100 end})
    env:reset(1)
    local _, shaped = env:step('{"thoughts": "", "action": "+"}')
    return inner + shaped
  end)()
  T.truthy(r > 100)
  -- an object created in a coroutine outlives it
  local kept = coroutine.wrap(function() return moon.tensor{1, 2, 3} end)()
  collectgarbage(); collectgarbage()
  T.eq(kept:sum():item(), 6)
  -- errors inside coroutines are still catchable errors
  local okc, err = coroutine.resume(coroutine.create(function() return moon.zeros(0 / 0) end))
  T.truthy(not okc and err:find("expected an integer"))
end)

T.it("6. allocation: a huge legal request is 'cannot allocate N bytes', and vlm.load has vlm.new's limits", function()
  local out, ok = child([[
    local ok, err = pcall(moon.zeros, 2^31)
    print(ok, err)
    ok, err = pcall(moon.ones, 2^20, 2^10)
    print(ok, err)
    print(moon.zeros(1000):numel())
  ]], "MOONLAB_MAX_ALLOC=268435456")
  T.truthy(ok, out)
  T.truthy(out:find("false\tmoon.zeros: cannot allocate 8589934592 bytes", 1, true), out)
  T.truthy(out:find("false\tmoon.ones: cannot allocate 4294967296 bytes", 1, true), out)
  T.truthy(out:find("\n1000\n", 1, true), out)
  -- a checkpoint whose config asks for 10^6 layers is refused by the same limits as vlm.new
  local dir = tmpdir()
  local cfg = '{"model_type":"moonlab_vlm","vision":{"layers":2},"decoder":{"vocab_size":260,"hidden_size":128,' ..
              '"intermediate_size":344,"num_hidden_layers":1000000,"num_attention_heads":4,"num_key_value_heads":4}}'
  moon.ckpt.save(dir .. "/huge.safetensors", {x = moon.zeros(1)}, {moonlab_config = cfg})
  fails("num_hidden_layers: must be at most 256", moon.vlm.load, dir .. "/huge.safetensors")
  fails("at most 256", moon.vlm.new, {layers = 1000000})
  os.execute("rm -rf " .. dir)
end)

T.it("7. special files: writes never replace a device, FIFO or directory; loaders fail fast on them", function()
  local dir = tmpdir()
  assert(os.execute("mkfifo " .. dir .. "/fifo && ln -s /dev/null " .. dir .. "/null-link"))
  -- a private device node where mknod works (root): a regression then cannot replace the real /dev/null
  local null = os.execute("mknod -m 666 " .. dir .. "/null c 1 3 2>/dev/null") and dir .. "/null" or "/dev/null"
  local p = moon.vlm.new{width = 16, layers = 1, heads = 2, intermediate = 32, vision_width = 16, vision_layers = 1,
                         vision_heads = 2}
  local env = moon.env.make("numberline"); env:reset(1)
  for _, path in ipairs{null, dir .. "/fifo", dir, dir .. "/null-link"} do
    fails("not a regular file; refusing to replace it", p.save, p, path)
    fails("not a regular file; refusing to replace it", moon.ckpt.save, path, {a = moon.zeros(1)})
    fails("not a regular file; refusing to replace it", env.save_png, env, path)
    local t0 = moon.clock()
    fails("not a regular file", moon.ckpt.load, path)
    fails("not a regular file", moon.vlm.load, path)
    T.truthy(moon.clock() - t0 < 1, "a loader blocked on " .. path)
  end
  local f = io.popen("stat -c %F " .. null .. " " .. dir .. "/fifo"); local kinds = f:read("a"); f:close()
  T.truthy(kinds:find("character special file") and kinds:find("fifo"), kinds)
  -- a link to a regular file is followed: the file is replaced, the link stays
  p:save(dir .. "/real.safetensors")
  assert(os.execute("ln -s " .. dir .. "/real.safetensors " .. dir .. "/link.safetensors"))
  p:save(dir .. "/link.safetensors")
  f = io.popen("stat -c %F " .. dir .. "/link.safetensors"); T.truthy(f:read("a"):find("symbolic link")); f:close()
  T.truthy(moon.vlm.load(dir .. "/link.safetensors"))
  os.execute("rm -rf " .. dir)
end)

T.it("8. crash-resume: killed before the first checkpoint, resume starts over without duplicated metrics; temp files go", function()
  local dir = tmpdir() .. "/run"
  local code = ([[
    local run = require("gtr").turbo.new{run_dir = %q, resume = arg[1] == "resume", quiet = true, seed = 3,
      num_envs = 2, steps = 2, updates = 1, samples = 1, sft = {demos = 4, epochs = 1, batch = 4},
      eval = {episodes = 1}, generation = {max_new_tokens = 8}, ppo = {minibatch = 2, epochs = 1},
      model = {width = 16, layers = 1, heads = 2, intermediate = 32, vision_width = 16, vision_layers = 1}}
    os.exit(0)  -- as if killed by kill -9 right after the first metrics record, before any state file
  ]]):format(dir)
  local scratch = tmpdir()
  local f = assert(io.open(scratch .. "/c.lua", "w")); f:write(code); f:close()
  local stdlib = os.getenv("MOONLAB_STDLIB") and ("MOONLAB_STDLIB=" .. os.getenv("MOONLAB_STDLIB") .. " ") or ""
  assert(os.execute(stdlib .. exe .. " run " .. scratch .. "/c.lua fresh"))
  local function rows()
    local n = 0
    for _ in io.lines(dir .. "/metrics.jsonl") do n = n + 1 end
    return n
  end
  T.eq(rows(), 1)
  -- a killed checkpoint write left its temp file behind
  local tmp = dir .. "/checkpoints/.step-000001.safetensors.tmp-4194303-abc"
  local t = assert(io.open(tmp, "w")); t:write(string.rep("x", 1000)); t:close()
  local p = io.popen(stdlib .. exe .. " run " .. scratch .. "/c.lua resume 2>&1"); local out = p:read("a"); p:close()
  T.truthy(out:find("has no checkpoint yet; starting it over %(dropped 1 metrics record%)"), out)
  T.eq(rows(), 1)
  T.truthy(io.open(tmp) == nil, "the temp file of the killed write was not swept")
  os.execute("rm -rf " .. dir .. " " .. scratch)
end)

T.it("9. messages: 1-based dims, element numbers, Lua names, closed objects", function()
  local t = moon.zeros(2, 3)
  fails("Tensor:sum: argument #2 'dim': dim 3 out of range for a 2%-d tensor %(expected 1..2 or %-2..%-1; dims are 1%-based%)", t.sum, t, 3)
  fails("dim 0 out of range", t.softmax, t, 0)
  fails("Tensor:transpose: argument #3 'dim1': dim %-3 out of range", t.transpose, t, 1, -3)
  fails("moon.optim.sgd: element 2 of argument #1 'params': expected moon.Tensor", moon.optim.sgd, {t, 5}, {lr = 1})
  fails("moon.tokenizer.decode: element 3 of argument #1 'ids': expected integer, got string", moon.tokenizer.decode, {1, 2, "x"})
  local closed = moon.zeros(2)
  do local c <close> = closed end
  fails("Tensor:sum: argument #1 'self': this tensor was closed", closed.sum, closed)
  fails("moon.cat: element 1 of argument #1 'tensors': this tensor was closed", moon.cat, {closed})
  local leaf = moon.zeros(2, {requires_grad = true})
  local err = fails("moon%.no_grad", leaf.add_, leaf, 1)
  T.truthy(not err:find("Tensor%.noGrad"), err)
end)
