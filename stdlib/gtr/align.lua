--- gtr.align: vision alignment of a policy on a frozen pretrained decoder (LLaVA's stage 1, made cheap).
--
-- The envs give unlimited captioned images: a render and its state text ("Values: [9, 2, 10, 3]"). Only the vision
-- encoder and the projector train; the decoder never changes.
--
-- Stage 0 ("read", no decoder pass): visual token k is trained to be the decoder's own input embedding of caption
-- token k (the caption padded with `pad` to the number of visual tokens): a cross-entropy over the caption
-- vocabulary by distance to the embedding rows, plus the squared distance to the target row. Once it reads, the
-- decoder sees the state as if it were text in the prompt (the "both" observation, from pixels). Cost: the encoder
-- and projector only, thousands of images a minute on 2 cores.
-- Stage 1 ("caption", optional): the caption's negative log-likelihood through the frozen decoder, given the image
-- and `prompt` (LLaVA's objective), to polish what the decoder actually reads.
--
-- Accuracy is what the goal asks: greedy decoding of the caption from a fresh render, compared exactly
-- (policy:greedy_check: one teacher-forced pass, equivalent to greedy decoding up to logit ties).
--
--   local gtr = require("gtr")
--   local p = moon.vlm.new{decoder = "models/SmolLM2-135M-Instruct.Q4_1.gguf"}
--   local report = gtr.align.train(p, {run_dir = "runs/align"})
--   print(report.accuracy.Points24)      -- fraction of fresh Points24 renders whose values it reads exactly
--   p:save("runs/align/aligned.safetensors")
local config = require("gtr.config")

local align = {}

align.defaults = {
  envs = {},                 -- the tasks mixed in every batch (default: align.tasks)
  env_options = {},          -- extra moon.env.make options for every task (size is the policy's image size)
  prompt = "Repeat the text above.",  -- the user message after the image while captioning
  random_steps = 2,          -- up to this many random actions before a render, so in-episode states are seen too
  pad = " ",                 -- the text whose embedding fills the visual tokens after the caption
  -- reading: visual tokens -> caption embeddings. temperature: of the distance softmax, in units of the mean
  -- squared norm of an embedding row; mse: weight of the squared distance to the target row (same units)
  stage0 = {steps = 2000, batch = 32, lr = 2e-3, temperature = 0.1, mse = 1.0, budget_s = 0},
  stage1 = {steps = 8, batch = 4, lr = 3e-4, budget_s = 0},     -- caption loss through the frozen decoder
  -- (budget_s > 0: the stage stops once it has trained this many seconds)
  eval = {every = 100, n = 32, final = 200},  -- every: stage-0 steps between evaluations (n fresh renders per task);
                                              -- final: fresh renders per task for the final greedy accuracy
  decoder_every = 0,         -- > 0: also the greedy accuracy (decoder pass) every this many stage-0 steps
  budget_s = 0,              -- > 0: stop training once this many seconds have passed (evaluations excluded)
  seed = 1,
  run_dir = "",              -- metrics.jsonl, plots/ (default runs/align)
  quiet = false,
  caption = config.FUNCTION, -- function(task, obs) -> caption text (default: align.caption)
}

--- The tasks aligned by default.
align.tasks = {"Points24", "NumberLine", "EZPoints", "Blackjack"}

local canonical = {}
for _, n in ipairs(moon.env.names()) do canonical[n:lower()] = n end

--- The caption of an observation of `task`: the state lines the goal is about.
-- Points24, EZPoints: "Values: [9, 2, 10, 3]"; NumberLine: "Target: 3\nCurrent: 1";
-- Blackjack: "Dealer: K\nPlayer: 5, 9" (the face-up dealer card and the player's cards).
function align.caption(task, obs)
  local s = obs.text
  if task == "Points24" or task == "EZPoints" then
    return assert(s:match("Values: %[[^%]]*%]"), "gtr.align: no 'Values: [...]' line in the state text")
  elseif task == "NumberLine" then
    return s
  elseif task == "Blackjack" then
    local d, p = s:match("Dealer shows: (%S+)"), s:match("Player cards: (.-) %(")
    assert(d and p, "gtr.align: unexpected Blackjack state text")
    return ("Dealer: %s\nPlayer: %s"):format(d, p)
  end
  error(("gtr.align: no default caption for task '%s'; pass caption = function(task, obs) -> text"):format(task), 0)
end

local function log(cfg, ...)
  if not cfg.quiet then print(...) end
end

-- A source of captioned renders for one task: env i is reset with its own seed stream, then stepped randomly.
local function sampler(cfg, task, size, seed)
  local opts = {}
  for k, v in pairs(cfg.env_options) do opts[k] = v end
  opts.size, opts.observation, opts.seed = size, "image", seed
  local env = moon.env.make(task, opts)
  local actions = env:actions()
  local gen = moon.generator(seed)
  local counter = 0
  local describe = cfg.caption or align.caption
  return function()
    counter = counter + 1
    local obs = env:reset(seed * 1000003 + counter)
    local k = moon.randint(0, cfg.random_steps + 1, {1}, {generator = gen}):item()
    for _ = 1, k do
      local a = actions[moon.randint(0, #actions, {1}, {generator = gen}):item() + 1]
      local o, _, done = env:step_action(a)
      if done then break end
      obs = o
    end
    return obs.image, describe(task, obs)
  end
end

-- n samples from each task's sampler: images [T*n, 3, H, W], captions, task of each row.
local function draw(samplers, tasks, n)
  local images, captions, of = {}, {}, {}
  for _, task in ipairs(tasks) do
    for _ = 1, n do
      local img, cap = samplers[task]()
      images[#images + 1], captions[#captions + 1], of[#of + 1] = img, cap, task
    end
  end
  return moon.stack(images), captions, of
end

--- Greedy-decoding accuracy: for each task, the fraction of `n` fresh renders from `samplers` whose caption
-- greedy decoding reproduces exactly. Returns {task = fraction}, {task = mean fraction of caption tokens right}.
function align.greedy_accuracy(policy, samplers, tasks, n, prompt, batch)
  batch = batch or 16
  local acc, tok = {}, {}
  for _, task in ipairs(tasks) do
    local exact, right, total = 0, 0, 0
    local left = n
    while left > 0 do
      local m = math.min(batch, left)
      local images, captions = draw(samplers, {task}, m)
      local prompts = {}
      for i = 1, m do prompts[i] = prompt end
      local r = policy:greedy_check({prompts = prompts, images = images}, captions)
      local tk = policy:tokenizer()
      for i = 1, m do
        if r.exact[i] then exact = exact + 1 end
        right = right + r.correct[i]
        total = total + #tk:encode(captions[i], {add_special_tokens = false}) + 1
      end
      left = left - m
    end
    acc[task], tok[task] = exact / n, right / total
  end
  return acc, tok
end

--- Trains `policy`'s vision encoder and projector (the decoder stays frozen) until it reads the tasks' states; see
-- the module comment and align.defaults for the options. Writes metrics.jsonl (step, stage, loss, seconds,
-- read_<task>, acc_<task>) and plots/ to the run directory. Returns {accuracy = {task = greedy exact fraction on
-- eval.final fresh renders}, token_accuracy, read_accuracy (stage-0 head), steps, seconds (training), dir}.
function align.train(policy, user_opts)
  local cfg = config.resolve(user_opts, align.defaults, "align.")
  local nv = policy:num_visual_tokens()
  if nv == 0 then
    error("gtr.align: the policy is text-only (vision = false): there is no vision encoder to align", 0)
  end
  local conf = moon.json.decode(policy:config())
  local size = conf.vision.image_size
  local tasks = {}
  if next(cfg.envs) == nil then cfg.envs = align.tasks end
  for i, name in ipairs(cfg.envs) do
    tasks[i] = canonical[tostring(name):lower()] or error(("gtr.align: unknown env '%s' in envs"):format(name), 0)
  end
  if #tasks == 0 then error("gtr.align: envs is empty", 0) end
  for _, k in ipairs({"steps", "batch"}) do
    for _, st in ipairs({"stage0", "stage1"}) do
      local v = cfg[st][k]
      if v ~= math.floor(v) or v < 0 or (k == "batch" and v < 1) then
        error(("gtr.align: %s.%s must be a %s integer, got %s"):format(st, k, k == "batch" and "positive" or "non-negative", v), 0)
      end
    end
  end

  local tok = policy:tokenizer()
  local named = policy:named_parameters()
  local emb = named["model.embed_tokens.weight"]
  local params = {}
  for name, t in pairs(named) do
    if name:match("^vision%.") or name:match("^projector%.") then params[#params + 1] = {name, t} end
  end
  table.sort(params, function(a, b) return a[1] < b[1] end)
  for i, p in ipairs(params) do params[i] = p[2] end

  local dir = cfg.run_dir ~= "" and cfg.run_dir or "runs/align"
  local run = moon.run.open(dir, {config = moon.json.encode(config.serializable(cfg), {pretty = true})})
  local train_samplers, eval_samplers = {}, {}
  for i, task in ipairs(tasks) do
    train_samplers[task] = sampler(cfg, task, size, cfg.seed * 7919 + i)
    eval_samplers[task] = sampler(cfg, task, size, 1000000 + cfg.seed * 7919 + i)  -- disjoint seeds: fresh renders
  end

  -- the caption vocabulary (grows as captions bring new tokens) and its embedding rows
  local pad = tok:encode(cfg.pad, {add_special_tokens = false})
  if #pad ~= 1 then error(("gtr.align: pad = %q is %d tokens; it must be one"):format(cfg.pad, #pad), 0) end
  pad = pad[1]
  local vocab, class_of = {}, {}
  local sub, sub_sq
  local function class(id)
    local c = class_of[id]
    if not c then
      vocab[#vocab + 1] = id
      c = #vocab - 1
      class_of[id] = c
      sub = nil
    end
    return c
  end
  class(pad)
  local scale = (emb:pow(2):sum(2)):mean():item()  -- mean squared norm of an embedding row
  local function targets(captions)
    local cls, ids = {}, {}
    for _, c in ipairs(captions) do
      local t = tok:encode(c, {add_special_tokens = false})
      if #t > nv then
        error(("gtr.align: the caption %q is %d tokens but the policy has %d visual tokens; add registers (moon.vlm.new{vision = {registers = k}}), use a smaller patch_size or a shorter caption")
          :format(c, #t, nv), 0)
      end
      for k = 1, nv do
        local id = t[k] or pad
        ids[#ids + 1] = id
        cls[#cls + 1] = class(id)
      end
    end
    if not sub then
      sub = moon.no_grad(function() return moon.embedding(moon.tensor(vocab, {dtype = "int64"}), emb):detach() end)
      sub_sq = sub:pow(2):sum(2):reshape(1, #vocab)
    end
    return moon.tensor(cls, {dtype = "int64"}), moon.tensor(ids, {dtype = "int64"})
  end

  -- stage-0 head: logits by (negative) squared distance to each caption-vocabulary embedding
  local function read_logits(x)
    return (x:matmul(sub:t()) * 2 - sub_sq) / (scale * cfg.stage0.temperature)
  end

  -- stage-0 accuracy on fresh renders: every visual token nearest to its target's embedding (exact), and the
  -- fraction of visual tokens that are (token)
  local function read_accuracy(n)
    local acc, tok_acc = {}, {}
    moon.no_grad(function()
      for _, task in ipairs(tasks) do
        local images, captions = draw(eval_samplers, {task}, n)
        local cls = targets(captions)
        local pred = read_logits(policy:visual_tokens(images):reshape(n * nv, -1)):argmax(2)
        local ok = pred:eq(cls):float():reshape(n, nv)
        acc[task] = ok:min(2):sum():item() / n
        tok_acc[task] = ok:mean():item()
      end
    end)
    return acc, tok_acc
  end

  local opt0 = moon.optim.adamw(params, {lr = cfg.stage0.lr, weight_decay = 0,
    schedule = cfg.stage0.steps > 0 and moon.optim.schedule{kind = "cosine", lr = cfg.stage0.lr, min_lr = cfg.stage0.lr * 0.05,
                                                           total = cfg.stage0.steps, warmup = math.min(50, cfg.stage0.steps // 10)} or nil})
  local per_task = math.max(1, cfg.stage0.batch // #tasks)
  local t_train, step = 0, 0
  local history = {}
  local function record(stage, loss, extra)
    local rec = {step = step, stage = stage, loss = loss, seconds = t_train}
    for k, v in pairs(extra or {}) do rec[k] = v end
    run:log(rec)
    history[#history + 1] = rec
    return rec
  end
  local function over_budget() return cfg.budget_s > 0 and t_train >= cfg.budget_s end
  local function summary(tbl)
    local parts = {}
    for _, task in ipairs(tasks) do parts[#parts + 1] = ("%s %.3f"):format(task, tbl[task]) end
    return table.concat(parts, ", ")
  end
  local function eval_record(stage, loss, with_decoder)
    local extra = {}
    local ra, rt = read_accuracy(cfg.eval.n)
    for task, v in pairs(ra) do extra["read_" .. task:lower()] = v end
    for task, v in pairs(rt) do extra["read_token_" .. task:lower()] = v end
    local line = ("align stage %d step %d | loss %.4f | read %s | tokens %s"):format(stage, step, loss, summary(ra), summary(rt))
    if with_decoder then
      local ga = align.greedy_accuracy(policy, eval_samplers, tasks, cfg.eval.n, cfg.prompt)
      for task, v in pairs(ga) do extra["acc_" .. task:lower()] = v end
      line = line .. " | greedy " .. summary(ga)
    end
    log(cfg, line .. (" | %.0fs"):format(t_train))
    return record(stage, loss, extra)
  end

  -- stage 0
  local loss_sum, loss_n = 0, 0
  eval_record(0, 0, cfg.decoder_every > 0)
  for s = 1, cfg.stage0.steps do
    if over_budget() or (cfg.stage0.budget_s > 0 and t_train >= cfg.stage0.budget_s) then break end
    local t0 = moon.clock()
    local images, captions = draw(train_samplers, tasks, per_task)
    local cls, ids = targets(captions)
    local x = policy:visual_tokens(images)
    x = x:reshape(x:size(1) * nv, -1)
    local loss = moon.cross_entropy(read_logits(x), cls)
    if cfg.stage0.mse > 0 then
      local target = moon.no_grad(function() return moon.embedding(ids, emb) end)
      loss = loss + moon.mse_loss(x, target) * (cfg.stage0.mse * x:size(2) / scale)
    end
    opt0:zero_grad()
    loss:backward()
    moon.optim.clip_grad_norm(params, 1.0)
    opt0:step()
    step = s
    loss_sum, loss_n = loss_sum + loss:item(), loss_n + 1
    t_train = t_train + moon.clock() - t0
    local last = s == cfg.stage0.steps or over_budget() or (cfg.stage0.budget_s > 0 and t_train >= cfg.stage0.budget_s)
    if s % cfg.eval.every == 0 or last then
      eval_record(0, loss_sum / loss_n, cfg.decoder_every > 0 and s % cfg.decoder_every == 0)
      loss_sum, loss_n = 0, 0
    end
  end

  -- stage 1: the caption's log-likelihood through the frozen decoder
  if cfg.stage1.steps > 0 and not over_budget() then
    local opt1 = moon.optim.adamw(params, {lr = cfg.stage1.lr, weight_decay = 0})
    local per = math.max(1, cfg.stage1.batch // #tasks)
    local eos = tok:eos_id()
    local s1, t1 = 0, t_train
    for s = 1, cfg.stage1.steps do
      if over_budget() or (cfg.stage1.budget_s > 0 and t_train - t1 >= cfg.stage1.budget_s) then break end
      local t0 = moon.clock()
      local images, captions = draw(train_samplers, tasks, per)
      local prompts, responses = {}, {}
      for i, c in ipairs(captions) do
        prompts[i] = cfg.prompt
        local ids = tok:encode(c, {add_special_tokens = false})
        if eos then ids[#ids + 1] = eos end
        responses[i] = ids
      end
      local sc = policy:score({prompts = prompts, images = images}, responses)
      local loss = -(sc.logprobs * sc.mask):sum() / sc.mask:sum()
      opt1:zero_grad()
      loss:backward()
      moon.optim.clip_grad_norm(params, 1.0)
      opt1:step()
      step, s1 = step + 1, s
      t_train = t_train + moon.clock() - t0
      log(cfg, ("align stage 1 step %d | caption nll %.4f | %.0fs"):format(s, loss:item(), t_train))
      record(1, loss:item())
    end
  end

  -- final: greedy decoding accuracy on fresh renders
  local t_eval = moon.clock()
  local acc, tok_acc = {}, {}
  if cfg.eval.final > 0 then acc, tok_acc = align.greedy_accuracy(policy, eval_samplers, tasks, cfg.eval.final, cfg.prompt) end
  local ra, rt = read_accuracy(math.max(cfg.eval.n, math.min(cfg.eval.final, 256)))
  local extra = {final = 1, eval_seconds = moon.clock() - t_eval}
  for _, task in ipairs(tasks) do
    extra["acc_" .. task:lower()] = acc[task]
    extra["read_" .. task:lower()] = ra[task]
    extra["read_token_" .. task:lower()] = rt[task]
  end
  record(cfg.stage1.steps > 0 and 1 or 0, history[#history].loss, extra)
  log(cfg, ("align done: %d steps, %.0fs training | read %s | greedy exact %s | %.0fs evaluating (%d renders per task)")
    :format(step, t_train, summary(ra), cfg.eval.final > 0 and summary(acc) or "not measured", moon.clock() - t_eval, cfg.eval.final))

  local curves = {}
  for _, task in ipairs(tasks) do curves[#curves + 1] = "read_" .. task:lower() end
  local accs = {}
  for _, task in ipairs(tasks) do accs[#accs + 1] = "acc_" .. task:lower() end
  local charts = {"loss", table.concat(curves, "+")}
  local measured = false
  for _, rec in ipairs(history) do
    if rec["acc_" .. tasks[1]:lower()] then measured = true end
  end
  if measured then charts[#charts + 1] = table.concat(accs, "+") end
  local plots = moon.plot.run(dir, {metrics = charts, x = "step"})
  return {accuracy = acc, token_accuracy = tok_acc, read_accuracy = ra, read_token_accuracy = rt, steps = step, seconds = t_train,
          dir = run:dir(), plots = plots, history = history}
end

return require("gtr.doc").module(align)
