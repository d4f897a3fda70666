-- Runs one algorithm on one task: moonlab run scripts/experiment.lua ALGO ENV [key=value ...]
-- ALGO: ppo | gtr | turbo-kl | turbo-sft. key=value pairs set config entries (dotted keys for nested tables,
-- numbers and true/false converted): e.g. updates=20 ppo.lr=2e-4 turbo.merge=ema run_dir=runs/x
local gtr = require("gtr")
if tonumber(os.getenv("MOONLAB_THREADS") or "") then moon.set_num_threads(math.tointeger(tonumber(os.getenv("MOONLAB_THREADS")))) end
local algo, env = arg[1], arg[2]
if not algo or not env then
  io.stderr:write("usage: moonlab run scripts/experiment.lua ppo|gtr|turbo-kl|turbo-sft ENV [key=value ...]\n")
  os.exit(2)
end
-- preset=NAME (scripts/experiments/presets.lua: tiny (default), smollm, tinylm) sets the policy and its per-task
-- defaults; key=value arguments override them.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "scripts"
local presets = dofile(here .. "/experiments/presets.lua")
local preset_name = "tiny"
for i = 3, #arg do preset_name = arg[i]:match("^preset=(.*)$") or preset_name end
local preset = presets[preset_name]
if not preset then io.stderr:write("unknown preset '" .. preset_name .. "' (expected tiny, smollm or tinylm)\n"); os.exit(2) end
local args = dofile(here .. "/experiments/args.lua")
local cfg = {env = env}
args.merge(cfg, preset.config)
args.merge(cfg, preset.task[env] or {})
for i = 3, #arg do
  if arg[i]:match("^preset=") then goto continue end
  local key, value = arg[i]:match("^([%w_%.]+)=(.*)$")
  if not key then io.stderr:write("bad argument '" .. arg[i] .. "' (expected key=value)\n"); os.exit(2) end
  args.set(cfg, key, value)
  ::continue::
end
local make = {ppo = gtr.ppo.new, gtr = gtr.guided.new,
  ["turbo-kl"] = function(c) c.turbo = c.turbo or {}; c.turbo.guidance = "kl"; return gtr.turbo.new(c) end,
  ["turbo-sft"] = function(c) c.turbo = c.turbo or {}; c.turbo.guidance = "sft"; return gtr.turbo.new(c) end}
if not make[algo] then io.stderr:write("unknown algorithm '" .. algo .. "'\n"); os.exit(2) end
local run = make[algo](cfg)
local history = run:train()
if not moon.dist.is_main() then return end  -- under mpirun rank 0 reports
local last = history[#history]
local start = history[1].update == 0 and (history[1].eval_success and ("start %.1f%%"):format(100 * history[1].eval_success)
  or "start not evaluated")
  or ("resumed at update %d"):format(history[1].update - 1)
print(("%s on %s: eval success %.1f%% (%s), %d updates in %.0fs -> %s"):format(algo, env,
  100 * (last.eval_success or 0), start, run.update_count, run.clock, run.dir))
