local T = ...

local function near_table(a, b, tol)
  for i = 1, #b do
    if type(b[i]) == "table" then near_table(a[i], b[i], tol) else T.near(a[i], b[i], tol) end
  end
end

T.it("GAE matches hand-computed values, with a done cutting the trace", function()
  -- T = 3 steps, N = 1 env; gamma 0.5, lambda 0.5; the episode ends at t = 2.
  local r = moon.tensor{{1}, {0}, {2}}
  local v = moon.tensor{{0.5}, {1}, {0}}
  local d = moon.tensor{{0}, {1}, {0}}
  local last = moon.tensor{3}
  local adv, ret = moon.rl.gae(r, v, d, last, {gamma = 0.5, lambda = 0.5})
  -- t=3: delta = 2 + 0.5*3 - 0 = 3.5; A3 = 3.5
  -- t=2: done -> delta = 0 - 1 = -1; A2 = -1
  -- t=1: delta = 1 + 0.5*1 - 0.5 = 1; A1 = 1 + 0.25*(-1) = 0.75
  near_table(adv:totable(), {{0.75}, {-1}, {3.5}}, 1e-6)
  near_table(ret:totable(), {{1.25}, {0}, {3.5}}, 1e-6)
end)

T.it("PPO clipping stops the gradient exactly when the ratio leaves the trust region", function()
  local old = moon.tensor{0, 0, 0, 0}
  -- ratios e^0.5 (clipped for A>0), e^-0.5 (clipped for A<0), e^0.05 (inside), e^-0.5 with A>0 (unclipped side)
  local logp = moon.tensor({0.5, -0.5, 0.05, -0.5}, {requires_grad = true})
  local adv = moon.tensor{1, -1, 1, 1}
  local v = moon.tensor({0, 0, 0, 0}, {requires_grad = true})
  local loss, st = moon.rl.ppo_loss{logp = logp, old_logp = old, advantages = adv, values = v, returns = moon.zeros(4),
                                    clip = 0.2, value_coef = 0.5}
  loss:backward()
  local g = logp.grad:totable()
  T.near(g[1], 0, 1e-7); T.near(g[2], 0, 1e-7)
  T.truthy(g[3] < 0 and g[4] < 0, "unclipped samples get a gradient")
  T.near(st.clip_frac, 0.75, 1e-6)  -- |ratio - 1| > clip, the usual clip-fraction statistic
  T.near(g[3], -math.exp(0.05) / 4, 1e-5)
end)

T.it("turn KL: clamped per-token reverse KL averaged over thought tokens, invalid turns count 100", function()
  local agent = moon.tensor{{-1, -2, -0.5}, {-1, -1, -1}}
  local teacher = moon.tensor{{-2, -1, -30}, {-1, -1, -1}}
  local mask = moon.tensor{{1, 1, 1}, {1, 1, 0}}
  local kl = moon.distill.turn_kl(agent, teacher, mask, {invalid = {false, true}}):totable()
  -- per token: 1, clamp(-1) = 0, clamp(29.5) = 10 -> mean 11/3
  T.near(kl[1], 11 / 3, 1e-5); T.eq(kl[2], 100)
end)

T.it("distillation losses are zero for identical logits and positive otherwise", function()
  local a = moon.randn(2, 3, 5)
  T.near(moon.distill.kl(a, a):item(), 0, 1e-6)
  local b = moon.randn(2, 3, 5)
  T.truthy(moon.distill.kl(a, b, {direction = "forward"}):item() > 0)
  T.truthy(moon.distill.jsd(a, b, {beta = 0.5}):item() > 0)
end)

T.it("thought diversity metrics", function()
  T.eq(moon.metrics.distinct_ratio({"a b", "a b", "c"}), 2 / 3)
  T.truthy(moon.metrics.distinct_n({"a b c", "a b c"}, 2) < moon.metrics.distinct_n({"a b c", "d e f"}, 2))
end)

T.it("gtr configs reject unknown keys and wrong types, naming the key", function()
  local gtr = require("gtr")
  T.raises(function() gtr.config.resolve{ppo = {lrr = 1}} end, "unknown key 'ppo.lrr'")
  T.raises(function() gtr.config.resolve{ppo = {lr = "fast"}} end, "key 'ppo.lr': expected number, got string")
  T.raises(function() gtr.config.resolve{reward = 3} end, "key 'reward': expected a function")
  T.eq(gtr.config.resolve{env_options = {max_position = 7}}.env_options.max_position, 7)
  -- numbers: finite everywhere; counts are integers in their range (eval.episodes = 1e308 grew a table until the
  -- machine ran out of memory)
  T.raises(function() gtr.config.resolve{eval = {episodes = 1e308}} end, "key 'eval.episodes': expected an integer in 0..1000000, got 1e+308")
  T.raises(function() gtr.config.resolve{num_envs = 0 / 0} end, "key 'num_envs': expected a finite number")
  T.raises(function() gtr.config.resolve{budget_s = 1 / 0} end, "key 'budget_s': expected a finite number, got inf")
  T.raises(function() gtr.config.resolve{updates = 2.5} end, "key 'updates': expected an integer")
  T.raises(function() gtr.config.resolve{checkpoint_every = 0} end, "key 'checkpoint_every': expected an integer in 1..")
  T.raises(function() gtr.config.resolve{model = {lora = {rank = -1}}} end, "key 'model.lora.rank': expected an integer")
  local c = gtr.config.resolve{format_reward = 0.5, seed = -7, updates = 1000.0, turbo = {kl_coef = 300}}
  T.eq(c.format_reward, 0.5); T.eq(c.seed, -7); T.eq(c.updates, 1000); T.eq(c.turbo.kl_coef, 300)
  -- every number slot of the defaults refuses NaN and infinities; every integer slot 1e308 and 2.5
  local function slots(t, prefix, out)
    for k, v in pairs(t) do
      if type(v) == "number" then out[#out + 1] = prefix .. k
      elseif type(v) == "table" and next(v) ~= nil then slots(v, prefix .. k .. ".", out) end
    end
    return out
  end
  local function with(path, v)
    local cfg, c = {}, nil
    c = cfg
    for part in path:gmatch("([^.]+)%.") do c[part] = {}; c = c[part] end
    c[path:match("([^.]+)$")] = v
    return cfg
  end
  local all = slots(gtr.config.defaults, "", {})
  T.truthy(#all > 50, #all)
  for _, path in ipairs(all) do
    for _, v in ipairs{0 / 0, 1 / 0, -1 / 0} do
      T.raises(function() gtr.config.resolve(with(path, v)) end, "key '" .. path .. "': expected a finite number")
    end
    if gtr.config.integers[path] then
      T.raises(function() gtr.config.resolve(with(path, 1e308)) end, "key '" .. path .. "': expected an integer")
      T.raises(function() gtr.config.resolve(with(path, 2.5)) end, "key '" .. path .. "': expected an integer")
    end
  end
  -- every integer key names a number slot of the defaults
  for key in pairs(gtr.config.integers) do
    local v = gtr.config.defaults
    for part in key:gmatch("[^.]+") do v = v[part] end
    T.eq(type(v), "number", key)
  end
end)

T.it("checkpoint pool refreshes its teacher from the history (TIES, EMA, custom Lua weights)", function()
  local pool = require("gtr.pool")
  local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
  local path = function(n) return dir .. "/" .. n end
  local base = {w = moon.zeros(4)}
  for _, method in ipairs{"ties", "average", "ema", "custom"} do
    local p = pool.new{path = path, method = method, base = base, density = 1.0, decay = 0.5, size = 2,
                       weights = function(i, n) return i == n and 1 or 0 end}
    p:add(1, {w = moon.tensor{1, 1, 1, 1}})
    p:add(2, {w = moon.tensor{3, 3, 3, 3}})
    p:add(3, {w = moon.tensor{5, 5, 5, 5}})
    T.eq(p:steps(), {2, 3})   -- size 2: the oldest left
    local m = p:merged().w:totable()
    local expect = ({ties = 4, average = 4, ema = 3.5, custom = 5})[method]  -- EMA covers the whole history
    T.near(m[1], expect, 1e-5, method)
  end
  os.execute("rm -rf " .. dir)
end)

T.it("a bad reward function stops the run with a clear error", function()
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local run = gtr.ppo.new{run_dir = dir, num_envs = 2, steps = 1, updates = 1, quiet = true,
    sft = {demos = 0}, eval = {episodes = 0}, generation = {max_new_tokens = 4}, samples = 0,
    model = {width = 32, layers = 1, heads = 2, intermediate = 64, vision_width = 32, vision_layers = 1},
    reward = function() return "much" end}
  T.raises(function() run:update() end, "reward function must return a number, got string")
  os.execute("rm -rf " .. dir)
end)

T.it("clock = 'cpu' counts the process's CPU seconds against the budget; other clocks are rejected", function()
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local function cfg(extra)
    local c = {run_dir = dir, num_envs = 2, steps = 1, updates = 3, quiet = true, sft = {demos = 0},
      eval = {episodes = 0}, generation = {max_new_tokens = 4}, samples = 0, ppo = {minibatch = 2, epochs = 1},
      model = {width = 32, layers = 1, heads = 2, intermediate = 64, vision_width = 32, vision_layers = 1}}
    for k, v in pairs(extra) do c[k] = v end
    return c
  end
  local run = gtr.ppo.new(cfg{clock = "cpu", budget_s = 1e9})
  local c0 = os.clock()
  run:update()
  local spent = os.clock() - c0
  T.truthy(run.clock > 0 and run.clock <= spent + 1e-6, ("RL clock %g within the update's CPU time %g"):format(run.clock, spent))
  os.execute("rm -rf " .. dir)
  T.raises(function() gtr.ppo.new(cfg{clock = "gpu"}) end, "expected 'wall' or 'cpu'")
  os.execute("rm -rf " .. dir)
end)

T.it("a wall-clock budget ends the run early, with a final evaluation and checkpoint", function()
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local run = gtr.turbo.new{run_dir = dir, num_envs = 2, steps = 1, updates = 50, budget_s = 1e-6, quiet = true,
    sft = {demos = 0}, eval = {episodes = 2, every = 10}, generation = {max_new_tokens = 4}, samples = 0,
    turbo = {kl_direction = "forward"}, ppo = {minibatch = 2, epochs = 1},
    model = {width = 32, layers = 1, heads = 2, intermediate = 64, vision_width = 32, vision_layers = 1}}
  local history = run:train()
  T.eq(run.update_count, 1)          -- the first update spends the budget
  T.eq(#history, 2)                  -- the SFT-start record and that update
  T.truthy(history[2].eval_success ~= nil, "the last update is evaluated although eval.every is 10")
  T.truthy(io.open(dir .. "/checkpoints/state-000001.json"), "the last update is checkpointed")
  T.raises(function() gtr.turbo.new{run_dir = dir .. "-x", turbo = {kl_direction = "sideways"}, sft = {demos = 0},
    num_envs = 1, steps = 1, updates = 1, quiet = true, eval = {episodes = 0}, samples = 0,
    generation = {max_new_tokens = 2}, model = {width = 32, layers = 1, heads = 2, intermediate = 64,
    vision_width = 32, vision_layers = 1}}:update() end, "direction")
  os.execute("rm -rf " .. dir .. " " .. dir .. "-x")
end)

local SFT_MODELS = {
  {"the from-scratch policy", {width = 32, layers = 1, heads = 2, intermediate = 64, vision_width = 32, vision_layers = 1}},
  {"a pretrained decoder with LoRA (base frozen)",
   {decoder = "Tests/MoonCheckpointTests/Fixtures/tiny_llama.gguf", vision = false, lora = {rank = 2}},
   {observation = "text"}},
}
for _, m in ipairs(SFT_MODELS) do
T.it("an SFT stopped between checkpoints resumes at the last one and ends as an uninterrupted one: " .. m[1], function()
  local gtr = require("gtr")
  local base = os.tmpname(); os.remove(base)
  local function new(dir, resume, sft)
    -- 12 demonstrations in batches of 4 for 2 epochs: 6 steps, checkpoints after steps 2 and 4 and at the end
    return gtr.ppo.new{run_dir = dir, resume = resume, num_envs = 1, steps = 1, updates = 0, quiet = true,
      samples = 0, sft = sft or {demos = 12, epochs = 2, batch = 4, checkpoint_every = 2}, eval = {episodes = 0},
      generation = {max_new_tokens = 4}, model = m[2], env_options = m[3]}
  end
  --- Runs `f` with every optimiser step counted, the `stop_at`-th raising an error (a stop in the middle of a step).
  local function counting_steps(stop_at, f)
    local clip, calls = moon.optim.clip_grad_norm_, 0
    moon.optim.clip_grad_norm_ = function(...)
      calls = calls + 1
      if calls == stop_at then error("stopped in step " .. calls) end
      return clip(...)
    end
    local ok, err = pcall(f)
    moon.optim.clip_grad_norm_ = clip
    return calls, ok, err
  end
  local function progress(dir)
    return moon.json.decode(moon.ckpt.metadata(dir .. "/checkpoints/sft-progress.safetensors")["moonlab.sft_progress"])
  end
  local function same_weights(a, b)
    local wa, wb = moon.ckpt.load(a .. "/checkpoints/sft.safetensors"), moon.ckpt.load(b .. "/checkpoints/sft.safetensors")
    local n = 0
    for k, t in pairs(wa) do T.near((t - wb[k]):abs():max():item(), 0, 1e-6, k); n = n + 1 end
    T.truthy(n > 0)
  end
  local ref = new(base .. "/a", false)
  T.eq(ref.sft_result.steps, 6)
  local p = progress(base .. "/a")
  T.eq(p.step, 6); T.eq(p.final, true); T.eq(p.stopped, "done")

  -- stopped in step 5: the checkpoint of step 4 (mid-epoch 2) is the resume point; the resumed run trains steps 5-6
  local calls, ok, err = counting_steps(5, function() new(base .. "/b", false) end)
  T.truthy(not ok and tostring(err):find("stopped in step 5", 1, true), tostring(err))
  p = progress(base .. "/b")
  T.eq(p.step, 4); T.truthy(not p.final)
  local resumed
  calls, ok, err = counting_steps(0, function() resumed = new(base .. "/b", true) end)
  T.truthy(ok, tostring(err))
  T.eq(calls, 2, "steps trained after the resume")
  T.eq(resumed.sft_result.steps, 6); T.eq(resumed.sft_result.samples, ref.sft_result.samples)
  T.near(resumed.sft_result.loss, ref.sft_result.loss, 1e-6, "the last epoch's mean loss spans the stop")
  T.near(resumed.sft_result.tokens, ref.sft_result.tokens, 0)
  same_weights(base .. "/a", base .. "/b")

  -- a finished SFT resumed (stopped during its evaluation, say) trains nothing and keeps its weights
  calls = counting_steps(0, function() resumed = new(base .. "/b", true) end)
  T.eq(calls, 0); T.eq(resumed.sft_result.steps, 6)
  same_weights(base .. "/a", base .. "/b")

  -- a checkpoint that is not this SFT's, or is damaged, is not trusted: the SFT starts over (with a warning), from
  -- the start's weights even when the load failed half-way
  local path = base .. "/b/checkpoints/sft-progress.safetensors"
  local saved = moon.ckpt.load(path)
  local function with(meta, tensors)
    return function() moon.ckpt.save(path, tensors or saved, {["moonlab.sft_progress"] = meta}) end
  end
  local function renamed(from, to)
    local t = {}
    for k, v in pairs(saved) do t[(k:gsub(from, to))] = v end
    return t
  end
  local p6 = moon.json.encode(progress(base .. "/b"))   -- the finished SFT's checkpoint, damaged in turn
  for _, damage in ipairs({
      with("{"), with("[]"), with('{"step": 1e308}'), with((p6:gsub('"planned":%s*6', '"planned": 7'))),
      with((p6:gsub('"step":%s*6', '"step": -1'))), with((p6:gsub('"step":%s*6', '"step": 2.5'))),
      with((p6:gsub('"step":%s*6', '"step": 5'))),    -- counters of another step than its optimiser's
      with(p6, renamed("^policy/", "other/")),          -- no weights
      with(p6, renamed("^optim/", "optim/x.")),         -- no optimiser state
      with(p6, (function()                              -- an optimiser slot of another shape: fails after the weights
        local t = {}
        for k, v in pairs(saved) do t[k] = k:match("^optim/state%.") and moon.zeros(3) or v end
        return t
      end)()),
      function() local f = io.open(path, "w"); f:write("garbage"); f:close() end}) do
    damage()
    calls, ok, err = counting_steps(0, function() resumed = new(base .. "/b", true) end)
    T.truthy(ok, tostring(err)); T.eq(calls, 6)
    same_weights(base .. "/a", base .. "/b")
    os.remove(path); with(p6)()
  end
  -- a FIFO in its place is neither read nor replaced: the SFT trains from the start and stops at its first save
  os.remove(path); os.execute(("mkfifo %q"):format(path))
  calls, ok, err = counting_steps(0, function() new(base .. "/b", true) end)
  T.truthy(not ok and tostring(err):find("refusing to replace", 1, true), tostring(err))
  T.eq(calls, 2)
  -- none at all: the same, silently
  os.remove(path)
  calls = counting_steps(0, function() new(base .. "/b", true) end)
  T.eq(calls, 6)
  -- checkpoint_every = 0: no SFT checkpoint is written
  local none = new(base .. "/c", false, {demos = 4, epochs = 1, batch = 4, checkpoint_every = 0})
  T.eq(none.sft_result.steps, 1)
  T.truthy(not io.open(base .. "/c/checkpoints/sft-progress.safetensors"), "no SFT checkpoint")
  os.execute("rm -rf " .. base)
end)
end
