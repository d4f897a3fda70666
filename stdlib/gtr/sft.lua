--- Supervised fine-tuning: SFT initialisation from the task solver's demonstrations, and the masked SFT loss that
-- thought guidance (GTR, GTR-Turbo SFT) adds to PPO.
local sft = {}

--- Mean negative log-likelihood of the tokens selected by `mask` (e.g. score.thought_mask or score.mask).
function sft.loss(score, mask)
  mask = mask or score.mask
  return -(score.logprobs * mask):sum() / (mask:sum() + 1e-8)
end

--- Trains `run.policy` on `opts.demos` solver demonstrations for `opts.epochs` epochs (answers are whole
-- targets). The point is an imperfect start, as in the papers: few demos and epochs by default.
function sft.train(run, opts)
  local cfg = run.cfg
  local env_opts = {}
  for k, v in pairs(cfg.env_options) do env_opts[k] = v end
  env_opts.size = env_opts.size or cfg.model.image_size
  env_opts.seed = cfg.seed + 17
  local demos = moon.env.demos(cfg.env, opts.demos, env_opts)
  local opt = moon.optim.adamw(run.policy:parameters(), {lr = opts.lr, weight_decay = 0,
    schedule = moon.optim.schedule{kind = "cosine", lr = opts.lr, min_lr = opts.lr * 0.1,
                                   total = opts.epochs * math.ceil(#demos / opts.batch)}})
  local gen = moon.generator(cfg.seed + 99)
  local t0, loss_sum, steps = moon.clock(), 0, 0
  for epoch = 1, opts.epochs do
    local perm = moon.randperm(#demos, {generator = gen}):totable()
    for first = 1, #demos, opts.batch do
      local obs, answers = {}, {}
      for k = first, math.min(first + opts.batch - 1, #demos) do
        local d = demos[perm[k] + 1]
        obs[#obs + 1] = d; answers[#answers + 1] = d.response
      end
      local s = run.policy:score(run:batch(obs), answers)
      local loss = sft.loss(s)
      opt:zero_grad(); loss:backward()
      moon.optim.clip_grad_norm_(run.policy:parameters(), 1.0)
      opt:step()
      loss_sum, steps = loss_sum + loss:item(), steps + 1
    end
    if not cfg.quiet then
      print(("sft epoch %d/%d | loss %.3f | %d demos | %.0fs"):format(epoch, opts.epochs, loss_sum / steps, #demos, moon.clock() - t0))
    end
    loss_sum, steps = 0, 0
  end
end

return require("gtr.doc").module(sft)
