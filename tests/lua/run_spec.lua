-- Run directories: resume reproduces an uninterrupted run; a kill during a checkpoint write loses nothing.
local T = ...

local exe = moon.executable()
local function tmpdir()
  local d = os.tmpname(); os.remove(d); os.execute("mkdir -p " .. d); return d
end
local function sh(cmd)
  local ok = os.execute(cmd)
  if not ok then error("command failed: " .. cmd) end
end
local function records(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = moon.json.decode(line) end
  return out
end

local RUN = [[
local dir, mode = arg[1], arg[2]
local run = require("gtr").turbo.new{run_dir = dir, resume = mode == "resume", quiet = true, seed = 3,
  num_envs = 2, steps = 2, updates = 3, samples = 1, sft = {demos = 8, epochs = 1, batch = 4},
  eval = {episodes = 2}, generation = {max_new_tokens = 24}, ppo = {minibatch = 2, epochs = 1},
  model = {width = 32, layers = 1, heads = 2, intermediate = 64, vision_width = 32, vision_layers = 1}}
if mode == "interrupt" then  -- killed after logging update 2 but before its checkpoint
  run:update(); run.run:log({update = 2, success_rate = 0.123}); os.exit(0)
end
run:train()
]]

T.it("a resumed run reproduces the uninterrupted run's metrics (an update logged but not checkpointed is redone)", function()
  local d = tmpdir()
  local f = assert(io.open(d .. "/run.lua", "w")); f:write(RUN); f:close()
  sh(("%q run %q %q full"):format(exe, d .. "/run.lua", d .. "/a"))
  sh(("%q run %q %q interrupt"):format(exe, d .. "/run.lua", d .. "/b"))
  sh(("%q run %q %q resume"):format(exe, d .. "/run.lua", d .. "/b"))
  local a, b = records(d .. "/a/metrics.jsonl"), records(d .. "/b/metrics.jsonl")
  T.eq(#a, 4); T.eq(#b, 4)
  for i = 1, #a do
    for k, v in pairs(a[i]) do
      if k ~= "wall_s" and k ~= "tokens_per_s" and k ~= "time_split" and not k:find("^time_") then
        if type(v) == "number" then T.near(b[i][k], v, 1e-9, "update " .. a[i].update .. " " .. k) else T.eq(b[i][k], v) end
      end
    end
  end
  T.truthy(io.open(d .. "/b/plots/success_rate_eval_success.png"), "plots written")
  -- the teacher was refreshed from the pool every update
  T.eq(a[#a].teacher_steps, "0,1,2,3")
  os.execute("rm -rf " .. d)
end)

T.it("a process killed while writing a checkpoint leaves the previous one loadable", function()
  local d = tmpdir()
  local writer = d .. "/writer.lua"
  local f = assert(io.open(writer, "w"))
  f:write([[
    local p = moon.vlm.new{width = 64, layers = 2, heads = 2, intermediate = 128, vision_width = 32, vision_layers = 1}
    p:save(arg[1])
    io.open(arg[1] .. ".ready", "w"):close()
    while true do p:save(arg[1]) end
  ]])
  f:close()
  local path = d .. "/policy.safetensors"
  sh(("(%q run %q %q & pid=$!; while [ ! -e %q ]; do sleep 0.05; done; sleep 0.7; kill -9 $pid; wait $pid) 2>/dev/null || true")
     :format(exe, writer, path, path .. ".ready"))
  local p = moon.vlm.load(path)
  T.truthy(p:num_parameters() > 0)
  os.execute("rm -rf " .. d)
end)

T.it("opening an existing run without resume is refused", function()
  local d = tmpdir()
  local f = io.open(d .. "/x", "w"); f:write("x"); f:close()
  T.raises(function() moon.run.open(d) end, "already exists")
  T.raises(function() moon.run.open({}) end, "moon.run.open")
  T.raises(function() moon.run.open(d .. "/new", {resume = "yes"}) end, "resume")
  T.raises(function() moon.run.open(d .. "/new", {bogus = 1}) end, "bogus")
  os.execute("rm -rf " .. d)
end)
