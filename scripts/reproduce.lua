-- The Lua half of scripts/reproduce: lists a grid's runs as job lines, and reports how far the grid is.
--   moonlab run scripts/reproduce.lua jobs   key=value ...   one line per run: PHASE DIR ALGO TASK ARGS...
--   moonlab run scripts/reproduce.lua status key=value ...   done / running / left, and the hours left
-- A run counts as done when its directory has DONE or when DOCS/runs/<its path below out> has (the records
-- scripts/reproduce keeps in git, since a machine's runs/ does not outlive it): such runs are not listed as jobs, and
-- neither is an SFT start that is done there and that no remaining run needs.
-- keys: grid (wave2), preset (smollm), out (runs/<grid>-<preset>), docs (docs/results/<grid>), scale (1: budget multiplier), budget (seconds,
-- overrides every run's budget), seeds ("1,2,3"), tasks ("points24,numberline"), only (all | main | ablations),
-- jobs (runs at a time, for the hours-left estimate), runs (RL runs to keep, by directory below out or by name:
-- "ablation/lr-1e-4,ppo-lr-1e-4"; with the SFT starts they need), args (key=value arguments appended to every
-- selected RL run, so they override the grid's: "eval.every_s=3600"; not to the SFT starts, which runs share)
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "scripts"
local grids = dofile(here .. "/experiments/grid.lua")

local cmd = arg[1]
local o = {grid = "wave2", preset = "smollm", scale = "1", only = "all", jobs = "1"}
for i = 2, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  if not k or o[k] == nil and k ~= "out" and k ~= "seeds" and k ~= "tasks" and k ~= "budget"
                    and k ~= "runs" and k ~= "args" and k ~= "docs" then
    io.stderr:write("reproduce.lua: bad argument '" .. arg[i] .. "'\n"); os.exit(2)
  end
  o[k] = v
end
local grid = grids[o.grid]
if not grid then io.stderr:write("reproduce.lua: unknown grid '" .. o.grid .. "' (wave1, wave2)\n"); os.exit(2) end
local function set(list, number)
  if not list or list == "" then return nil end
  local s = {}
  for x in list:gmatch("[^,%s]+") do s[number and tonumber(x) or x] = true end
  return s
end
local out = o.out or ("runs/" .. o.grid .. "-" .. o.preset)
local runs = grids.runs(grid, {out = out, preset = o.preset, scale = tonumber(o.scale), only = o.only,
                               seeds = set(o.seeds, true), tasks = set(o.tasks)})
if o.runs and o.runs ~= "" then  -- only the named RL runs, and the SFT starts they need
  local want, found, needed, kept = set(o.runs), {}, {}, {}
  for _, r in ipairs(runs) do
    if r.phase == "rl" then
      local rel = r.dir:sub(#out + 2)
      local base = rel:match("[^/]+$")
      local name = want[rel] and rel or want[base] and base
      if name then found[name], needed[r.task .. "-s" .. r.seed] = true, true; kept[#kept + 1] = r end
    end
  end
  for name in pairs(want) do
    if not found[name] then io.stderr:write("reproduce.lua: no run '" .. name .. "' in the selected grid\n"); os.exit(2) end
  end
  local sft = {}
  for _, r in ipairs(runs) do if r.phase == "sft" and needed[r.task .. "-s" .. r.seed] then sft[#sft + 1] = r end end
  for _, r in ipairs(kept) do sft[#sft + 1] = r end
  runs = sft
end
if o.args and o.args ~= "" then  -- extra arguments of the RL runs, last so that they win
  local extra = {}
  for a in o.args:gmatch("%S+") do
    if not a:match("^[%w_%.]+=") then io.stderr:write("reproduce.lua: bad run argument '" .. a .. "' (key=value)\n"); os.exit(2) end
    extra[#extra + 1] = a
  end
  for _, r in ipairs(runs) do
    if r.phase == "rl" then for _, a in ipairs(extra) do r.args[#r.args + 1] = a end end
  end
end
if o.budget then  -- one budget for every RL run
  for _, r in ipairs(runs) do
    if r.phase == "rl" then
      r.budget_s = tonumber(o.budget)
      for i, a in ipairs(r.args) do if a:match("^budget_s=") then r.args[i] = "budget_s=" .. o.budget end end
    end
  end
end

--- Whether a regular file is at `p` (a probe that opens nothing, so a FIFO in its place cannot block the status).
local function is_file(p) return moon.file_kind(p) == "file" end
--- The text of the regular file at `p`, or nil.
local function read(p)
  if not is_file(p) then return nil end
  local f = io.open(p, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end
local docs = o.docs or ("docs/results/" .. o.grid)
--- done in an earlier machine's output, by the records kept under docs/runs
local function archived(r) return is_file(docs .. "/runs/" .. r.dir:sub(#out + 2) .. "/DONE") end

if cmd == "jobs" then
  local needed = {}
  for _, r in ipairs(runs) do
    if r.phase == "rl" and not archived(r) then needed[r.task .. "-s" .. r.seed] = true end
  end
  for _, r in ipairs(runs) do
    if not archived(r) or r.phase == "sft" and needed[r.task .. "-s" .. r.seed] and not is_file(r.dir .. "/DONE") then
      print(table.concat({r.phase, r.dir, r.algo, r.task, table.concat(r.args, " ")}, " "))
    end
  end
  return
end
if cmd ~= "status" then
  io.stderr:write("usage: moonlab run scripts/reproduce.lua jobs|status [key=value ...]\n"); os.exit(2)
end

local function lines(c)
  local p = io.popen(c)
  local t = {}
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  return t
end
--- `s` as one shell word (single-quoted; a quote inside it survives)
local function quoted(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function mtime(p) local t = lines("stat -c %Y " .. quoted(p) .. " 2>/dev/null"); return tonumber(t[1]) end
-- a run is running while its lock is held (scripts/reproduce holds DIR.lock with flock for the run's lifetime)
local function running(dir)
  if not is_file(dir .. ".lock") then return false end
  return not os.execute("flock -n " .. quoted(dir .. ".lock") .. " true 2>/dev/null")
end
local function latest_state(dir)
  local names = lines("ls " .. quoted(dir .. "/checkpoints") .. " 2>/dev/null | grep '^state-.*\\.json$' | sort | tail -1")
  if not names[1] then return nil end
  local text = read(dir .. "/checkpoints/" .. names[1])
  local ok, s = pcall(moon.json.decode, text)
  if not (text and ok and type(s) == "table" and math.type(s.update) == "integer" and type(s.clock) == "number") then
    return nil
  end
  return s
end
-- the time a run spends outside its RL clock: evaluations and diagnostics, from its metrics
local function overhead(dir)
  local s = 0
  for l in (read(dir .. "/metrics.jsonl") or ""):gmatch("[^\n]+") do
    local ok, r = pcall(moon.json.decode, l)
    if ok and type(r) == "table" then s = s + (r.time_eval_s or 0) + (r.time_diagnostics_s or 0) end
  end
  return s
end

local counts = {done = 0, running = 0, partial = 0, todo = 0}
local rl_left, rl_spent, extra_spent, sft_left, sft_times = 0, 0, 0, 0, {}
local rows = {}
for _, r in ipairs(runs) do
  local state, clock, status = nil, 0, "todo"
  if running(r.dir) then status = "running"  -- first: an archived SFT start may be made again where runs/ lacks it
  elseif is_file(r.dir .. "/DONE") or archived(r) then status = "done"
  elseif is_file(r.dir .. "/config.json") then status = "partial" end
  counts[status] = counts[status] + 1
  if r.phase == "rl" then
    local text = read(r.dir .. "/config.json")  -- a started run's own budget (it may have been given another)
    if text then
      local ok, c = pcall(moon.json.decode, text)
      if ok and type(c) == "table" and type(c.budget_s) == "number" and c.budget_s > 0 then r.budget_s = c.budget_s end
    end
    state = latest_state(r.dir)
    clock = state and state.clock or 0
    if status == "done" then clock = math.max(clock, r.budget_s) end
    rl_left = rl_left + math.max(0, r.budget_s - clock)
    if clock > 0 then rl_spent, extra_spent = rl_spent + clock, extra_spent + overhead(r.dir) end
  else
    if status == "done" then
      local a, b = mtime(r.dir .. "/config.json"), mtime(r.dir .. "/DONE")
      if a and b then sft_times[#sft_times + 1] = b - a end
    else sft_left = sft_left + 1 end
  end
  local progress = ""
  if r.phase == "rl" then
    progress = ("%5.0f / %5.0f s RL%s"):format(clock, r.budget_s, state and (" (update " .. state.update .. ")") or "")
  elseif status ~= "done" then  -- an SFT start's own checkpoint: how far its training got
    local p = require("gtr.sft").progress(r.dir)
    if p and type(p.step) == "number" and type(p.planned) == "number" then
      progress = ("%5.0f / %5.0f SFT steps%s"):format(p.step, p.planned, p.final and ", trained" or "")
    end
  end
  rows[#rows + 1] = ("%-8s %-4s %-48s %s"):format(status, r.phase, r.dir, progress)
end
for _, l in ipairs(rows) do print(l) end
local factor = rl_spent > 0 and (rl_spent + extra_spent) / rl_spent or 1.2
local sft_mean = 0
for _, t in ipairs(sft_times) do sft_mean = sft_mean + t / #sft_times end
if #sft_times == 0 then sft_mean = 600 end
local jobs = math.max(1, tonumber(o.jobs) or 1)
local hours = (rl_left * factor + sft_left * sft_mean) / 3600
print(("%d runs: %d done, %d running, %d started and stopped, %d not started"):format(#runs, counts.done,
  counts.running, counts.partial, counts.todo))
print(("left: %.1f h of RL budget; with evaluations and diagnostics (x%.2f, measured so far) and %d SFT start%s "
  .. "(~%.0f s each): %.1f h of runs, %.1f h at %d job%s at a time"):format(rl_left / 3600, factor, sft_left,
  sft_left == 1 and "" or "s", sft_mean, hours, hours / jobs, jobs, jobs == 1 and "" or "s"))
