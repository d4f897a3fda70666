--- Evaluation on fixed episodes: episode i of every evaluation (of every run, algorithm and update) is the env reset
-- with seed 900001 + i and sampled with its own generator (seed 4242 + i), so the numbers do not depend on how the
-- episodes are batched or which other episodes are still running. All live episodes are generated in batches of
-- cfg.eval.batch (default 64) per turn. Besides success, return and invalid rate it records each episode's outcome
-- (for bootstrap intervals over episodes), and on the first turn the action distribution and the agreement with the
-- task's solver (what scripts/action_stats.lua printed: a policy that answers one action everywhere has collapsed).
--   local ev = require("gtr.evaluate").run(run, {episodes = 128})
local diagnostics = require("gtr.diagnostics")
local evaluate = {}

--- Fixed-episode evaluation of `run.policy` (or opts.policy). opts: episodes (cfg.eval.episodes), batch
-- (cfg.eval.batch; 0 = all live episodes in one batch), policy. Returns {success, return, invalid, outcomes
-- (a string of 0/1, one per episode), episodes, turns, tokens, first_top_action_share, first_solver_agreement,
-- first_actions (e.g. "+:80 -:48"), time_s}.
function evaluate.run(run, opts)
  opts = opts or {}
  local cfg = run.cfg
  local episodes = opts.episodes or cfg.eval.episodes
  local policy = opts.policy or run.policy
  if episodes <= 0 then return {success = 0, ["return"] = 0, invalid = 0} end
  local t0 = moon.clock()
  local batch_size = opts.batch or cfg.eval.batch
  if batch_size <= 0 then batch_size = episodes end
  local envs, obs, alive, gens, ret, solver = {}, {}, {}, {}, {}, {}
  local env_opts = {}
  for k, v in pairs(cfg.env_options) do env_opts[k] = v end
  env_opts.size = env_opts.size or cfg.model.image_size
  env_opts.seed = 0
  for i = 1, episodes do
    envs[i] = moon.env.make(cfg.env, env_opts)
    obs[i] = envs[i]:reset(900001 + i)
    alive[i], gens[i], ret[i] = true, moon.generator(4242 + i), 0
    solver[i] = envs[i]:solver_response()
  end
  local outcomes, succ, invalid, turns, tokens = {}, 0, 0, 0, 0
  for i = 1, episodes do outcomes[i] = "0" end
  local first_actions = {}
  for turn = 1, 64 do
    local ids = {}
    for i = 1, episodes do if alive[i] then ids[#ids + 1] = i end end
    if #ids == 0 then break end
    for lo = 1, #ids, batch_size do
      local part, batch, g = {}, {}, {}
      for k = lo, math.min(lo + batch_size - 1, #ids) do
        local i = ids[k]
        part[#part + 1] = i; batch[#batch + 1] = obs[i]; g[#g + 1] = gens[i]
      end
      local out = policy:generate(run:batch(batch), run:generation_options{temperature = cfg.eval.temperature,
        generator = g})
      tokens = tokens + out.token_count
      for k, i in ipairs(part) do
        local o, r, done, info = envs[i]:step(out.texts[k])
        if turn == 1 then first_actions[i] = diagnostics.env_action(info, out.texts[k]) end
        ret[i] = ret[i] + r; turns = turns + 1
        if info.illegal then invalid = invalid + 1 end
        obs[i] = o
        if done then
          alive[i] = false
          if info.success then succ = succ + 1; outcomes[i] = "1" end
        end
      end
    end
  end
  local total = 0
  for i = 1, episodes do total = total + ret[i] end
  local counts, agree = {}, 0
  for i = 1, episodes do
    local a = first_actions[i] or "(none)"
    counts[a] = (counts[a] or 0) + 1
    if a ~= "(none)" and a == diagnostics.action(solver[i]) then agree = agree + 1 end
  end
  local freq = diagnostics.frequencies(counts, episodes)
  return {success = succ / episodes, ["return"] = total / episodes, invalid = invalid / math.max(turns, 1),
          outcomes = table.concat(outcomes), episodes = episodes, turns = turns, tokens = tokens,
          first_top_action_share = freq.top_share, first_solver_agreement = agree / episodes,
          first_actions = freq.text, time_s = moon.clock() - t0}
end

--- The evaluation of the SFT start a run loaded (cfg.sft.checkpoint = <sft run>/checkpoints/sft.safetensors), read
-- from that run's update-0 record, so runs that share one SFT start need not evaluate it again (eval.start = false):
-- the eval_* fields plus eval_from (the SFT run directory), or nil when there is none with as many episodes.
function evaluate.reuse_start(run)
  local ck = run.cfg.sft.checkpoint
  local dir = ck ~= "" and ck:match("^(.*)/checkpoints/[^/]+$")
  local f = dir and moon.file_kind(dir .. "/metrics.jsonl") == "file" and io.open(dir .. "/metrics.jsonl", "r")
  if not f then return nil end
  local first = f:read("l")
  f:close()
  local ok, r = pcall(moon.json.decode, first or "")
  if not ok or type(r) ~= "table" or r.update ~= 0 or r.eval_episodes ~= run.cfg.eval.episodes then return nil end
  local out = {eval_from = dir}
  for k, v in pairs(r) do if k:match("^eval_") then out[k] = v end end
  return out
end

return require("gtr.doc").module(evaluate)
