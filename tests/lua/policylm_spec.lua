-- moon.vlm.new{decoder = ...}: the policy on a pretrained decoder (the tiny GGUF fixture; the real SmolLM2 file when
-- models/ has it): generation and scoring agree through the spliced <image> token, save/load (base referenced, not
-- copied), clone, LoRA, text observations, one tiny PPO update through stdlib/gtr, and bad input.
local T = ...

local tiny = "Tests/MoonCheckpointTests/Fixtures/tiny_llama.gguf"
local smol = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
local function tmp(ext) local p = os.tmpname(); os.remove(p); return p .. ext end
local function size(path) local f = assert(io.open(path, "rb")); local n = f:seek("end"); f:close(); return n end
local function maxdiff(a, b) return (a - b):abs():max():item() end

local function obs(n, img)
  local out = {}
  for i = 1, n do out[i] = {prompt = ("state %d: go"):format(i), image = img and moon.rand(3, 32, 32) or nil} end
  return out
end

T.it("generates, and score reproduces generate's log-probs with the visual tokens at the image token", function()
  local p = moon.vlm.new{decoder = tiny, image_size = 32, patch_size = 16, vision_width = 32, seed = 3}
  T.truthy(tostring(p):find("decoder from .*tiny_llama.gguf"))
  T.eq(p:num_visual_tokens(), 4)
  local batch = obs(3, true)
  local g = p:generate(batch, {max_new_tokens = 5, stop_at_eos = false, generator = moon.generator(1)})
  T.eq(#g.tokens[2], 5); T.eq(type(g.texts[1]), "string"); T.eq(#g.values, 3)
  T.eq(#g.prompt_tokens, 3); T.eq(g.prompt_tokens[1][1] % 1, 0)
  local s = p:score(batch, g.tokens)
  for b = 1, 3 do
    for k = 1, 5 do T.near(s.logprobs[b][k], g.logprobs[b][k], 1e-4) end
    T.near(s.values[b], g.values[b], 1e-4)
  end
  -- the image matters: another image changes the scores
  local other = obs(3, true)
  T.truthy(maxdiff(p:score(other, g.tokens).logprobs, s.logprobs) > 1e-6)
  -- the decoder base is frozen; vision, projector and value head train
  for _, t in ipairs(p:parameters()) do T.truthy(t.requires_grad) end
  T.truthy(#p:parameters() < #p:parameters{trainable_only = false})
end)

T.it("saves without the base weights, loads them back from the decoder file, clones, and LoRA round-trips", function()
  local p = moon.vlm.new{decoder = tiny, image_size = 32, patch_size = 16, vision_width = 32}
  local names = p:lora{rank = 4, targets = {"self_attn\\.(q|v)_proj", "mlp\\.up_proj"}}
  T.eq(#names, 6)
  -- train the adapters a little so the checkpoint differs from a fresh policy
  local batch = obs(2, true)
  local opt = moon.optim.adamw(p:parameters(), {lr = 1e-2})
  for _ = 1, 2 do
    opt:zero_grad()
    local s = p:score(batch, {"ab", "cd"})
    s.logprobs:sum():neg():backward()
    opt:step()
  end
  local ref = p:score(batch, {"ab", "cd"}).logprobs
  local path = tmp(".safetensors")
  p:save(path)
  local meta = moon.ckpt.metadata(path)
  local d = moon.json.decode(meta.moonlab_decoder)
  T.eq(d.base_included, false); T.truthy(d.path:find("tiny_llama.gguf$"))
  T.truthy(meta.moonlab_tokenizer ~= nil)
  local q = moon.vlm.load(path)
  T.near(maxdiff(q:score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-5)
  local c = p:clone()
  T.near(maxdiff(c:score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-5)
  T.eq(#c:parameters(), #p:parameters())
  -- load_weights into a fresh pretrained policy with the same adapters
  local r = moon.vlm.new{decoder = tiny, image_size = 32, patch_size = 16, vision_width = 32, seed = 9}
  r:lora{rank = 4, targets = {"self_attn\\.(q|v)_proj", "mlp\\.up_proj"}}
  r:load_weights(path)
  T.near(maxdiff(r:score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-5)
  -- merged: the base changed, so the checkpoint now includes it and loads without re-reading adapters
  p:merge_lora()
  T.near(maxdiff(p:score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-4)
  local full = tmp(".safetensors")
  p:save(full)
  T.truthy(size(full) > size(path))
  T.eq(moon.json.decode(moon.ckpt.metadata(full).moonlab_decoder).base_included, true)
  T.near(maxdiff(moon.vlm.load(full):score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-4)
  -- state_dict / load_state_dict round trip (merging works on these)
  local sd = p:state_dict()
  T.truthy(sd["model.embed_tokens.weight"] ~= nil and sd["vision.pos_embed"] ~= nil)
  c = moon.vlm.new{decoder = tiny, image_size = 32, patch_size = 16, vision_width = 32, seed = 5}
  c:load_state_dict(sd)
  T.near(maxdiff(c:score(batch, {"ab", "cd"}).logprobs, ref), 0, 1e-4)
  os.remove(path); os.remove(full)
end)

T.it("a text-only pretrained policy reads text observations; envs offer image, text and both", function()
  local p = moon.vlm.new{decoder = tiny, vision = false}
  T.eq(p:num_visual_tokens(), 0)
  T.truthy(tostring(p):find("text%-only"))
  local env = moon.env.make("NumberLine", {observation = "text"})
  local o = env:reset()
  T.eq(o.image, nil); T.truthy(o.prompt:find("Current state"))
  local g = p:generate({o}, {max_new_tokens = 3, stop_at_eos = false})
  T.eq(#g.tokens[1], 3)
  T.raises(function() p:generate({{prompt = "x", image = moon.zeros(3, 32, 32)}}) end, "text-only")
  local both = moon.env.make("NumberLine", {observation = "both", size = 32}):reset()
  T.truthy(both.image ~= nil); T.truthy(both.prompt:find("Current state"))
  T.eq(moon.env.make("NumberLine", {obs_mode = "text"}):reset().image, nil)
  T.raises(function() moon.env.make("NumberLine", {observation = "text", obs_mode = "image"}) end, "disagree")
  T.raises(function() moon.env.make("NumberLine", {observation = "pixels"}) end, "observation")
end)

T.it("one tiny PPO update through stdlib/gtr, with LoRA on the pretrained decoder and text observations", function()
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local run = gtr.ppo.new{run_dir = dir, env = "NumberLine", num_envs = 2, steps = 2, updates = 1, quiet = true,
    sft = {demos = 0}, eval = {episodes = 0}, generation = {max_new_tokens = 4}, samples = 0,
    ppo = {minibatch = 2, epochs = 1}, env_options = {observation = "text"},
    model = {decoder = tiny, vision = false, lora = {rank = 2}}}
  local before = run.policy:state_dict()
  run:update()
  T.eq(run.update_count, 1)
  local after = run.policy:state_dict()
  T.eq(maxdiff(before["model.layers.0.mlp.up_proj.weight"], after["model.layers.0.mlp.up_proj.weight"]), 0)
  T.truthy(after["model.layers.0.mlp.up_proj.lora_A.weight"] ~= nil)
  os.execute("rm -rf " .. dir)
end)

T.it("PPO's old log-probs from generation equal a scoring pass; the fused score equals the autograd graph", function()
  local gtr = require("gtr")
  local dir = tmp("")
  local run = gtr.ppo.new{run_dir = dir, env = "NumberLine", num_envs = 3, steps = 2, updates = 1, quiet = true,
    sft = {demos = 0}, eval = {episodes = 0}, generation = {max_new_tokens = 6}, samples = 0,
    ppo = {minibatch = 4, epochs = 1}, env_options = {observation = "text"},
    model = {decoder = tiny, vision = false, lora = {rank = 2}}}
  local sd = run.policy:state_dict{trainable_only = true}
  for name, t in pairs(sd) do if name:find("lora_B") then sd[name] = moon.randn(table.unpack(t:size())) * 0.1 end end
  run.policy:load_state_dict(sd, false)
  local samples = run:collect()
  local gen, scored = run:generation_scores(samples), run:score_samples(run.policy, samples)
  T.eq(#gen, #scored)
  for c = 1, #gen do
    T.truthy(maxdiff(gen[c].logprobs * gen[c].mask, scored[c].logprobs) < 1e-4, "log-probs")
    T.truthy(maxdiff(gen[c].entropies * gen[c].mask, scored[c].entropies) < 1e-4, "entropies")
    T.truthy(maxdiff(gen[c].values, scored[c].values) < 1e-4, "values")
    for _, k in ipairs{"mask", "action_mask", "thought_mask"} do T.eq(maxdiff(gen[c][k], scored[c][k]), 0) end
  end
  -- a hook that replaces the tokens makes the generation scores unusable (the update then runs the scoring pass)
  samples[1].tokens = {1, 2}
  T.eq(run:generation_scores(samples), nil)
  -- fused and autograd scoring: same values and gradients
  local batch, toks = {}, {}
  for i = 1, 3 do batch[i] = samples[i].obs; toks[i] = samples[i].gen.tokens end
  local grads = {}
  for _, fused in ipairs{true, false} do
    run.opt:zero_grad()
    local s = run.policy:score(run:batch(batch), toks, {fused = fused})
    local loss = (s.logprobs * s.mask):sum() + s.values:sum()
    loss:backward()
    local g = {}
    for name, t in pairs(run.policy:named_parameters()) do if t.grad then g[name] = t.grad:clone() end end
    grads[#grads + 1] = g
  end
  local n = 0
  for name, g in pairs(grads[2]) do
    n = n + 1
    T.truthy(maxdiff(grads[1][name], g) <= 1e-4 * math.max(g:abs():max():item(), 1e-3), name)
  end
  T.truthy(n > 2)
  os.execute("rm -rf " .. dir)
end)

T.it("GTR-Turbo on the pretrained policy: the pool merges only the trainable parameters into the teacher", function()
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local run = gtr.turbo.new{run_dir = dir, env = "NumberLine", num_envs = 2, steps = 1, updates = 2, quiet = true,
    sft = {demos = 0}, eval = {episodes = 0}, generation = {max_new_tokens = 3}, samples = 0,
    ppo = {minibatch = 2, epochs = 1}, env_options = {observation = "both", size = 32},
    model = {decoder = tiny, image_size = 32, patch_size = 16, vision_width = 32, vision_layers = 1, lora = {rank = 2}}}
  run:train()
  T.eq(run.update_count, 2)
  local member = moon.ckpt.load(dir .. "/teacher/pool/member-000001.safetensors")
  T.eq(member["model.embed_tokens.weight"], nil)
  T.truthy(member["model.layers.0.self_attn.q_proj.lora_A.weight"] ~= nil and member["vision.pos_embed"] ~= nil)
  -- the teacher has the agent's frozen base and merged adapters
  local a, t = run.policy:state_dict(), run.teacher:state_dict()
  T.eq(maxdiff(a["model.embed_tokens.weight"], t["model.embed_tokens.weight"]), 0)
  os.execute("rm -rf " .. dir)
end)

T.it("bad input: not a causal LM, a vision config that does not fit, decoder-shape options, text-only images", function()
  T.raises(function() moon.vlm.new{decoder = "Tests/MoonCheckpointTests/Fixtures/quants.gguf"} end, "quants.gguf")
  T.raises(function() moon.vlm.new{decoder = "/nonexistent.gguf"} end, "no such file")
  T.raises(function() moon.vlm.new{decoder = tiny, image_size = 30, patch_size = 16} end, "patch_size")
  T.raises(function() moon.vlm.new{decoder = tiny, width = 64} end, "cannot be combined")
  T.raises(function() moon.vlm.new{chat = true} end, "needs 'decoder'")
  -- a checkpoint whose decoder file changed is refused
  local p = moon.vlm.new{decoder = tiny, vision = false}
  local copy = tmp(".gguf")
  os.execute(("cp %s %s"):format(tiny, copy))
  local q = moon.vlm.new{decoder = copy, vision = false}
  local path = tmp(".safetensors")
  q:save(path)
  local f = assert(io.open(copy, "r+b")); f:seek("end", -3); f:write("xyz"); f:close()
  T.raises(function() moon.vlm.load(path) end, "changed")
  os.remove(copy); os.remove(path)
  T.truthy(p ~= nil)
end)

T.it("SmolLM2-135M-Instruct: chat-template prompts, greedy generation answers", function()
  local f = io.open(smol, "rb")
  if not f then print("  (skipped: " .. smol .. " absent; scripts/fetch-model)") return end
  f:close()
  local p = moon.vlm.new{decoder = smol, vision = false}
  local g = p:generate({{prompt = "What is 2 + 3? Answer with a number."}}, {greedy = true, max_new_tokens = 8})
  T.truthy(g.texts[1]:find("5"), g.texts[1])
  T.eq(g.finish[1], "eos")
  -- the template's own special tokens (<|im_end|>, <|im_start|>assistant) are special tokens in the prompt, not
  -- text: the policy answers a GymCards prompt as the language model does with the same chat template
  local prompt = "Target: 3\nCurrent: 1\nAnswer in JSON with your thoughts and action.\n"
  local lm = moon.lm.load(smol)
  local chat = lm:tokenizer():apply_chat_template({{role = "user", content = prompt}}, {add_generation_prompt = true})
  local want = lm:generate(chat, {greedy = true, max_new_tokens = 12}).texts[1]
  T.eq(p:generate({{prompt = prompt}}, {greedy = true, max_new_tokens = 12}).texts[1], want)
  -- at the full 49152-token vocabulary, sampled answers' log-probs from generation equal a scoring pass's (PPO's
  -- ppo.old_logprobs = "generation" relies on it; two differently summed softmaxes once differed by 2.6e-4)
  local rows = {{prompt = prompt}, {prompt = "Target: 1\nCurrent: 4\nAnswer in JSON with your thoughts and action.\n"}}
  local g2 = p:generate(rows, {temperature = 1, max_new_tokens = 24, generator = moon.generator(3)})
  local s2 = p:score(rows, g2.tokens).logprobs:totable()
  for b = 1, 2 do
    for k = 1, #g2.tokens[b] do T.near(s2[b][k], g2.logprobs[b][k], 5e-5) end
  end
end)
