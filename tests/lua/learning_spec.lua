-- PPO learns: from a brief SFT start on NumberLine (action-only answers, to stay fast), a reward shaped by a Lua
-- function (+1 for moving right) must raise the policy's probability of that action within a few updates.
local T = ...

local function brief_sft(run, epochs)
  local demos = moon.env.demos("numberline", 256, {seed = 11, size = 64})
  local opt = moon.optim.adamw(run.policy:parameters(), {lr = 1e-3, weight_decay = 0})
  for _ = 1, epochs do
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
end

T.it("PPO with a Lua-shaped reward raises the probability of the rewarded action", function()
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local run = gtr.ppo.new{run_dir = dir, quiet = true, seed = tonumber(os.getenv("LEARN_SEED") or "1"), env = "numberline",
    env_options = {invalid_penalty = true}, num_envs = 8, steps = 6, updates = 6, samples = 0,
    sft = {demos = 0}, eval = {episodes = 0, every = 0}, generation = {max_new_tokens = 20, temperature = 1.0},
    ppo = {lr = 3e-4, lr_min = 1e-4, minibatch = 16, epochs = 2, clip = 0.2},
    reward = function(obs, response, reward, info) return info.parsed_action == "+" and 1 or 0 end,
    model = {width = 64, layers = 2, heads = 4, intermediate = 128, vision_width = 32, vision_layers = 1}}
  brief_sft(run, 9)
  local env = moon.env.make("numberline")
  local probe = {}
  for i = 1, 32 do probe[i] = env:reset(100 + i) end
  local function p_plus()
    local plus, minus = {}, {}
    for i = 1, #probe do plus[i] = '{"action": "+"}'; minus[i] = '{"action": "-"}' end
    return moon.no_grad(function()
      local a, b = run.policy:score(run:batch(probe), plus), run.policy:score(run:batch(probe), minus)
      local la, lb = (a.logprobs * a.mask):sum(2):exp(), (b.logprobs * b.mask):sum(2):exp()
      return (la / (la + lb)):mean():item()
    end)
  end
  local before = p_plus()
  local history = run:train()
  local after = p_plus()
  print(("    learning: p(+) %.3f -> %.3f over %d updates"):format(before, after, #history - 1))
  T.truthy(after > before + 0.15, ("p(+) did not rise enough: %.3f -> %.3f"):format(before, after))
  T.eq(run.update_count, 6)
  os.execute("rm -rf " .. dir)
end)
