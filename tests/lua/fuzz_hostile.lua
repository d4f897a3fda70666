-- Hostile calls over every export, the way an attacker would try them (run by fuzz_spec.lua in a child process, in a
-- scratch directory, with MOONLAB_MAX_ALLOC set, so that a crash is reported with the call that caused it).
--
--   moonlab run tests/lua/fuzz_hostile.lua TRACE_FILE SCRATCH_DIR [SECONDS]
--   (FUZZ_START=N skips the first N-1 calls: scripts/fuzz-lua uses it to go on past a crash)
--
-- Targets are found automatically: every function under `moon` (and `help`), and every method of every moonlab
-- object type registered in the Lua registry (metatables with __moonobj and __methods), so bindings added later are
-- fuzzed without editing this file. Instances come from the factories below, or from any object a fuzzed call
-- returns. Each target is called with each argument slot replaced by extreme numbers (NaN, ±inf, 1e308, 2^63,
-- math.maxinteger, ...), special paths (/dev/null, /dev/zero, a FIFO, a directory), option tables of wrong types,
-- deeply nested and cyclic tables, closed and odd-shaped tensors; every other call runs inside a coroutine.
-- Every call must return or raise a string error; messages must not leak Swift names.
-- Prints "fuzz: N calls, ..." and exits 0; exits 1 listing message violations.

local trace_path, scratch, budget = arg[1], arg[2], tonumber(arg[3] or "90")
assert(trace_path and scratch, "usage: fuzz_hostile.lua TRACE SCRATCH [SECONDS]")
local trace = assert(io.open(trace_path, "w"))
trace:setvbuf("no")  -- the last line survives a crash
math.randomseed(tonumber(os.getenv("FUZZ_SEED") or "4321"))
local started = moon.clock()

-- values ------------------------------------------------------------------------------------------------------------

local extremes = {0 / 0, 1 / 0, -1 / 0, 1e308, -1e308, 2 ^ 63, -2 ^ 63, math.maxinteger, math.mininteger, 2 ^ 53,
                  2 ^ 53 + 2, 2 ^ 31, 2 ^ 32, 2 ^ 62, -1, 0, 1.5, -0.5, -2 ^ 31, 1e-320}
local fifo = scratch .. "/fifo"
-- device nodes: the scratch directory's own copies when the runner could make them (mknod needs root), so that a
-- broken build never replaces the real /dev/null (the bug this guards against did exactly that, as root)
local function exists(p) local f = io.open(p); if f then f:close(); return true end; return false end
local null = exists(scratch .. "/null") and scratch .. "/null" or "/dev/null"
local zero = exists(scratch .. "/zero") and scratch .. "/zero" or "/dev/zero"
-- a path with a NUL byte must be refused, never cut short, and one with bytes that are not UTF-8 refused, never
-- "repaired" into another name: nothing may ever appear at the prefix or at the repaired name (checked at the end)
local truncated, repaired = scratch .. "/nul-prefix", scratch .. "/bad\xEF\xBF\xBDname"
local nul_path = truncated .. "\0/tail"
local paths = {null, zero, fifo, scratch, scratch .. "/", scratch .. "/link-to-null", "", "a\0b", nul_path,
               scratch .. "/bad\255name", scratch .. "/" .. ("long"):rep(1200), ("d/"):rep(3000) .. "f",
               scratch .. "/missing/deeper/file"}
local function deep(n) local t = {}; local c = t; for _ = 1, n do c[1] = {}; c = c[1] end; return t end
local function deep_map(n) local t = {}; local c = t; for _ = 1, n do c.a = {}; c = c.a end; return t end
local cyclic = {}; cyclic[1] = cyclic; cyclic.self = cyclic
local raising = setmetatable({}, {__index = function() error("boom from __index") end,
                                  __newindex = function() error("boom from __newindex") end,
                                  __len = function() error("boom from __len") end})
local options = {
  {bogus = 1}, {lr = "x"}, {dtype = 5}, {dtype = "int64"}, {generator = 1}, {generator = moon.generator(1)},
  {[1] = 1}, {[2.5] = 1}, {seed = 0 / 0}, {seed = math.maxinteger}, {size = math.maxinteger}, {size = 2 ^ 31},
  {n = 1e308}, {max_new_tokens = 2 ^ 62}, {max_new_tokens = -1}, {rank = 2 ^ 40}, {rank = 0 / 0}, {width = 2 ^ 20},
  {layers = 1e6}, {vision_layers = 2 ^ 31}, {intermediate = math.maxinteger}, {depth = 1e9}, {items = -5},
  {top_k = math.mininteger}, {temperature = 0 / 0}, {keep = -1}, {config = {}}, {resume = "yes"}, {metrics = {1, 2}},
  {reward = 3}, {threads = 2 ^ 40}, {weights = {0 / 0}}, {density = 1 / 0}, raising, cyclic,
  {decoder = nul_path}, {out = nul_path}, {output = nul_path, models = {nul_path}}, {base = nul_path, output = "x"},
}
local function tensors()
  local closed = moon.zeros(2); do local c <close> = closed end
  local t = moon.zeros(1); for _ = 1, 20 do t = t:unsqueeze(1) end
  return {moon.tensor{{1, 2}, {3, 4}}, moon.tensor(3), moon.zeros(0), moon.tensor({1, 0, 5}, {dtype = "int64"}),
          moon.ones(2, 3, 4):permute(3, 1, 2), closed, t, moon.tensor{0 / 0, 1 / 0, -1 / 0}}
end
local others = {nil, true, "x", function() return 1 end, function() error("callback error") end,
                function() return coroutine.yield(1) end, coroutine.create(function() end), deep(300), deep_map(300),
                cyclic, raising, {1, nil, 3}, {{1}, {2, 3}}, {n = 2}}

local pool = {}
for _, v in ipairs(extremes) do pool[#pool + 1] = v end
for _, v in ipairs(paths) do pool[#pool + 1] = v end
for _, v in ipairs(options) do pool[#pool + 1] = v end
for _, v in ipairs(tensors()) do pool[#pool + 1] = v end
for i = 1, #others do pool[#pool + 1] = others[i] end
local extreme_tables = {}
for _, v in ipairs(extremes) do extreme_tables[#extreme_tables + 1] = {2, v} end
for _, v in ipairs(extreme_tables) do pool[#pool + 1] = v end

-- targets -----------------------------------------------------------------------------------------------------------

local skip = {["moon.env.demos"] = "its n (up to 10^7) is legitimately slow; it has its own tests"}
for name in (os.getenv("FUZZ_SKIP") or ""):gmatch("[^,]+") do skip[name] = "FUZZ_SKIP" end
local targets = {}
local function collect(tbl, prefix, seen)
  if seen[tbl] then return end
  seen[tbl] = true
  for k, v in pairs(tbl) do
    local name = prefix .. tostring(k)
    if type(v) == "function" and not skip[name] then targets[#targets + 1] = {name = name, f = v}
    elseif type(v) == "table" then collect(v, name .. ".", seen) end
  end
end
collect(moon, "moon.", {})

local tiny = {width = 16, layers = 1, heads = 2, kv_heads = 2, intermediate = 32, vision_width = 16, vision_layers = 1,
              vision_heads = 2, max_positions = 128}
local run_counter = 0
-- the committed fixtures, found from this file's path (the fuzzer runs in its scratch directory)
local root = (debug.getinfo(1, "S").source:match("^@(.*/)tests/lua/[^/]*$") or "")
local tiny_gguf = root .. "Tests/MoonCheckpointTests/Fixtures/tiny_llama.gguf"
local tokenizer_json = root .. "Tests/MoonModelsTests/Fixtures/tokenizer/llama3-small.json"
local policies = 0
local factories = {
  ["moon.Tensor"] = function() return moon.tensor{{1, 2}, {3, 4}} end,
  ["moon.Generator"] = function() return moon.generator(1) end,
  ["moon.Env"] = function() local e = moon.env.make("points24"); e:reset(1); return e end,
  ["moon.WrappedEnv"] = function()
    local e = moon.env.make("numberline"); return moon.env.wrap(e, {reward = function(_, _, r) return r end})
  end,
  ["moon.VectorEnv"] = function() return moon.env.vector("ezpoints", 2) end,
  ["moon.Optimizer"] = function() return moon.optim.adamw({moon.zeros(2, {requires_grad = true})}) end,
  ["moon.Schedule"] = function() return moon.optim.schedule{kind = "cosine", lr = 0.1, total = 10} end,
  ["moon.Policy"] = function()  -- the from-scratch policy and the one on a pretrained decoder, in turn
    policies = policies + 1
    return policies % 2 == 0 and moon.vlm.new{decoder = tiny_gguf, vision = false} or moon.vlm.new(tiny)
  end,
  ["moon.LM"] = function() return moon.lm.load(tiny_gguf) end,
  ["moon.Tokenizer"] = function() return moon.tokenizer.load(tokenizer_json) end,
  ["moon.RunDir"] = function() run_counter = run_counter + 1; return moon.run.open(scratch .. "/run" .. run_counter) end,
}
local instances = {}
local function note_instance(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  local name = mt and rawget(mt, "__name")
  if name and not instances[name] then instances[name] = function() return v end end
end

local registry = debug.getregistry()
local types = {}
for k, mt in pairs(registry) do
  if type(k) == "string" and type(mt) == "table" and rawget(mt, "__moonobj") and type(rawget(mt, "__methods")) == "table" then
    types[#types + 1] = k
  end
end
table.sort(types)
local method_targets = {}
for _, tname in ipairs(types) do
  local mt = registry[tname]
  for mname, f in pairs(mt.__methods) do
    if not skip[tname .. ":" .. mname] then
      method_targets[#method_targets + 1] = {name = tname .. ":" .. mname, f = f, type = tname}
    end
  end
  for mm, f in pairs(mt) do
    if type(f) == "function" and mm:match("^__") and mm ~= "__gc" and mm ~= "__close" and mm ~= "__index" then
      method_targets[#method_targets + 1] = {name = tname .. "." .. mm, f = f, type = tname}
    end
  end
end
table.sort(targets, function(a, b) return a.name < b.name end)
table.sort(method_targets, function(a, b) return a.name < b.name end)

-- calling -----------------------------------------------------------------------------------------------------------

local calls, errors, violations, slow = 0, 0, {}, {}
local start_at = tonumber(os.getenv("FUZZ_START") or "0")  -- skip calls before this one (to go on after a crash)
local bad_patterns = {"Optional%(", "Swift%.", "Tensor%.noGrad", "expected moon%.Tensor, got moon%.Tensor", "Fatal error"}
local function check_message(name, err)
  if type(err) ~= "string" or err == "" then
    violations[#violations + 1] = name .. ": error without a message: " .. tostring(err)
    return
  end
  for _, p in ipairs(bad_patterns) do
    if err:find(p) then
      violations[#violations + 1] = name .. ": message leaks an internal name: " .. err:sub(1, 200)
    end
  end
end

local function describe(v)
  local t = type(v)
  if t == "number" then return string.format("%.17g", v) end
  if t == "string" then return string.format("%q", #v > 60 and v:sub(1, 60) .. "..." or v) end
  if t == "userdata" then local mt = getmetatable(v); return mt and rawget(mt, "__name") or "userdata" end
  return t
end

local function call(target, args, n, in_coroutine)
  calls = calls + 1
  if calls < start_at then return end
  local parts = {}
  for i = 1, n do parts[i] = describe(args[i]) end
  trace:write(calls, " ", target.name, "(", table.concat(parts, ", "), ")", in_coroutine and " [coroutine]" or "", "\n")
  local ok, r1, r2
  if in_coroutine then
    local co = coroutine.create(function() return pcall(target.f, table.unpack(args, 1, n)) end)
    local resumed, pok, a, b = coroutine.resume(co)
    if resumed then ok, r1, r2 = pok, a, b else ok, r1 = false, pok end
  else
    ok, r1, r2 = pcall(target.f, table.unpack(args, 1, n))
  end
  if ok then note_instance(r1); note_instance(r2) else errors = errors + 1; check_message(target.name, r1) end
end

local templates = {{}, {"numberline"}, {2}, {"T"}, {2, 3}, {"T", "T"}, {"T", 1}, {"points24", 2}, {null, "T"}}
local function fill(template, t)
  local out = {}
  for i, v in ipairs(template) do out[i] = v == "T" and t or v end
  return out
end

local function fuzz_target(target, make_self)
  local t0 = moon.clock()
  local t = moon.tensor{{1, 2}, {3, 4}}
  for _, template in ipairs(templates) do
    for slot = 1, math.min(#template + 1, 4) do
      for _, v in ipairs(pool) do
        if calls + 1 < start_at then calls = calls + 1; goto next end  -- skipped: no instance made either
        local args = fill(template, t)
        local offset = 0
        if make_self then
          local ok, obj = pcall(make_self)
          if not ok then return end
          table.insert(args, 1, obj); offset = 1
        end
        args[slot + offset] = v
        call(target, args, math.max(#template, slot) + offset, calls % 2 == 0)
        if moon.clock() - t0 > 1.5 then slow[#slow + 1] = target.name; return end
        if moon.clock() - started > budget then return end
        ::next::
      end
    end
  end
end

for _, target in ipairs(targets) do
  if moon.clock() - started > budget then break end
  fuzz_target(target)
end
local unfuzzed = {}
for _, target in ipairs(method_targets) do
  if moon.clock() - started > budget then break end
  local make = factories[target.type] or instances[target.type]
  if make then fuzz_target(target, make) else unfuzzed[target.type] = true end
  -- self itself hostile: nil, a number, a closed object, another type
  for _, v in ipairs{nil, 1, "x", moon.zeros(1), cyclic} do call(target, {v, 1}, 2, false) end
end

-- deep nesting and coroutines across the conversions that walk tables
for _, f in ipairs{moon.json.encode, moon.inspect, moon.tensor, function(x) return moon.tensor(x):totable() end} do
  for _, d in ipairs{50, 199, 200, 201, 1000, 100000} do
    call({name = "nesting " .. d, f = f}, {deep(d)}, 1, d % 2 == 0)
    call({name = "nesting(map) " .. d, f = f}, {deep_map(d)}, 1, d % 2 == 1)
  end
end
for _, d in ipairs{100, 199, 200, 201, 5000, 100000} do
  local text = string.rep("[", d) .. string.rep("]", d)
  call({name = "json.decode depth " .. d, f = moon.json.decode}, {text}, 1, d % 2 == 0)
  text = string.rep('{"a":', d) .. "1" .. string.rep("}", d)
  call({name = "json.decode object depth " .. d, f = moon.json.decode}, {text}, 1, d % 2 == 1)
end

if moon.file_kind(truncated) then
  violations[#violations + 1] = "a path with a NUL byte was cut short: something was written at " .. truncated
end
if moon.file_kind(repaired) then
  violations[#violations + 1] = "a path that is not UTF-8 was repaired into another name: " .. repaired
end

local types_without = {}
for k in pairs(unfuzzed) do types_without[#types_without + 1] = k end
table.sort(types_without)
print(("fuzz: %d calls (%d errors) over %d functions and %d methods of %d types in %.1f s; types without an instance: %s; cut short (slow): %d")
  :format(calls, errors, #targets, #method_targets, #types, moon.clock() - started,
          #types_without > 0 and table.concat(types_without, ", ") or "none", #slow))
if #violations > 0 then
  local seen, shown = {}, 0
  for _, v in ipairs(violations) do
    if not seen[v] and shown < 30 then seen[v] = true; shown = shown + 1; print("violation: " .. v) end
  end
  print(("%d message violations"):format(#violations))
  os.exit(1)
end
os.exit(0)
