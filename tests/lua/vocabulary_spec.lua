-- One vocabulary: one name and one meaning per knob; old names are aliases that warn once; options a function does
-- not use are rejected; option tables instead of positional booleans.
local T = ...
local child = T.child

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

T.it("old names warn once and still work: clip_grad_norm, positional booleans, turn_kl{clamp}", function()
  local out, ok = child([[
    local w = moon.tensor({3, 4}, {requires_grad = true})
    ;(w * w):sum():backward()
    print("norm", moon.optim.clip_grad_norm({w}, 1.0))
    ;(w * w):sum():backward()
    moon.optim.clip_grad_norm({w}, 1.0)
    print("ids", table.concat(moon.tokenizer.encode("A", true), ","))
    local kl = moon.distill.turn_kl(moon.tensor{{-1}}, moon.tensor{{-30}}, moon.tensor{{1}}, {clamp = 5}):item()
    print("kl", kl)
    print("warned", moon.warn_once("x"), moon.warn_once("x"))
  ]])
  T.truthy(ok, out)
  T.truthy(out:find("norm\t10.0", 1, true), out)
  T.eq(count(out, "moon.optim.clip_grad_norm is deprecated; use moon.optim.clip_grad_norm_"), 1)
  T.truthy(out:find("ids\t256.0,65.0", 1, true), out)
  T.eq(count(out, "moon.tokenizer.encode%(%.%.%., true%) is deprecated; use moon.tokenizer.encode%(text, {bos = %.%.%.}%)"), 1)
  T.truthy(out:find("kl\t5.0", 1, true), out)
  T.eq(count(out, "turn_kl{clamp = c} is deprecated"), 1)
  T.truthy(out:find("warned\ttrue\tfalse", 1, true), out)
end)

T.it("clip_grad_norm_ scales gradients in place (PyTorch's name)", function()
  local w = moon.tensor({3, 4}, {requires_grad = true})
  ;(w * w):sum():backward()
  T.near(moon.optim.clip_grad_norm_({w}, 1.0), 10, 1e-5)
  T.near(w.grad:norm():item(), 1, 1e-5)
end)

T.it("moon.ckpt.load returns the tensors only; moon.ckpt.metadata the metadata", function()
  local path = os.tmpname() .. ".safetensors"
  moon.ckpt.save(path, {w = moon.tensor{1, 2}}, {note = "hi"})
  T.eq(select("#", moon.ckpt.load(path)), 1)
  T.eq(moon.ckpt.load(path).w:totable(), {1, 2})
  T.eq(moon.ckpt.metadata(path).note, "hi")
  os.remove(path)
end)

T.it("option tables instead of positional booleans", function()
  local p = moon.vlm.new{width = 32, layers = 1, heads = 2, intermediate = 64, image_size = 16, patch_size = 8,
                         vision_width = 16, vision_layers = 1, seed = 1}
  T.eq(#p:parameters{trainable_only = false}, #p:parameters())
  p:load_state_dict(p:state_dict(), {strict = true})
  local partial = p:state_dict(); partial[next(partial)] = nil
  p:load_state_dict(partial, {strict = false})
  T.raises(function() p:load_state_dict(partial) end, "missing")
  T.raises(function() p:parameters{trainable = false} end, "unknown option 'trainable'")
  T.eq(moon.tokenizer.decode({256, 65}, {skip_special = false}), "<bos>A")
end)

T.it("options a function does not use are rejected: kl{beta}, jsd{direction}, merge options", function()
  local a, b = moon.randn(2, 5), moon.randn(2, 5)
  T.raises(function() moon.distill.kl(a, b, {beta = 0.5}) end, "unknown option 'beta'")
  T.raises(function() moon.distill.jsd(a, b, {direction = "forward"}) end, "unknown option 'direction'")
  T.raises(function() moon.merge.average({{w = a}}, {density = 0.5}) end, "unknown option 'density'")
  T.raises(function() moon.merge.files{method = "average", models = {"x"}, output = "y", density = 0.5} end,
           "average: unknown option \"density\"")
end)

T.it("the KL clamp: clamp_min/clamp_max in turn_kl and sampled_kl, one meaning", function()
  local agent, teacher, mask = moon.tensor{{-1, -2, -0.5}}, moon.tensor{{-2, -1, -30}}, moon.tensor{{1, 1, 1}}
  -- per-token k1: 1, -1, 29.5
  T.near(moon.distill.turn_kl(agent, teacher, mask):item(), (1 + 0 + 10) / 3, 1e-5)  -- defaults [0, 10]
  T.near(moon.distill.turn_kl(agent, teacher, mask, {clamp_min = -1, clamp_max = 2}):item(), (1 - 1 + 2) / 3, 1e-5)
  T.near(moon.distill.sampled_kl(agent, teacher, {mask = mask, estimator = "k1", clamp_min = -1, clamp_max = 2}):item(),
         (1 - 1 + 2) / 3, 1e-5)
  T.raises(function() moon.distill.turn_kl(agent, teacher, mask, {clamp = 1, clamp_max = 2}) end, "both given")
end)

T.it("gtr config: renamed keys warn and keep their meaning (ema_alpha, kl_clamp); pool decay", function()
  local config = require("gtr.config")
  local c = config.resolve{turbo = {ema_alpha = 0.25}}
  T.eq(c.turbo.ema_decay, 0.75); T.eq(c.turbo.ema_alpha, nil)
  c = config.resolve{turbo = {kl_clamp = 4}}
  T.eq(c.turbo.kl_clamp_min, 0); T.eq(c.turbo.kl_clamp_max, 4)
  c = config.resolve{turbo = {kl_clamp = 4, kl_mode = "loss"}}
  T.eq(c.turbo.kl_clamp_min, -4); T.eq(c.turbo.kl_clamp_max, 4)
  T.raises(function() config.resolve{turbo = {kl_clamp = "x"}} end, "expected number")
  local turbo = require("gtr.turbo")
  T.eq(turbo.estimator(config.resolve{}.turbo), "k1")
  T.eq(turbo.estimator(config.resolve{turbo = {kl_mode = "loss"}}.turbo), "k3")
  T.eq(turbo.estimator(config.resolve{turbo = {kl_mode = "loss", kl_estimator = "k1"}}.turbo), "k1")
  local pool = require("gtr.pool")
  T.eq(pool.new{alpha = 0.25}.opts.decay, 0.75)
  T.raises(function() pool.new{alhpa = 0.25} end, "unknown option 'alhpa'")
end)

T.it("one generation-options builder (stop from cfg.generation)", function()
  local core, config = require("gtr.core"), require("gtr.config")
  local g = config.resolve{generation = {top_k = 3}}.generation
  local o = core.generation_options(g, {temperature = 1.5})
  T.eq(o.stop, {"}"}); T.eq(o.top_k, 3); T.eq(o.temperature, 1.5); T.eq(o.max_new_tokens, 300)
  T.eq(core.generation_options(config.resolve{generation = {stop = ""}}.generation).stop, nil)
end)
