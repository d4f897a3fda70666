--- Supervised fine-tuning: SFT initialisation from the task solver's demonstrations, and the masked SFT loss that
-- thought guidance (GTR, GTR-Turbo SFT) adds to PPO.
local sft = {}

--- Mean negative log-likelihood of the tokens selected by `mask` (e.g. score.thought_mask or score.mask).
function sft.loss(score, mask)
  mask = mask or score.mask
  return -(score.logprobs * mask):sum() / (mask:sum() + 1e-8)
end

--- Trains `run.policy` on `opts.demos` solver demonstrations for `opts.epochs` epochs (answers are whole
-- targets), lr cosine-decayed to lr/10. `opts.budget_s` > 0 stops after that many seconds; the schedule then follows
-- whichever runs out first, steps or time, so the rate has decayed when the budget stops the run.
-- Prints a progress line every `opts.log_every` steps (loss, samples, tokens/s). Returns {steps, samples, tokens,
-- loss (mean of the last epoch or partial epoch), time_s, stopped ("done" or "budget")}; the run's compute
-- counters get the trained tokens.
function sft.train(run, opts)
  local cfg = run.cfg
  local env_opts = {}
  for k, v in pairs(cfg.env_options) do env_opts[k] = v end
  env_opts.size = env_opts.size or cfg.model.image_size
  env_opts.seed = cfg.seed + 17
  local demos = moon.env.demos(cfg.env, opts.demos, env_opts)
  local planned = opts.epochs * math.ceil(#demos / opts.batch)
  local schedule = moon.optim.schedule{kind = "cosine", lr = opts.lr, min_lr = opts.lr * 0.1, total = planned}
  local opt = moon.optim.adamw(run.policy:parameters(), {lr = opts.lr, weight_decay = 0})
  local gen = moon.generator(cfg.seed + 99)
  local budget, log_every = opts.budget_s or 0, opts.log_every or 0
  local t0, loss_sum, steps, total_steps, samples, tokens = moon.clock(), 0, 0, 0, 0, 0
  local last_loss, stopped = 0, "done"
  for epoch = 1, opts.epochs do
    local perm = moon.randperm(#demos, {generator = gen}):totable()
    for first = 1, #demos, opts.batch do
      local obs, answers = {}, {}
      for k = first, math.min(first + opts.batch - 1, #demos) do
        local d = demos[perm[k] + 1]
        obs[#obs + 1] = d; answers[#answers + 1] = d.response
      end
      local at = total_steps
      if budget > 0 then at = math.max(at, math.floor((moon.clock() - t0) / budget * planned)) end
      opt:set_lr(schedule:lr(math.min(at, planned - 1)))
      local s = run.policy:score(run:batch(obs), answers)
      local loss = sft.loss(s)
      opt:zero_grad(); loss:backward()
      moon.optim.clip_grad_norm_(run.policy:parameters(), 1.0)
      opt:step()
      local l = loss:item()
      loss_sum, steps, total_steps, samples = loss_sum + l, steps + 1, total_steps + 1, samples + #obs
      tokens = tokens + s.mask:sum():item()
      local dt = moon.clock() - t0
      if log_every > 0 and total_steps % log_every == 0 and not cfg.quiet then
        print(("sft step %d | epoch %d/%d | loss %.3f | %d samples | %.0f tok/s | %.0fs"):format(total_steps, epoch,
          opts.epochs, loss_sum / steps, samples, tokens / math.max(dt, 1e-9), dt))
      end
      if budget > 0 and dt >= budget then stopped = "budget"; break end
    end
    last_loss = loss_sum / math.max(steps, 1)
    if not cfg.quiet then
      print(("sft epoch %d/%d | loss %.3f | %d demos | %.0fs"):format(epoch, opts.epochs, last_loss, #demos, moon.clock() - t0))
    end
    loss_sum, steps = 0, 0
    if stopped == "budget" then break end
  end
  run.sft_tokens = (run.sft_tokens or 0) + tokens
  return {steps = total_steps, samples = samples, tokens = tokens, loss = last_loss, time_s = moon.clock() - t0,
          stopped = stopped}
end

return require("gtr.doc").module(sft)
