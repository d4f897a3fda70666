-- How state-dependent a policy's actions are: on N fresh first turns, the share of the most common action and the
-- share that agrees with the task's solver. A policy that answers the same action everywhere has collapsed.
--   moonlab run scripts/action_stats.lua ENV N CHECKPOINT [CHECKPOINT ...]
local env, n = arg[1], tonumber(arg[2])
if not env or not n or not arg[3] then
  io.stderr:write("usage: moonlab run scripts/action_stats.lua ENV N CHECKPOINT [CHECKPOINT ...]\n"); os.exit(2)
end
local core, gen = require("gtr.core"), require("gtr.config").defaults.generation
local function action(text)  -- the quoted value of the action part (the one split rule: moon.env.split_answer)
  local _, a = moon.env.split_answer(text)
  return a and a:match(':%s*"([^"]*)"') or "(none)"
end
local venv = moon.env.vector(env, n, {size = 64, seed = 777})
local obs = venv:reset()
local solver = venv:solver_responses()
local batch = {}
for i, o in ipairs(obs) do batch[i] = {prompt = core.prompt(o, "short"), image = o.image} end
for k = 3, #arg do
  local p = moon.vlm.load(arg[k])
  local g = p:generate(batch, core.generation_options(gen, {generator = moon.generator(1)}))
  local counts, agree, top = {}, 0, 0
  for i, t in ipairs(g.texts) do
    local a = action(t)
    counts[a] = (counts[a] or 0) + 1
    if a == action(solver[i]) then agree = agree + 1 end
  end
  local parts = {}
  for a, c in pairs(counts) do parts[#parts + 1] = ("%s:%d"):format(a, c); top = math.max(top, c) end
  table.sort(parts)
  print(("%s | most common action %.0f%% | agrees with the solver %.0f%% | %s"):format(arg[k], 100 * top / n,
    100 * agree / n, table.concat(parts, " ")))
end
