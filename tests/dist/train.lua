-- One small seeded data-parallel run (tests/dist/run.sh drives it under mpirun):
--   moonlab run tests/dist/train.lua ALGO RUN_DIR OUT.safetensors [updates] [resume]
-- Rank 0 writes the final parameters (and the metrics history) to OUT.
local algo, dir, out = arg[1], arg[2], arg[3]
local updates = tonumber(arg[4] or "3")
local resume = arg[5] == "resume"
moon.set_num_threads(1)
local gtr = require("gtr")
local cfg = {env = "numberline", run_dir = dir, seed = 3, num_envs = 8, steps = 1, updates = updates, resume = resume,
  rollout_rng = "env", quiet = true, samples = 1, keep_checkpoints = 5,
  generation = {max_new_tokens = 24},
  sft = {demos = 0},
  ppo = {minibatch = 4, epochs = 1},
  eval = {episodes = 0, every = 0},
  reward = function(obs, response, reward, info) return reward + (#response % 3) * 0.01 end}
local pids = os.getenv("DIST_TEST_PIDS")  -- a folder: each rank writes its process id there (the fault test kills one)
if pids then
  local f = assert(io.open("/proc/self/stat")); local pid = f:read("n"); f:close()
  f = assert(io.open(("%s/rank-%d"):format(pids, moon.dist.rank()), "w")); f:write(pid, "\n"); f:close()
end
local run
if algo == "ppo" then run = gtr.ppo.new(cfg)
elseif algo == "gtr" then cfg.guidance = {states = 4, batch = 4}; run = gtr.guided.new(cfg)
elseif algo == "turbo-kl" then cfg.turbo = {guidance = "kl"}; run = gtr.turbo.new(cfg)
elseif algo == "turbo-sft" then cfg.turbo = {guidance = "sft"}; cfg.guidance = {states = 4, batch = 4}; run = gtr.turbo.new(cfg)
else error("unknown algo " .. tostring(algo)) end
local stop_after = tonumber(os.getenv("DIST_TEST_STOP_AFTER") or "")
if stop_after then
  while run.update_count < stop_after do run:update() end
else
  run:train()
end
-- data-parallel replicas must hold bit-identical parameters
local replicas = moon.dist.allgather(moon.dist.flatten(run.policy:parameters{trainable_only = false}))
for r = 2, #replicas do
  local diff = (replicas[r] - replicas[1]):abs():max():item()
  if diff ~= 0 then error(("rank %d's parameters differ from rank 0's by %g"):format(r - 1, diff)) end
end
if moon.dist.is_main() then
  local named = run.policy:named_parameters()
  local metrics = {}  -- from metrics.jsonl: a resumed run's file holds the records from before the resume too
  for line in io.lines(run.run:path("metrics.jsonl")) do
    local r = moon.json.decode(line)
    local m = {}
    for k, v in pairs(r) do if type(v) == "number" or type(v) == "string" then m[k] = v end end
    metrics[#metrics + 1] = m
  end
  moon.ckpt.save(out, named, {metrics = moon.json.encode(metrics)})
end
