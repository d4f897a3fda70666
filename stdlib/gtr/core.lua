--- The machinery every gtr algorithm shares: the policy, seeded rollouts, scoring, GAE, the PPO update, evaluation,
-- metrics, checkpoints and resume. Algorithms (ppo.lua, guided.lua, turbo.lua) add their guidance through hooks.
-- All heavy work (generation, env steps, scoring, backward, optimiser, merging) runs in Swift.
local config = require("gtr.config")
local dist = require("gtr.dist")
local diagnostics = require("gtr.diagnostics")
local core = {}
local Run = {}
Run.__index = Run
core.Run = Run

local function cat(...) return table.concat({...}) end

--- The prompt a policy sees for an observation: `kind` "short" (the state as text) or "full" (the original
-- GymCards prompt).
function core.prompt(obs, kind)
  if kind == "full" then return obs.prompt end
  return obs.text .. "\nAnswer in JSON with your thoughts and action.\n"
end

--- The prompt this run's policy sees (cfg.prompt).
function Run:prompt(obs) return core.prompt(obs, self.cfg.prompt) end

--- A batch (list of {prompt, image}) for observations.
function Run:batch(observations)
  local out = {}
  for i, o in ipairs(observations) do out[i] = {prompt = self:prompt(o), image = o.image} end
  return out
end

--- The hooks an algorithm passes to core.new(cfg, name, hooks), in the order they run; each signature is written
-- here once (help(gtr.core.hooks), help(run.hooks.<name>)). Sample indices are 1-based (samples[k]) except `idx` in
-- extra_loss, which holds 0-based sample indices (as index_select takes them).
core.hooks = {
  setup = "setup(run, state): once, after the policy, optimiser and run directory exist; `state`: the resumed "
    .. "checkpoint's state record (nil on a fresh run)",
  before_step = "before_step(run, venv, obs) -> teachers: before each rollout turn; teachers[i] (optional) is kept as "
    .. "the turn's samples[k].teacher",
  after_collect = "after_collect(run, samples, old): after the rollout is scored; samples[k] (1-based, time-major) = "
    .. "{obs, tokens, text, reward, done, info, t, env, teacher}; old = {logp, values, scores}, one entry per "
    .. "scoring chunk of cfg.ppo.minibatch samples",
  adjust_advantages = "adjust_advantages(run, samples, adv, ret, old) -> adv, ret: after GAE; adv and ret are [T*N] "
    .. "tensors in sample order",
  extra_loss = "extra_loss(run, score, idx, samples) -> loss, stats: per PPO minibatch; score = policy:score of the "
    .. "minibatch; idx = its sample indices, 0-based (samples[idx[k] + 1]); loss (autograd, or nil) is added to the "
    .. "PPO loss, stats (numbers) are averaged into the metrics",
  after_update = "after_update(run, samples) -> metrics: after the PPO epochs; the returned fields join the "
    .. "update's metrics record",
  state = "state(run) -> table: saved in each checkpoint's state record, given back to setup on resume",
}
local hook_order = {"setup", "before_step", "after_collect", "adjust_advantages", "extra_loss", "after_update", "state"}
local hook_lines = {}
for i, k in ipairs(hook_order) do hook_lines[i] = "  " .. core.hooks[k] end
moon.doc(core.hooks, "The hooks of core.new, in the order they run (sample indices 1-based; extra_loss's idx 0-based):\n"
  .. table.concat(hook_lines, "\n"))

local function env_options(cfg, seed)
  local o = {}
  for k, v in pairs(cfg.env_options) do o[k] = v end
  o.size = o.size or cfg.model.image_size
  o.seed = seed
  return o
end

-- Where an update's time goes (reset by each update; collect and the PPO step add to it).
local function new_timing()
  return {generate = 0, score = 0, guide = 0, forward = 0, backward = 0, optim = 0, merge = 0, diagnostics = 0}
end

--- Creates a run: resolves the config, builds (or resumes) the policy, optimiser and run directory.
function core.new(user_cfg, algo, hooks)
  local cfg = config.resolve(user_cfg)
  for k, f in pairs(hooks or {}) do
    if not core.hooks[k] then
      error(("gtr: unknown hook '%s' (expected one of: %s)"):format(tostring(k), table.concat(hook_order, ", ")), 2)
    end
    if type(f) ~= "function" then error(("gtr: hook '%s' must be a function, got %s"):format(k, type(f)), 2) end
    local own = require("gtr.doc").of(f)
    moon.doc(f, core.hooks[k] .. (own and ("\n" .. own) or ""))
  end
  local self = setmetatable({cfg = cfg, algo = algo, hooks = hooks or {}, update_count = 0, history = {},
                             timing = new_timing()}, Run)
  if cfg.name == "" then cfg.name = algo .. "-" .. cfg.env end
  self.dir = cfg.run_dir ~= "" and cfg.run_dir or ("runs/" .. cfg.name)
  -- data parallelism (gtr/dist.lua): world > 1 only under mpirun
  self.world, self.rank = moon.dist.size(), moon.dist.rank()
  self.main = self.rank == 0
  if cfg.rollout_rng ~= "auto" and cfg.rollout_rng ~= "batch" and cfg.rollout_rng ~= "env" then
    error(("gtr config: key 'rollout_rng': expected 'auto', 'batch' or 'env', got '%s'"):format(cfg.rollout_rng), 0)
  end
  if cfg.ppo.old_logprobs ~= "generation" and cfg.ppo.old_logprobs ~= "score" then
    error(("gtr config: key 'ppo.old_logprobs': expected 'generation' or 'score', got '%s'"):format(cfg.ppo.old_logprobs), 0)
  end
  if cfg.clock ~= "wall" and cfg.clock ~= "cpu" then
    error(("gtr config: key 'clock': expected 'wall' or 'cpu', got '%s'"):format(cfg.clock), 0)
  end
  self.rollout_rng = cfg.rollout_rng == "auto" and (self.world > 1 and "env" or "batch") or cfg.rollout_rng
  if self.world > 1 then
    if self.rollout_rng == "batch" then
      error("gtr config: rollout_rng = 'batch' (one sampling stream for all envs) cannot be split across ranks; use 'env'", 0)
    end
    if cfg.num_envs < self.world then
      error(("gtr config: num_envs = %d is fewer than the %d ranks"):format(cfg.num_envs, self.world), 0)
    end
    dist.check_minibatches(cfg.num_envs * cfg.steps, cfg.ppo.minibatch, self.world)
    local local_size = moon.dist.local_size()
    if local_size > 1 then moon.set_num_threads(math.max(1, moon.num_threads() // local_size)) end
  end
  self.tokens = 0
  self.clock = 0
  -- compute spent so far (cumulative, kept in checkpoints): tokens generated by the agent's rollouts and by model
  -- teachers, answer tokens trained (PPO epochs x rollout tokens + SFT targets) and scored by a teacher
  self.compute = {generated = 0, teacher_generated = 0, trained = 0, teacher_scored = 0}
  local model = {seed = cfg.seed}
  for k, v in pairs(cfg.model) do model[k] = v end
  -- model.decoder: a pretrained decoder file; its shape comes from the file, so the tiny policy's shape defaults go
  -- (set explicitly, they are still refused by moon.vlm.new); model.lora: adapters attached before the optimiser
  if model.decoder == "" then model.decoder = nil end
  if model.decoder then
    local defaults = config.defaults.model
    for _, k in ipairs({"width", "layers", "heads", "kv_heads", "intermediate", "max_positions", "rope_theta"}) do
      if model[k] == defaults[k] then model[k] = nil end
    end
  end
  local lora = model.lora
  model.lora = nil
  moon.manual_seed(cfg.seed)
  self.policy = moon.vlm.new(model)
  if lora.rank > 0 then
    self.policy:lora{rank = lora.rank, alpha = lora.alpha, dropout = lora.dropout,
                     targets = {"^model\\.layers\\.[0-9]+\\.self_attn\\.(q|k|v|o)_proj$", "^model\\.layers\\.[0-9]+\\.mlp\\.(gate|up|down)_proj$"}}
  end
  if self.main then
    self.run = moon.run.open(self.dir, {config = moon.json.encode(config.serializable(cfg), {pretty = true}),
                                        resume = cfg.resume})
  else
    self.run = dist.run_stub(self.dir)
    cfg.quiet = true  -- rank 0 prints
  end
  local total = cfg.updates * cfg.ppo.epochs * math.ceil(cfg.num_envs * cfg.steps / cfg.ppo.minibatch)
  self.opt = moon.optim.adamw(self.policy:parameters(), {lr = cfg.ppo.lr, weight_decay = 0,
    schedule = moon.optim.schedule{kind = "cosine", lr = cfg.ppo.lr, min_lr = cfg.ppo.lr_min, total = math.max(total, 1)}})
  local state = cfg.resume and self.run:latest() or nil
  if cfg.resume and not state and self.main then
    -- killed before its first checkpoint: nothing to resume from, so the run starts over, and the metrics it logged
    -- go (they would be logged again and counted twice)
    local dropped = self.run:truncate_metrics(-math.huge)
    if dropped > 0 then
      io.stderr:write(("resume: %s has no checkpoint yet; starting it over (dropped %d metrics record%s)\n")
        :format(self.dir, dropped, dropped == 1 and "" or "s"))
    end
  end
  if self.world > 1 then state = moon.dist.broadcast(state or false, 0) or nil end
  if state then
    self:restore(state)
  else
    self:initialize()
  end
  if self.world > 1 then self:synchronize(state ~= nil) end
  if self.hooks.setup then self.hooks.setup(self, state) end
  return self
end

--- SFT initialisation (or a given SFT checkpoint), and the first checkpoint.
function Run:initialize()
  local cfg = self.cfg
  if cfg.sft.checkpoint ~= "" then
    if self.main then self.policy:load_weights(cfg.sft.checkpoint) end  -- the other ranks receive it from rank 0
  elseif cfg.sft.demos > 0 then
    self.sft_result = require("gtr.sft").train(self, {demos = cfg.sft.demos, epochs = cfg.sft.epochs, lr = cfg.sft.lr,
      batch = cfg.sft.batch, budget_s = cfg.sft.budget_s, log_every = cfg.sft.log_every,
      checkpoint_every = cfg.sft.checkpoint_every, resume = cfg.resume})
  end
  -- the trainable parameters only: with a frozen base (LoRA, a pretrained decoder) the pool merges just those
  self.sft_state = self.policy:state_dict{trainable_only = true}
  if not self.main then return end
  self.policy:save(self.run:path("checkpoints/sft.safetensors"))
  local rec = {update = 0, phase = "sft", wall_s = self.clock}
  local sr = self.sft_result
  if sr then  -- the SFT initialisation's size and duration (time_sft_s, a clock like every time_* field)
    rec.sft_steps, rec.sft_samples, rec.sft_tokens, rec.sft_final_loss = sr.steps, sr.samples, sr.tokens, sr.loss
    rec.sft_stopped, rec.time_sft_s = sr.stopped, sr.time_s
  end
  if self.cfg.eval.start then self:add_evaluation(rec, self:evaluate())
  else  -- false: the SFT start was evaluated by the run that made it (its numbers are copied when found)
    for k, v in pairs(require("gtr.evaluate").reuse_start(self) or {}) do rec[k] = v end
  end
  self:log(rec)
end

--- Copies an evaluation's results into a metrics record as eval_* fields (its duration as time_eval_s).
function Run:add_evaluation(rec, ev)
  for k, v in pairs(ev) do
    if k == "time_s" then rec.time_eval_s = v else rec["eval_" .. k] = v end
  end
end

--- Data parallelism: every rank takes rank 0's parameters (all of them, frozen ones too) and, on resume, its
-- optimiser state, so that all ranks start identical and stay so (they apply the same averaged gradients).
function Run:synchronize(resumed)
  dist.broadcast_tensors(self.policy:parameters{trainable_only = false})
  if resumed then
    local opt = moon.dist.broadcast(self.main and self.opt:state_dict() or false, 0)
    if not self.main then self.opt:load_state_dict(opt) end
  end
end

--- Loads the latest checkpoint of the run directory (weights, optimiser, counters).
function Run:restore(state)
  self.update_count = state.update
  self.tokens = state.tokens or 0
  self.clock = state.clock or 0
  for k, v in pairs(state.compute or {}) do self.compute[k] = v end
  if not self.main then return end  -- the other ranks receive weights and optimiser state from rank 0
  self.policy:load_weights(self.run:path(state.policy))
  self.opt:load_state_dict(moon.ckpt.load(self.run:path(state.optimizer)))
  self.run:truncate_metrics(state.update)  -- an update logged after the last checkpoint is redone, not counted twice
  local sft, keep = moon.ckpt.load(self.run:path("checkpoints/sft.safetensors")), self.policy:state_dict{trainable_only = true}
  self.sft_state = {}
  for k in pairs(keep) do self.sft_state[k] = sft[k] end
  if not self.cfg.quiet then print(("resumed %s at update %d"):format(self.dir, self.update_count)) end
end

--- Saves weights and optimiser state, then the state record that points at them (atomic, in that order).
function Run:checkpoint(extra)
  if not self.main then return end
  local u = self.update_count
  local files = self.run:checkpoint_files(u)  -- the run directory owns the names (and their pruning)
  local policy, optim = files.policy, files.optimizer
  self.policy:save(self.run:path(policy))
  moon.ckpt.save(self.run:path(optim), self.opt:state_dict())
  local state = {update = u, policy = policy, optimizer = optim, tokens = self.tokens, clock = self.clock,
                 compute = self.compute}
  for k, v in pairs(extra or {}) do state[k] = v end
  self.run:save_state(u, moon.json.encode(state))
  self.run:prune(self.cfg.keep_checkpoints)
end

--- The one builder of policy:generate options: the resolved cfg.generation section `g` (temperature,
-- max_new_tokens, top_k, top_p, stop), with `overrides` (any policy:generate option) on top.
function core.generation_options(g, overrides)
  local o = {temperature = g.temperature, max_new_tokens = g.max_new_tokens, top_k = g.top_k, top_p = g.top_p,
             stop = g.stop ~= "" and {g.stop} or nil}
  for k, v in pairs(overrides or {}) do o[k] = v end
  return o
end

--- This run's generation options (core.generation_options over cfg.generation) with `overrides` on top.
function Run:generation_options(overrides) return core.generation_options(self.cfg.generation, overrides) end

--- Generates answers for a list of observations.
function Run:generate(policy, observations, gen)
  return policy:generate(self:batch(observations), self:generation_options{generator = gen})
end

local function well_formed(text)
  return text:find('"thoughts"%s*:') ~= nil and select(2, moon.env.split_answer(text)) ~= nil
end

--- Collects cfg.steps turns from cfg.num_envs fresh, seeded episodes. Returns the samples (one per turn, in
-- time-major order), the last values, and rollout statistics.
function Run:collect()
  local cfg, u = self.cfg, self.update_count
  local seed = cfg.seed * 100003 + u
  local first, count = 1, cfg.num_envs  -- this rank's slice of the env vector
  if self.world > 1 then first, count = dist.part(cfg.num_envs, self.rank, self.world) end
  local opts = env_options(cfg, seed)
  if first > 1 then opts.first = first - 1 end
  local venv = moon.env.vector(cfg.env, count, opts)
  local gen = moon.generator(seed)
  if self.rollout_rng == "env" then  -- one sampling stream per global env index: independent of the split
    gen = {}
    for i = 1, count do gen[i] = moon.generator(seed * 7919 + first + i - 1) end
  end
  local obs = venv:reset()
  local samples, entropy, ntok = {}, 0, 0
  for t = 1, cfg.steps do
    local tb = moon.clock()
    local teacher = self.hooks.before_step and self.hooks.before_step(self, venv, obs) or {}
    local tg = moon.clock()
    self.timing.guide = self.timing.guide + (tg - tb)
    local g = self:generate(self.policy, obs, gen)
    self.timing.generate = self.timing.generate + (moon.clock() - tg)
    local next_obs, rewards, dones, infos = venv:step(g.texts)
    for i = 1, #obs do
      local r = rewards[i]
      if cfg.format_reward ~= 0 then r = r + (well_formed(g.texts[i]) and cfg.format_reward or -cfg.format_reward) end
      if cfg.reward then
        r = cfg.reward(obs[i], g.texts[i], r, infos[i])
        if type(r) ~= "number" then error("gtr config: reward function must return a number, got " .. type(r), 0) end
      end
      for _, e in ipairs(g.entropies[i]) do entropy = entropy + e end
      ntok = ntok + #g.tokens[i]
      samples[#samples + 1] = {obs = obs[i], tokens = g.tokens[i], text = g.texts[i], reward = r, done = dones[i],
                               info = infos[i], t = t, env = first + i - 1, teacher = teacher[i],
                               gen = {tokens = g.tokens[i], logprobs = g.logprobs[i], entropies = g.entropies[i], value = g.values[i]}}
    end
    obs = next_obs
  end
  local last = moon.no_grad(function() return self.policy:value(self:batch(obs)) end)
  local stats = venv:stats()
  if self.world > 1 then
    for _, e in ipairs(stats) do e.env = e.env + first - 1 end
    samples, last, stats, entropy, ntok = dist.gather_rollout(
      {samples = samples, last = last, episodes = stats, entropy = entropy, tokens = ntok}, cfg.steps)
  end
  return samples, last, {episodes = stats, entropy = entropy / math.max(ntok, 1), tokens = ntok}
end

--- Per-sample old log-probabilities, values and per-token scores under the current policy (no autograd).
function Run:score_samples(policy, samples, list)
  local out = {}
  local mb = self.cfg.ppo.minibatch
  local world, rank = self.world, self.rank
  moon.no_grad(function()
    for first = 1, #samples, mb do
      if world > 1 and ((first - 1) // mb) % world ~= rank then goto next end  -- chunk c is scored by rank (c-1) % size
      local obs, toks = {}, {}
      for k = first, math.min(first + mb - 1, #samples) do
        obs[#obs + 1] = samples[k].obs; toks[#toks + 1] = list and list[k] or samples[k].tokens
      end
      out[(first - 1) // mb + 1] = policy:score(self:batch(obs), toks)
      ::next::
    end
  end)
  if world > 1 then  -- every rank gets every chunk
    for _, part in ipairs(moon.dist.allgather(out)) do
      for c, s in pairs(part) do out[c] = s end
    end
  end
  return out
end

local function same_tokens(a, b)
  if a == b then return true end
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

--- The old scores as generation reported them (per-token log-probs and entropies of softmax(logits) at temperature
-- 1, the value at the prompt's last token: what policy:score computes), in chunks of cfg.ppo.minibatch samples shaped
-- like policy:score's results. Nil when a sample's tokens are not the generated ones (a hook replaced them).
function Run:generation_scores(samples)
  local out, mb = {}, self.cfg.ppo.minibatch
  for first = 1, #samples, mb do
    local toks, lps, ents, vals, width = {}, {}, {}, {}, 1
    for k = first, math.min(first + mb - 1, #samples) do
      local s = samples[k]
      if not s.gen or not same_tokens(s.gen.tokens, s.tokens) or #s.gen.logprobs ~= #s.tokens then return nil end
      toks[#toks + 1], vals[#vals + 1] = s.tokens, s.gen.value
      width = math.max(width, #s.tokens)
    end
    for k, tk in ipairs(toks) do
      local g = samples[first + k - 1].gen
      local lp, en = {}, {}
      for j = 1, width do lp[j] = g.logprobs[j] or 0; en[j] = g.entropies[j] or 0 end
      lps[k], ents[k] = lp, en
    end
    local m = self.policy:masks(toks)
    out[#out + 1] = {logprobs = moon.tensor(lps), entropies = moon.tensor(ents), mask = m.mask, action_mask = m.action_mask,
                     thought_mask = m.thought_mask, has_action = m.has_action, lengths = m.lengths, values = moon.tensor(vals)}
  end
  return out
end

--- PPO's per-answer log-probability: log p(action) + thought_coef * log p(thoughts).
function core.sequence_logprob(score, thought_coef)
  return (score.logprobs * score.action_mask):sum(2) + (score.logprobs * score.thought_mask):sum(2) * thought_coef
end

--- GAE over the [T, N] rollout, with optional per-sample adjustments (the KL shaping of GTR-Turbo).
function Run:advantages(samples, last, old)
  local cfg = self.cfg
  local T, N = cfg.steps, cfg.num_envs
  local rewards, dones = {}, {}
  for t = 1, T do
    rewards[t], dones[t] = {}, {}
    for i = 1, N do
      local s = samples[(t - 1) * N + i]
      rewards[t][i] = s.reward
      dones[t][i] = s.done and 1 or 0
    end
  end
  local values = moon.cat(old.values):reshape(T, N)
  local adv, ret = moon.rl.gae(moon.tensor(rewards), values, moon.tensor(dones), last,
                               {gamma = cfg.ppo.gamma, lambda = cfg.ppo.lambda})
  adv, ret = adv:reshape(-1), ret:reshape(-1)
  if self.hooks.adjust_advantages then adv, ret = self.hooks.adjust_advantages(self, samples, adv, ret, old) end
  return adv, ret, values:reshape(-1)
end

--- One PPO update over the samples; the extra_loss hook (core.hooks.extra_loss) adds guidance terms. Returns mean
-- statistics.
function Run:ppo_update(samples, adv, ret, old)
  local cfg = self.cfg.ppo
  local B = #samples
  local old_logp = moon.cat(old.logp)
  if cfg.normalize_advantages and B > 1 then adv = (adv - adv:mean()) / (adv:std() + 1e-8) end
  local params = self.policy:parameters()
  local gen = moon.generator(self.cfg.seed * 31 + self.update_count)
  local sums, n = {}, 0
  local function add(k, v) sums[k] = (sums[k] or 0) + v end
  local world = self.world
  for _ = 1, cfg.epochs do
    local perm = moon.randperm(B, {generator = gen}):totable()
    for first = 1, B, cfg.minibatch do
      local idx, obs, toks = {}, {}, {}
      local lo, hi = first, math.min(first + cfg.minibatch - 1, B)
      local share = 1  -- this rank's part of the minibatch: its loss is weighted by its share of the samples
      if world > 1 then
        local f, c = dist.part(hi - lo + 1, self.rank, world)
        share = c / (hi - lo + 1)
        lo, hi = lo + f - 1, lo + f + c - 2
      end
      for k = lo, hi do
        local j = perm[k] + 1
        idx[#idx + 1] = perm[k]; obs[#obs + 1] = samples[j].obs; toks[#toks + 1] = samples[j].tokens
      end
      local ids = moon.tensor(idx, {dtype = "int64"})
      local tf = moon.clock()
      local s = self.policy:score(self:batch(obs), toks)
      local loss, st = moon.rl.ppo_loss{
        logp = core.sequence_logprob(s, cfg.thought_coef), old_logp = old_logp:index_select(1, ids),
        advantages = adv:index_select(1, ids), values = s.values, returns = ret:index_select(1, ids),
        entropy = (s.entropies * s.mask):sum() / (s.mask:sum() + 1e-8),
        clip = cfg.clip, value_coef = cfg.value_coef, entropy_coef = cfg.entropy_coef}
      local pending  -- the guidance statistics, reduced with the others when data-parallel
      if self.hooks.extra_loss then
        local extra, es = self.hooks.extra_loss(self, s, idx, samples)
        if extra then loss = loss + extra end
        if world > 1 then pending = es else for k, v in pairs(es or {}) do add(k, v) end end
      end
      local tb = moon.clock()
      self.timing.forward = self.timing.forward + (tb - tf)
      if world > 1 then
        -- One bucket: the gradients and this rank's share of the statistics, summed over all ranks. Terms every
        -- rank computes identically (guidance SFT from the shared buffer) come out once: the shares sum to 1.
        loss = loss * share
        local keys, vals = {}, {}
        for k in pairs(st) do keys[#keys + 1] = k end
        for k in pairs(pending or {}) do keys[#keys + 1] = k end
        table.sort(keys)
        for i, k in ipairs(keys) do
          local v = st[k]
          if v == nil then v = pending[k] end
          vals[i] = type(v) == "number" and v * share or 0
        end
        self.opt:zero_grad()
        loss:backward()
        local summed = dist.allreduce_gradients(params, vals)
        st = {}
        for i, k in ipairs(keys) do st[k] = summed[i] end
      else
        self.opt:zero_grad()
        loss:backward()
      end
      local to = moon.clock()
      self.timing.backward = self.timing.backward + (to - tb)  -- with the gradient allreduce when data-parallel
      add("grad_norm", moon.optim.clip_grad_norm_(params, cfg.max_grad_norm))
      self.opt:step()
      self.timing.optim = self.timing.optim + (moon.clock() - to)
      for k, v in pairs(st) do add(k, v) end
      n = n + 1
    end
  end
  for k, v in pairs(sums) do sums[k] = v / math.max(n, 1) end
  return sums
end

--- Evaluation on cfg.eval.episodes fixed episodes (gtr/evaluate.lua): success rate, mean return, invalid rate,
-- per-episode outcomes and the first turn's action statistics.
function Run:evaluate(episodes)
  return require("gtr.evaluate").run(self, {episodes = episodes})
end

--- Records metrics (metrics.jsonl / .csv) and prints the progress line.
function Run:log(record)
  record.algo = self.algo
  if self.world > 1 then record.ranks = self.world end
  self.run:log(record)
  self.history[#self.history + 1] = record
  if not self.cfg.quiet then print(moon.metrics.progress(record, self.cfg.updates)) end
end

--- Now on the RL clock's scale (cfg.clock): wall seconds, or the process's CPU seconds (all its threads).
function Run:rl_now() return self.cfg.clock == "cpu" and os.clock() or moon.clock() end

--- One full update: collect, score, advantages, PPO (+ guidance), teacher refresh, metrics, checkpoint.
function Run:update()
  local cfg = self.cfg
  local t0 = self:rl_now()
  self.update_count = self.update_count + 1
  moon.manual_seed(cfg.seed * 7 + self.update_count)
  self.timing = new_timing()
  local samples, last, roll = self:collect()
  local ts = moon.clock()
  local scores
  if cfg.ppo.old_logprobs == "generation" and (cfg.model.lora.dropout or 0) == 0 then scores = self:generation_scores(samples) end
  if not scores then scores = self:score_samples(self.policy, samples) end
  self.timing.score = moon.clock() - ts
  local old = {logp = {}, values = {}, scores = scores}
  for _, s in ipairs(scores) do
    old.logp[#old.logp + 1] = core.sequence_logprob(s, cfg.ppo.thought_coef)
    old.values[#old.values + 1] = s.values
  end
  local tc = moon.clock()  -- the guidance's own passes (a teacher scoring or answering the rollout)
  if self.hooks.after_collect then self.hooks.after_collect(self, samples, old) end
  self.timing.guide = self.timing.guide + (moon.clock() - tc)
  local td, td_rl = moon.clock(), self:rl_now()  -- the teacher as it guides this update (not on the RL clock)
  local teacher_diag = self.main and diagnostics.teacher(self, samples, old) or nil
  self.timing.diagnostics = moon.clock() - td
  local diagnostics_rl = self:rl_now() - td_rl
  local adv, ret = self:advantages(samples, last, old)
  local stats = self:ppo_update(samples, adv, ret, old)
  local tm = moon.clock()
  local extra = self.hooks.after_update and self.hooks.after_update(self, samples) or {}
  self.timing.merge = moon.clock() - tm
  -- metrics
  local eps, succ, rsum, inv, lsum = roll.episodes, 0, 0, 0, 0
  for _, e in ipairs(eps) do
    if e.success then succ = succ + 1 end
    rsum = rsum + e["return"]; lsum = lsum + e.length
  end
  for _, s in ipairs(samples) do if s.info.illegal then inv = inv + 1 end end
  local started = #eps + self:unfinished(samples)  -- episodes still running at the boundary count as unsolved
  local texts = {}
  for i, s in ipairs(samples) do texts[i] = s.text end
  self.tokens = self.tokens + roll.tokens
  local dt = self:rl_now() - t0 - diagnostics_rl
  if self.world > 1 then dt = moon.dist.broadcast(dt, 0) end  -- one clock, so every rank stops at the same budget
  self.clock = self.clock + dt
  local thoughts = {}
  for i, s in ipairs(samples) do thoughts[i] = (require("gtr.guidance").split(s.text)) end
  local rec = {update = self.update_count, success_rate = succ / math.max(started, 1),
    ["return"] = #eps > 0 and rsum / #eps or 0, episode_length = #eps > 0 and lsum / #eps or 0,
    invalid_rate = inv / #samples, entropy = roll.entropy, distinct_2 = moon.metrics.distinct_n(thoughts, 2),
    distinct_thoughts = moon.metrics.distinct_ratio(thoughts),
    value_loss = stats.value_loss, policy_loss = stats.policy_loss, clip_frac = stats.clip_frac,
    approx_kl = stats.approx_kl, grad_norm = stats.grad_norm, lr = self.opt:lr(),
    tokens_per_s = roll.tokens / dt, wall_s = self.clock, episodes = #eps, episodes_started = started}
  -- where the update's time went: generation (rollout sampling), scoring (old log-probs), guidance (before_step and
  -- after_collect: a teacher answering or scoring the rollout), PPO forward, backward, optimiser, teacher merge
  -- (after_update: refresh + teacher forward where the algorithm does that)
  local tm_ = self.timing
  rec.time_generate_s, rec.time_score_s, rec.time_forward_s = tm_.generate, tm_.score, tm_.forward
  rec.time_backward_s, rec.time_optim_s, rec.time_merge_s = tm_.backward, tm_.optim, tm_.merge
  rec.time_guide_s = tm_.guide
  rec.time_split = ("gen %.1fs score %.1fs guide %.1fs fwd %.1fs bwd %.1fs opt %.1fs merge %.1fs"):format(tm_.generate,
    tm_.score, tm_.guide, tm_.forward, tm_.backward, tm_.optim, tm_.merge)
  for k, v in pairs(extra) do rec[k] = v end
  for k, v in pairs(stats) do if rec[k] == nil then rec[k] = v end end
  -- thought collapse and the teacher (gtr/diagnostics.lua), and the compute spent so far
  local tt = moon.clock()
  local infos = {}
  for i, s in ipairs(samples) do infos[i] = s.info end
  for k, v in pairs(diagnostics.thoughts(texts, infos)) do rec[k] = v end
  for k, v in pairs(teacher_diag or {}) do rec[k] = v end
  rec.time_diagnostics_s = self.timing.diagnostics + (moon.clock() - tt)
  local c = self.compute
  c.generated = c.generated + roll.tokens
  c.trained = c.trained + cfg.ppo.epochs * roll.tokens + (self.sft_tokens or 0)
  c.teacher_generated = c.teacher_generated + (self.teacher_tokens or 0)
  c.teacher_scored = c.teacher_scored + (self.teacher_scored_tokens or 0)
  self.sft_tokens, self.teacher_tokens, self.teacher_scored_tokens = 0, 0, 0
  rec.tokens_generated, rec.tokens_trained = c.generated, c.trained
  rec.tokens_teacher_generated, rec.tokens_teacher_scored = c.teacher_generated, c.teacher_scored
  local final = self.update_count == cfg.updates or self:out_of_budget()
  -- eval.every_s > 0: also whenever the RL clock crosses a multiple of every_s (the same RL times for every algorithm)
  local every_s = cfg.eval.every_s
  local crossed = every_s > 0 and math.floor(self.clock / every_s) > math.floor((self.clock - dt) / every_s)
  if self.main and (cfg.eval.every > 0 and self.update_count % cfg.eval.every == 0 or crossed or final) then
    self:add_evaluation(rec, self:evaluate())
  end
  self:log(rec)
  self:save_samples(samples)
  if self.update_count % cfg.checkpoint_every == 0 or final then
    self:checkpoint(self.hooks.state and self.hooks.state(self) or nil)
  end
  return rec
end

--- Number of episodes still running at the end of the rollout (one per env whose last turn was not final).
function Run:unfinished(samples)
  local n = 0
  for _, s in ipairs(samples) do if s.t == self.cfg.steps and not s.done then n = n + 1 end end
  return n
end

--- Writes a few sample turns (image + prompt + answer) for people to look at.
function Run:save_samples(samples)
  local k = self.cfg.samples
  if k <= 0 or not self.main then return end
  local dir = ("samples/update-%06d"):format(self.update_count)
  local lines = {}
  for i = 1, math.min(k, #samples) do
    local s = samples[i]
    local png = ("%s/turn-%02d.png"):format(dir, i)
    if s.obs.image then moon.image.save_png(s.obs.image, self.run:path(png)) end
    lines[#lines + 1] = moon.json.encode({image = png, prompt = self:prompt(s.obs), answer = s.text, reward = s.reward,
                                          success = s.info.success, illegal = s.info.illegal})
  end
  self.run:write(dir .. "/turns.jsonl", table.concat(lines, "\n") .. "\n")
end

--- True once a wall-clock budget (cfg.budget_s > 0) is spent: the RL clock counts rollouts, scoring, updates and
-- teacher merges, not evaluation or the SFT start, so algorithms compared at one budget get the same training time.
function Run:out_of_budget()
  return self.cfg.budget_s > 0 and self.clock >= self.cfg.budget_s
end

--- Runs the remaining updates (until cfg.updates or the budget), then writes the plots. Returns the metrics history.
function Run:train()
  while self.update_count < self.cfg.updates and not self:out_of_budget() do self:update() end
  local present = {}
  for _, r in ipairs(self.history) do for k, v in pairs(r) do if type(v) == "number" then present[k] = true end end end
  local charts = {}
  for _, spec in ipairs{"success_rate+eval_success", "return", "invalid_rate", "entropy", "kl", "distinct_2", "value_loss"} do
    local keep = {}
    for m in spec:gmatch("[^+]+") do if present[m] then keep[#keep + 1] = m end end
    if #keep > 0 then charts[#charts + 1] = table.concat(keep, "+") end
  end
  local plots = self.main and moon.plot.run(self.dir, {metrics = charts}) or {}
  if not self.cfg.quiet then
    print(cat("metrics: ", self.run:path("metrics.jsonl"), "  plots: ", self.run:path("plots")))
  end
  return self.history, plots
end

return require("gtr.doc").module(core, Run)
