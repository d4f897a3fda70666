-- moonlab side of scripts/bench-lm: the shipped SmolLM2-135M (Q4_1 GGUF, computed in float32).
-- Prints RESULT lines: load_s, rss_mb (peak after load), prefill/decode tokens/s at batch 1 and 8, lora_step_s.
local path, prompt_len, new_tokens, reps, skip_lora = ...
prompt_len = tonumber(prompt_len or "128"); new_tokens = tonumber(new_tokens or "64"); reps = tonumber(reps or "3")
local function peak_rss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end
local clock = moon.clock
local s = clock()
local lm = moon.lm.load(path)
local load_s = clock() - s
print(string.format("RESULT load_s %.3f", load_s))
print(string.format("RESULT rss_after_load_mb %.1f", peak_rss_mb()))
local function prompts(b)
  local out = {}
  for r = 1, b do
    local p = {}
    for j = 1, prompt_len do p[j] = (r * 7919 + j * 104729) % 48000 + 100 end
    out[r] = p
  end
  return out
end
local function best(f)
  local m = math.huge
  for _ = 1, reps do local a = clock(); f(); m = math.min(m, clock() - a) end
  return m
end
for _, b in ipairs{1, 8} do
  local ps = prompts(b)
  local tp = best(function() lm:generate(ps, {greedy = true, max_new_tokens = 0}) end)
  local tg = best(function() lm:generate(ps, {greedy = true, max_new_tokens = new_tokens + 1, stop_at_eos = false}) end)
  print(string.format("RESULT prefill_b%d_tok_s %.1f", b, b * prompt_len / tp))
  print(string.format("RESULT decode_b%d_tok_s %.1f", b, b * new_tokens / math.max(tg - tp, 1e-9)))
end
print(string.format("RESULT rss_peak_mb %.1f", peak_rss_mb()))
if skip_lora == "nolora" then return end
-- LoRA training step: batch 8 x 256, rank 8 on q/k/v/o, base frozen, AdamW.
lm:lora({rank = 8, alpha = 16})
local opt = moon.optim.adamw(lm:parameters(), {lr = 1e-4})
local rows = {}
for r = 1, 8 do local p = {}; for j = 1, 256 do p[j] = (r * 31 + j * 17) % 48000 + 100 end; rows[r] = p end
local ids = moon.tensor(rows, {dtype = "int64"})
local function step() opt:zero_grad(); local loss = lm:loss(ids); loss:backward(); opt:step() end
step()
local ts = best(step)
print(string.format("RESULT lora_step_s %.3f", ts))
print(string.format("RESULT rss_final_mb %.1f", peak_rss_mb()))
