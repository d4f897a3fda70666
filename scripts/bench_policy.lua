-- The pretrained policy at 135M parameters on the CPUs (see scripts/bench-policy): decode throughput at batch 8,
-- one LoRA SFT step (batch 8 x 256 tokens; with the PyTorch peer, scripts/bench_policy_sft_peer.py, on the same rows),
-- and one PPO update (8 envs x 8 turns, Points24, text observations,
-- LoRA rank 8 on the attention and MLP projections) with its time split. Goals (issue #13): PPO update <= 90 s,
-- decode >= 300 tok/s at batch 8. Decode also runs at batch 1 and 32 (MOONLAB_BENCH_BATCHES) against peers.
local model = os.getenv("MOONLAB_MODEL") or "models/SmolLM2-135M-Instruct.Q4_1.gguf"
local new_tokens = tonumber(os.getenv("MOONLAB_BENCH_NEW_TOKENS") or "64")
local ppo_tokens = tonumber(os.getenv("MOONLAB_BENCH_PPO_TOKENS") or "128")
local only = os.getenv("MOONLAB_BENCH_ONLY") or "decode,sft,ppo"
local ppo_steps = tonumber(os.getenv("MOONLAB_BENCH_PPO_STEPS") or "8")
local ppo_epochs = tonumber(os.getenv("MOONLAB_BENCH_PPO_EPOCHS") or "2")
local function want(k) return only:find(k) ~= nil end
-- MOONLAB_BENCH_THREADS=1: one thread (decode figures per CPU-second then measure work, not the share of a loaded machine)
if os.getenv("MOONLAB_BENCH_THREADS") then moon.set_num_threads(math.tointeger(tonumber(os.getenv("MOONLAB_BENCH_THREADS")))) end

local lora_targets = {"^model\\.layers\\.[0-9]+\\.self_attn\\.(q|k|v|o)_proj$", "^model\\.layers\\.[0-9]+\\.mlp\\.(gate|up|down)_proj$"}
local policy = moon.vlm.new{decoder = model, vision = false}
print(("policy: %s"):format(tostring(policy)))
local venv = moon.env.vector("Points24", 8, {observation = "text", seed = 1})
local obs = venv:reset()
local batch = {}
-- the prompts gtr's policies see (cfg.prompt = "short": the state text and a one-line instruction, ~80 tokens with
-- the chat template); MOONLAB_BENCH_PROMPT=full: the original GymCards prompt (~330 tokens)
local kind = os.getenv("MOONLAB_BENCH_PROMPT") or "short"
for i, o in ipairs(obs) do batch[i] = {prompt = require("gtr.core").prompt(o, kind)} end

if want("decode") then
  -- Decode throughput at batch 1, 8 and 32 (Points24 text prompts, greedy, stop_at_eos off), with f32 weights (the
  -- default: log-probs equal score's) and bf16 (opt-in `weights = "bf16"`). "decode" counts the tokens after the first
  -- over the time after prefill (the one-token generate's time); "end-to-end" is all tokens over the whole call.
  -- Peers on the same prompt ids: transformers generate (float32, same threads) and, batch 1, llama.cpp on the Q4_1
  -- file (MOONLAB_BENCH_PEERS=0 skips them; LLAMA_PYTHON: a Python with llama-cpp-python).
  local batches = {}
  for b in (os.getenv("MOONLAB_BENCH_BATCHES") or "1,8,32"):gmatch("%d+") do batches[#batches + 1] = tonumber(b) end
  local prompt_ids, ours = nil, {}
  for _, bsz in ipairs(batches) do
    local bv = moon.env.vector("Points24", bsz, {observation = "text", seed = 1})
    local rows = {}
    for i, o in ipairs(bv:reset()) do rows[i] = {prompt = require("gtr.core").prompt(o, kind)} end
    for _, w in ipairs({"f32", "bf16"}) do
      moon.no_grad(function()
        local opts = {max_new_tokens = 1, greedy = true, weights = w}
        local g1 = policy:generate(rows, opts)  -- warm-up
        prompt_ids = prompt_ids or g1.prompt_tokens
        if w == "f32" then  -- the token prefix common to all rows, which generate prefills once
          local p, shared, longest = g1.prompt_tokens, math.huge, 0
          for _, r in ipairs(p) do shared = math.min(shared, #r - 1); longest = math.max(longest, #r) end
          if #p == 1 then shared = 0 end
          for i = 1, shared do
            for _, r in ipairs(p) do if r[i] ~= p[1][i] then shared = i - 1; break end end
            if shared < i then break end
          end
          print(("decode: batch %2d prompts: %d tokens at most, %d shared by all rows (prefilled once)"):format(bsz, longest, shared))
        end
        local t0, pc0 = moon.clock(), os.clock()
        policy:generate(rows, opts)
        local prefill, prefill_cpu = moon.clock() - t0, os.clock() - pc0
        t0 = moon.clock()
        local c0 = os.clock()
        local g = policy:generate(rows, {max_new_tokens = new_tokens, greedy = true, stop_at_eos = false, weights = w})
        local dt, cpu = moon.clock() - t0, os.clock() - c0
        local dec = bsz * (new_tokens - 1) / math.max(dt - prefill, 1e-9)
        ours[bsz .. w] = {decode = dec, total = g.token_count / dt}
        -- process CPU time (both threads) shows how much of the wall time the process actually ran on a shared machine
        -- decode tokens per CPU-second of the process: with MOONLAB_BENCH_THREADS=1 (no spinning helper thread) a
        -- measure of the work per token that a loaded machine disturbs much less than the wall clock
        local per_cpu = bsz * (new_tokens - 1) / math.max(cpu - prefill_cpu, 1e-9)
        print(("decode: batch %2d, %s weights, Points24 text prompts (%s, chat template), %d new tokens/row: prefill %.2f s, total %.2f s (process CPU %.2f s); decode %.0f tok/s (%.0f per CPU-s), end-to-end %.0f tok/s%s")
          :format(bsz, w, kind, new_tokens, prefill, dt, cpu, dec, per_cpu, g.token_count / dt, bsz == 8 and " (goal >= 300 at batch 8)" or ""))
      end)
    end
  end
  if (os.getenv("MOONLAB_BENCH_PEERS") or "1") ~= "0" and prompt_ids then
    local pj = os.tmpname()
    local f = assert(io.open(pj, "w")); f:write(moon.json.encode(prompt_ids)); f:close()
    local list = table.concat(batches, ",")
    local function peer(name, py, side, bl)
      local cmd = ("HF_HUB_OFFLINE=1 %s scripts/bench_policy_peer.py %s %s %s %d %s %d 2>/dev/null")
        :format(py, side, model, pj, new_tokens, bl, moon.num_threads and moon.num_threads() or 2)
      local p = io.popen(cmd)
      local got = {}
      for line in p:lines() do
        local k, v = line:match("^RESULT (%S+) (%S+)")
        if k then got[k] = tonumber(v) end
      end
      p:close()
      if next(got) == nil then print(("decode peer %s: not available (%s)"):format(name, py)); return end
      for _, bsz in ipairs(batches) do
        local d = got["b" .. bsz .. "_decode_tok_s"]
        if d then
          local o = ours[bsz .. "f32"]
          print(("decode vs %s, batch %2d: %s %.1f tok/s decode, %.1f end-to-end; moonlab/%s f32 %.2fx decode, %.2fx end-to-end; bf16 %.2fx decode")
            :format(name, bsz, name, d, got["b" .. bsz .. "_total_tok_s"], name, o.decode / d, o.total / got["b" .. bsz .. "_total_tok_s"],
              ours[bsz .. "bf16"].decode / d))
        end
      end
    end
    peer("transformers", os.getenv("MOONLAB_PYTHON") or "/tmp/refenv/bin/python", "transformers", list)
    peer("llama.cpp", os.getenv("LLAMA_PYTHON") or "/tmp/llamaenv/bin/python", "llamacpp", "1")
    os.remove(pj)
  end
end

if want("eval") then
  -- One fixed-episode evaluation as every RL run makes it (scripts/bench_eval.lua: gtr.evaluate over
  -- MOONLAB_BENCH_EVAL_EPISODES (128) Points24 episodes with the smollm preset, batches of 64, temperature 0.2, stop
  -- "}"); MOONLAB_BENCH_EVAL_CHECKPOINT: an SFT start (sft.safetensors) to evaluate instead of the bare model.
  local ck = os.getenv("MOONLAB_BENCH_EVAL_CHECKPOINT")
  arg = {"points24", "eval.episodes=" .. (os.getenv("MOONLAB_BENCH_EVAL_EPISODES") or "128")}
  if ck and ck ~= "" then arg[#arg + 1] = "sft.checkpoint=" .. ck end
  dofile("scripts/bench_eval.lua")
end

policy:lora{rank = 8, alpha = 16, targets = lora_targets}
print(("LoRA rank 8 on attention + MLP: %d trainable tensors, %d parameters in all"):format(#policy:parameters(),
  policy:num_parameters()))

local function peak_rss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
  return 0
end

-- the prompt prefix common to every row (the fused pass computes it once per batch)
do
  local ids = {}
  for i, b in ipairs(batch) do ids[i] = policy:encode_prompt(b.prompt) end
  local common = #ids[1]
  for i = 2, #ids do
    local k = 0
    while k < common and ids[i][k + 1] == ids[1][k + 1] do k = k + 1 end
    common = k
  end
  local lens = {}
  for i, r in ipairs(ids) do lens[i] = #r end
  print(("prompts (%s, chat template): %s tokens; common prefix %d tokens"):format(kind, table.concat(lens, "/"), common))
end

if want("sft") then
  local opt = moon.optim.adamw(policy:parameters(), {lr = 1e-4, weight_decay = 0})
  local answer = {}
  local vocab = moon.json.decode(policy:config()).decoder.vocab_size
  for i = 1, 256 do answer[i] = (100 + i * 37) % vocab end
  local answers = {}
  for i = 1, 8 do answers[i] = answer end
  local best, best_cpu = math.huge, math.huge
  for rep = 1, tonumber(os.getenv("MOONLAB_BENCH_SFT_REPS") or "3") do
    local t0, c0 = moon.clock(), os.clock()
    opt:zero_grad()
    local s = policy:score(batch, answers)
    local loss = -(s.logprobs * s.mask):sum() / s.mask:sum()
    local t1 = moon.clock()
    loss:backward()
    local t2 = moon.clock()
    opt:step()
    local t3 = moon.clock()
    if rep > 1 or os.getenv("MOONLAB_BENCH_SFT_REPS") == "1" then
      best, best_cpu = math.min(best, t3 - t0), math.min(best_cpu, os.clock() - c0)
    end
    print(("LoRA SFT step %d (batch 8 x 256 response tokens + prompt): %.2f s (forward %.2f, backward %.2f, optimiser %.2f; cpu %.1f s)")
      :format(rep, t3 - t0, t1 - t0, t2 - t1, t3 - t2, os.clock() - c0))
  end
  print(("peak RSS after the SFT steps: %.0f MB"):format(peak_rss_mb()))
  -- the PyTorch peer on the same rows, in the same run
  local py = os.getenv("MOONLAB_PYTHON") or "/tmp/refenv/bin/python"
  if os.getenv("MOONLAB_BENCH_PEER") ~= "0" and os.execute(py .. " -c 'import torch, transformers' 2>/dev/null") then
    local rows = {prompts = {}, answers = answers}
    for i, b in ipairs(batch) do rows.prompts[i] = policy:encode_prompt(b.prompt) end
    local path = os.tmpname()
    local f = assert(io.open(path, "w")); f:write(moon.json.encode(rows)); f:close()
    local cmd = ("HF_HUB_OFFLINE=1 %s scripts/bench_policy_sft_peer.py %s %s 2 %d 2>/dev/null"):format(py, model, path, moon.num_threads())
    local out = io.popen(cmd):read("a")
    os.remove(path)
    local peer, peer_cpu = tonumber(out:match("RESULT sft_step_s ([%d.]+)")), tonumber(out:match("RESULT sft_step_cpu_s ([%d.]+)"))
    if peer then
      print(("LoRA SFT step: moonlab %.2f s (cpu %.1f s), PyTorch %.2f s (cpu %.1f s) on the same rows, LoRA, threads: %.2fx wall, %.2fx cpu (goal >= 1.2x)")
        :format(best, best_cpu, peer, peer_cpu or 0, peer / best, (peer_cpu or 0) / best_cpu))
    else
      print("LoRA SFT step: the PyTorch peer failed: " .. out)
    end
  end
end

if want("ppo") then
  local gtr = require("gtr")
  local dir = os.tmpname(); os.remove(dir)
  local run = gtr.ppo.new{run_dir = dir, env = "Points24", num_envs = 8, steps = ppo_steps, updates = 1, quiet = true,
    ppo = {epochs = ppo_epochs, old_logprobs = os.getenv("MOONLAB_BENCH_OLD_LOGPROBS") or "generation"},
    sft = {demos = 0}, eval = {episodes = 0}, samples = 0, env_options = {observation = "text"},
    generation = {max_new_tokens = ppo_tokens}, model = {decoder = model, vision = false, lora = {rank = 8}}}
  local t0, c0 = moon.clock(), os.clock()
  local rec = run:update()
  local dt = moon.clock() - t0
  print(("PPO update (8 envs x %d turns, max_new_tokens %d, %d epochs, minibatch %d, old log-probs from %s): %.1f s (cpu %.0f s; goal <= 90 s at 8 turns); %s; %d tokens, %.0f tok/s generated")
    :format(ppo_steps, ppo_tokens, run.cfg.ppo.epochs, run.cfg.ppo.minibatch, run.cfg.ppo.old_logprobs, dt, os.clock() - c0,
            rec.time_split, run.tokens, rec.tokens_per_s))
  print(moon.metrics.progress(rec, 1))
  print(("peak RSS: %.0f MB"):format(peak_rss_mb()))
  os.execute("rm -rf " .. dir)
end
