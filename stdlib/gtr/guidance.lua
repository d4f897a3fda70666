--- Thought guidance shared by GTR and GTR-Turbo (SFT): a teacher corrects the agent's thoughts on visited states,
-- the corrected answers (teacher thoughts + the agent's own action) go into a DAgger-style aggregated buffer, and
-- every PPO minibatch adds an SFT loss on the thought tokens of a batch drawn from it.
local sft = require("gtr.sft")
local guidance = {}

--- Splits an answer into its thoughts part and its action part (nil without one) by the one rule the envs and the
-- scoring masks use (moon.env.split_answer: the first '"action"' key, any case, whitespace allowed before the colon).
guidance.split = moon.env.split_answer

--- The corrected answer: the teacher's thoughts followed by the agent's own action.
function guidance.correct(teacher_text, agent_text)
  local thoughts, taction = guidance.split(teacher_text)
  local _, aaction = guidance.split(agent_text)
  return thoughts .. (aaction or taction or "")
end

--- A new aggregation buffer with capacity `n` (oldest entries leave first).
function guidance.buffer(n)
  return {items = {}, capacity = n, next = 1}
end

function guidance.push(buf, item)
  if #buf.items < buf.capacity then buf.items[#buf.items + 1] = item
  else buf.items[buf.next] = item; buf.next = buf.next % buf.capacity + 1 end
end

--- Picks the visited states to correct this update (seeded), returns their sample indices.
function guidance.pick(run, samples)
  local k = math.min(run.cfg.guidance.states, #samples)
  local perm = moon.randperm(#samples, {generator = moon.generator(run.cfg.seed * 13 + run.update_count)}):totable()
  local out = {}
  for i = 1, k do out[i] = perm[i] + 1 end
  return out
end

--- Adds corrections from `teacher_texts` (one per picked index) to the run's buffer.
function guidance.aggregate(run, samples, picked, teacher_texts)
  for k, j in ipairs(picked) do
    local target = guidance.correct(teacher_texts[k], samples[j].text)
    guidance.push(run.buffer, {obs = samples[j].obs, target = target})
  end
end

--- The extra loss hook: coef * SFT loss on the thought tokens of a batch from the buffer.
function guidance.extra_loss(run)
  local items = run.buffer.items
  if #items == 0 then return nil end
  local g = run.cfg.guidance
  local obs, targets = {}, {}
  local picks = moon.randint(0, #items, math.min(g.batch, #items)):totable()  -- default generator: seeded per update
  for i, p in ipairs(picks) do
    local it = items[p + 1]
    obs[i] = it.obs; targets[i] = it.target
  end
  local s = run.policy:score(run:batch(obs), targets)
  local loss = sft.loss(s, s.thought_mask)
  run.sft_tokens = (run.sft_tokens or 0) + s.mask:sum():item()  -- compute accounting (metrics tokens_trained)
  return loss * g.coef, {sft_loss = loss:item()}
end

return require("gtr.doc").module(guidance)
