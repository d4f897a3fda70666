--- Run configuration for the gtr algorithms: defaults, validation and merging.
-- A user config is a (partial) table with the same shape as config.defaults; unknown keys and wrong types are
-- errors naming the key, so a typo never silently falls back to a default.
local config = {}

--- Marks a key whose value is a function (false when unset).
config.FUNCTION = setmetatable({}, {__tostring = function() return "<function>" end})

config.defaults = {
  name = "",                 -- run name (default: <algo>-<env>)
  run_dir = "",              -- default: runs/<name>
  resume = false,            -- continue from the run directory's latest checkpoint
  seed = 1,
  env = "numberline",
  env_options = {},          -- passed to moon.env.make (size, max_position, ...)
  prompt = "short",          -- "short": the state as text; "full": the original GymCards prompt
  num_envs = 8,              -- parallel envs per rollout (in all: under mpirun each rank steps its slice)
  rollout_rng = "auto",      -- sampling streams of the rollout: "batch" (one for all envs, the numbers of runs made
                             -- before data parallelism), "env" (one per env: a run at -np N reproduces -np 1),
                             -- "auto" (batch in one process, env under mpirun)
  steps = 8,                 -- turns per env per update (each update starts fresh, seeded episodes)
  updates = 10,              -- the number of PPO updates (the cap when budget_s is set)
  budget_s = 0,              -- > 0: stop once the RL clock (rollouts + updates, not evaluation) reaches this
  clock = "wall",            -- the RL clock of budget_s and eval.every_s: "wall" (seconds) or "cpu" (the process's
                             -- CPU seconds, all threads: runs sharing a machine get equal compute whatever the load)
  model = {width = 128, layers = 4, heads = 4, intermediate = 344, image_size = 64, patch_size = 16,
           vision_width = 64, vision_layers = 2,
           -- decoder: a pretrained decoder file (moon.vlm.new{decoder=}; "" = the byte-level policy); vision = false:
           -- text-only (use env_options.observation = "text"); lora.rank > 0: LoRA on the decoder's attention and MLP
           -- projections (base frozen) before the optimiser is built
           decoder = "", vision = true, lora = {rank = 0, alpha = 16, dropout = 0}},
  -- temperature 0.2 as in GTR's scripts; stop: generation ends after this text ("" = none), the answer's closing brace
  generation = {temperature = 0.2, max_new_tokens = 300, top_k = 0, top_p = 1.0, stop = "}"},
  -- checkpoint: reuse an SFT policy file; budget_s > 0: stop the SFT after that many seconds; log_every: a progress
  -- line every N steps (0: per epoch only); checkpoint_every: save the SFT's weights, optimiser and counters every N
  -- steps and at its end (0: never), which a run resumed (resume = true) continues from
  sft = {demos = 512, epochs = 3, lr = 2e-3, batch = 16, checkpoint = "", budget_s = 0, log_every = 0,
         checkpoint_every = 25},
  -- lr 1e-5 as GTR-Turbo's code; value_coef 0.01 (the paper: 0.5 on a 7B LoRA) because the value head shares the
  -- 1M-parameter trunk: with 0.5 the value targets shifted by the invalid-answer KL (-100) wreck the answer format
  -- within 2-3 updates (measured on NumberLine), with 0.01 the invalid rate falls from 27% to 2%.
  ppo = {epochs = 2, minibatch = 16, lr = 1e-5, lr_min = 1e-6, clip = 0.1, value_coef = 0.01, entropy_coef = 0.0,
         gamma = 0.9, lambda = 0.95, max_grad_norm = 1.0, thought_coef = 0.5, normalize_advantages = true,
         -- where PPO's old log-probs and values come from: "generation" (what generate reported: the same
         -- softmax(logits) at temperature 1, without a second pass; falls back to scoring with LoRA dropout or when a
         -- hook replaced the tokens) or "score" (a scoring pass over the rollout after collecting)
         old_logprobs = "generation"},
  reward = config.FUNCTION,  -- function(obs, response, reward, info) -> shaped reward
  format_reward = 0,         -- +x for a well-formed answer, -x for a malformed one (GTR: 3 / 2 on Points24)
  guidance = {               -- thought guidance (GTR, GTR-Turbo SFT)
    coef = 1.0,              -- weight of the SFT term added to the PPO loss
    states = 16,             -- visited states corrected per update
    buffer = 1024,           -- DAgger aggregation buffer capacity
    batch = 8,               -- buffer samples per PPO minibatch
    teacher = "solver",      -- gtr.guided: "solver", a policy checkpoint path, or set teacher_fn
    teacher_fn = config.FUNCTION, -- function(obs, response) -> corrected answer text
  },
  turbo = {
    guidance = "kl",         -- "kl" or "sft"
    merge = "ties",          -- "ties", "average", "ema", "dare_ties", "task_arithmetic" or "custom"
    density = 0.8, pool_size = 0, every = 1, -- pool_size 0: keep the whole history
    ema_decay = 0.5,         -- merge = "ema": teacher = decay * teacher + (1 - decay) * newest (moon.merge.ema's decay)
    weights = config.FUNCTION, -- merge = "custom": function(index, count) -> weight of pool member index
    kl_coef = 1.0, kl_invalid = 100.0,
    kl_clamp_min = 0.0, kl_clamp_max = 10.0, -- per-token KL estimates clamped to [min, max] (both kl_modes)
    kl_estimator = "auto",   -- "k1", "k3", "abs"; "auto": k1 for kl_mode = "reward" (unbiased as a reward), k3 for
                             -- "loss" (k1's gradient on the agent's own samples is zero in expectation)
    kl_direction = "reverse", -- "reverse": KL(agent || teacher), "forward": KL(teacher || agent), both estimated
                             -- on the agent's sampled tokens (forward by importance weight pi_teacher / pi_agent)
    kl_mode = "reward",      -- "reward" (per-turn value subtracted after GAE) or "loss" (added to the PPO loss)
    kl_tokens = "thought",   -- "thought" or "all"
    teacher_temperature = 0.2, teacher_top_k = 5, teacher_repetition_penalty = 1.2,
  },
  -- eval: fixed episodes (gtr/evaluate.lua), every `every` updates (0: only at the end); batch: episodes per generate
  -- call (0: all); start: evaluate the SFT start at update 0 (false: copy the evaluation of the run whose
  -- checkpoints/sft.safetensors sft.checkpoint names, when it has one with as many episodes)
  -- every_s > 0: also each time the RL clock passes a multiple of every_s seconds
  eval = {episodes = 16, every = 1, every_s = 0, temperature = 0.2, batch = 64, start = true},
  -- per-update teacher diagnostics (gtr/diagnostics.lua): the teacher's greedy answer on `states` first-turn states,
  -- every `every` updates (0: never); the KL and parameter distance are measured every update
  diagnostics = {states = 8, every = 1},
  checkpoint_every = 1, keep_checkpoints = 2, samples = 4,
  quiet = false,
}


--- Old names, kept one release: each use warns once and sets the new key(s) of the resolved table `t` (the section
-- the old key was in) from the old value `v`.
config.renamed = {
  ["turbo.ema_alpha"] = {type = "number", new = "turbo.ema_decay = 1 - ema_alpha",
                         set = function(t, v) t.ema_decay = 1 - v end},
  -- the old kl_clamp meant [0, c] in kl_mode "reward" and [-c, c] in "loss"; the alias keeps that meaning
  ["turbo.kl_clamp"] = {type = "number", new = "turbo.kl_clamp_min / kl_clamp_max",
                        set = function(t, v) t.kl_clamp_max = v; t.kl_clamp_min = t.kl_mode == "loss" and -v or 0 end},
}

--- The integer keys and their ranges (inclusive). Every number in a config must be finite; these must also be
-- integers in range, so that a count that sizes memory or a loop (eval.episodes = 1e308 once grew a Lua table until
-- the machine ran out of memory) is an error naming the key instead.
config.integers = {
  seed = {-2 ^ 63, 2 ^ 63}, num_envs = {1, 4096}, steps = {1, 100000}, updates = {0, 1e9},
  ["model.width"] = {1, 65536}, ["model.layers"] = {1, 256}, ["model.heads"] = {1, 65536},
  ["model.intermediate"] = {1, 1048576}, ["model.image_size"] = {1, 65536}, ["model.patch_size"] = {1, 65536},
  ["model.vision_width"] = {1, 65536}, ["model.vision_layers"] = {0, 256}, ["model.lora.rank"] = {0, 65536},
  ["generation.max_new_tokens"] = {1, 1000000}, ["generation.top_k"] = {0, 2 ^ 53},
  ["sft.demos"] = {0, 10000000}, ["sft.epochs"] = {0, 1000000}, ["sft.batch"] = {1, 65536},
  ["sft.log_every"] = {0, 2 ^ 53}, ["sft.checkpoint_every"] = {0, 2 ^ 53},
  ["ppo.epochs"] = {0, 1000000}, ["ppo.minibatch"] = {1, 65536},
  ["guidance.states"] = {0, 1000000}, ["guidance.buffer"] = {0, 10000000}, ["guidance.batch"] = {0, 65536},
  ["turbo.pool_size"] = {0, 1000000}, ["turbo.every"] = {1, 2 ^ 53}, ["turbo.teacher_top_k"] = {0, 2 ^ 53},
  ["eval.episodes"] = {0, 1000000}, ["eval.every"] = {0, 2 ^ 53}, ["eval.batch"] = {0, 4096},
  ["diagnostics.states"] = {0, 4096}, ["diagnostics.every"] = {0, 2 ^ 53},
  checkpoint_every = {1, 2 ^ 53}, keep_checkpoints = {0, 2 ^ 53}, samples = {0, 1000000},
}

--- Errors unless the number `v` at `key` is finite (and, for an integer key, an integer in its range).
local function check_number(key, v)
  if v ~= v or v == math.huge or v == -math.huge then
    error(("gtr config: key '%s': expected a finite number, got %s"):format(key, tostring(v)), 0)
  end
  local r = config.integers[key]
  if r and (v ~= math.floor(v) or v < r[1] or v > r[2]) then
    error(("gtr config: key '%s': expected an integer in %s..%s, got %s"):format(key,
      math.tointeger(r[1]) or ("%.0f"):format(r[1]), math.tointeger(r[2]) or ("%.0f"):format(r[2]), tostring(v)), 0)
  end
end

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ", ")
end

--- Deep-merges `user` into a copy of `defaults`, checking keys and types. Returns the resolved table.
function config.resolve(user, defaults, path)
  defaults = defaults or config.defaults
  path = path or ""
  if user ~= nil and type(user) ~= "table" then
    error(("gtr config: '%s' must be a table, got %s"):format(path == "" and "config" or path, type(user)), 0)
  end
  local out = {}
  for k, v in pairs(defaults) do
    if v == config.FUNCTION then out[k] = false
    elseif type(v) == "table" then out[k] = config.resolve(nil, v, path .. k .. ".")
    else out[k] = v end
  end
  local open = next(defaults) == nil  -- an empty default table (env_options) takes any keys
  local renamed = {}
  for k, v in pairs(user or {}) do
    local d = defaults[k]
    local old = type(k) == "string" and config.renamed[path .. k]
    if open then
      out[k] = v
    elseif d == nil and old then
      if type(v) ~= old.type then
        error(("gtr config: key '%s%s': expected %s, got %s"):format(path, k, old.type, type(v)), 0)
      end
      moon.warn_once(("gtr config: '%s%s' is deprecated; use %s"):format(path, k, old.new))
      renamed[#renamed + 1] = {old, v}
    elseif d == nil then
      error(("gtr config: unknown key '%s%s' (expected one of: %s)"):format(path, tostring(k), keys(defaults)), 0)
    elseif d == config.FUNCTION then
      if v ~= false and type(v) ~= "function" then
        error(("gtr config: key '%s%s': expected a function, got %s"):format(path, k, type(v)), 0)
      end
      out[k] = v
    elseif type(d) == "table" then
      out[k] = config.resolve(v, d, path .. k .. ".")
    elseif type(v) ~= type(d) then
      error(("gtr config: key '%s%s': expected %s, got %s"):format(path, k, type(d), type(v)), 0)
    else
      if type(v) == "number" then check_number(path .. k, v) end
      out[k] = v
    end
  end
  for _, r in ipairs(renamed) do r[1].set(out, r[2]) end
  return out
end

--- The config without functions (for config.json).
function config.serializable(cfg)
  local out = {}
  for k, v in pairs(cfg) do
    if type(v) == "table" then out[k] = config.serializable(v)
    elseif type(v) == "function" then out[k] = "<function>"
    else out[k] = v end
  end
  return out
end

return require("gtr.doc").module(config)
