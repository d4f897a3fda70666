-- ViT patchify vs conv stem at equal training budgets (stage 0 of gtr.align, the decoder's embeddings as targets):
--   moonlab run scripts/align_compare.lua [steps=600] [image_size=128] [patch_size=32] [registers=4] [envs=Points24]
--       [batch=32] [eval_every=100] [out=runs/align-compare]
-- Prints a markdown table: per kind, the encoder's multiply-accumulates per image (stem + blocks, and with the
-- projector), training seconds, and the reading accuracy (all visual tokens right / tokens right) on fresh renders
-- at each evaluation; the curves are in OUT/<kind>/metrics.jsonl.
local align = require("gtr.align")
local o = {steps = 600, image_size = 128, patch_size = 32, registers = 4, envs = "Points24", batch = 32, eval_every = 100,
           out = "runs/align-compare", decoder = "models/SmolLM2-135M-Instruct.Q4_1.gguf", lr = 2e-3}
for i = 1, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  if not k or o[k] == nil then io.stderr:write("bad argument '" .. arg[i] .. "'\n"); os.exit(2) end
  o[k] = tonumber(v) or v
end
local envs = {}
for e in tostring(o.envs):gmatch("[^,]+") do envs[#envs + 1] = e end

-- multiply-accumulates of one image's forward pass
local function macs(conf, hidden)
  local v = conf.vision
  local s, p, w = v.image_size, v.patch_size, v.width
  local g = s // p
  local n = g * g + (v.registers or 0)
  local stem
  if v.kind == "conv" then
    stem = 0
    local cin, side = 3, s
    local chans = v.conv_channels
    if not chans then
      chans = {}
      local depth = math.floor(math.log(p, 2) + 0.5)
      for i = 0, depth - 1 do chans[#chans + 1] = math.max(8, w >> (depth - 1 - i)) end
    end
    for _, c in ipairs(chans) do
      side = side // 2
      stem = stem + side * side * cin * 9 * c
      cin = c
    end
    stem = stem + g * g * cin * w
  else
    stem = g * g * 3 * p * p * w
  end
  local blocks = v.layers * (n * (4 * w * w + 2 * w * w * v.mlp_ratio) + 2 * n * n * w)
  local projector = n * (w * hidden + hidden * hidden)
  return stem + blocks, stem + blocks + projector
end

local rows = {}
for _, kind in ipairs({"vit", "conv"}) do
  local p = moon.vlm.new{decoder = o.decoder, seed = 1,
    vision = {kind = kind, image_size = o.image_size, patch_size = o.patch_size, registers = o.registers}}
  local conf = moon.json.decode(p:config())
  local enc, all = macs(conf, conf.decoder.hidden_size)
  local dir = o.out .. "/" .. kind
  os.execute("rm -rf " .. dir)
  local r = align.train(p, {envs = envs, run_dir = dir, stage0 = {steps = o.steps, batch = o.batch, lr = o.lr},
                            eval = {every = o.eval_every, n = 64, final = 0}})
  local last = r.history[#r.history].step
  for _, h in ipairs(r.history) do
    -- the evaluations every eval_every steps; at the last step only the final one (more renders)
    if h.step > 0 and ((h.step % o.eval_every == 0 and h.step ~= last) or h.final) then
      local ex, tk = {}, {}
      for _, e in ipairs(envs) do
        ex[#ex + 1] = ("%.1f%%"):format(100 * (h["read_" .. e:lower()] or 0))
        tk[#tk + 1] = ("%.1f%%"):format(100 * (h["read_token_" .. e:lower()] or 0))
      end
      rows[#rows + 1] = ("| %s | %.2f M | %.2f M | %d | %.3g | %.0f | %s | %s |"):format(kind, enc / 1e6, all / 1e6, h.step,
        3 * 2 * all * o.batch * h.step / 1e12, h.seconds, table.concat(ex, " / "), table.concat(tk, " / "))
    end
  end
end
print(("\n%s, %dx%d images, patch %d, %d registers, batch %d, lr %g (stage 0 of gtr.align)\n"):format(o.envs, o.image_size,
  o.image_size, o.patch_size, o.registers, o.batch, o.lr))
print("| stem | encoder MACs/image | + projector | steps | training TFLOP (3x fwd) | seconds | read exact | tokens right |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for _, r in ipairs(rows) do print(r) end
