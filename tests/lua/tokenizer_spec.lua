local T = ...
local dir = "Tests/MoonModelsTests/Fixtures/tokenizer/"

T.it("loads a tokenizer.json and encodes/decodes like tokenizers", function()
  local tok = moon.tokenizer.load(dir .. "llama3-small.json")
  T.truthy(tostring(tok):find("llama3 split", 1, true))
  local bos = tok:token_to_id("<|begin_of_text|>")
  T.eq(tok:bos_id(), nil) -- no tokenizer_config.json next to the fixture
  local ids = tok:encode("Hello world 12345")
  T.eq(ids[1], bos)                           -- the post-processor's BOS
  T.eq(math.type(ids[2]), "integer")
  T.eq(tok:decode(ids), "Hello world 12345")  -- specials skipped
  T.eq(tok:decode(ids, {skip_special = false}), "<|begin_of_text|>Hello world 12345")
  T.eq(#tok:encode("", {add_special_tokens = false}), 0)
  local plain = tok:encode("<|eot_id|>", {add_special_tokens = false, parse_special = false})
  T.truthy(#plain > 1)
  T.eq(tok:encode("<|eot_id|>", {add_special_tokens = false})[1], tok:token_to_id("<|eot_id|>"))
  T.eq(tok:special_tokens()["<|eot_id|>"], tok:token_to_id("<|eot_id|>"))
  T.eq(tok:id_to_token(tok:token_to_id("Ġthe") or -1), tok:token_to_id("Ġthe") and "Ġthe" or nil)
  T.eq(tok:id_to_token(10 ^ 9 // 1), nil)
  T.truthy(tok:vocab_size() > 1000)
  local found = false
  for _, a in ipairs(tok:added_tokens()) do if a.content == "<mask>" then found = a.lstrip and a.special end end
  T.truthy(found)
end)

T.it("bad input is a Lua error", function()
  local tok = moon.tokenizer.load(dir .. "gpt2-small.json")
  T.raises(function() tok:decode({1, 2, 10 ^ 12 // 1}) end, "token ids in 0..")
  T.raises(function() tok:decode({-1}) end, "token ids in 0..")
  T.raises(function() tok:decode({1.5}) end, "integer token ids")
  T.raises(function() tok:decode("abc") end, "table of token ids")
  T.raises(function() tok:encode(nil) end, "argument #2")
  T.raises(function() tok:encode({}) end, "argument #2")
  T.raises(function() tok:encode("x", {bos = true}) end, "unknown option 'bos'")
  T.raises(function() moon.tokenizer.load("/nonexistent/dir") end, "no such file")
  T.raises(function() moon.tokenizer.from_json("{not json") end, "not a JSON object")
  T.raises(function() moon.tokenizer.from_json('{"model": {"type": "Unigram", "vocab": []}}') end, "not supported")
  local f = assert(io.open(dir .. "gpt2-small.json", "rb")); local text = f:read("a"); f:close()
  T.raises(function() moon.tokenizer.from_json(text:sub(1, #text // 2)) end, "moon.tokenizer.from_json")
  T.eq(moon.tokenizer.from_json(text):vocab_size(), tok:vocab_size())
end)

T.it("chat templates: ChatML and Llama 3 recognised, others need a function", function()
  local f = assert(io.open(dir .. "llama3-small.json", "rb")); local text = f:read("a"); f:close()
  local chatml = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
  local tok = moon.tokenizer.from_json(text, moon.json.encode({chat_template = chatml}))
  local msgs = {{role = "user", content = "hi"}}
  T.eq(tok:apply_chat_template(msgs, {add_generation_prompt = true}),
       "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
  local ids = tok:apply_chat_template(msgs, {tokenize = true})
  T.eq(tok:decode(ids, {skip_special = false}), "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n")
  local llama = moon.tokenizer.from_json(text, moon.json.encode({bos_token = "<|begin_of_text|>",
    chat_template = "{{ bos_token }}<|start_header_id|>{{ role }}<|end_header_id|>{{ content | trim }}<|eot_id|>"}))
  T.eq(llama:apply_chat_template({{role = "user", content = "  x \n"}}, {add_generation_prompt = true}),
       "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
  local other = moon.tokenizer.from_json(text, moon.json.encode({chat_template = "{{ messages }}"}))
  T.raises(function() other:apply_chat_template(msgs) end, "neither ChatML nor Llama 3")
  local custom = other:apply_chat_template(msgs, {add_generation_prompt = true, template = function(m, gen)
    return m[1].role .. ":" .. m[1].content .. (gen and "|>" or "")
  end})
  T.eq(custom, "user:hi|>")
  T.raises(function() other:apply_chat_template(msgs, {template = function() return 1 end}) end, "must return a string")
  T.raises(function() other:apply_chat_template(msgs, {template = function() error("boom") end}) end, "boom")
  T.raises(function() other:apply_chat_template({{role = "user"}}) end, "string 'content'")
  T.raises(function() tok:apply_chat_template("hi") end, "argument #2")
end)

T.it("the byte tokenizer is a tokenizer object too", function()
  local b = moon.tokenizer.bytes()
  T.eq(b:vocab_size(), 260)
  T.eq(b:encode("A<eos>"), {256, 65, 257})
  T.eq(b:encode("A", {add_special_tokens = false}), {65})
  T.eq(b:decode({256, 72, 105, 257}), "Hi")
  T.eq(b:bos_id(), 256)
  T.eq(b:token_to_id("<image>"), 259)
  T.raises(function() b:apply_chat_template({{role = "user", content = "x"}}) end, "no chat template")
  -- the older functions are unchanged
  T.eq(moon.tokenizer.encode("A", {bos = true}), {256, 65})
end)

T.it("loads the shipped model's tokenizer from its GGUF", function()
  local path = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
  local f = io.open(path, "rb")
  if not f then print("  (skipped: " .. path .. " is absent; scripts/fetch-model)") return end
  f:close()
  local tok = moon.tokenizer.load(path)
  T.eq(tok:vocab_size(), 49152)
  T.eq(tok:eos_id(), tok:token_to_id("<|im_end|>"))
  local text = tok:apply_chat_template({{role = "user", content = "What is 7 times 8?"}}, {add_generation_prompt = true})
  T.eq(text, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    .. "<|im_start|>user\nWhat is 7 times 8?<|im_end|>\n<|im_start|>assistant\n")
  local ids = tok:encode(text)
  T.eq(ids[1], tok:token_to_id("<|im_start|>"))
  T.eq(tok:decode(ids, {skip_special = false}), text)
end)
