--- GTR (guided thought reinforcement): a teacher corrects the agent's thoughts on the states it visits; the agent
-- is trained by PPO on its actions plus SFT on the corrected thoughts, with DAgger-style aggregation.
-- The teacher: the task's solver (privileged, the role GPT-4o plays in GTR), a fixed policy checkpoint, or a Lua
-- function(obs, response) -> corrected answer (cfg.guidance.teacher_fn).
--   local run = require("gtr.guided").new{env = "points24", guidance = {teacher = "solver"}}
local core = require("gtr.core")
local guidance = require("gtr.guidance")
local guided = {}

--- A GTR run (core.new with the guidance hooks): cfg as gtr.config.defaults, cfg.guidance choosing the teacher.
function guided.new(cfg)
  local hooks = {}

  function hooks.setup(run)
    run.buffer = guidance.buffer(run.cfg.guidance.buffer)
    local t = run.cfg.guidance.teacher
    if not run.cfg.guidance.teacher_fn and t ~= "solver" then
      run.teacher = moon.vlm.load(t)  -- a fixed checkpoint
    end
  end

  function hooks.before_step(run, venv)
    if not run.cfg.guidance.teacher_fn and run.cfg.guidance.teacher == "solver" then return venv:solver_responses() end
  end

  function hooks.after_collect(run, samples)
    local picked = guidance.pick(run, samples)
    local texts = {}
    if run.cfg.guidance.teacher_fn then
      for k, j in ipairs(picked) do
        local ok, text = pcall(run.cfg.guidance.teacher_fn, samples[j].obs, samples[j].text)
        if not ok then error("gtr.guided: teacher_fn failed: " .. tostring(text), 0) end
        if type(text) ~= "string" then error("gtr.guided: teacher_fn must return a string, got " .. type(text), 0) end
        texts[k] = text
      end
    elseif run.teacher then
      local obs = {}
      for k, j in ipairs(picked) do obs[k] = samples[j].obs end
      local g = run:generate(run.teacher, obs, moon.generator(run.update_count))
      texts = g.texts
      run.teacher_tokens = (run.teacher_tokens or 0) + g.token_count  -- compute accounting
    else
      for k, j in ipairs(picked) do texts[k] = samples[j].teacher end
    end
    guidance.aggregate(run, samples, picked, texts)
  end

  hooks.extra_loss = guidance.extra_loss
  return core.new(cfg, "gtr", hooks)
end

return require("gtr.doc").module(guided)
