-- moon.lm: loading GGUF files (the tiny Llama fixture, and the shipped SmolLM2 when present), generation, scoring,
-- GGUF/safetensors round trips, LoRA, and errors for bad files (with a fuzz of mutated bytes).
local T = ...

local fixtures = "Tests/MoonCheckpointTests/Fixtures/"
local tiny = fixtures .. "tiny_llama.gguf"

local function tmp(ext) local p = os.tmpname(); os.remove(p); return p .. ext end
local function read(path) local f = assert(io.open(path, "rb")); local s = f:read("a"); f:close(); return s end
local function write(path, s) local f = assert(io.open(path, "wb")); f:write(s); f:close() end

T.it("loads a GGUF file with its config and tokenizer metadata", function()
  local lm = moon.lm.load(tiny)
  local cfg = moon.json.decode(lm:config())
  T.eq(cfg.num_hidden_layers, 2); T.eq(cfg.num_key_value_heads, 2); T.eq(cfg.vocab_size, 96)
  local meta = lm:tokenizer_metadata()
  T.eq(meta.model, "gpt2"); T.eq(meta.pre, "smollm"); T.eq(meta.vocab_size, 96); T.eq(meta.eos_id, 95)
  local tok = lm:tokenizer()
  T.truthy(tostring(tok):find("moon.Tokenizer"))
  local r = lm:generate("the cat", {greedy = true, max_new_tokens = 3, stop_at_eos = false})
  T.eq(#r.tokens[1], 3); T.eq(type(r.texts[1]), "string")
  local s = lm:score({"the"}, {"cat"})
  T.truthy(s.lengths[1] >= 1)
  T.truthy(tostring(lm):find("moon.LM%(llama"))
  T.truthy(lm:num_parameters() > 10000)
end)

T.it("generates greedily, scores what it generated, and logits agree", function()
  local lm = moon.lm.load(tiny)
  local r = lm:generate({{5, 17, 42}, {1, 2}}, {greedy = true, max_new_tokens = 6, stop_at_eos = false})
  T.eq(#r.tokens, 2); T.eq(#r.tokens[1], 6); T.eq(r.token_count, 12)
  local s = lm:score({{5, 17, 42}, {1, 2}}, r.tokens)
  for b = 1, 2 do
    for k = 1, 6 do T.near(s.logprobs[b][k], r.logprobs[b][k], 1e-3) end
  end
  local lg = lm:logits({5, 17, 42})
  T.eq(lg.shape[1], 3); T.eq(lg.shape[2], 96)
  T.eq(lg[3]:argmax():item(), r.tokens[1][1])
  T.raises(function() lm:generate({{96}}) end, "token ids (integers in 0..<96)")
  T.raises(function() lm:generate({{1}}, {bogus = 1}) end, "unknown option 'bogus'")
  -- bf16 decode weights: same shapes, log-probs near score's (weights rounded); anything else is refused
  local h = lm:generate({{5, 17, 42}, {1, 2}}, {greedy = true, max_new_tokens = 6, stop_at_eos = false, weights = "bf16"})
  T.eq(#h.tokens[1], 6); T.eq(#h.tokens[2], 6)
  T.near(h.logprobs[1][1], r.logprobs[1][1], 0.05)
  T.raises(function() lm:generate({{1}}, {weights = "f16"}) end, "weights")
end)

T.it("save_gguf f32 round-trips exactly, q8_0 closely; save/load safetensors keeps weights and LoRA", function()
  local lm = moon.lm.load(tiny)
  local ids = {3, 9, 27, 81, 50}
  local want = lm:logits(ids)
  local p = tmp(".gguf")
  lm:save_gguf(p)
  local back = moon.lm.load(p)
  T.near((back:logits(ids) - want):abs():max():item(), 0, 1e-5)
  T.eq(back:tokenizer_metadata().pre, "smollm")
  lm:save_gguf(p, {type = "q8_0"})
  T.near((moon.lm.load(p):logits(ids) - want):abs():max():item(), 0, 0.1)
  T.raises(function() lm:save_gguf(p, {type = "q4_k"}) end, "expected one of")
  os.remove(p)
  local names = lm:lora({rank = 4})
  T.eq(#names, 8)
  local st = tmp(".safetensors")
  lm:save(st)
  local re = moon.lm.load(st)
  T.near((re:logits(ids) - lm:logits(ids)):abs():max():item(), 0, 1e-6)
  T.eq(#re:parameters(), #lm:parameters())
  local c = lm:clone()
  T.near((c:logits(ids) - lm:logits(ids)):abs():max():item(), 0, 1e-6)
  lm:merge_lora()
  T.eq(#lm:parameters(), #lm:parameters{trainable_only = false})
  os.remove(st)
end)

local smol = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
T.it("the shipped SmolLM2 answers a chat prompt (skipped when models/ lacks it: run scripts/fetch-model)", function()
  local f = io.open(smol, "rb")
  if not f then print("  skip: " .. smol .. " is absent; scripts/fetch-model fetches it"); return end
  f:close()
  local lm = moon.lm.load(smol)
  local tok = lm:tokenizer()
  local prompt = tok:apply_chat_template({{role = "user", content = "What is the capital of France?"}}, {add_generation_prompt = true})
  local r = lm:generate(prompt, {greedy = true, max_new_tokens = 24})
  T.truthy(r.texts[1]:find("Paris"), r.texts[1])
end)

T.it("bad files are Lua errors naming the file and the problem", function()
  local good = read(tiny)
  local p = tmp(".gguf")
  write(p, "GGUX" .. good:sub(5)); T.raises(function() moon.lm.load(p) end, p .. ": bad magic")
  write(p, good:sub(1, #good - 100)); T.raises(function() moon.lm.load(p) end, "truncated?")
  write(p, good:sub(1, 10)); T.raises(function() moon.lm.load(p) end, "shorter than a GGUF header")
  local arch = good:gsub("llama", "gpt-j", 1)
  write(p, arch); T.raises(function() moon.lm.load(p) end, "unsupported architecture")
  T.raises(function() moon.lm.load(fixtures .. "quants.gguf") end, "unsupported architecture \"test\"")
  T.raises(function() moon.lm.load("/nonexistent/model.gguf") end, "no such file")
  os.remove(p)
end)

T.it("200 files of mutated bytes: each loads or raises, nothing crashes", function()
  local good = read(tiny)
  local p = tmp(".gguf")
  math.randomseed(tonumber(os.getenv("FUZZ_SEED") or "77"))
  local errors = 0
  for _ = 1, 200 do
    local bytes = {good:byte(1, 4000)}
    for _ = 1, math.random(1, 4) do bytes[math.random(1, #bytes)] = math.random(0, 255) end
    local s = string.char(table.unpack(bytes)) .. good:sub(4001)
    if math.random() < 0.2 then s = s:sub(1, math.random(1, #s)) end
    write(p, s)
    local ok, err = pcall(moon.lm.load, p)
    if not ok then errors = errors + 1; T.truthy(tostring(err):find("moon.lm.load", 1, true), err) end
  end
  T.truthy(errors > 50)
  os.remove(p)
end)

T.it("tuning knobs from the environment out of range are ignored with a warning, not trusted", function()
  local script = tmp(".lua")
  write(script, ([[local lm = moon.lm.load(%q)
lm:generate({"the cat", "a dog sat"}, {greedy = true, max_new_tokens = 4, stop_at_eos = false})
local l = lm:loss({{1, 5, 9, 3, 4}, {7, 8, 2, 3, 1}}); l:backward()
local s = lm:score({"the", "a dog"}, {"cat sat", "ran"}); s.logprobs:sum():backward()
io.write("ok ", s.lengths[1])]]):format(tiny))
  for _, kv in ipairs{"MOONLAB_ATTN_BLOCK=9223372036854775807", "MOONLAB_FUSED_CHUNK=-1", "MOONLAB_FUSED_LOGITS_MB=1e308",
                      "MOONLAB_SMALL_GEMM_ROWS=nan", "MOONLAB_MAX_ALLOC=1000"} do
    local p = io.popen(("%s %q run %q 2>&1; echo \" rc=$?\""):format(kv, moon.executable(), script))
    local out = p:read("a"); p:close()
    T.truthy(out:find("ok %d+ rc=0"), kv .. ": " .. out)
    if not kv:find("MAX_ALLOC") then T.truthy(out:find("ignoring " .. kv:match("^[^=]+"), 1, true), kv .. ": " .. out) end
  end
  os.remove(script)
end)
