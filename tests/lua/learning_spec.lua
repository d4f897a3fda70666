-- A short seeded run on NumberLine raises the success rate above its SFT start. To stay fast the agent answers
-- with the action only ({"action": "+"}), after a brief SFT that learns the format but not yet the task.
local T = ...

T.it("PPO raises NumberLine success above the SFT start", function()
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local cfg = {run_dir = dir, quiet = true, seed = tonumber(os.getenv("LEARN_SEED") or "5"), env = "numberline", env_options = {invalid_penalty = true},
    num_envs = 8, steps = 6, updates = tonumber(os.getenv("LEARN_UPDATES") or "12"), samples = 0,
    sft = {demos = 0}, eval = {episodes = 32, every = 0, temperature = 0.2}, generation = {max_new_tokens = 20, temperature = 1.0},
    ppo = {lr = tonumber(os.getenv("LEARN_LR") or "5e-4"), lr_min = 1e-4, minibatch = 16, epochs = 2, clip = 0.2},
    model = {width = 64, layers = 2, heads = 4, intermediate = 128, vision_width = 32, vision_layers = 1}}
  local run = gtr.ppo.new(cfg)
  -- brief SFT on action-only answers: the format, and a weak preference for the right move
  local demos = moon.env.demos("numberline", 256, {seed = 11, size = 64})
  local opt = moon.optim.adamw(run.policy:parameters(), {lr = 1e-3, weight_decay = 0})
  for epoch = 1, tonumber(os.getenv("LEARN_SFT") or "10") do
    for first = 1, #demos, 16 do
      local obs, answers = {}, {}
      for k = first, math.min(first + 15, #demos) do
        obs[#obs + 1] = demos[k]; answers[#answers + 1] = '{"action": "' .. demos[k].action .. '"}'
      end
      local s = run.policy:score(run:batch(obs), answers)
      local loss = require("gtr.sft").loss(s)
      opt:zero_grad(); loss:backward(); opt:step()
    end
  end
  local start = run:evaluate(32)
  if os.getenv("LEARN_DEBUG") then print(moon.inspect(run:generate(run.policy, {demos[1], demos[2]}, moon.generator(1)).texts)) end
  T.truthy(start.invalid < 0.5, "SFT should teach the answer format, invalid rate " .. start.invalid)
  run:train()
  local final = run:evaluate(32)
  print(("    learning: success %.2f -> %.2f, return %.2f -> %.2f"):format(start.success, final.success, start["return"], final["return"]))
  T.truthy(final.success > start.success, ("success did not rise: %.3f -> %.3f"):format(start.success, final.success))
  os.execute("rm -rf " .. dir)
end)
