--- Supervised fine-tuning: SFT initialisation from the task solver's demonstrations, and the masked SFT loss that
-- thought guidance (GTR, GTR-Turbo SFT) adds to PPO.
local sft = {}

--- Mean negative log-likelihood of the tokens selected by `mask` (e.g. score.thought_mask or score.mask).
function sft.loss(score, mask)
  mask = mask or score.mask
  return -(score.logprobs * mask):sum() / (mask:sum() + 1e-8)
end

--- The SFT checkpoint in the run directory: one file (written atomically), so weights, optimiser state and counters
-- always belong to the same step: the trainable parameters as policy/<name>, the optimiser state as optim/<name>,
-- and the counters as JSON in the metadata (moonlab.sft_progress).
local PROGRESS, META = "checkpoints/sft-progress.safetensors", "moonlab.sft_progress"

local COUNTERS = {"step", "samples", "tokens", "time_s", "epoch_loss", "epoch_steps", "last_loss"}

--- The progress record (a table, unchecked) of the SFT checkpoint in run directory `dir`, or nil and why not (nil
-- alone when there is none); scripts/reproduce's status reads it too.
function sft.progress(dir)
  local path = dir .. "/" .. PROGRESS
  if not moon.file_kind(path) then return nil end
  local ok, meta = pcall(moon.ckpt.metadata, path)
  if not ok then return nil, tostring(meta) end
  local okj, p = pcall(moon.json.decode, meta[META] or "")
  if not okj or type(p) ~= "table" then return nil, "no readable " .. META end
  return p
end

--- The run directory's SFT checkpoint when it is one of this SFT (the same plan: demonstrations, batch, epochs,
-- steps; the trainable parameters named in `trainable`): its counters, weights and optimiser state; or nil and why
-- not (nil alone when there is none).
local function saved_progress(run, plan, trainable)
  local p, why = sft.progress(run.dir)
  if not p then return nil, why end
  for _, k in ipairs(COUNTERS) do
    if type(p[k]) ~= "number" or p[k] ~= p[k] or p[k] < 0 or p[k] == math.huge then return nil, "field " .. k end
  end
  for k, v in pairs(plan) do if p[k] ~= v then return nil, "another SFT plan (" .. k .. ")" end end
  if p.step ~= math.floor(p.step) or p.step > plan.planned then return nil, "field step" end
  p.step = math.tointeger(p.step)
  local okt, tensors = pcall(moon.ckpt.load, run.run:path(PROGRESS))
  if not okt then return nil, tostring(tensors) end
  local weights, optim = {}, {}
  for name, t in pairs(tensors) do
    local kind, rest = name:match("^(%a+)/(.+)$")
    if kind == "policy" then weights[rest] = t elseif kind == "optim" then optim[rest] = t end
  end
  for name in pairs(trainable) do
    if not weights[name] then return nil, "no parameter " .. name end
  end
  local count = optim["moon.step_count"]
  if not count or count:numel() ~= 1 or count:sum():item() ~= p.step then return nil, "optimiser state of another step" end
  return p, weights, optim
end

--- Trains `run.policy` on `opts.demos` solver demonstrations for `opts.epochs` epochs (answers are whole
-- targets), lr cosine-decayed to lr/10. `opts.budget_s` > 0 stops after that many seconds; the schedule then follows
-- whichever runs out first, steps or time, so the rate has decayed when the budget stops the run.
-- `opts.checkpoint_every` > 0 saves the weights, the optimiser state and the counters every that many steps and at
-- the end (checkpoints/sft-progress.safetensors); `opts.resume` continues from that checkpoint with the batches the
-- uninterrupted run would have taken next (the same permutations, replayed), or returns at once when it was the
-- end. (LoRA dropout, when on, draws other masks after a resume.)
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
  local per_epoch = math.ceil(#demos / opts.batch)
  local planned = opts.epochs * per_epoch
  local schedule = moon.optim.schedule{kind = "cosine", lr = opts.lr, min_lr = opts.lr * 0.1, total = planned}
  local function new_optimizer() return moon.optim.adamw(run.policy:parameters(), {lr = opts.lr, weight_decay = 0}) end
  local opt = new_optimizer()
  local gen = moon.generator(cfg.seed + 99)
  local budget, log_every, every = opts.budget_s or 0, opts.log_every or 0, opts.checkpoint_every or 0
  local c = {step = 0, samples = 0, tokens = 0, time_s = 0, epoch_loss = 0, epoch_steps = 0, last_loss = 0}
  local plan = {planned = planned, demos = #demos, batch = opts.batch, epochs = opts.epochs}
  local stopped, finished = "done", false
  if opts.resume then
    local start = run.policy:state_dict{trainable_only = true}
    local p, weights, optim = saved_progress(run, plan, start)
    local loaded, why = p ~= nil, weights
    if p then  -- all or nothing: a load that fails half-way leaves the start's weights and a fresh optimiser
      loaded, why = pcall(function() run.policy:load_state_dict(weights, {strict = false}); opt:load_state_dict(optim) end)
      if not loaded then run.policy:load_state_dict(start, {strict = false}); opt = new_optimizer() end
    end
    if loaded then
      for _, k in ipairs(COUNTERS) do c[k] = p[k] end
      finished = p.final == true
      stopped = finished and p.stopped == "budget" and "budget" or "done"
      if not cfg.quiet then print(("sft: resumed at step %d of %d"):format(c.step, planned)) end
    elseif why and run.main then
      io.stderr:write(("sft: not resuming from %s (%s); training from the start\n"):format(PROGRESS, tostring(why)))
    end
  end
  local t0 = moon.clock() - c.time_s
  local function save(final)
    if every <= 0 or not run.main then return end
    local rec, tensors = {stopped = final and stopped or nil, final = final}, {}
    for k, v in pairs(plan) do rec[k] = v end
    for _, k in ipairs(COUNTERS) do rec[k] = c[k] end
    for name, t in pairs(run.policy:state_dict{trainable_only = true}) do tensors["policy/" .. name] = t end
    for name, t in pairs(opt:state_dict()) do tensors["optim/" .. name] = t end
    moon.ckpt.save(run.run:path(PROGRESS), tensors, {[META] = moon.json.encode(rec)})
  end
  for epoch = 1, finished and 0 or opts.epochs do
    local perm = moon.randperm(#demos, {generator = gen}):totable()  -- drawn for every epoch, so a resume replays
    local skip = math.max(0, c.step - (epoch - 1) * per_epoch)     -- the steps this epoch made before a resume
    for b = skip, per_epoch - 1 do
      local first = b * opts.batch + 1
      local obs, answers = {}, {}
      for k = first, math.min(first + opts.batch - 1, #demos) do
        local d = demos[perm[k] + 1]
        obs[#obs + 1] = d; answers[#answers + 1] = d.response
      end
      local at = c.step
      if budget > 0 then at = math.max(at, math.floor((moon.clock() - t0) / budget * planned)) end
      opt:set_lr(schedule:lr(math.min(at, planned - 1)))
      local s = run.policy:score(run:batch(obs), answers)
      local loss = sft.loss(s)
      opt:zero_grad(); loss:backward()
      moon.optim.clip_grad_norm_(run.policy:parameters(), 1.0)
      opt:step()
      c.epoch_loss, c.epoch_steps, c.step, c.samples = c.epoch_loss + loss:item(), c.epoch_steps + 1, c.step + 1,
                                                       c.samples + #obs
      c.tokens = c.tokens + s.mask:sum():item()
      local dt = moon.clock() - t0
      c.time_s = dt
      if log_every > 0 and c.step % log_every == 0 and not cfg.quiet then
        print(("sft step %d | epoch %d/%d | loss %.3f | %d samples | %.0f tok/s | %.0fs"):format(c.step, epoch,
          opts.epochs, c.epoch_loss / c.epoch_steps, c.samples, c.tokens / math.max(dt, 1e-9), dt))
      end
      if budget > 0 and dt >= budget then stopped = "budget"; break end
      if every > 0 and c.step % every == 0 and c.step < planned then save(false) end
    end
    if skip <= per_epoch and c.epoch_steps > 0 then  -- this epoch's end (not one a resume replayed past)
      c.last_loss = c.epoch_loss / c.epoch_steps
      if not cfg.quiet then
        print(("sft epoch %d/%d | loss %.3f | %d demos | %.0fs"):format(epoch, opts.epochs, c.last_loss, #demos,
          moon.clock() - t0))
      end
      c.epoch_loss, c.epoch_steps = 0, 0
    end
    if stopped == "budget" then break end
  end
  if not finished then save(true) end
  run.sft_tokens = (run.sft_tokens or 0) + c.tokens
  return {steps = c.step, samples = c.samples, tokens = c.tokens, loss = c.last_loss, time_s = c.time_s,
          stopped = stopped}
end

return require("gtr.doc").module(sft)
