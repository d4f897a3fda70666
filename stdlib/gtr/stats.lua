--- Statistics for experiment reports (scripts/report.lua): bootstrap confidence intervals over seeds and episodes,
-- and the wall clock a run takes to reach a success level.
local stats = {}

--- Mean success over `groups` (one list of 0/1 outcomes per seed, or of any values such as paired differences; a
-- string of '0'/'1' is accepted) with a percentile bootstrap interval that resamples seeds, then episodes within
-- each resampled seed (the two sources of noise). opts: reps (2000), level (0.95), seed (1). Returns mean, lo, hi
-- (nil for no data).
function stats.bootstrap(groups, opts)
  opts = opts or {}
  local data = {}
  for _, g in ipairs(groups) do
    local list = g
    if type(g) == "string" then
      list = {}
      for c in g:gmatch("[01]") do list[#list + 1] = tonumber(c) end
    end
    if #list > 0 then data[#data + 1] = list end
  end
  if #data == 0 then return nil end
  local sum, n = 0, 0
  for _, l in ipairs(data) do for _, v in ipairs(l) do sum, n = sum + v, n + 1 end end
  local reps, level = opts.reps or 2000, opts.level or 0.95
  local rng = moon.generator(opts.seed or 1)
  -- all the draws at once: seed picks [reps, S], then episode picks per (rep, seed)
  local S = #data
  local picks = moon.randint(0, S, reps * S, {generator = rng}):totable()
  local means = {}
  for r = 1, reps do
    local s, m = 0, 0
    for k = 1, S do
      local l = data[picks[(r - 1) * S + k] + 1]
      local e = moon.randint(0, #l, #l, {generator = rng}):totable()
      for _, i in ipairs(e) do s = s + l[i + 1] end
      m = m + #l
    end
    means[r] = s / m
  end
  table.sort(means)
  local a = (1 - level) / 2
  local lo = means[math.max(1, math.floor(a * reps + 0.5))]
  local hi = means[math.min(reps, math.ceil((1 - a) * reps))]
  return sum / n, lo, hi
end

--- Paired difference of two algorithms evaluated on the same fixed episodes: `a` and `b` are lists (one per seed)
-- of outcome strings or 0/1 lists, episode i of a seed in `a` paired with episode i of the same seed in `b`.
-- Returns the mean of a − b with a bootstrap interval over seeds and episodes of the per-episode differences (opts as
-- bootstrap), and how many episodes differ; nil when no seed has both (or lengths differ).
function stats.paired(a, b, opts)
  local function list(g)
    if type(g) ~= "string" then return g end
    local l = {}
    for c in g:gmatch("[01]") do l[#l + 1] = tonumber(c) end
    return l
  end
  local diffs, differ = {}, 0
  for k = 1, math.min(#a, #b) do
    local x, y = list(a[k]), list(b[k])
    if #x ~= #y then return nil end
    local d = {}
    for i = 1, #x do d[i] = x[i] - y[i]; if d[i] ~= 0 then differ = differ + 1 end end
    if #d > 0 then diffs[#diffs + 1] = d end
  end
  if #diffs == 0 then return nil end
  local m, lo, hi = stats.bootstrap(diffs, opts)
  return m, lo, hi, differ
end

--- The first RL wall clock (`wall_s`) at which a run's evaluation success reaches `level` (records of its
-- metrics.jsonl, update 0 = the start at 0 s); nil when it never does.
function stats.time_to_reach(records, level)
  for _, r in ipairs(records) do
    if r.eval_success and r.eval_success >= level - 1e-9 then return r.wall_s or 0 end
  end
  return nil
end

return require("gtr.doc").module(stats)
