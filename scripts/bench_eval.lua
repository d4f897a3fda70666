-- Times one fixed-episode evaluation (stdlib/gtr/evaluate.lua: all live episodes generated in batches of
-- cfg.eval.batch = 64 per turn, temperature 0.2, stop "}") of a policy built like scripts/experiment.lua builds it.
--   moonlab run scripts/bench_eval.lua [ENV] [key=value ...]
-- ENV: points24 (default). key=value as in scripts/experiment.lua (preset=smollm by default; e.g. eval.episodes=128,
-- sft.checkpoint=PATH for a trained start, generation.weights is not a config key: weights=bf16 sets it here).
-- Prints the success, turns, generated tokens, seconds and tokens/s of the evaluation, and the machine's load.
local gtr = require("gtr")
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "scripts"
local presets = dofile(here .. "/experiments/presets.lua")
local env = (arg[1] and not arg[1]:find("=")) and arg[1] or "points24"
local preset_name, weights = "smollm", nil
for i = 1, #arg do
  preset_name = arg[i]:match("^preset=(.*)$") or preset_name
  weights = arg[i]:match("^weights=(.*)$") or weights
end
local preset = assert(presets[preset_name], "unknown preset " .. preset_name)
local args = dofile(here .. "/experiments/args.lua")
local dir = os.tmpname(); os.remove(dir)
local cfg = {env = env, updates = 0, run_dir = dir, sft = {demos = 0}, eval = {start = false, episodes = 128}}
args.merge(cfg, preset.config)
args.merge(cfg, preset.task[env] or {})
cfg.sft.demos, cfg.eval.start, cfg.run_dir = 0, false, dir
for i = 1, #arg do
  local key, value = arg[i]:match("^([%w_%.]+)=(.*)$")
  if key and key ~= "preset" and key ~= "weights" then args.set(cfg, key, value) end
end
local run = gtr.ppo.new(cfg)
if weights then  -- the decode weights of every generate call the evaluation makes
  local base = run.generation_options
  run.generation_options = function(self, o) local r = base(self, o); r.weights = weights; return r end
end
local function load()
  local f = io.open("/proc/loadavg"); local s = f and f:read("l") or "?"; if f then f:close() end
  return s:match("^(%S+ %S+ %S+)") or s
end
local l0, c0 = load(), os.clock()
local ev = run:evaluate(cfg.eval.episodes)
print(("evaluation: %s, preset %s%s, %d episodes in batches of %d: success %.1f%%, %d turns, %d tokens in %.1f s (%.0f tok/s, process CPU %.1f s; load %s before, %s after)")
  :format(env, preset_name, weights and (", " .. weights .. " weights") or "", ev.episodes, run.cfg.eval.batch,
    100 * ev.success, ev.turns, ev.tokens, ev.time_s, ev.tokens / ev.time_s, os.clock() - c0, l0, load()))
print("outcomes " .. ev.outcomes)
os.execute("rm -rf '" .. dir .. "'")
