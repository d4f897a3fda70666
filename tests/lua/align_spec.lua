-- gtr.align and the vision encoders: conv2d from Lua, vision = {kind = 'vit'|'conv', ...} configs (and their errors),
-- checkpoints/clone/state_dict/LoRA with the conv stem, the greedy check, and a tiny alignment that must improve.
local T = ...

local tiny = "Tests/MoonCheckpointTests/Fixtures/tiny_llama.gguf"
local function tmp(ext) local p = os.tmpname(); os.remove(p); return p .. ext end
local function maxdiff(a, b) return (a - b):abs():max():item() end

T.it("moon.conv2d: a hand-computed case, stride and padding, and gradients reach input, weight and bias", function()
  local x = moon.tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}):reshape(1, 1, 3, 3)
  local w = moon.ones(1, 1, 2, 2)
  local y = moon.conv2d(x, w)
  T.eq(y:size(), {1, 1, 2, 2})
  T.eq(y:reshape(4):totable(), {12, 16, 24, 28})
  local z = moon.conv2d(x, w, moon.tensor({0.5}), {stride = 2, padding = 1})
  T.eq(z:reshape(4):totable(), {1.5, 5.5, 11.5, 28.5})
  local xi = moon.randn(2, 3, 8, 8, {requires_grad = true})
  local wi = moon.randn(4, 3, 3, 3, {requires_grad = true})
  local bi = moon.zeros(4, {requires_grad = true})
  moon.conv2d(xi, wi, bi, {stride = 2, padding = 1}):sum():backward()
  T.eq(xi.grad:size(), {2, 3, 8, 8}); T.eq(wi.grad:size(), {4, 3, 3, 3})
  T.near(bi.grad[1], 2 * 4 * 4, 1e-4)  -- d(sum)/d(bias) = number of output positions
  T.raises(function() moon.conv2d(xi, moon.randn(4, 2, 3, 3)) end, "conv2d")
  T.raises(function() moon.conv2d(xi, wi, {stride = 0}) end, "stride")
end)

T.it("vision = {kind = 'conv', ...}: a conv stem with the same token grid as the ViT; bad configs are clear errors", function()
  local vit = moon.vlm.new{vision = {kind = "vit", image_size = 32, patch_size = 8, width = 32, layers = 1}}
  local conv = moon.vlm.new{vision = {kind = "conv", image_size = 32, patch_size = 8, width = 32, layers = 1}}
  T.eq(vit:num_visual_tokens(), 16); T.eq(conv:num_visual_tokens(), 16)
  local sd = conv:state_dict()
  T.eq(sd["vision.stem.0.weight"]:size(), {8, 3, 3, 3})
  T.eq(sd["vision.stem.2.weight"]:size(), {32, 16, 3, 3})
  T.eq(sd["vision.patch_embed.weight"]:size(), {32, 32})
  T.eq(vit:state_dict()["vision.stem.0.weight"], nil)
  T.eq(moon.json.decode(conv:config()).vision.kind, "conv")
  T.eq(moon.json.decode(vit:config()).vision.kind, nil)  -- ViT configs are what they were
  local c2 = moon.vlm.new{vision = {kind = "conv", image_size = 32, patch_size = 4, conv_channels = {6, 12}, registers = 3}}
  T.eq(c2:num_visual_tokens(), 64 + 3)
  T.eq(c2:state_dict()["vision.stem.1.weight"]:size(), {12, 6, 3, 3})
  T.eq(c2:state_dict()["vision.registers"]:size(), {3, 64})
  local bad = {
    {{vision = {kind = "resnet"}}, "expected one of vit, conv"},
    {{vision = {kind = "conv", image_size = 48, patch_size = 12}}, "power of two"},
    {{vision = {kind = "conv", patch_size = 16, conv_channels = {8, 16}}}, "4 channel counts"},
    {{vision = {kind = "conv", conv_channels = {8, 16, 32, 0}}}, "conv_channels"},
    {{vision = {kind = "vit", conv_channels = {8, 16, 32, 64}}}, "only a conv stem"},
    {{vision = {kind = "vit", patch_sise = 8}}, "unknown option 'patch_sise'"},
    {{vision = {image_size = 32}, image_size = 32}, "both given"},
    {{vision = {registers = -1}}, "registers"},
    {{vision = {kind = "conv", image_size = 30, patch_size = 16}}, "patch_size"},
  }
  for _, case in ipairs(bad) do
    T.raises(function() moon.vlm.new(case[1]) end, case[2])
  end
  T.raises(function() moon.vlm.new{decoder = tiny, vision = {kind = "conv", image_size = 36, patch_size = 6}} end, "power of two")
end)

T.it("a conv-stem policy saves, loads, clones, merges state dicts and takes LoRA like a ViT one", function()
  for _, kind in ipairs({"conv", "vit"}) do
    local p = moon.vlm.new{decoder = tiny, vision = {kind = kind, image_size = 32, patch_size = 8, width = 32, layers = 1}, seed = 4}
    local batch = {}
    for i = 1, 2 do batch[i] = {prompt = "state " .. i, image = moon.rand(3, 32, 32)} end
    p:lora{rank = 2, targets = {"self_attn\\.(q|v)_proj"}}
    local opt = moon.optim.adamw(p:parameters(), {lr = 1e-2})
    for _ = 1, 2 do
      opt:zero_grad(); p:score(batch, {"ab", "cd"}).logprobs:sum():neg():backward(); opt:step()
    end
    local ref = p:score(batch, {"ab", "cd"}).logprobs
    local path = tmp(".safetensors")
    p:save(path)
    local q = moon.vlm.load(path)
    T.near(maxdiff(q:score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-5)
    T.eq(moon.json.decode(q:config()).vision.kind, kind == "conv" and "conv" or nil)
    T.near(maxdiff(p:clone():score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-5)
    -- state_dict into a fresh policy with the same adapters; trainable_only includes the stem
    local r = moon.vlm.new{decoder = tiny, vision = {kind = kind, image_size = 32, patch_size = 8, width = 32, layers = 1}, seed = 9}
    r:lora{rank = 2, targets = {"self_attn\\.(q|v)_proj"}}
    r:load_state_dict(p:state_dict())
    T.near(maxdiff(r:score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-5)
    local tr = p:state_dict{trainable_only = true}
    T.eq(tr["vision.stem.0.weight"] ~= nil, kind == "conv")
    -- merging (a teacher averaged from pool members, here twice the same) keeps the stem
    local avg = moon.merge.average({p:state_dict{trainable_only = true}, p:state_dict{trainable_only = true}})
    T.truthy(avg["vision.patch_embed.weight"] ~= nil)
    r = moon.vlm.new{decoder = tiny, vision = {kind = kind, image_size = 32, patch_size = 8, width = 32, layers = 1}, seed = 11}
    r:lora{rank = 2, targets = {"self_attn\\.(q|v)_proj"}}
    r:load_state_dict(avg, false)
    T.near(maxdiff(r:score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-5)
    os.remove(path)
  end
end)

T.it("policy:greedy_check agrees with greedy generation", function()
  local p = moon.vlm.new{decoder = tiny, vision = {image_size = 32, patch_size = 16, width = 32, layers = 1}, seed = 2}
  local batch = {}
  for i = 1, 3 do batch[i] = {prompt = "x" .. i, image = moon.rand(3, 32, 32)} end
  local g = p:generate(batch, {greedy = true, max_new_tokens = 4, stop_at_eos = false})
  local r = p:greedy_check(batch, g.tokens)
  for i = 1, 3 do T.eq(r.exact[i], true); T.eq(r.prefix[i], 4) end
  -- change the second token of row 1: exact fails, the prefix stops at 1, later tokens still count as correct
  local alt = {g.tokens[1][1], (g.tokens[1][2] + 1) % 90, g.tokens[1][3], g.tokens[1][4]}
  r = p:greedy_check({batch[1]}, {alt})
  T.eq(r.exact[1], false); T.eq(r.prefix[1], 1)
  T.raises(function() p:greedy_check(batch, {g.tokens[1]}) end, "targets")
end)

T.it("gtr.align: refuses a text-only policy and bad options", function()
  local align = require("gtr.align")
  local p = moon.vlm.new{decoder = tiny, vision = false}
  T.raises(function() align.train(p, {run_dir = tmp("")}) end, "text-only")
  local q = moon.vlm.new{decoder = tiny, vision = {image_size = 32, patch_size = 16}}
  T.raises(function() align.train(q, {run_dir = tmp(""), stage0 = {stepz = 3}}) end, "unknown key 'align.stage0.stepz'")
  T.raises(function() align.train(q, {run_dir = tmp(""), envs = {"chess"}}) end, "unknown env 'chess'")
  -- 4 visual tokens cannot hold a NumberLine caption
  T.raises(function() align.train(q, {run_dir = tmp(""), envs = {"NumberLine"}, quiet = true}) end, "visual tokens")
end)

T.it("gtr.align on a tiny config: reading accuracy improves, metrics and plots are written, the decoder is untouched", function()
  local align = require("gtr.align")
  local p = moon.vlm.new{decoder = tiny, vision = {kind = "conv", image_size = 32, patch_size = 16, width = 32, layers = 1, registers = 12},
                         seed = 1}
  local before = p:state_dict()
  local dir = tmp("")
  local r = align.train(p, {envs = {"NumberLine"}, run_dir = dir, quiet = true, random_steps = 0,
    stage0 = {steps = 30, batch = 16, lr = 3e-3}, stage1 = {steps = 1, batch = 2}, eval = {every = 15, n = 8, final = 4}})
  T.eq(r.steps, 31)
  local h = r.history
  T.truthy(h[1].read_token_numberline ~= nil)
  -- the caption's fixed tokens ("Target", ":", ...) are learned within a few steps
  T.truthy(r.read_token_accuracy.NumberLine > h[1].read_token_numberline + 0.3,
           ("%.3f -> %.3f"):format(h[1].read_token_numberline, r.read_token_accuracy.NumberLine))
  T.truthy(r.accuracy.NumberLine >= 0 and r.accuracy.NumberLine <= 1)
  local f = assert(io.open(dir .. "/metrics.jsonl")); local text = f:read("a"); f:close()
  T.truthy(text:find('"read_numberline"') and text:find('"acc_numberline"') and text:find('"seconds"'))
  T.truthy(#r.plots >= 2)
  local after = p:state_dict()
  for name, t in pairs(before) do
    local changed = maxdiff(t, after[name]) > 0
    T.eq(changed, name:match("^vision%.") ~= nil or name:match("^projector%.") ~= nil, name)
  end
  os.execute("rm -rf " .. dir)
end)
