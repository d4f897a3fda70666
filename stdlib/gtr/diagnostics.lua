--- Per-update diagnostics, logged in metrics.jsonl next to the training metrics (docs/RESULTS.md, issue #14):
--   thought collapse (thoughts): distinct-1/2 of the thoughts, the share of the most common thought template
--     (lower-cased, digits masked, whitespace collapsed), the action frequencies, their entropy and the share of the
--     most common action;
--   the teacher watched (teacher): which checkpoints the teacher merges and how, the per-token KL agent vs teacher
--     on the agent's own answers, the parameter distance agent - teacher over the trainable parameters, and how often
--     the teacher's greedy answer picks another action than the agent's greedy answer.
-- Everything is measured on the rollout just collected, with the teacher that guides this update, before the PPO
-- step; core.lua keeps its time out of the RL wall clock (it is logged as time_diagnostics_s).
local guidance = require("gtr.guidance")
local diagnostics = {}

--- The action an answer names ('"action": "+"' -> "+", '"action": 7' -> "7"); "(none)" without one.
function diagnostics.action(text)
  if type(text) ~= "string" then return "(none)" end
  local a = text:match('"action"%s*:%s*"([^"]*)"') or text:match('"action"%s*:%s*([^,}%s]+)')
  if not a then return "(none)" end
  a = a:lower():gsub("^%s+", ""):gsub("%s+$", "")
  return a ~= "" and a or "(none)"
end

--- The action the env read from an answer (its info after the step): info.action, "(none)" when it was illegal
-- (the env then plays a random action); without an info, diagnostics.action(text).
function diagnostics.env_action(info, text)
  if type(info) == "table" and info.action ~= nil then
    return info.illegal and "(none)" or tostring(info.action):lower()
  end
  return diagnostics.action(text)
end

--- A thought's template: lower-cased, every digit run replaced by '#', whitespace collapsed.
function diagnostics.template(thought)
  return (thought:lower():gsub("%d+", "#"):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

--- Frequencies of `counts` (value -> count) out of `n`: {text = "a:3 b:1" (most common first), top_share,
-- entropy (nats)}.
function diagnostics.frequencies(counts, n)
  local list = {}
  for k, c in pairs(counts) do list[#list + 1] = {k, c} end
  table.sort(list, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
  local parts, h = {}, 0
  for i, e in ipairs(list) do
    parts[i] = e[1] .. ":" .. e[2]
    local p = e[2] / math.max(n, 1)
    if p > 0 then h = h - p * math.log(p) end
  end
  return {text = table.concat(parts, " "), top_share = #list > 0 and list[1][2] / math.max(n, 1) or 0, entropy = h}
end

--- Thought-collapse metrics of a list of answers (texts; infos: the env's infos of their steps, optional, so that
-- the actions are the ones the env read): distinct_1, distinct_2 (of the thoughts), template_share (the most common
-- thought template's share), templates (distinct templates / answers), actions ("a:n ..."), top_action_share,
-- action_entropy.
function diagnostics.thoughts(texts, infos)
  local thoughts, templates, actions = {}, {}, {}
  for i, text in ipairs(texts) do
    thoughts[i] = (guidance.split(text))
    local t = diagnostics.template(thoughts[i])
    templates[t] = (templates[t] or 0) + 1
    local a = diagnostics.env_action(infos and infos[i], text)
    actions[a] = (actions[a] or 0) + 1
  end
  local n = #texts
  local tf, af = diagnostics.frequencies(templates, n), diagnostics.frequencies(actions, n)
  local distinct = 0
  for _ in pairs(templates) do distinct = distinct + 1 end
  return {distinct_1 = moon.metrics.distinct_n(thoughts, 1), distinct_2 = moon.metrics.distinct_n(thoughts, 2),
          template_share = tf.top_share, templates = distinct / math.max(n, 1), actions = af.text,
          top_action_share = af.top_share, action_entropy = af.entropy}
end

--- Euclidean distances over the named tensors of `a` (the agent's trainable parameters): |a - b|, |a|, |a - c|
-- (c: optional third state, e.g. the SFT start). Names missing from b or c are skipped.
function diagnostics.distance(a, b, c)
  local dab, na, dac = 0, 0, 0
  moon.no_grad(function()
    for name, x in pairs(a) do
      na = na + (x * x):sum():item()
      local y = b[name]
      if y then local d = x - y; dab = dab + (d * d):sum():item() end
      local z = c and c[name]
      if z then local d = x - z; dac = dac + (d * d):sum():item() end
    end
  end)
  return math.sqrt(dab), math.sqrt(na), math.sqrt(dac)
end

--- The trainable parameters of `policy` by name (live tensors), with the names of `names` (a set; computed once).
local function trainable(policy, names)
  local out = {}
  for name, t in pairs(policy:named_parameters()) do if names[name] then out[name] = t end end
  return out
end

--- Teacher diagnostics for one update, and how far the agent is from its SFT start (agent_sft_dist, every
-- algorithm: PPO too, so its drift compares with a guided run's). `samples`: the rollout (time-major, so
-- samples 1..num_envs are first turns), `old`: the agent's scores of it (old.scores[1]: the first minibatch).
-- Returns metric fields: agent_sft_dist, teacher_pool, teacher_merge, teacher_kl_token (k3 per answer token, >= 0),
-- teacher_logratio (mean per-token log pi_agent - log pi_teacher), teacher_param_dist, teacher_param_rel
-- (/ |agent|), teacher_action_differs, teacher_action_states.
function diagnostics.teacher(run, samples, old)
  local cfg = run.cfg.diagnostics
  local rec = {}
  -- a solver teacher (GTR): its answer is known for every visited state, so the disagreement is free
  if samples[1] and type(samples[1].teacher) == "string" then
    local differ, n = 0, 0
    for _, s in ipairs(samples) do
      if type(s.teacher) == "string" then
        n = n + 1
        if diagnostics.action(s.teacher) ~= diagnostics.env_action(s.info, s.text) then differ = differ + 1 end
      end
    end
    rec.teacher_action_differs, rec.teacher_action_states = differ / math.max(n, 1), n
  end
  -- parameters: the agent's trainable ones (the ones a pool merges) against its SFT start and the teacher's
  if not run.diagnostic_names then
    run.diagnostic_names = {}
    for name in pairs(run.policy:state_dict{trainable_only = true}) do run.diagnostic_names[name] = true end
  end
  local names = run.diagnostic_names
  local teacher = run.teacher
  local model = type(teacher) == "userdata"  -- a model teacher (GTR-Turbo's merge), not GTR's solver or PPO's none
  local d, norm, dsft = diagnostics.distance(trainable(run.policy, names), model and trainable(teacher, names) or {},
                                             run.sft_state)
  rec.agent_sft_dist = dsft
  if not model then return rec end
  if run.pool then
    rec.teacher_pool = table.concat(run.pool:steps(), ",")
    rec.teacher_merge = run.cfg.turbo.merge
  end
  rec.teacher_param_dist, rec.teacher_param_rel = d, d / math.max(norm, 1e-12)
  -- per-token KL on the first minibatch of the agent's own answers (scored by the agent in old.scores[1])
  local s = old and old.scores and old.scores[1]
  if s then
    local mb = math.min(run.cfg.ppo.minibatch, #samples)
    local obs, toks = {}, {}
    for k = 1, mb do obs[k] = samples[k].obs; toks[k] = samples[k].tokens end
    moon.no_grad(function()
      local ts = teacher:score(run:batch(obs), toks)
      local lr = (s.logprobs - ts.logprobs) * s.mask
      local count = s.mask:sum():item()
      local k3 = ((-lr):exp() - 1 + lr) * s.mask  -- exp(-r) - 1 + r >= 0 per token; 0 on masked positions
      rec.teacher_kl_token = k3:sum():item() / math.max(count, 1)
      rec.teacher_logratio = lr:sum():item() / math.max(count, 1)
    end)
  end
  -- the teacher's and the agent's greedy answers on the first cfg.states states (greedy both, so that a teacher
  -- equal to the agent differs in no state)
  local every = cfg.every
  if cfg.states > 0 and every > 0 and run.update_count % every == 0 then
    local k = math.min(cfg.states, #samples)
    local obs = {}
    for i = 1, k do obs[i] = samples[i].obs end
    local opts = run:generation_options{greedy = true}
    local tg = teacher:generate(run:batch(obs), opts)
    local ag = run.policy:generate(run:batch(obs), opts)
    local differ = 0
    for i = 1, k do
      if diagnostics.action(tg.texts[i]) ~= diagnostics.action(ag.texts[i]) then differ = differ + 1 end
    end
    rec.teacher_action_differs, rec.teacher_action_states = differ / k, k
  end
  return rec
end

return require("gtr.doc").module(diagnostics)
