--- GTR-Turbo: the checkpoints RL produces are merged (TIES over task vectors from the SFT start, or a moving
-- average) into a free teacher that guides later RL, either by
--   "kl"  (default, the paper's best): per thought token log pi_agent - log pi_teacher on the agent's own sample,
--          clamped to [kl_clamp_min, kl_clamp_max] ([0, 10]), averaged per turn (an invalid answer counts kl_invalid) and subtracted,
--          times kl_coef, from the turn's advantage and return after GAE (kl_mode = "reward"), or added to the
--          loss (kl_mode = "loss");
--   "sft": the teacher answers the visited states; its thoughts + the agent's action are SFT targets (guidance.lua).
--   local run = require("gtr.turbo").new{env = "numberline", turbo = {guidance = "kl", merge = "ties"}}
--   run:update(); run.teacher:generate({obs})
local core = require("gtr.core")
local guidance = require("gtr.guidance")
local pool = require("gtr.pool")
local dist = require("gtr.dist")
local turbo = {}

local function refresh(run)
  if run.world > 1 then  -- rank 0 merges, every rank receives the teacher (bench: cheaper than merging on each)
    if run.main then run.teacher:load_state_dict(run.pool:merged(), {strict = false}) end
    dist.broadcast_tensors(run.teacher:parameters{trainable_only = false})
  else
    run.teacher:load_state_dict(run.pool:merged(), {strict = false})
  end
  run.teacher_steps = table.concat(run.pool:steps(), ",")
end

--- Teacher answers for the SFT variant: GTR-Turbo's sampling (low temperature, top-k, repetition penalty),
-- raising the temperature x1.1 (up to 0.9) for answers without an action.
local function teacher_answers(run, obs)
  local t = run.cfg.turbo
  local temp, texts = t.teacher_temperature, nil
  local todo = {}
  for i = 1, #obs do todo[i] = i end
  texts = {}
  for try = 1, 4 do
    local batch = {}
    for k, i in ipairs(todo) do batch[k] = obs[i] end
    local g = run.teacher:generate(run:batch(batch), run:generation_options{temperature = temp, top_k = t.teacher_top_k,
      repetition_penalty = t.teacher_repetition_penalty, generator = moon.generator(run.update_count * 10 + try)})
    run.teacher_tokens = (run.teacher_tokens or 0) + g.token_count  -- compute accounting
    local again = {}
    for k, i in ipairs(todo) do
      texts[i] = g.texts[k]
      if not select(2, guidance.split(g.texts[k])) then again[#again + 1] = i end
    end
    todo = again
    if #todo == 0 then break end
    temp = math.min(temp * 1.1, 0.9)
  end
  return texts
end

--- The KL estimator of a resolved turbo config: kl_estimator, where "auto" is k1 for kl_mode = "reward" (unbiased as
-- a reward) and k3 for "loss" (k1's gradient on the agent's own samples is zero in expectation).
function turbo.estimator(t)
  if t.kl_estimator ~= "auto" then return t.kl_estimator end
  return t.kl_mode == "loss" and "k3" or "k1"
end

--- A GTR-Turbo run (core.new with the turbo hooks): cfg as gtr.config.defaults, cfg.turbo choosing the guidance
-- ("kl" or "sft"), the merge method and the KL settings.
function turbo.new(cfg)
  local hooks = {}

  function hooks.setup(run, state)
    local t = run.cfg.turbo
    run.pool = pool.new{path = function(name) return run.run:path("teacher/pool/" .. name) end, size = t.pool_size, method = t.merge, base = run.sft_state,
                        density = t.density, decay = t.ema_decay, weights = t.weights, seed = run.cfg.seed,
                        store = run.main}
    run.teacher = run.policy:clone()
    if state then
      run.pool:restore(state.pool)
    else
      run.pool:add(0, run.sft_state)
    end
    refresh(run)
    run.buffer = guidance.buffer(run.cfg.guidance.buffer)
  end

  function hooks.after_collect(run, samples, old)
    local t = run.cfg.turbo
    if t.guidance == "sft" then
      local picked = guidance.pick(run, samples)
      local obs = {}
      for k, j in ipairs(picked) do obs[k] = samples[j].obs end
      guidance.aggregate(run, samples, picked, teacher_answers(run, obs))
      return
    end
    if t.kl_mode ~= "reward" then return end
    -- one teacher forward pass over the agent's own answers
    local tscores = run:score_samples(run.teacher, samples)
    for _, s in ipairs(samples) do run.teacher_scored_tokens = (run.teacher_scored_tokens or 0) + #s.tokens end
    local kl = {}
    for c, ts in ipairs(tscores) do
      local s = old.scores[c]
      local mask = t.kl_tokens == "thought" and s.thought_mask or s.mask
      kl[c] = moon.distill.turn_kl(s.logprobs, ts.logprobs, mask, {estimator = turbo.estimator(t),
        direction = t.kl_direction, clamp_min = t.kl_clamp_min, clamp_max = t.kl_clamp_max})
    end
    kl = moon.cat(kl):totable()
    local sum, n = 0, 0
    for i, s in ipairs(samples) do
      if s.info.illegal or not select(2, guidance.split(s.text)) then s.kl = t.kl_invalid
      else s.kl = kl[i]; sum = sum + kl[i]; n = n + 1 end
    end
    run.kl_mean = n > 0 and sum / n or 0
  end

  function hooks.adjust_advantages(run, samples, adv, ret)
    local t = run.cfg.turbo
    if t.guidance ~= "kl" or t.kl_mode ~= "reward" then return adv, ret end
    local k = {}
    for i, s in ipairs(samples) do k[i] = t.kl_coef * s.kl end
    local shift = moon.tensor(k)
    return adv - shift, ret - shift
  end

  function hooks.extra_loss(run, score, idx, samples)
    local t = run.cfg.turbo
    if t.guidance == "sft" then return guidance.extra_loss(run) end
    if t.kl_mode ~= "loss" then return nil end
    local obs, toks = {}, {}
    for k, i in ipairs(idx) do obs[k] = samples[i + 1].obs; toks[k] = samples[i + 1].tokens end
    local ts = moon.no_grad(function() return run.teacher:score(run:batch(obs), toks) end)
    for _, tk in ipairs(toks) do run.teacher_scored_tokens = (run.teacher_scored_tokens or 0) + #tk end
    local mask = t.kl_tokens == "thought" and score.thought_mask or score.mask
    local loss = moon.distill.sampled_kl(score.logprobs, ts.logprobs, {mask = mask, estimator = turbo.estimator(t),
      direction = t.kl_direction, clamp_min = t.kl_clamp_min, clamp_max = t.kl_clamp_max})
    run.kl_mean = loss:item()
    return loss * t.kl_coef, {kl_loss = loss:item()}
  end

  function hooks.after_update(run)
    local t = run.cfg.turbo
    if run.update_count % t.every == 0 then
      run.pool:add(run.update_count, run.policy:state_dict{trainable_only = true})
      refresh(run)
    end
    return {kl = run.kl_mean or 0, teacher_size = #run.pool.members, teacher_steps = run.teacher_steps}
  end

  function hooks.state(run)
    return {pool = run.pool:steps()}
  end

  local g = type(cfg) == "table" and type(cfg.turbo) == "table" and cfg.turbo.guidance or "kl"
  return core.new(cfg, "turbo-" .. tostring(g), hooks)
end

return require("gtr.doc").module(turbo)
