-- Hostile numbers in every number slot of a gtr config, through a whole (tiny) GTR-Turbo run each: every run must
-- end or raise a Lua error; none may kill the process or grow without bound (scripts/fuzz-config runs this under a
-- memory limit, so a slot that sizes memory from the config fails loudly).
--
--   moonlab run tests/lua/fuzz_config.lua SCRATCH_DIR [SLOT]
--
-- Prints "config fuzz: N runs (R ran, E errors) over S slots" and a line per run on stderr.
local scratch, only = arg[1], arg[2]
assert(scratch, "usage: fuzz_config.lua SCRATCH_DIR [SLOT]")
local gtr = require("gtr")

local slots = {}
local function walk(t, prefix)
  for k, v in pairs(t) do
    if type(v) == "number" then slots[#slots + 1] = prefix .. k
    elseif type(v) == "table" and next(v) ~= nil then walk(v, prefix .. k .. ".") end
  end
end
walk(gtr.config.defaults, "")
table.sort(slots)

local values = {0 / 0, 1 / 0, -1 / 0, 1e308, -1e308, 2 ^ 63, math.maxinteger, math.mininteger, -1, 0, 0.5}
local function set(t, path, v)
  local c = t
  for part in path:gmatch("([^.]+)%.") do c[part] = c[part] or {}; c = c[part] end
  c[path:match("([^.]+)$")] = v
end

local n, ran, errors = 0, 0, 0
for _, slot in ipairs(slots) do
  if not only or slot == only then
    for _, v in ipairs(values) do
      n = n + 1
      local cfg = {env = "numberline", run_dir = ("%s/run-%d"):format(scratch, n), quiet = true, samples = 0,
                   model = {width = 16, layers = 1, heads = 2, intermediate = 32, vision_width = 16, vision_layers = 1},
                   sft = {demos = 0}, updates = 1, num_envs = 2, steps = 1, generation = {max_new_tokens = 8},
                   eval = {episodes = 2, every = 0, start = false}, turbo = {guidance = "kl"}}
      set(cfg, slot, v)
      io.stderr:write(("%s = %s: "):format(slot, tostring(v)))
      local ok, err = pcall(function() gtr.turbo.new(cfg):train() end)
      if ok then ran = ran + 1; io.stderr:write("ran\n")
      else errors = errors + 1; io.stderr:write("error: ", tostring(err):sub(1, 160), "\n") end
    end
  end
end
print(("config fuzz: %d runs (%d ran, %d errors) over %d slots"):format(n, ran, errors, #slots))
