local T = ...

T.it("makes every env by name and steps it with the solver's answers", function()
  for _, name in ipairs(moon.env.names()) do
    local env = moon.env.make(name, {seed = 1})
    local obs = env:reset(3)
    T.truthy(#obs.prompt > 20, name .. " prompt")
    T.eq(obs.image:size(), {3, 64, 64})
    local done, steps = false, 0
    while not done and steps < 50 do
      local _, r, d, info = env:step(env:solver_response())
      T.eq(type(r), "number"); T.eq(info.illegal, false)
      done, steps = d, steps + 1
    end
    T.truthy(done, name .. " episode did not end")
  end
end)

T.it("NumberLine rewards: +1 on reaching the target, -1 when not closer", function()
  local env = moon.env.make("numberline", {max_position = 5})
  local obs = env:reset(1)
  local cur, target = obs.text:match("(%d+).-(%d+)")
  local _, r, _, info = env:step('{"action": "' .. env:solver_action() .. '"}')
  T.truthy(r == 1 or r == 0, "a step toward the target gives 0 or +1, got " .. r)
  local env2 = moon.env.make("numberline"); env2:reset(1)
  local wrong = env2:solver_action() == "+" and "-" or "+"
  local _, r2 = env2:step('"action": "' .. wrong .. '"')
  T.truthy(r2 == -1 or r2 == 0, "moving away is -1 (or 0 at a wall), got " .. r2)
end)

T.it("Points24 says (1,1,1,1)-style hands are unsolvable and ends with '='", function()
  local env = moon.env.make("points24")
  env:reset(1)
  local resp = env:solver_response()
  T.truthy(resp:find('"action"', 1, true))
end)

T.it("illegal answers are flagged; invalid_penalty makes them -1", function()
  local env = moon.env.make("points24", {invalid_penalty = true})
  env:reset(2)
  local _, r, _, info = env:step("I have no idea")
  T.eq(info.illegal, true); T.eq(r, -1)
end)

T.it("images render to real PNG files", function()
  local env = moon.env.make("blackjack", {size = 128})
  env:reset(4)
  local path = os.tmpname() .. ".png"
  env:save_png(path)
  local f = assert(io.open(path, "rb")); local head = f:read(8); f:close(); os.remove(path)
  T.eq(head, "\137PNG\r\n\26\n")
  T.eq(env:image():size(), {3, 128, 128})
end)

T.it("demos come from the solver in the answer format", function()
  local demos = moon.env.demos("ezpoints", 5, {seed = 3})
  T.eq(#demos, 5)
  for _, d in ipairs(demos) do
    T.truthy(d.response:find('"action"', 1, true)); T.truthy(d.prompt and d.image)
  end
end)

T.it("wrap shapes rewards of Swift and Lua envs, reporting failures with a traceback", function()
  local env = moon.env.make("numberline")
  local w = moon.env.wrap(env, {reward = function(obs, response, r, info) return r - 0.5 end})
  w:reset(1)
  local _, r, _, info = w:step('"action": "+"')
  T.eq(r, info.raw_reward - 0.5)
  local luaenv = {reset = function(self) return {prompt = "say hi"} end,
                  step = function(self, text) return {prompt = "again"}, #text, false, {} end}
  local wl = moon.env.wrap(luaenv, {reward = function(_, resp, r) return r * 10 end})
  wl:reset()
  T.eq(select(2, wl:step("abc")), 30)
  local bad = moon.env.wrap(env, {reward = function() error("oops in shaping") end})
  bad:reset(1)
  local err = T.raises(function() bad:step("x") end, "moon.env.wrap: reward function failed")
  T.truthy(err:find("oops in shaping", 1, true) and err:find("traceback", 1, true))
  local nonnum = moon.env.wrap(env, {reward = function() return "lots" end}); nonnum:reset(1)
  T.raises(function() nonnum:step("x") end, "must return a number, got string")
  T.raises(function() moon.env.wrap({reset = function() end}) end, "'step' function")
end)

T.it("vector envs auto-reset and report episode statistics", function()
  local v = moon.env.vector("numberline", 4, {seed = 5})
  local obs = v:reset()
  T.eq(#obs, 4)
  local finished = 0
  for i = 1, 30 do
    local _, rewards, dones = v:step(v:solver_responses())
    T.eq(#rewards, 4)
  end
  local stats = v:stats()
  T.truthy(#stats >= 4, "expected finished episodes")
  for _, s in ipairs(stats) do T.eq(s.success, true) end
end)

T.it("bad input is a clear error", function()
  T.raises(function() moon.env.make("chess") end, "unknown env 'chess'")
  T.raises(function() moon.env.make("numberline", {max_positon = 3}) end, "unknown option 'max_positon'")
  T.raises(function() moon.env.make("numberline", {max_position = 1}) end, "max_position")
  local env = moon.env.make("numberline")
  T.raises(function() env:step(42) end, "argument #2 'response': expected string, got number")
  T.raises(function() env:step("x") end, "reset")
  T.raises(function() moon.env.vector("numberline", 2):step({"a"}) end, "expected 2 strings")
end)

T.it("one answer-split rule: moon.env.split_answer, the env's parser and the scoring masks agree", function()
  local a = '{"thoughts": "x", "action" : "+"}'
  local th, act = moon.env.split_answer(a)
  T.eq(th, '{"thoughts": "x", '); T.eq(act, '"action" : "+"}')
  T.eq(select(2, moon.env.split_answer('{"thoughts": "x"}')), nil)
  T.eq(moon.env.split_answer('{"thoughts": "x"}'), '{"thoughts": "x"}')
  T.eq(moon.env.split_answer('say "ACTION":"-" then "action": "+"'), 'say ')  -- any case, first key
  T.eq(select(2, moon.env.split_answer('"action" is "+"')), nil)  -- a key needs its colon
  T.eq(moon.env.split_answer('a\0b"action":1'), 'a\0b')  -- bytes kept as they are
  T.eq(require("gtr.guidance").split, moon.env.split_answer)
  T.raises(function() moon.env.split_answer(3) end, "split_answer: argument #1 'text'")
  -- the env reads the action the split finds (Swift and Lua used to disagree on this answer)
  local env = moon.env.make("numberline"); env:reset(1)
  local _, _, _, info = env:step('{"thoughts": "x", "action" : "' .. env:solver_action() .. '"}')
  T.eq(info.illegal, false)
  -- the scoring masks: the action part starts at the same byte
  local p = moon.vlm.new{width = 32, layers = 1, heads = 2, intermediate = 64, image_size = 16, patch_size = 8,
                         vision_width = 16, vision_layers = 1, seed = 1}
  local s = moon.no_grad(function() return p:score({{prompt = "q", image = moon.zeros(3, 16, 16)}}, {a}) end)
  T.eq(s.thought_mask:sum():item(), #th); T.eq(s.action_mask:sum():item(), #act)
end)
