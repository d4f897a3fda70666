-- The key=value arguments of scripts/experiment.lua and the scripts that build a run the same way
-- (scripts/bench_eval.lua): preset tables merged into a run config, and one dotted key set from its text.
local A = {}

--- Copies `from` into `into` recursively (nested tables are copied, not shared).
function A.merge(into, from)
  for k, v in pairs(from) do
    if type(v) == "table" and type(into[k]) == "table" then A.merge(into[k], v)
    elseif type(v) == "table" then into[k] = {}; A.merge(into[k], v)
    else into[k] = v end
  end
end

--- Sets the dotted `key` of `cfg` (e.g. "ppo.lr") to `value` converted: "true"/"false" to booleans, numbers to
-- integers where exact, else floats; anything else stays text. Missing intermediate tables are created.
function A.set(cfg, key, value)
  local v = value
  if value == "true" then v = true elseif value == "false" then v = false
  elseif tonumber(value) then v = math.tointeger(tonumber(value)) or tonumber(value) end
  local t, parts = cfg, {}
  for p in key:gmatch("[^%.]+") do parts[#parts + 1] = p end
  for k = 1, #parts - 1 do t[parts[k]] = t[parts[k]] or {}; t = t[parts[k]] end
  t[parts[#parts]] = v
end

return A
