-- Runs one algorithm on one task: moonlab run scripts/experiment.lua ALGO ENV [key=value ...]
-- ALGO: ppo | gtr | turbo-kl | turbo-sft. key=value pairs set config entries (dotted keys for nested tables,
-- numbers and true/false converted): e.g. updates=20 ppo.lr=2e-4 turbo.merge=ema run_dir=runs/x
local gtr = require("gtr")
local algo, env = arg[1], arg[2]
if not algo or not env then
  io.stderr:write("usage: moonlab run scripts/experiment.lua ppo|gtr|turbo-kl|turbo-sft ENV [key=value ...]\n")
  os.exit(2)
end
-- Per-task defaults found while tuning (key=value arguments still override them): with the default 512
-- demonstrations x 3 epochs only NumberLine's SFT start answers in the right format (EZPoints 0% success, Blackjack
-- 100% invalid answers, SFT loss 0.35-0.57 against NumberLine's 0.13), so the card tasks get 4x the demonstrations.
local task_defaults = {ezpoints = {sft = {demos = 1024}}, points24 = {sft = {demos = 2048}},
                       blackjack = {sft = {demos = 2048}}}
local cfg = {env = env}
for k, v in pairs(task_defaults[env] or {}) do cfg[k] = v end
for i = 3, #arg do
  local key, value = arg[i]:match("^([%w_%.]+)=(.*)$")
  if not key then io.stderr:write("bad argument '" .. arg[i] .. "' (expected key=value)\n"); os.exit(2) end
  local v = value
  if value == "true" then v = true elseif value == "false" then v = false
  elseif tonumber(value) then v = math.tointeger(tonumber(value)) or tonumber(value) end
  local t = cfg
  local parts = {}
  for p in key:gmatch("[^%.]+") do parts[#parts + 1] = p end
  for k = 1, #parts - 1 do t[parts[k]] = t[parts[k]] or {}; t = t[parts[k]] end
  t[parts[#parts]] = v
end
local make = {ppo = gtr.ppo.new, gtr = gtr.guided.new,
  ["turbo-kl"] = function(c) c.turbo = c.turbo or {}; c.turbo.guidance = "kl"; return gtr.turbo.new(c) end,
  ["turbo-sft"] = function(c) c.turbo = c.turbo or {}; c.turbo.guidance = "sft"; return gtr.turbo.new(c) end}
if not make[algo] then io.stderr:write("unknown algorithm '" .. algo .. "'\n"); os.exit(2) end
local run = make[algo](cfg)
local history = run:train()
if not moon.dist.is_main() then return end  -- under mpirun rank 0 reports
local last = history[#history]
local start = history[1].update == 0 and ("start %.1f%%"):format(100 * (history[1].eval_success or 0))
  or ("resumed at update %d"):format(history[1].update - 1)
print(("%s on %s: eval success %.1f%% (%s), %d updates in %.0fs -> %s"):format(algo, env,
  100 * (last.eval_success or 0), start, run.update_count, run.clock, run.dir))
