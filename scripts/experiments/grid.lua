-- The experiment grids of docs/RESULTS.md, as data (scripts/reproduce runs them, scripts/report.lua tabulates them).
--   local grid = dofile("scripts/experiments/grid.lua").wave2
-- A grid: tasks (each: algos, seeds, budget_s, and args: key=value arguments of its RL runs and ablations, after
-- common), ablations (variants of one algo on one task and seed: {name, label, key=value arguments, versus = the
-- variant it is compared with, by default the baseline, seeds = the seeds it runs on, by default the ablations' one;
-- on another seed a variant's run is <name>-s<seed>, compared with that seed's runs}), extra (other single runs: {name, algo, task, seed, budget_s, args, control_of = the
-- ablations it is the PPO control of}), common (arguments of every RL run) and sft (arguments of the SFT-start runs).
-- Every RL run of a task and seed starts from that task and seed's SFT start (one run with updates=0, computed once,
-- reused as its checkpoints/sft.safetensors), at the same RL wall-clock budget (budget_s; updates is only a cap and
-- the horizon of the cosine learning-rate schedule).
local G = {}

-- Wave 2 (issue #14): the pretrained policy (preset smollm), three seeds, 128 evaluation episodes.
G.wave2 = {
  tasks = {
    -- a 128-episode Points24 evaluation costs about 100k generated tokens (18-40 min of one core), so its runs
    -- evaluate every 20 minutes of RL clock and at the end (3 per run) rather than every 10; PPO and GTR-Turbo (KL)
    -- first (two jobs at a time: the pair every task has)
    {name = "points24", algos = {"ppo", "turbo-kl", "gtr", "turbo-sft"}, seeds = {1, 2, 3}, budget_s = 3600,
     args = {"eval.every_s=1200"}},
    {name = "numberline", algos = {"ppo", "turbo-kl"}, seeds = {1, 2, 3}, budget_s = 1800},
    {name = "ezpoints", algos = {"ppo", "turbo-kl"}, seeds = {1, 2, 3}, budget_s = 1800},
    {name = "blackjack", algos = {"ppo", "turbo-kl"}, seeds = {1, 2, 3}, budget_s = 1800},
  },
  -- GTR-Turbo (KL) on Points24, seed 1, 1 hour each; the baseline (TIES over every checkpoint, KL coef 1, teacher
  -- refreshed every update) is main/points24/turbo-kl-s1
  ablations = {task = "points24", seed = 1, algo = "turbo-kl", budget_s = 3600, baseline = "turbo-kl",
    baseline_label = "TIES (density 0.8) over every checkpoint, KL coef 1, refreshed every update",
    variants = {
      {"merge-average", "weighted average of the pool", {"turbo.merge=average"}},
      {"merge-ema", "EMA (alpha 0.5)", {"turbo.merge=ema"}},
      {"pool-4", "pool of the last 4 checkpoints", {"turbo.pool_size=4"}},
      -- the guidance KL is ~1e-3 per turn at lr 1e-5 (seed 1, update 8) against returns of -1 (wrong, invalid) and
      -- +10 (solved): coefficient 1 shifts a turn's return by 0.001, so the sweep goes up to where it is felt
      -- (30: ~0.03 per turn, 300: ~0.3, a third of the penalty for a wrong answer); an invalid answer's shift stays
      -- the baseline's 100 (kl_invalid x kl_coef)
      {"kl-coef-30", "KL coefficient 30", {"turbo.kl_coef=30", "turbo.kl_invalid=" .. 100 / 30}},
      {"kl-coef-300", "KL coefficient 300", {"turbo.kl_coef=300", "turbo.kl_invalid=" .. 100 / 300},
       seeds = {1, 2, 3}},  -- the one lever that moved on seed 1, on the main grid's other seeds (session 18)
      -- at coefficient 1 the merge and the pool changed the teacher and nothing else (merge-ema, pool-4: the same
      -- rollouts as the baseline at every update, the same evaluation outcomes), so the teacher's remaining knobs are
      -- measured where its pull is felt, against kl-coef-300 (TIES over every checkpoint, refreshed every update)
      {"merge-ema-kl-300", "EMA (alpha 0.5) at KL coefficient 300 (reference: kl-coef-300)",
       {"turbo.merge=ema", "turbo.kl_coef=300", "turbo.kl_invalid=" .. 100 / 300}, versus = "kl-coef-300"},
      {"refresh-4-kl-300", "teacher refreshed every 4 updates at KL coefficient 300 (reference: kl-coef-300)",
       {"turbo.every=4", "turbo.kl_coef=300", "turbo.kl_invalid=" .. 100 / 300}, versus = "kl-coef-300"},
      {"lr-1e-4", "RL learning rate 1e-4 (10x; its PPO control: ppo-lr-1e-4)", {"ppo.lr=1e-4"}},
      -- at lr 1e-4 PPO leaves its start within 6 updates (8.6% -> 1.6%, approx KL 0.3): can a felt pull toward the
      -- merged history hold the agent where PPO collapses?
      {"lr-1e-4-kl-30", "RL learning rate 1e-4 and KL coefficient 30 (control: ppo-lr-1e-4; reference: lr-1e-4)",
       {"ppo.lr=1e-4", "turbo.kl_coef=30", "turbo.kl_invalid=" .. 100 / 30}, versus = "lr-1e-4"},
    }},
  -- at lr 1e-5 the merged teacher stays within 0.3% of the agent (KL ~1e-4 nats/token, seed 1): does a 10x larger
  -- RL step let the checkpoints spread far enough for their merge to teach? PPO at the same rate is the control
  extra = {{"ppo-lr-1e-4", "ppo", "points24", 1, 3600, {"ppo.lr=1e-4"}, control_of = {"lr-1e-4", "lr-1e-4-kl-30"}}},
  -- the SFT start is evaluated once, in its own run; RL runs skip the update-0 evaluation
  -- evaluations at the same RL times for every algorithm (every 10 min of RL clock, and at the end; Points24 every
  -- 20), whatever an algorithm's update rate: 3 per run
  -- the RL clock counts each run's CPU seconds (clock=cpu): scripts/reproduce runs 2 jobs of one BLAS thread each, so
  -- an hour of RL is an hour of one core for every algorithm, whatever else the machine is doing
  common = {"updates=1000", "eval.episodes=128", "eval.every=0", "eval.every_s=600", "eval.start=false",
            "checkpoint_every=1", "clock=cpu"},
  sft = {"eval.episodes=128"},
  eval_episodes = 128,
}

-- Wave 1 (the 1M-parameter results of docs/RESULTS.md): 300 s per run, seed 1 on every task and seed 2 on
-- NumberLine and Blackjack, 32 evaluation episodes, the ablations on NumberLine.
G.wave1 = {
  tasks = {
    {name = "numberline", algos = {"ppo", "gtr", "turbo-kl", "turbo-sft"}, seeds = {1, 2}, budget_s = 300},
    {name = "ezpoints", algos = {"ppo", "gtr", "turbo-kl", "turbo-sft"}, seeds = {1}, budget_s = 300},
    {name = "points24", algos = {"ppo", "gtr", "turbo-kl", "turbo-sft"}, seeds = {1}, budget_s = 300},
    {name = "blackjack", algos = {"ppo", "gtr", "turbo-kl", "turbo-sft"}, seeds = {1, 2}, budget_s = 300},
  },
  ablations = {task = "numberline", seed = 1, algo = "turbo-kl", budget_s = 300, baseline = "turbo-kl",
    baseline_label = "TIES (density 0.8), all checkpoints, reverse KL, coef 1",
    variants = {
      {"merge-average", "weighted average of the pool", {"turbo.merge=average"}},
      {"merge-ema", "EMA (alpha 0.5)", {"turbo.merge=ema"}},
      {"pool-2", "pool of the last 2 checkpoints", {"turbo.pool_size=2"}},
      {"kl-forward", "forward KL (teacher || agent)", {"turbo.kl_direction=forward"}},
      {"kl-coef-0.3", "KL coefficient 0.3", {"turbo.kl_coef=0.3"}},
      {"kl-coef-3", "KL coefficient 3", {"turbo.kl_coef=3"}},
    }},
  -- the thought_coef tuning runs on EZPoints (docs/RESULTS.md, "What was tuned")
  extra = {{"ezpoints-ppo-thought-0.1", "ppo", "ezpoints", 1, 300, {"ppo.thought_coef=0.1"}},
           {"ezpoints-turbo-kl-thought-0.1", "turbo-kl", "ezpoints", 1, 300, {"ppo.thought_coef=0.1"}}},
  common = {"updates=1000", "eval.every=2", "eval.episodes=32"},
  sft = {"eval.episodes=32"},
  eval_episodes = 32,
}

-- For tests (tests/lua/results_spec.lua): a 2-run grid of a very small byte-level policy, a few seconds per run;
-- the update cap (not the budget) ends the runs, so they are deterministic.
local small = {"model.width=32", "model.layers=1", "model.heads=2", "model.intermediate=64", "model.vision_width=32",
               "model.vision_layers=1", "generation.max_new_tokens=24", "num_envs=2", "steps=2", "samples=0"}
G.test = {
  tasks = {{name = "numberline", algos = {"ppo", "turbo-kl"}, seeds = {1}, budget_s = 3600}},
  common = {"updates=8", "eval.episodes=4", "eval.every=4", "eval.start=false", "ppo.minibatch=2", "ppo.epochs=1",
            table.unpack(small)},
  sft = {"sft.demos=8", "sft.epochs=1", "sft.batch=4", "eval.episodes=4", table.unpack(small)},
  eval_episodes = 4,
}

--- The runs of `grid` as a list of {phase = "sft"|"rl", dir, algo, task, seed, budget_s, args (list)}.
-- opts: out (directory), preset, scale (budget multiplier), seeds / tasks (sets to keep; nil = all),
-- only ("all", "main" or "ablations").
--- The run name of ablation variant `v` on `seed`: its name on the ablations' seed, `<name>-s<seed>` on others.
function G.variant_run(a, v, seed)
  return seed == a.seed and v[1] or ("%s-s%d"):format(v[1], seed)
end

function G.runs(grid, opts)
  local out, scale, only = opts.out, opts.scale or 1, opts.only or "all"
  local function keep(set, v) return not set or set[v] end
  local runs, sft_needed, order, task_args = {}, {}, {}, {}
  for _, t in ipairs(grid.tasks) do task_args[t.name] = t.args or {} end
  local function rl(dir, algo, task, seed, budget, extra)
    local key = task .. "-s" .. seed
    if not sft_needed[key] then sft_needed[key] = {task = task, seed = seed}; order[#order + 1] = key end
    local args = {"preset=" .. opts.preset, "seed=" .. seed, "budget_s=" .. math.max(1, math.floor(budget * scale + 0.5)),
                  ("sft.checkpoint=%s/sft/%s-s%d/checkpoints/sft.safetensors"):format(out, task, seed)}
    for _, list in ipairs({grid.common, task_args[task] or {}, extra or {}}) do
      for _, a in ipairs(list) do
        local every = a:match("^eval%.every_s=(.*)$")  -- evaluation times scale with the budget
        if every and scale ~= 1 then a = "eval.every_s=" .. math.max(1, math.floor(tonumber(every) * scale + 0.5)) end
        args[#args + 1] = a
      end
    end
    runs[#runs + 1] = {phase = "rl", dir = dir, algo = algo, task = task, seed = seed,
                       budget_s = math.max(1, math.floor(budget * scale + 0.5)), args = args}
  end
  if only ~= "ablations" then
    for _, t in ipairs(grid.tasks) do
      if keep(opts.tasks, t.name) then
        for _, seed in ipairs(t.seeds) do
          if keep(opts.seeds, seed) then
            for _, algo in ipairs(t.algos) do
              rl(("%s/main/%s/%s-s%d"):format(out, t.name, algo, seed), algo, t.name, seed, t.budget_s)
            end
          end
        end
      end
    end
  end
  local a = grid.ablations
  if a and only ~= "main" and keep(opts.tasks, a.task) then
    for _, v in ipairs(a.variants) do
      for _, seed in ipairs(v.seeds or {a.seed}) do  -- a variant on more seeds: <name>-s<seed> beside <name>
        if keep(opts.seeds, seed) then
          rl(("%s/ablation/%s"):format(out, G.variant_run(a, v, seed)), a.algo, a.task, seed, a.budget_s, v[3])
        end
      end
    end
  end
  for _, e in ipairs(grid.extra or {}) do  -- {name, algo, task, seed, budget_s, args}
    if only ~= "main" and keep(opts.tasks, e[3]) and keep(opts.seeds, e[4]) then
      rl(("%s/ablation/%s"):format(out, e[1]), e[2], e[3], e[4], e[5], e[6])
    end
  end
  local sft = {}  -- in the order the runs need them
  for _, key in ipairs(order) do
    local s = sft_needed[key]
    local args = {"preset=" .. opts.preset, "seed=" .. s.seed, "updates=0"}
    for _, x in ipairs(grid.sft) do args[#args + 1] = x end
    sft[#sft + 1] = {phase = "sft", dir = ("%s/sft/%s"):format(out, key), algo = "ppo", task = s.task, seed = s.seed,
                     budget_s = 0, args = args}
  end
  for _, r in ipairs(runs) do sft[#sft + 1] = r end
  return sft
end

return G
