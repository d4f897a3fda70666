-- Writes the tables and plots of an experiment grid (scripts/experiments/grid.lua) from a scripts/reproduce output
-- directory:   moonlab run scripts/report.lua OUT_DIR [DOC_DIR] [GRID]
-- DOC_DIR/report.md: per task, one row per algorithm over its seeds: final evaluation success with a 95% bootstrap
-- interval over seeds and episodes, the SFT start, the RL wall clock to reach PPO's final success, thought collapse,
-- compute; the teacher watched (GTR-Turbo runs); the ablations. DOC_DIR/<task>/*.png, DOC_DIR/teacher/*.png and
-- DOC_DIR/ablation/*.png: curves against the RL wall clock. Runs that have not finished count with what they logged
-- (marked *), or with a fourth argument `finished` are left out (tables and plots of finished runs only, e.g. to commit).
local out, docs, grid_name = arg[1], arg[2] or "docs/results", arg[3] or "wave2"
local finished_only = arg[4] == "finished"
if not out or (arg[4] and not finished_only) then
  io.stderr:write("usage: moonlab run scripts/report.lua OUT_DIR [DOC_DIR] [GRID] [finished]\n"); os.exit(2)
end
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "scripts"
local grid_module = dofile(here .. "/experiments/grid.lua")
local grid = grid_module[grid_name]
if type(grid) ~= "table" then io.stderr:write("report: unknown grid '" .. grid_name .. "'\n"); os.exit(2) end
local stats = require("gtr.stats")

local LABEL = {ppo = "PPO", gtr = "GTR (solver teacher)", ["turbo-sft"] = "GTR-Turbo (SFT)", ["turbo-kl"] = "GTR-Turbo (KL)"}

--- Whether a regular file is at `p` (a probe that opens nothing: a FIFO in a run's place cannot block the report).
local function is_file(p) return moon.file_kind(p) == "file" end
--- The records of a run's metrics.jsonl (nil when the run is missing, or unfinished with `finished`).
local function records(dir)
  if finished_only and not is_file(dir .. "/DONE") then return nil end
  if not is_file(dir .. "/metrics.jsonl") then return nil end
  local f = io.open(dir .. "/metrics.jsonl", "r")
  if not f then return nil end
  local recs = {}
  for line in f:lines() do if line:match("%S") then recs[#recs + 1] = moon.json.decode(line) end end
  f:close()
  return #recs > 0 and recs or nil
end
--- A run's directory from its path below OUT_DIR: OUT_DIR's, or where it has none the records scripts/reproduce
-- keeps in DOC_DIR/runs/ (a machine's runs/ does not outlive it).
local function run_dir(rel)
  local live, kept = out .. "/" .. rel, docs .. "/runs/" .. rel
  if is_file(kept .. "/metrics.jsonl") then
    -- the kept records when the machine has none, or when they are finished and the machine's run is not (a run
    -- made again, under way: its start would otherwise hide the finished one's results)
    if not is_file(live .. "/metrics.jsonl") or (is_file(kept .. "/DONE") and not is_file(live .. "/DONE")) then return kept end
  end
  return live
end

--- Summary of one run: the last evaluation (success, outcomes), the first and last RL update's diagnostics, compute.
local function summarize(recs, dir)
  local s = {recs = recs, updates = 0, wall = 0, done = is_file(dir .. "/DONE"), evals = {}}
  local first, last
  for _, r in ipairs(recs) do
    if (r.update or 0) > 0 then first = first or r; last = r end
    if r.eval_success then
      s.final, s.outcomes, s.final_return = r.eval_success, r.eval_outcomes, r.eval_return
      s.top_action_eval, s.agree_eval = r.eval_first_top_action_share, r.eval_first_solver_agreement
      s.best = math.max(s.best or 0, r.eval_success)
      if (r.update or 0) > 0 and r.eval_outcomes then s.evals[#s.evals + 1] = r.eval_outcomes end
    end
  end
  if not last then return s end
  s.first, s.last = first, last
  s.updates, s.wall = last.update, last.wall_s
  s.gen, s.trained = last.tokens_generated, last.tokens_trained
  s.teacher_tok = (last.tokens_teacher_generated or 0) + (last.tokens_teacher_scored or 0)
  local diag = 0
  for _, r in ipairs(recs) do diag = diag + (r.time_diagnostics_s or 0) end
  s.diag_per_update = diag / math.max(1, last.update)
  return s
end

local function pct(x) return x and ("%.1f"):format(100 * x) or "–" end
local function num(x, f) return x and (f or "%.2f"):format(x) or "–" end
local function mean(list, key)
  local sum, n = 0, 0
  for _, s in ipairs(list) do local v = type(key) == "function" and key(s) or s[key]
    if v then sum, n = sum + v, n + 1 end end
  return n > 0 and sum / n or nil
end
local function field(which, key) return function(s) return s[which] and s[which][key] end end
local function ci(outcomes)
  local m, lo, hi = stats.bootstrap(outcomes, {reps = 2000, seed = 7})
  if not m then return "–" end
  return ("%.1f [%.1f, %.1f]"):format(100 * m, 100 * lo, 100 * hi)
end
local function mega(x) return x and ("%.2f"):format(x / 1e6) or "–" end
--- a − b on the same episodes, seed by seed: at the final evaluations when both runs have finished (every run
-- evaluates at the end of its budget, whatever its schedule: an ablation run with --args eval.every_s=3600 has only
-- that one), otherwise at the latest evaluation both have made (the grid's schedule: the same RL times in every
-- run): "+1.6 [-2.3, 5.5], 9 differ"
local function paired(a_list, b_list)
  local a, b = {}, {}
  for _, x in ipairs(a_list) do
    for _, y in ipairs(b_list) do
      local k = math.min(#x.evals, #y.evals)
      if x.seed == y.seed and k > 0 then
        if x.done and y.done then a[#a + 1], b[#b + 1] = x.evals[#x.evals], y.evals[#y.evals]
        else a[#a + 1], b[#b + 1] = x.evals[k], y.evals[k] end
      end
    end
  end
  local m, lo, hi, differ = stats.paired(a, b, {reps = 2000, seed = 7})
  if not m then return "–" end
  return ("%+.1f [%+.1f, %+.1f], %d differ"):format(100 * m, 100 * lo, 100 * hi, differ)
end

--- A run's rollout success rate by update, for updates 1..k.
local function rollout_rates(recs, k)
  local by = {}
  for _, r in ipairs(recs) do
    local u = r.update or 0
    if u >= 1 and u <= k and r.success_rate then by[u] = r.success_rate end
  end
  return by
end

--- a − b in rollout success at the same update, over the updates both runs made (1..k, k the fewer): the mean over
-- every seed's updates with a bootstrap interval that resamples seeds, then updates (stats.bootstrap), and each
-- seed's mean: "+2.4 [-4.7, +7.9] (+4.9 / -0.9 / +3.2 at 10 / 10 / 10 updates)". What an update does, apart from
-- how many updates the budget held and where the last evaluation fell.
local function matched(list, ppo_of)
  local diffs, per, ks = {}, {}, {}
  for _, s in ipairs(list) do
    local p = ppo_of[s.seed]
    local k = p and math.min(s.updates, p.updates) or 0
    local a, b, d, sum = rollout_rates(s.recs, k), p and rollout_rates(p.recs, k), {}, 0
    for u = 1, k do
      if a[u] and b[u] then d[#d + 1] = a[u] - b[u]; sum = sum + d[#d] end
    end
    if #d > 0 then
      diffs[#diffs + 1], per[#per + 1], ks[#ks + 1] = d, ("%+.1f"):format(100 * sum / #d), tostring(#d)
    end
  end
  local m, lo, hi = stats.bootstrap(diffs, {reps = 2000, seed = 7})
  if not m then return "–" end
  local head = ("%+.1f [%+.1f, %+.1f]"):format(100 * m, 100 * lo, 100 * hi)
  if #per == 1 then return ("%s (at %s updates)"):format(head, ks[1]) end
  return ("%s (%s at %s updates)"):format(head, table.concat(per, " / "), table.concat(ks, " / "))
end

local lines = {"# Results tables (generated by scripts/report.lua; do not edit)", "",
  ("Grid `%s`, runs in `%s`. Success in %%; **final eval** is the mean success of each seed's last evaluation (%d "
   .. "fixed episodes per task, the same for every algorithm) with its 95%% bootstrap interval over seeds and "
   .. "episodes (2000 resamples); the seeds' values follow. **to PPO's final**: RL wall clock (s) until the "
   .. "evaluation first reaches the same seed's PPO final success (mean over the seeds that reach it; n/N reached; "
   .. "\"the start\": the SFT start already had it, i.e. PPO ended no higher than it began). "
   .. "**vs PPO, paired**: the success difference to PPO on the same episodes and seeds, at the final evaluations "
   .. "(of an unfinished run: the latest evaluation both have made, at the same RL time), with a bootstrap interval of the per-episode differences, and how many "
   .. "episode outcomes differ (0 differ: the two policies act alike on every evaluation episode). "
   .. "**vs PPO, matched updates**: the difference in rollout (training) success at the same update, over the "
   .. "updates both runs made, mean over every seed's updates, with a 95%% bootstrap interval that resamples seeds and "
   .. "then updates (a guide: one run's updates are not independent), and per seed, at how many updates: what the "
   .. "updates did, apart from how many fit the budget and where the last evaluation fell; rollouts sample the same "
   .. "generators as PPO's, so updates before the guidance changed a token count as no difference. "
   .. "Collapse metrics are of the rollout thoughts of the first → last update: distinct-2, the share of the most "
   .. "common thought template (digits masked), the share of the most common action; eval action: the most common "
   .. "first-turn action's share at the last evaluation. Compute: tokens generated by the agent / trained "
   .. "(PPO epochs × rollout tokens + SFT targets), millions. Runs marked * have not finished."):format(grid_name, out,
   grid.eval_episodes), ""}

local function section_plots(dirs, sub, metrics)
  local ok, err = pcall(moon.plot.run, dirs, {metrics = metrics, out = docs .. "/" .. sub, x = "wall_s"})
  if not ok then print("report: no plots for " .. sub .. ": " .. tostring(err)); return end
  local l = {}
  for _, m in ipairs(metrics) do l[#l + 1] = ("[%s](%s/%s.png)"):format(m, sub, m:gsub("%+", "_")) end
  lines[#lines + 1] = "Plots (seed 1 of each, against the RL wall clock): " .. table.concat(l, ", ") .. "."
  lines[#lines + 1] = ""
end

local CHARTS = {"eval_success", "success_rate", "invalid_rate", "entropy", "distinct_2", "template_share",
                "top_action_share"}
local TEACHER = {"kl", "teacher_kl_token", "teacher_param_rel", "teacher_action_differs"}
local teacher_rows, teacher_dirs = {}, {}

--- How long a run's rollouts stay PPO's: the same seed's PPO run samples with the same generators, so while the
-- guidance changes nothing the two generate the same tokens. "k/n": the first k of the n updates both have made
-- generated as many tokens with the same actions (summed over seeds).
local function same_rollouts(list, ppo)
  local k, n = 0, 0
  for _, s in ipairs(list) do
    local p = ppo[s.seed]
    if p then
      local by = {}
      for _, r in ipairs(p.recs) do if (r.update or 0) > 0 then by[r.update] = r end end
      local same = true
      for _, r in ipairs(s.recs) do
        local q = (r.update or 0) > 0 and by[r.update]
        if q then
          n = n + 1
          same = same and r.tokens_generated == q.tokens_generated and r.actions == q.actions
          if same then k = k + 1 end
        end
      end
    end
  end
  return n > 0 and ("%d/%d"):format(k, n) or "–"
end

local function teacher_row(label, list, ppo)
  local t = {}
  for _, s in ipairs(list) do if s.last and s.last.teacher_param_rel then t[#t + 1] = s end end
  if #t == 0 then return end
  local function avg(key)  -- over the run's updates, then over seeds
    return mean(t, function(s)
      local sum, n = 0, 0
      for _, r in ipairs(s.recs) do if r[key] then sum, n = sum + r[key], n + 1 end end
      return n > 0 and sum / n or nil
    end)
  end
  teacher_rows[#teacher_rows + 1] = ("| %s | %s | %s | %s → %s | %s | %s → %s | %s | %s | %s |"):format(label,
    t[1].last.teacher_merge or "–", t[1].last.teacher_pool and ("%d"):format(#(t[1].last.teacher_pool .. ","):gsub("[^,]", "")) or "–",
    num(mean(t, field("first", "teacher_kl_token")), "%.3g"), num(mean(t, field("last", "teacher_kl_token")), "%.3g"),
    num(avg("kl"), "%.3g"),
    num(mean(t, field("first", "teacher_param_rel")), "%.2e"), num(mean(t, field("last", "teacher_param_rel")), "%.2e"),
    pct(avg("teacher_action_differs")), num(mean(t, field("last", "agent_sft_dist")), "%.3g"), same_rollouts(t, ppo or {}))
end

for _, task in ipairs(grid.tasks) do
  local sft = {}
  for _, seed in ipairs(task.seeds) do
    local dir = run_dir(("sft/%s-s%d"):format(task.name, seed))
    local recs = records(dir)
    if recs then sft[seed] = summarize(recs, dir) end
  end
  local by_algo, rows, dirs = {}, {}, {}
  for _, algo in ipairs(task.algos) do
    local list = {}
    for _, seed in ipairs(task.seeds) do
      local dir = run_dir(("main/%s/%s-s%d"):format(task.name, algo, seed))
      local recs = records(dir)
      if recs then local s = summarize(recs, dir); s.seed = seed; list[#list + 1] = s end
    end
    by_algo[algo] = list
    if #list > 0 then dirs[#dirs + 1] = run_dir(("main/%s/%s-s%d"):format(task.name, algo, list[1].seed)) end
  end
  if next(sft) or #dirs > 0 then
    lines[#lines + 1] = ("## %s (%d s per run)"):format(task.name, task.budget_s); lines[#lines + 1] = ""
    local starts = {}
    for _, seed in ipairs(task.seeds) do if sft[seed] and sft[seed].outcomes then starts[#starts + 1] = sft[seed].outcomes end end
    lines[#lines + 1] = "SFT start (update 0): " .. ci(starts) .. "."
    lines[#lines + 1] = ""
    lines[#lines + 1] = "| algorithm | final eval [95% CI] | seeds | vs PPO, paired | vs PPO, matched updates | best | to PPO's final (s) | invalid | "
      .. "distinct-2 | template share | action share | eval action | updates | RL s | compute gen / trained (M tok) |"
    lines[#lines + 1] = "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    local ppo_final, ppo_of = {}, {}
    for _, s in ipairs(by_algo.ppo or {}) do ppo_final[s.seed], ppo_of[s.seed] = s.final, s end
    for _, algo in ipairs(task.algos) do
      local list = by_algo[algo]
      if #list > 0 then
        local outcomes, seeds, reach_t, reached, tried = {}, {}, 0, 0, 0
        for _, s in ipairs(list) do
          if s.outcomes then outcomes[#outcomes + 1] = s.outcomes end
          seeds[#seeds + 1] = pct(s.final) .. (s.done and "" or "*")
          local target = ppo_final[s.seed]
          if target then
            tried = tried + 1
            local recs = {}
            local start = sft[s.seed]
            if start and start.recs[1] then recs[1] = {eval_success = start.recs[1].eval_success, wall_s = 0} end
            for _, r in ipairs(s.recs) do recs[#recs + 1] = r end
            local t = stats.time_to_reach(recs, target)
            if t then reach_t, reached = reach_t + t, reached + 1 end
          end
        end
        rows[#rows + 1] = ("| %s | %s | %s | %s | %s | %s | %s | %s → %s | %s → %s | %s → %s | %s → %s | %s | %s | %s | %s / %s |"):format(
          LABEL[algo] or algo, ci(outcomes), table.concat(seeds, " / "),
          algo ~= "ppo" and by_algo.ppo and paired(list, by_algo.ppo) or "–",
          algo ~= "ppo" and matched(list, ppo_of) or "–", pct(mean(list, "best")),
          tried > 0 and ((reached > 0 and ("%.0f"):format(reach_t / reached) or "never") .. (" (%d/%d)"):format(reached, tried)
            .. (reached > 0 and reach_t == 0 and ", the start" or "")) or "–",
          pct(mean(list, field("first", "invalid_rate"))), pct(mean(list, field("last", "invalid_rate"))),
          num(mean(list, field("first", "distinct_2")), "%.3f"), num(mean(list, field("last", "distinct_2")), "%.3f"),
          pct(mean(list, field("first", "template_share"))), pct(mean(list, field("last", "template_share"))),
          pct(mean(list, field("first", "top_action_share"))), pct(mean(list, field("last", "top_action_share"))),
          pct(mean(list, "top_action_eval")), num(mean(list, "updates"), "%.1f"), num(mean(list, "wall"), "%.0f"),
          mega(mean(list, "gen")), mega(mean(list, "trained")))
        if algo:find("^turbo") then
          teacher_row(("%s, %s"):format(task.name, LABEL[algo]), list, ppo_of)
          teacher_dirs[#teacher_dirs + 1] = run_dir(("main/%s/%s-s%d"):format(task.name, algo, list[1].seed))
        end
      end
    end
    for _, r in ipairs(rows) do lines[#lines + 1] = r end
    lines[#lines + 1] = ""
    local diag, rl, n = 0, 0, 0  -- what the diagnostics cost, off the RL clock
    for _, algo in ipairs(task.algos) do
      for _, s in ipairs(by_algo[algo]) do
        if s.updates > 0 then diag, rl, n = diag + s.diag_per_update, rl + s.wall / s.updates, n + 1 end
      end
    end
    if n > 0 then
      lines[#lines + 1] = ("Diagnostics (thought collapse, teacher): %.2f s per update on average, %.1f%% of an update's "
        .. "RL time (not counted in the budget)."):format(diag / n, 100 * diag / math.max(rl, 1e-9))
      lines[#lines + 1] = ""
    end
    if #dirs > 0 then section_plots(dirs, task.name, CHARTS) end
  end
end

-- the ablations: one run each (plus the baseline from the main grid); a variant that names seeds has one run per seed
-- (`<name>-s<seed>` beside `<name>`), each compared with its own seed's runs, and one row over them all
local a = grid.ablations
local abl, dirs = {}, {}
if a then
  local function main_run(algo, seed) return run_dir(("main/%s/%s-s%d"):format(a.task, algo, seed)) end
  -- each row is paired with PPO at the same settings: the main grid's PPO run of the seed, or an extra run that is
  -- a variant's control (extra.control_of)
  local control = {}
  for _, e in ipairs(grid.extra or {}) do
    for _, name in ipairs(e.control_of or {}) do
      control[name] = run_dir("ablation/" .. e[1])
    end
  end
  -- and with its reference: the variant it names (versus), else the baseline
  local variant = {}
  for _, v in ipairs(a.variants) do variant[v[1]] = v end
  local entries = {{label = a.baseline .. " (baseline): " .. a.baseline_label, planned = 1,
                    runs = {{seed = a.seed, dir = main_run(a.baseline, a.seed), ppo = main_run("ppo", a.seed)}}}}
  for _, v in ipairs(a.variants) do
    local e = {label = v[1] .. ": " .. v[2], planned = #(v.seeds or {a.seed}), runs = {}}
    for _, seed in ipairs(v.seeds or {a.seed}) do
      local versus = v.versus and variant[v.versus]
      e.runs[#e.runs + 1] = {seed = seed, dir = run_dir("ablation/" .. grid_module.variant_run(a, v, seed)),
        ppo = seed == a.seed and control[v[1]] or main_run("ppo", seed),
        ref = versus and run_dir("ablation/" .. grid_module.variant_run(a, versus, seed)) or main_run(a.baseline, seed)}
    end
    entries[#entries + 1] = e
  end
  for _, e in ipairs(grid.extra or {}) do
    if e[3] == a.task and e[4] == a.seed then
      entries[#entries + 1] = {label = ("%s: %s, %s"):format(e[1], LABEL[e[2]] or e[2], table.concat(e[6], " ")),
                               planned = 1, runs = {{seed = e[4], dir = run_dir("ablation/" .. e[1])}}}
    end
  end
  --- the summary of the run in `dir` as seed `seed`'s, or nil
  local function summary(dir, seed)
    local recs = dir and records(dir)
    if not recs then return nil end
    local s = summarize(recs, dir); s.seed = seed
    return s
  end
  for _, e in ipairs(entries) do
    local list, outcomes, ppos, refs, ppo_of, ref_of, seeds, done = {}, {}, {}, {}, {}, {}, {}, true
    for _, r in ipairs(e.runs) do
      local s = summary(r.dir, r.seed)
      if s then
        list[#list + 1], outcomes[#outcomes + 1], seeds[#seeds + 1], done = s, s.outcomes, tostring(r.seed), done and s.done
        if r.seed == a.seed then dirs[#dirs + 1] = r.dir end
        local p, f = summary(r.ppo, r.seed), summary(r.ref, r.seed)
        if p then ppos[#ppos + 1], ppo_of[r.seed] = p, p end
        if f then refs[#refs + 1], ref_of[r.seed] = f, f end
      end
    end
    if #list > 0 then
      local function over(key, fmt) return num(mean(list, key), fmt) end
      local updates = {}
      for _, s in ipairs(list) do updates[#updates + 1] = ("%d"):format(s.updates) end
      local label = e.label .. (e.planned > 1 and (" (seeds %s%s)"):format(table.concat(seeds, ", "),
        #list < e.planned and (" of %d"):format(e.planned) or "") or "")
      abl[#abl + 1] = ("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"):format(
        label .. (done and "" or " *"), ci(outcomes),
        #ppos > 0 and paired(list, ppos) or "–", #ppos > 0 and matched(list, ppo_of) or "–",
        #refs > 0 and paired(list, refs) or "–", #refs > 0 and matched(list, ref_of) or "–",
        pct(mean(list, "best")), over(field("last", "teacher_kl_token"), "%.3g"),
        over(field("last", "teacher_param_rel"), "%.2e"), pct(mean(list, field("last", "teacher_action_differs"))),
        over(field("last", "agent_sft_dist"), "%.3g"), pct(mean(list, field("last", "template_share"))),
        table.concat(updates, " / "), over("wall", "%.0f"))
      if e.runs[1].dir:find("/ablation/") then teacher_row("ablation " .. e.label:match("^[^:]+"), list, ppo_of) end
    end
  end
  if #abl > 1 then
    lines[#lines + 1] = ("## GTR-Turbo ablations on %s (seed %d, %d s each)"):format(a.task, a.seed, a.budget_s)
    lines[#lines + 1] = ""
    lines[#lines + 1] = "vs PPO, paired: against PPO at the same settings (the main grid's PPO run of the seed; for a variant "
      .. "with its own PPO control, that control), on the same episodes at the final evaluations (as in the task tables); "
      .. "vs PPO, matched updates: rollout success against the same PPO run at the same update, as in the task tables; "
      .. "vs reference: the same two comparisons against the GTR-Turbo run the variant changes one thing of (the "
      .. "baseline, or the variant its label names as its reference); "
      .. "agent–SFT distance: |θ_agent − θ_SFT| over the trainable parameters at the last update (how far RL moved "
      .. "the agent, guided or not; – for runs made before PPO logged it)."
    lines[#lines + 1] = ""
    lines[#lines + 1] = "| variant | final eval [95% CI over episodes] | vs PPO, paired | vs PPO, matched updates | vs reference, paired | vs reference, matched updates | best | teacher KL/token, last | teacher distance (rel.), last | teacher's action differs, last | agent–SFT distance, last | template share, last | updates | RL s |"
    lines[#lines + 1] = "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for _, r in ipairs(abl) do lines[#lines + 1] = r end
    lines[#lines + 1] = ""
    section_plots(dirs, "ablation", {"eval_success", "teacher_kl_token", "teacher_param_rel", "teacher_action_differs",
                                      "template_share", "invalid_rate"})
  end
end

if #teacher_rows > 0 then
  lines[#lines + 1] = "## The teacher, watched (GTR-Turbo runs)"
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Per update, before the PPO step: the teacher that guides it (a merge of the pool's checkpoints) "
    .. "against the agent. KL/token: k3 estimate on the agent's own answers (first minibatch), first → last update; "
    .. "guidance KL: the KL the algorithm uses (turbo-kl: per turn, thought tokens, clamped), mean over updates; "
    .. "distance: |θ_agent − θ_teacher| / |θ_agent| over the trainable parameters, first → last; action differs: "
    .. "share of first-turn states where the teacher's greedy answer names another action than the agent's greedy "
    .. "one, mean over updates; agent–SFT distance: |θ_agent − θ_SFT| at the end; rollouts = PPO's: the first k of n "
    .. "updates in which the run generated exactly what PPO at the same settings and seed generated (the same "
    .. "generators: as many tokens, the same actions), i.e. how long the guidance changed nothing. Means over seeds."
  lines[#lines + 1] = ""
  lines[#lines + 1] = "| run | merge | pool size, last | KL/token | guidance KL | distance (rel.) | action differs | agent–SFT distance | rollouts = PPO's |"
  lines[#lines + 1] = "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for _, r in ipairs(teacher_rows) do lines[#lines + 1] = r end
  lines[#lines + 1] = ""
  section_plots(teacher_dirs, "teacher", TEACHER)
end

moon.mkdir(docs)
moon.write_file(docs .. "/report.md", table.concat(lines, "\n") .. "\n")
print("wrote " .. docs .. "/report.md")
