-- Aligns a pretrained policy's vision encoder to its frozen decoder (gtr.align) and saves it:
--   moonlab run scripts/align.lua [key=value ...]
-- Keys: decoder (models/SmolLM2-135M-Instruct.Q4_1.gguf), out (RUN_DIR/aligned.safetensors), vision.<k> (the
-- encoder: kind, image_size, patch_size, width, layers, heads, registers, conv_channels is not settable here), and
-- any gtr.align option, dotted (stage0.steps=2000 eval.final=400 envs=Points24,NumberLine run_dir=runs/align).
local align = require("gtr.align")
local opts, vision = {}, {}
local decoder, out = "models/SmolLM2-135M-Instruct.Q4_1.gguf", nil
for i = 1, #arg do
  local key, value = arg[i]:match("^([%w_%.]+)=(.*)$")
  if not key then io.stderr:write("bad argument '" .. arg[i] .. "' (expected key=value)\n"); os.exit(2) end
  local v = value
  if value == "true" then v = true elseif value == "false" then v = false
  elseif tonumber(value) then v = math.tointeger(tonumber(value)) or tonumber(value) end
  if key == "decoder" then decoder = v
  elseif key == "out" then out = v
  elseif key == "envs" then
    opts.envs = {}
    for e in value:gmatch("[^,]+") do opts.envs[#opts.envs + 1] = e end
  elseif key:match("^vision%.") then vision[key:sub(8)] = v
  else
    local t, parts = opts, {}
    for p in key:gmatch("[^%.]+") do parts[#parts + 1] = p end
    for k = 1, #parts - 1 do t[parts[k]] = t[parts[k]] or {}; t = t[parts[k]] end
    t[parts[#parts]] = v
  end
end
local policy = moon.vlm.new{decoder = decoder, vision = next(vision) and vision or nil, seed = opts.seed or 1}
print(policy)
local report = align.train(policy, opts)
out = out or (report.dir .. "/aligned.safetensors")
policy:save(out)
local parts = {}
for task, acc in pairs(report.accuracy) do parts[#parts + 1] = ("%s %.1f%%"):format(task, 100 * acc) end
table.sort(parts)
print(("aligned in %.0f s (%d steps): greedy exact %s -> %s"):format(report.seconds, report.steps, table.concat(parts, ", "), out))
