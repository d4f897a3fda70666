--- gtr: RL algorithms for VLM agents, written in Lua over moonlab's Swift primitives.
--   local gtr = require("gtr")
--   local run = gtr.turbo.new{env = "numberline", updates = 10}; run:train()
-- Each algorithm is one short file; a variant is a copied and edited file.
local gtr = {
  config = require("gtr.config"),
  core = require("gtr.core"),
  sft = require("gtr.sft"),
  ppo = require("gtr.ppo"),
  guided = require("gtr.guided"),
  turbo = require("gtr.turbo"),
  pool = require("gtr.pool"),
  guidance = require("gtr.guidance"),
  align = require("gtr.align"),
  evaluate = require("gtr.evaluate"),
  diagnostics = require("gtr.diagnostics"),
  stats = require("gtr.stats"),
}
local header = require("gtr.doc").header(debug.getinfo(1, "S").source)
if header then moon.doc(gtr, header) end
return gtr
