--- PPO for VLM agents as in RL4VLM/GTR: the answer's log-probability is log p(action) + thought_coef * log p(thoughts).
-- The baseline every guided variant is compared with.
--   local run = require("gtr.ppo").new{env = "numberline", updates = 20}
--   run:train()          -- or step by step: run:update()
local core = require("gtr.core")
local ppo = {}

--- A PPO run (core.new without hooks): cfg as gtr.config.defaults.
function ppo.new(cfg)
  return core.new(cfg, "ppo", {})
end

return require("gtr.doc").module(ppo)
