local T = ...

local function text_env(opts)
  opts = opts or {}
  opts.obs_mode = opts.obs_mode or "text"
  return moon.env.make("household", opts)
end

T.it("household: the expert solves every task type through env:step(env:solver_response())", function()
  for _, task in ipairs({"pick", "clean", "heat", "cool", "examine", "pick_two"}) do
    local env = text_env({task = task})
    for seed = 1, 20 do
      local obs = env:reset(seed)
      T.truthy(obs.prompt:find("Your task is to ", 1, true), "prompt has the task")
      T.truthy(obs.prompt:find("Your admissible actions of the current situation are: ['", 1, true))
      T.eq(obs.image, nil)
      local done, r, info, steps = false, 0, nil, 0
      while not done do
        _, r, done, info = env:step(env:solver_response())
        steps = steps + 1
        T.eq(info.illegal, false)
        T.eq(type(info.admissible_commands), "table")
      end
      T.eq(r, 1, task .. " seed " .. seed)
      T.truthy(info.success and steps <= 50)
    end
  end
end)

T.it("household: ALFWorld's feedback, 'Nothing happens.' for anything else", function()
  local env = text_env({task = "heat", seed = 2})
  local obs = env:reset(2)
  T.truthy(obs.text:find("You are in the middle of a room. Looking quickly around you, you see a ", 1, true))
  local _, r, done, info = env:step('{"thoughts": "hm", "action": "heat the room"}')
  T.eq(info.feedback, "Nothing happens."); T.eq(info.illegal, true); T.eq(info.invalid, true); T.eq(r, 0); T.eq(done, false)
  _, _, _, info = env:step_action("inventory")
  T.eq(info.feedback, "You are not carrying anything.")
  _, _, _, info = env:step_action("go to microwave 1")
  T.truthy(info.feedback:find("^You arrive at microwave 1%. The microwave 1 is "), info.feedback)
  _, _, _, info = env:step_action("heat apple 1 with microwave 1")   -- holding nothing
  T.eq(info.feedback, "Nothing happens.")
  -- any text is a command with a feedback sentence
  local g = moon.generator(3)
  for _ = 1, 300 do
    local n = moon.randint(0, 40, {1}, {generator = g}):item()
    local bytes = {}
    for k = 1, n do bytes[k] = moon.randint(1, 256, {1}, {generator = g}):item() end
    local _, _, d, inf = env:step_action(string.char(table.unpack(bytes)))
    T.truthy(#inf.feedback > 0)
    if d then env:reset() end
  end
end)

T.it("household: seeded episodes repeat; env:actions() are the admissible commands", function()
  local a, b = text_env({seed = 4}), text_env({seed = 4})
  T.eq(a:reset(9).prompt, b:reset(9).prompt)
  for _ = 1, 5 do
    local r1 = a:solver_response()
    T.eq(r1, b:solver_response())
    local o1 = a:step(r1); local o2 = b:step(r1)
    T.eq(o1.text, o2.text)
  end
  local acts = a:actions()
  T.truthy(#acts > 3)
  local resp = a:solver_response()
  local chosen = a:solver_action()
  local found = false
  for _, c in ipairs(acts) do if c == chosen then found = true end end
  T.truthy(found, "the expert's command is admissible")
  T.truthy(resp:find('"action": "' .. chosen .. '"', 1, true))
end)

T.it("household: bad options, actions and seeds are Lua errors", function()
  T.raises(function() moon.env.make("household", {task = "juggle"}) end, "option 'task'")
  T.raises(function() moon.env.make("household", {room = "garage"}) end, "option 'room'")
  T.raises(function() moon.env.make("household", {task = "heat", room = "bathroom"}) end, "is not made in a bathroom")
  T.raises(function() moon.env.make("household", {task = 3}) end, "option 'task'")
  T.raises(function() moon.env.make("household", {tsak = "pick"}) end, "unknown option 'tsak'")
  for _, s in ipairs({0/0, 1e308, 2^63, -1, 1.5}) do
    T.raises(function() moon.env.make("household", {seed = s}) end, "seed")
  end
  local env = text_env()
  env:reset(1)
  T.raises(function() env:step(42) end, "expected string")
  T.raises(function() env:step({}) end, "expected string")
  T.raises(function() env:step_action(nil) end, "expected string")
  T.raises(function() env:reset(0/0) end, "seed")
  T.raises(function() env:reset(1e308) end, "seed")
  T.raises(function() env:reset(2^63) end, "seed")
  env:reset(math.maxinteger); env:reset(math.mininteger)   -- integers are fine
end)

T.it("household: vector, wrap, demos and images", function()
  local v = moon.env.vector("household", 3, {seed = 5, obs_mode = "text"})
  for _ = 1, 40 do
    local _, rewards, dones, infos = v:step(v:solver_responses())
    T.eq(#rewards, 3); T.eq(#infos[1].admissible_commands > 0, true)
  end
  local stats = v:stats()
  T.truthy(#stats >= 3)
  for _, s in ipairs(stats) do T.eq(s.success, true) end

  local w = moon.env.wrap(text_env({seed = 1}), {reward = function(obs, response, r, info) return r - 0.01 end})
  w:reset(1)
  local _, r, _, info = w:step('{"action": "look"}')
  T.near(r, -0.01, 1e-12); T.eq(info.raw_reward, 0)

  local demos = moon.env.demos("household", 30, {seed = 2, obs_mode = "text"})
  T.eq(#demos, 30)
  for _, d in ipairs(demos) do
    T.truthy(d.response:find('"thoughts": ', 1, true) and d.prompt:find("'" .. d.action .. "'", 1, true), d.action)
  end

  local img_env = moon.env.make("household", {size = 64, seed = 3})
  T.eq(img_env:reset(3).image:size(), {3, 64, 64})
end)

T.it("household: a GTR update runs on it unchanged (text prompts, no image)", function()
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local run = gtr.guided.new{env = "household", env_options = {obs_mode = "text"}, run_dir = dir, num_envs = 2,
    steps = 2, updates = 1, quiet = true, sft = {demos = 8, epochs = 1, batch = 4}, eval = {episodes = 1},
    generation = {max_new_tokens = 8}, samples = 0, ppo = {minibatch = 2, epochs = 1},
    guidance = {states = 2, batch = 2},
    model = {width = 32, layers = 1, heads = 2, intermediate = 64, vision_width = 32, vision_layers = 1}}
  run:update()
  T.eq(run.update_count, 1)
  os.execute("rm -rf " .. dir)
end)
