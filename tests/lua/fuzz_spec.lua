-- 10,000 randomly malformed calls into the bindings: each must return or raise a catchable error; none may crash.
local T = ...

local function values()
  local t = moon.tensor{{1, 2, 3}, {4, 5, 6}}
  return {
    nil, true, false, 0, 1, 2, 3, -1, -5, 0.5, 1e12, -1e12, 0/0, 1/0,
    "", "x", "float32", "points24", "reverse",
    {}, {1, 2}, {{1}, {2, 3}}, {lr = "x"}, {bogus = 1}, {"a"},
    t, moon.zeros(0), moon.tensor(3), moon.tensor({1, 0}, {dtype = "int64"}), moon.ones(2, 3, 4),
    function() error("callback error") end, function() return 1 end,
    coroutine.create(function() end),
  }
end

-- skipped: slow ones, and the ones that create files or directories named by the fuzzed strings in the working
-- directory (their argument checks have their own tests)
local skip = {help = true, save_png = true, ["moon.image.save_png"] = true, ["moon.env.demos"] = true,
              ["moon.run.open"] = true, save = true, save_gguf = true}

local function collect(tbl, prefix, out, seen)
  seen = seen or {}
  if seen[tbl] then return out end
  seen[tbl] = true
  for k, v in pairs(tbl) do
    local name = prefix .. k
    if type(v) == "function" and not skip[name] then out[#out + 1] = {name, v}
    elseif type(v) == "table" then collect(v, name .. ".", out, seen) end
  end
  return out
end

T.it("10,000 malformed calls are all catchable errors or results", function()
  math.randomseed(tonumber(os.getenv("FUZZ_SEED") or "1234"))
  local targets = collect(moon, "moon.", {})
  local t = moon.tensor{{1, 2}, {3, 4}}
  local objects = {
    function() return moon.tensor{{1, 2}, {3, 4}} end,
    function() return moon.env.make("numberline") end,
    function() local e = moon.env.make("points24"); e:reset(1); return e end,
    function() return moon.env.vector("ezpoints", 2) end,
    function() return moon.optim.sgd({moon.zeros(2, {requires_grad = true})}, {lr = 0.1}) end,
    function() return moon.generator(1) end,
    -- the pretrained path on the committed fixtures: a decoder, its tokenizer, a policy on it
    function() return moon.lm.load("Tests/MoonCheckpointTests/Fixtures/tiny_llama.gguf") end,
    function() return moon.tokenizer.load("Tests/MoonModelsTests/Fixtures/tokenizer/llama3-small.json") end,
    function() return moon.vlm.new{decoder = "Tests/MoonCheckpointTests/Fixtures/tiny_llama.gguf", vision = false} end,
  }
  for _, make in ipairs(objects) do
    local obj = make()
    local mt = getmetatable(obj)
    for name, f in pairs(mt.__methods) do
      if not skip[name] then targets[#targets + 1] = {mt.__name .. ":" .. name, f, make} end
    end
  end
  table.sort(targets, function(a, b) return a[1] < b[1] end)  -- a deterministic order for a fixed seed
  T.truthy(#targets > 100, "expected many bindings, found " .. #targets)
  local pool = values()
  local calls, errors = 0, 0
  for i = 1, 10000 do
    local target = targets[math.random(#targets)]
    local args, n = {}, math.random(0, 4)
    for k = 1, n do args[k] = pool[math.random(#pool + 1)] end  -- may be nil (one past the end)
    if target[3] and math.random() < 0.8 then table.insert(args, 1, target[3]()) end
    if os.getenv("FUZZ_TRACE") then io.stderr:write(i, " ", target[1], "\n") end
    local ok, err = pcall(target[2], table.unpack(args, 1, n + 1))
    calls = calls + 1
    if not ok then
      errors = errors + 1
      if type(err) ~= "string" or err == "" then error(target[1] .. ": error without a message: " .. tostring(err)) end
    end
  end
  T.eq(calls, 10000)
  T.truthy(errors > 3000, "expected most malformed calls to fail, got " .. errors .. " errors")
end)

-- Hostile inputs over every export (tests/lua/fuzz_hostile.lua), in a child process so that a crash is reported with
-- the call that caused it: extreme numbers in every slot, special paths, wrong option tables, deep nesting,
-- coroutines. FUZZ_SECONDS sets its time budget (default 45).
T.it("hostile calls over every export (extreme numbers, special paths, nesting, coroutines) never kill the process", function()
  local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "tests/lua/"
  local driver = here .. "fuzz_hostile.lua"
  if driver:sub(1, 1) ~= "/" then driver = os.getenv("PWD") .. "/" .. driver end
  local scratch = os.tmpname(); os.remove(scratch)
  assert(os.execute("mkdir -p " .. scratch .. " && mkfifo " .. scratch .. "/fifo"))
  -- private device nodes where mknod works (root), so a broken build never replaces the real /dev/null
  os.execute("mknod -m 666 " .. scratch .. "/null c 1 3 2>/dev/null; mknod -m 444 " .. scratch .. "/zero c 1 5 2>/dev/null")
  assert(os.execute("if [ -c " .. scratch .. "/null ]; then ln -s " .. scratch .. "/null " .. scratch .. "/link-to-null; " ..
                    "else ln -s /dev/null " .. scratch .. "/link-to-null; fi"))
  local trace = scratch .. "/trace"
  local seconds = os.getenv("FUZZ_SECONDS") or "45"
  local cmd = ("cd %s && MOONLAB_MAX_ALLOC=268435456 timeout -s KILL %d %q run %q %q %q %s 2>&1")
    :format(scratch, tonumber(seconds) + 120, moon.executable(), driver, trace, scratch, seconds)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, how, code = p:close()
  local last = ""
  local f = io.open(trace)
  if f then for line in f:lines() do last = line end; f:close() end
  os.execute("rm -rf " .. scratch)
  print("    " .. (out:match("fuzz: [^\n]*") or "(no summary)"))
  if not ok then
    error(("fuzz child died (%s %s); last call: %s\n%s"):format(how, tostring(code), last:sub(1, 300), out:sub(-2000)))
  end
  T.truthy(out:find("fuzz: %d+ calls"), "no summary line")
end)
