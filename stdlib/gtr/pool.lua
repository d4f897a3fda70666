--- A checkpoint pool: keeps the last K state dicts (or all), on disk as well as in memory so a run can resume, and
-- builds the merged teacher with any merge method, including a weighting function written in Lua.
--   local pool = require("gtr.pool").new{path = function(n) return dir .. "/" .. n end, method = "ties", base = sft}
--   pool:add(update, policy:state_dict()); local teacher_state = pool:merged()
local pool = {}
local Pool = {}
Pool.__index = Pool

local allowed = {path = true, size = true, method = true, base = true, density = true, decay = true, weights = true,
                 seed = true, store = true}

--- opts: path (function(name) -> file path for the pool's files), size (0 = unlimited), method ("ties", "average", "ema", "dare_ties", "task_arithmetic",
-- "custom"), base (state dict for task-vector methods), density, decay (EMA: teacher = decay * teacher + (1 - decay) *
-- newest, as moon.merge.ema; 0.5), weights (function(index, count) -> weight, for "custom"), seed, store (true; false
-- on data-parallel ranks other than 0, which only track the steps: rank 0 merges and broadcasts the teacher).
-- Old: alpha (= 1 - decay).
function pool.new(opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do
    if k == "alpha" then
      moon.warn_once("gtr.pool.new{alpha = a} is deprecated; use {decay = 1 - a}")
      o.decay = 1 - v
    elseif not allowed[k] then
      error(("gtr.pool.new: unknown option '%s'"):format(tostring(k)), 2)
    else
      o[k] = v
    end
  end
  return setmetatable({members = {}, opts = o}, Pool)
end

local function file(self, step) return self.opts.path(("member-%06d.safetensors"):format(step)) end

--- Adds a checkpoint taken at `step` (a state dict; copied by the caller) and drops the oldest beyond the size.
function Pool:add(step, state)
  if self.opts.store == false then
    self.members[#self.members + 1] = {step = step}
    while (self.opts.size or 0) > 0 and #self.members > self.opts.size do table.remove(self.members, 1) end
    return
  end
  moon.ckpt.save(file(self, step), state)
  self.members[#self.members + 1] = {step = step, state = state}
  local size = self.opts.size or 0
  while size > 0 and #self.members > size do
    local old = table.remove(self.members, 1)
    os.remove(file(self, old.step))
  end
  if self.opts.method == "ema" then
    if not self.ema then self.ema = state
    else self.ema = moon.merge.ema({self.ema, state}, {decay = self.opts.decay or 0.5}) end
    moon.ckpt.save(self.opts.path("ema.safetensors"), self.ema)
  end
end

--- The steps of the checkpoints the pool holds (what the teacher is made of).
function Pool:steps()
  local out = {}
  for i, m in ipairs(self.members) do out[i] = m.step end
  return out
end

--- Reloads members (and the EMA state) saved by a run being resumed.
function Pool:restore(steps)
  self.members = {}
  if self.opts.store == false then
    for _, s in ipairs(steps) do self.members[#self.members + 1] = {step = s} end
    return
  end
  for _, s in ipairs(steps) do self.members[#self.members + 1] = {step = s, state = moon.ckpt.load(file(self, s))} end
  if self.opts.method == "ema" then self.ema = moon.ckpt.load(self.opts.path("ema.safetensors")) end
end

--- The merged state dict.
function Pool:merged()
  local o = self.opts
  local sets = {}
  for i, m in ipairs(self.members) do sets[i] = m.state end
  assert(#sets > 0, "gtr.pool: the pool is empty")
  if o.method == "ema" then return self.ema end
  if #sets == 1 then return sets[1] end
  if o.method == "average" then return moon.merge.average(sets) end
  if o.method == "custom" then
    local w = {}
    for i = 1, #sets do
      local ok, v = pcall(o.weights, i, #sets)
      if not ok then error("gtr.pool: weights function failed: " .. tostring(v), 0) end
      if type(v) ~= "number" then error("gtr.pool: weights function must return a number, got " .. type(v), 0) end
      w[i] = v
    end
    return moon.merge.average(sets, {weights = w})
  end
  if o.method == "ties" then return moon.merge.ties(sets, {base = o.base, density = o.density}) end
  if o.method == "dare_ties" then return moon.merge.dare_ties(sets, {base = o.base, density = o.density, seed = o.seed or 0}) end
  if o.method == "task_arithmetic" then
    return moon.merge.task_arithmetic(sets, {base = o.base, lambda = 1 / #sets})
  end
  error("gtr.pool: unknown merge method '" .. tostring(o.method) .. "'", 0)
end

return require("gtr.doc").module(pool, Pool)
