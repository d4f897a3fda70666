-- scripts/bench dist, moonlab's side (run under mpirun):
--   moonlab run scripts/bench_dist.lua allreduce   moon.dist.allreduce of 1-100 MB float32 buffers (as bench_dist_peer.c)
--   moonlab run scripts/bench_dist.lua teacher     building the merged teacher: TIES on every rank vs on rank 0 + broadcast
--   moonlab run scripts/bench_dist.lua update [n]  seconds per PPO update of the default tiny policy (8 envs x 8 turns)
--   moonlab run scripts/bench_dist.lua calibrate   one rank's cost per turn with SmolLM2-135M's decoder shape (30 layers,
--                                                   width 576, 9 heads / 3 KV heads, MLP 1536; byte vocabulary): the
--                                                   input of the README's table of ranks for the paper's Points24 budget
local what = arg[1] or "allreduce"
local d = moon.dist
local main = d.is_main()
if d.local_size() > 1 then moon.set_num_threads(math.max(1, moon.num_threads() // d.local_size())) end

if what == "allreduce" then
  for _, mb in ipairs{1, 10, 100} do
    local t = moon.full({mb * 1000000 // 4}, 1)
    local iters = mb >= 100 and 5 or (mb >= 10 and 20 or 100)
    d.allreduce(t, {op = "sum"})
    d.barrier()
    local t0 = moon.clock()
    for _ = 1, iters do d.allreduce(t, {op = "sum"}) end
    local dt = (moon.clock() - t0) / iters
    if main then print(("RESULT moonlab %d MB %.6f s %.3f GB/s"):format(mb, dt, mb * 1e6 / dt / 1e9)) end
  end
elseif what == "teacher" then
  -- a pool of 4 checkpoints + base: TIES merge (every rank) vs merge on rank 0 then one broadcast of the result
  -- the default tiny policy, and 8 layers of SmolLM2-135M's shape (width 576, 9 heads, MLP 1536; ~1/4 of its 30)
  for _, shape in ipairs{{width = 128, layers = 4, heads = 4, intermediate = 344}, {width = 576, layers = 8, heads = 9, intermediate = 1536}} do
    local p = moon.vlm.new{width = shape.width, layers = shape.layers, heads = shape.heads, intermediate = shape.intermediate, seed = 1}
    local base = p:state_dict()
    local members = {}
    for i = 1, 4 do
      local s = {}
      for k, v in pairs(base) do s[k] = v + moon.randn(table.unpack(v.shape)) * 0.01 end
      members[i] = s
    end
    local params = p:parameters{trainable_only = false}
    local count = 0
    for _, t in ipairs(params) do count = count + #t:reshape(-1) end
    d.barrier()
    local t0 = moon.clock()
    local merged = moon.merge.ties(members, {base = base, density = 0.8})
    p:load_state_dict(merged)
    local merge_s = moon.clock() - t0
    d.barrier()
    t0 = moon.clock()
    require("gtr.dist").broadcast_tensors(params)
    local bcast_s = moon.clock() - t0
    if main then
      print(("RESULT teacher %.1fM params: TIES of 4 on each rank %.3f s; broadcast from rank 0 %.3f s (%d ranks)")
        :format(count / 1e6, merge_s, bcast_s, d.size()))
    end
  end
elseif what == "calibrate" then
  local layers = tonumber(arg[2] or "30")
  local p = moon.vlm.new{width = 576, layers = layers, heads = 9, kv_heads = 3, intermediate = 1536, seed = 1}
  local count = 0
  for _, t in ipairs(p:parameters{trainable_only = false}) do count = count + #t:reshape(-1) end
  local env = moon.env.make("points24", {size = 64})
  local batch = {}
  for i = 1, 8 do
    local o = env:reset(i)
    batch[i] = {prompt = require("gtr.core").prompt(o, "short"), image = o.image}
  end
  -- wall and CPU seconds (CPU: all of this process's threads; on a busy machine wall overstates the cost)
  local function timed(f)
    local w, c = moon.clock(), os.clock()
    local r = f()
    return r, moon.clock() - w, os.clock() - c
  end
  local g, gen_w, gen_c = timed(function() return p:generate(batch, {temperature = 1, max_new_tokens = 48, generator = moon.generator(1)}) end)
  local ntok = 0
  for _, t in ipairs(g.tokens) do ntok = ntok + #t end
  local _, score_w, score_c = timed(function() return moon.no_grad(function() return p:score(batch, g.tokens) end) end)
  local _, train_w, train_c = timed(function()
    local s = p:score(batch, g.tokens)
    local loss = (s.logprobs * s.mask):sum()
    loss:backward()
  end)
  print(("RESULT calibrate %.1fM params (%d layers), %d threads, 8 turns of %d new tokens, per turn: generate %.2f s (CPU %.2f s), score %.2f s (CPU %.2f s), score+backward %.2f s (CPU %.2f s)")
    :format(count / 1e6, layers, moon.num_threads(), ntok // 8, gen_w / 8, gen_c / 8, score_w / 8, score_c / 8, train_w / 8, train_c / 8))
elseif what == "update" then
  -- answers capped at 64 new tokens (an SFT-started policy answers in 40-60); no SFT, no evaluation
  local n = tonumber(arg[2] or "3")
  local gtr = require("gtr")
  local dir = os.getenv("BENCH_DIR") or "/tmp/moonlab-bench-dist"
  local run = gtr.ppo.new{env = "numberline", run_dir = dir .. "/np" .. d.size(), seed = 1, updates = n + 1, quiet = true,
    rollout_rng = "env", sft = {demos = 0}, eval = {episodes = 0, every = 0}, samples = 0, generation = {max_new_tokens = 64}}
  run:update()  -- warm-up
  d.barrier()
  local t0, c0 = moon.clock(), os.clock()
  for _ = 1, n do run:update() end
  local wall, cpu = (moon.clock() - t0) / n, (os.clock() - c0) / n
  local cpus = d.allgather(cpu)
  local most = 0
  for _, c in ipairs(cpus) do most = math.max(most, c) end
  if main then
    print(("RESULT update np %d %.2f s wall per update, CPU %.2f s on the busiest rank (8 envs x 8 turns, %d threads per rank)")
      :format(d.size(), wall, most, moon.num_threads()))
  end
end
