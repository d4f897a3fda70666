-- The experiment tooling of docs/RESULTS.md: thought-collapse and teacher diagnostics, fixed-episode evaluation,
-- bootstrap intervals, the grid, and scripts/reproduce resuming a run killed (kill -9) in the middle of an update.
local T = ...
local diagnostics = require("gtr.diagnostics")
local stats = require("gtr.stats")

local exe = moon.executable()
local function tmpdir()
  local d = os.tmpname(); os.remove(d); os.execute("mkdir -p " .. d); return d
end
local function records(path)
  local out = {}
  for line in io.lines(path) do if line:match("%S") then out[#out + 1] = moon.json.decode(line) end end
  return out
end
local function exists(p) local f = io.open(p, "r"); if f then f:close() return true end return false end
local function sh(command) local p = io.popen(command); local out = p:read("a"); p:close(); return out end
--- Polls `cond` every 50 ms until it holds or `seconds` have passed; whether it held.
local function wait_for(cond, seconds)
  for _ = 1, math.ceil(seconds / 0.05) do
    if cond() then return true end
    os.execute("sleep 0.05")
  end
  return cond()
end
--- Whether no process holds the flock lock on `path`.
local function lock_free(path) return os.execute(("flock -n %q true"):format(path)) == true end
--- The command line of `scripts/reproduce <cmd>` on the tiny test grid in `out` (its report in out .. "-docs"), one job
--- at a time, with the build `bin` (default: the one under test; false: none given, so the grid's own, OUT/moonlab).
local function reproduce(cmd, out, bin)
  local build = bin == false and "env -u MOONLAB_BIN" or ("env MOONLAB_BIN=%q"):format(bin or exe)
  return ("%s MOONLAB_STDLIB=%q scripts/reproduce %s --grid test --preset tiny --jobs 1 --out %q --docs %q"):format(
    build, os.getenv("MOONLAB_STDLIB") or "stdlib", cmd, out, out .. "-docs")
end
local SMALL = {width = 32, layers = 1, heads = 2, intermediate = 64, vision_width = 32, vision_layers = 1}

T.it("diagnostics: actions, thought templates, collapse metrics", function()
  T.eq(diagnostics.action('{"thoughts": "x", "action": "+"}'), "+")
  T.eq(diagnostics.action('{"thoughts": "x", "action": " Hit "}'), "hit")
  T.eq(diagnostics.action('{"action": 7}'), "7")
  T.eq(diagnostics.action('{"thoughts": "no action here"}'), "(none)")
  -- the env's reading of an answer wins: an illegal answer (the env plays a random action) has no action
  T.eq(diagnostics.env_action({action = "Hit", illegal = false}, "?"), "hit")
  T.eq(diagnostics.env_action({action = "-", illegal = true}, '{"action": "-"}'), "(none)")
  T.eq(diagnostics.env_action(nil, '{"action": "-"}'), "-")
  T.eq(diagnostics.thoughts({'{"action": "+"}', "x"}, {{action = "+"}, {action = "-", illegal = true}}).actions, "(none):1 +:1")
  T.eq(diagnostics.template("Current 3, target  12: I should   add"), "current #, target #: i should add")
  local texts = {
    '{"thoughts": "current 1, target 3, move right", "action": "+"}',
    '{"thoughts": "current 2, target 4, move right", "action": "+"}',
    '{"thoughts": "current 5, target 0, move left", "action": "-"}',
    '{"thoughts": "garbage"}'}
  local d = diagnostics.thoughts(texts)
  T.near(d.template_share, 0.5, 1e-12)     -- two of four thoughts share "current #, target #, move right"
  T.near(d.templates, 0.75, 1e-12)
  T.near(d.top_action_share, 0.5, 1e-12)
  T.eq(d.actions, "+:2 (none):1 -:1")
  T.near(d.action_entropy, -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)), 1e-12)
  T.truthy(d.distinct_1 > 0 and d.distinct_1 < 1 and d.distinct_2 > d.distinct_1)
  -- a collapsed policy: one template, one action
  local same = diagnostics.thoughts({texts[1], texts[1], texts[1]})
  T.eq(same.template_share, 1); T.eq(same.top_action_share, 1); T.eq(same.action_entropy, 0)
  -- parameter distances
  local a, b = {w = moon.tensor{3, 4}}, {w = moon.tensor{0, 0}}
  local dab, na, dac = diagnostics.distance(a, b, {w = moon.tensor{3, 0}})
  T.near(dab, 5, 1e-6); T.near(na, 5, 1e-6); T.near(dac, 4, 1e-6)
end)

T.it("bootstrap intervals over seeds and episodes; time to reach a success level", function()
  local m, lo, hi = stats.bootstrap({"1111", "1111"})
  T.eq(m, 1); T.eq(lo, 1); T.eq(hi, 1)
  T.eq(stats.bootstrap({}), nil)
  local half = ("10"):rep(64)                 -- 128 episodes at 50%: about +-8.7 points
  m, lo, hi = stats.bootstrap({half}, {seed = 3})
  T.near(m, 0.5, 1e-12)
  T.truthy(lo > 0.38 and lo < 0.46 and hi > 0.54 and hi < 0.62, ("[%g, %g]"):format(lo, hi))
  -- two seeds that disagree completely: resampling seeds gives an interval spanning almost everything
  m, lo, hi = stats.bootstrap({("0"):rep(128), ("1"):rep(128)}, {seed = 3})
  T.near(m, 0.5, 1e-12); T.truthy(lo < 0.05 and hi > 0.95, ("[%g, %g]"):format(lo, hi))
  -- more seeds that agree: narrower than one seed
  local _, lo3, hi3 = stats.bootstrap({half, half, half}, {seed = 3})
  T.truthy(hi3 - lo3 < hi - lo and hi3 - lo3 < 0.15)
  -- paired differences on the same episodes: identical outcomes give exactly 0 whatever the success level
  local dm, dlo, dhi, differ = stats.paired({half, half}, {half, half}, {seed = 3})
  T.eq(dm, 0); T.eq(dlo, 0); T.eq(dhi, 0); T.eq(differ, 0)
  -- 16 of 128 episodes won by a, none lost: +12.5 points, an interval that excludes 0 (unpaired ones overlap)
  local better = ("1"):rep(16) .. half:sub(17)
  dm, dlo, dhi, differ = stats.paired({better}, {half}, {seed = 3})
  T.near(dm, 8 / 128, 1e-12); T.eq(differ, 8); T.truthy(dlo > 0 and dhi < 0.15, ("[%g, %g]"):format(dlo, dhi))
  T.eq(stats.paired({"101"}, {"10"}), nil); T.eq(stats.paired({}, {half}), nil)
  local recs = {{update = 0, eval_success = 0.2, wall_s = 0}, {update = 2, eval_success = 0.4, wall_s = 50},
                {update = 4, eval_success = 0.6, wall_s = 100}}
  T.eq(stats.time_to_reach(recs, 0.4), 50); T.eq(stats.time_to_reach(recs, 0.1), 0); T.eq(stats.time_to_reach(recs, 0.7), nil)
end)

T.it("evaluation: fixed episodes, the same outcomes whatever the batch size; first-turn action statistics", function()
  local d = tmpdir()
  local gtr = require("gtr")
  local run = gtr.ppo.new{run_dir = d .. "/r", quiet = true, seed = 2, updates = 0, model = SMALL,
    sft = {demos = 8, epochs = 1, batch = 4}, eval = {episodes = 5, start = false}, generation = {max_new_tokens = 24}}
  local evaluate = require("gtr.evaluate")
  local all = evaluate.run(run, {episodes = 5, batch = 0})
  local two = evaluate.run(run, {episodes = 5, batch = 2})
  T.eq(#all.outcomes, 5); T.truthy(all.outcomes:match("^[01]+$"))
  for _, k in ipairs{"outcomes", "success", "return", "invalid", "turns", "tokens", "first_actions",
                     "first_solver_agreement", "first_top_action_share"} do
    T.eq(two[k], all[k], k)
  end
  T.truthy(all.first_top_action_share > 0 and all.first_top_action_share <= 1)
  -- eval.start = false: the update-0 record has no evaluation
  T.eq(records(d .. "/r/metrics.jsonl")[1].eval_success, nil)
  os.execute("rm -rf " .. d)
end)

T.it("eval.every_s: an evaluation each time the RL clock passes a multiple of every_s, and at the end", function()
  local d = tmpdir()
  local gtr = require("gtr")
  local function evals(every_s, name)
    local run = gtr.ppo.new{run_dir = d .. "/" .. name, quiet = true, seed = 2, updates = 3, num_envs = 2, steps = 1,
      samples = 0, model = SMALL, sft = {demos = 0}, generation = {max_new_tokens = 8}, ppo = {minibatch = 2, epochs = 1},
      eval = {episodes = 2, every = 0, every_s = every_s, start = false}}
    run:train()
    local n = 0
    for _, r in ipairs(records(d .. "/" .. name .. "/metrics.jsonl")) do if r.eval_success then n = n + 1 end end
    return n
  end
  T.eq(evals(1e-6, "often"), 3)   -- every update crosses a multiple
  T.eq(evals(1e9, "never"), 1)    -- only the final one
  os.execute("rm -rf " .. d)
end)

T.it("the wave-2 grid: 12 SFT starts, 42 RL runs at the issue's budgets, one SFT start per task and seed", function()
  local G = dofile("scripts/experiments/grid.lua")
  local runs = G.runs(G.wave2, {out = "o", preset = "smollm"})
  local n = {sft = 0, rl = 0}
  local budget, sft_of = {}, {}
  for _, r in ipairs(runs) do
    n[r.phase] = n[r.phase] + 1
    if r.phase == "rl" then
      budget[r.task] = r.budget_s
      local ck = table.concat(r.args, " "):match("sft%.checkpoint=(%S+)")
      T.eq(ck, ("o/sft/%s-s%d/checkpoints/sft.safetensors"):format(r.task, r.seed))
      sft_of[ck] = true
    end
  end
  T.eq(n.sft, 12); T.eq(n.rl, 42)
  T.eq(budget.points24, 3600); T.eq(budget.numberline, 1800)
  local k = 0
  for _ in pairs(sft_of) do k = k + 1 end
  T.eq(k, 12)
  T.eq(runs[1].phase, "sft"); T.eq(runs[1].task, "points24")   -- the SFT starts first, the headline task first
  local only = G.runs(G.wave2, {out = "o", preset = "smollm", only = "ablations", scale = 0.5})
  -- 9 ablations (one on seeds 2 and 3 too: kl-coef-300-s2, -s3), 1 control, and the SFT starts of seeds 1-3
  T.eq(#only, 15); T.eq(only[4].budget_s, 1800)
  local by = {}
  for _, r in ipairs(only) do by[r.dir] = r end
  for seed = 2, 3 do
    local r = by[("o/ablation/kl-coef-300-s%d"):format(seed)]
    T.truthy(r and r.seed == seed and by[("o/sft/points24-s%d"):format(seed)], seed)
    local args = table.concat(r.args, " ")
    T.truthy(args:find(("sft.checkpoint=o/sft/points24-s%d/checkpoints/sft.safetensors"):format(seed), 1, true)
             and args:find("turbo.kl_coef=300", 1, true), args)
  end
  T.eq(by["o/ablation/kl-coef-300"].seed, 1)
  -- the effective evaluation interval is the last eval.every_s: Points24's own (1200 s), scaled with the budget
  local function every(r) local v; for _, a in ipairs(r.args) do v = a:match("^eval%.every_s=(%d+)$") or v end; return tonumber(v) end
  T.eq(every(only[4]), 600)
  for _, r in ipairs(runs) do
    if r.phase == "rl" then T.eq(every(r), r.task == "points24" and 1200 or 600) end
  end
  -- scripts/reproduce --runs: only the named RL runs (by path below out or by name), with the SFT start they need;
  -- docs: an empty directory, so that the runs git already keeps as done (docs/results/wave2/runs) are listed too
  local docs = tmpdir()
  local env = ("env MOONLAB_STDLIB=%q %q run scripts/reproduce.lua jobs out=o docs=%s "):format(
    os.getenv("MOONLAB_STDLIB") or "stdlib", exe, docs)
  local p = io.popen(env .. "runs=ablation/lr-1e-4,ppo-lr-1e-4")
  local jobs = {}
  for l in p:lines() do jobs[#jobs + 1] = l end
  p:close()
  T.eq(#jobs, 3)
  T.truthy(jobs[1]:match("^sft o/sft/points24%-s1 ppo points24 "), jobs[1])
  T.truthy(jobs[2]:match("^rl o/ablation/lr%-1e%-4 turbo%-kl points24 .* ppo%.lr=1e%-4$"), jobs[2])
  T.truthy(jobs[3]:match("^rl o/ablation/ppo%-lr%-1e%-4 ppo points24 .* ppo%.lr=1e%-4$"), jobs[3])
  local _, _, code = os.execute(env .. "runs=no-such-run 2>/dev/null")
  T.eq(code, 2)
  os.execute("rm -rf " .. docs)
end)

T.it("scripts/reproduce runs a grid on the build kept with it (OUT/moonlab), and never on what is not a regular file", function()
  local d = tmpdir()
  local function kept(cmd) return sh(reproduce(cmd, d .. "/o", false) .. " 2>&1; echo rc=$?") end
  os.execute(("mkdir -p %q && cp %q %q"):format(d .. "/o", exe, d .. "/o/moonlab"))
  local out = kept("run --dry-run")
  T.truthy(out:find("the grid's build " .. d .. "/o/moonlab (sha256 ", 1, true), out)
  T.truthy(out:find("\nrl " .. d .. "/o/main/numberline/ppo%-s1 ppo numberline ") and out:find("rc=0"), out)
  T.truthy(kept("status"):find("rc=0"))
  -- an SFT start stopped in its training: the status says how far it got (its own checkpoint, gtr/sft.lua)
  local sft = d .. "/o/sft/numberline-s1"
  os.execute(("mkdir -p %q/checkpoints && echo '{}' > %q/config.json"):format(sft, sft))
  moon.ckpt.save(sft .. "/checkpoints/sft-progress.safetensors", {["policy/w"] = moon.zeros(1)},
    {["moonlab.sft_progress"] = moon.json.encode{step = 25, planned = 315}})
  out = kept("status")
  T.truthy(out:find("partial  sft  " .. sft:gsub("%p", "%%%0") .. "%s+25 /   315 SFT steps\n"), out)
  os.execute(("rm -r %q"):format(sft))
  -- FIFOs where a run's files would be (opening one for reading would block): the status goes on without them
  local rl = d .. "/o/main/numberline/ppo-s1"
  os.execute(("mkdir -p %q/checkpoints && mkfifo %q/config.json %q/metrics.jsonl %q/checkpoints/state-000001.json")
    :format(rl, rl, rl, rl))
  -- ... and a run whose state and config have fields of the wrong types counts as started, at 0 s
  local odd = d .. "/o/main/numberline/turbo-kl-s1"
  os.execute(("mkdir -p %q/checkpoints && echo '{\"budget_s\": \"big\"}' > %q/config.json"
    .. " && echo '{\"update\": \"x\", \"clock\": {}}' > %q/checkpoints/state-000002.json"):format(odd, odd, odd))
  out = sh("timeout 120 " .. reproduce("status", d .. "/o", false) .. " 2>&1; echo rc=$?")
  T.truthy(out:find("todo     rl   " .. rl:gsub("%p", "%%%0") .. "%s+0 /") and out:find("rc=0"), out)
  T.truthy(out:find("partial  rl   " .. odd:gsub("%p", "%%%0") .. "%s+0 /%s+%d+ s RL\n"), out)
  os.execute(("rm -r %q %q"):format(rl, odd))
  -- an output directory with a quote in its name: the status still finds a run's latest state
  local started = d .. "/it's/main/numberline/ppo-s1"
  os.execute(("mkdir -p %q/checkpoints && echo '{}' > %q/config.json && echo '{\"update\": 3, \"clock\": 120}' > %q"):format(
    started, started, started .. "/checkpoints/state-000003.json"))
  out = sh(reproduce("status", d .. "/it's") .. " 2>&1; echo rc=$?")
  T.truthy(out:find("partial  rl   " .. started:gsub("%p", "%%%0") .. "%s+120 /%s+%d+ s RL %(update 3%)") and out:find("rc=0"), out)
  -- a directory or a link in its place stops the grid before anything runs or is copied over it
  for _, make in ipairs({"rm %q && mkdir %q", "rm -r %q && ln -s /dev/null %q"}) do
    os.execute(make:format(d .. "/o/moonlab", d .. "/o/moonlab"))
    out = kept("run")
    T.truthy(out:find("is not a regular file") and out:find("rc=2"), out)
  end
  T.truthy(os.execute(("test -L %q"):format(d .. "/o/moonlab")), "the link is left as it was")
  os.execute("rm -rf " .. d)
end)

T.it("scripts/reproduce: two invocations on one grid, each with its own --runs, run their own runs and share the SFT start", function()
  local d = tmpdir()
  local function only(runs, log)
    return ("%s > %q 2>&1; echo rc=$? >> %q"):format(reproduce("run --runs " .. runs, d .. "/o"), log, log)
  end
  -- started together: the second finds the first making the SFT start both need (and, before the fix, read the
  -- first one's job list)
  os.execute(("(%s) & (%s) & wait"):format(only("ppo-s1", d .. "/a.out"), only("turbo-kl-s1", d .. "/b.out")))
  local a, b = io.open(d .. "/a.out"):read("a"), io.open(d .. "/b.out"):read("a")
  T.truthy(a:find("rc=0") and b:find("rc=0"), a .. "\n---\n" .. b)
  T.truthy(a:find("start: " .. d .. "/o/main/numberline/ppo-s1", 1, true) and not a:find("turbo-kl-s1 (rl", 1, true), a)
  T.truthy(b:find("start: " .. d .. "/o/main/numberline/turbo-kl-s1", 1, true) and not b:find("ppo-s1 (rl", 1, true), b)
  local sft = d .. "/o/sft/numberline-s1"
  local made = select(2, (a .. b):gsub("start: " .. sft:gsub("%p", "%%%0") .. " ", ""))
  T.eq(made, 1, "the SFT start is made once")
  for _, r in ipairs({"main/numberline/ppo-s1", "main/numberline/turbo-kl-s1"}) do
    T.truthy(exists(d .. "/o/" .. r .. "/DONE"), r)
    T.truthy(exists(d .. "/o-docs/runs/" .. r .. "/DONE"), "kept: " .. r)
  end
  -- a run that another invocation is still running (its lock held) is not kept half-written; once free, it is
  local busy = d .. "/o/main/numberline/busy-s1"
  os.execute(("mkdir -p %q && echo '{\"update\": 0}' > %q/metrics.jsonl"):format(busy, busy))
  os.execute(("flock -o %q sleep 30 > /dev/null 2>&1 & echo $! > %q"):format(busy .. ".lock", d .. "/holder"))
  wait_for(function() return not lock_free(busy .. ".lock") end, 5)
  T.truthy(os.execute(reproduce("report", d .. "/o") .. " > /dev/null 2>&1"))
  T.truthy(not exists(d .. "/o-docs/runs/main/numberline/busy-s1/metrics.jsonl"), "a locked run is not kept")
  os.execute(("kill $(cat %q) 2>/dev/null"):format(d .. "/holder"))   -- flock -o: the lock dies with flock itself
  wait_for(function() return lock_free(busy .. ".lock") end, 5)
  T.truthy(os.execute(reproduce("report", d .. "/o") .. " > /dev/null 2>&1"))
  T.truthy(exists(d .. "/o-docs/runs/main/numberline/busy-s1/metrics.jsonl"), "kept once its lock is free")
  os.execute("rm -rf " .. d)
end)

T.it("scripts/reproduce resumes a run killed in the middle of an update (kill -9) and ends as an uninterrupted one", function()
  local d = tmpdir()
  -- the reference, uninterrupted
  T.truthy(os.execute(reproduce("run", d .. "/a") .. " > " .. d .. "/a.out 2>&1"), "reference grid ran")
  -- the same grid, its process group killed with SIGKILL once the GTR-Turbo run is past its first checkpoint
  local b = d .. "/b"
  local run = b .. "/main/numberline/turbo-kl-s1"
  os.execute(("setsid bash -c 'echo $$ > %q; exec %s' > %q 2>&1 &"):format(d .. "/pgid", reproduce("run", b), d .. "/b.out"))
  wait_for(function() return exists(run .. "/checkpoints/state-000001.json") end, 600)
  T.truthy(exists(run .. "/checkpoints/state-000001.json"), "the run reached its first checkpoint")
  local pgid = io.open(d .. "/pgid"):read("l")
  T.truthy(os.execute("kill -9 -" .. pgid), "the grid's process group was killed")   -- (dash: no '--')
  os.execute("sleep 0.2")
  T.truthy(lock_free(run .. ".lock"), "its lock died with it")
  T.truthy(not exists(run .. "/DONE"), "killed before the end")
  T.truthy(not exists(run .. "/checkpoints/state-000008.json"), "killed before the last update")
  local status = sh(reproduce("status", b) .. " 2>&1")
  T.truthy(status:find("started and stopped"), status)
  -- the next session: run it again, with another build (the same program with a byte appended: another sha256),
  -- which the resumed run's log and the output warn about
  local copy = d .. "/moonlab-copy"
  T.truthy(os.execute(("cp %q %q && printf x >> %q"):format(exe, copy, copy)))
  T.truthy(os.execute(reproduce("run", b, copy) .. " > " .. d .. "/b2.out 2>&1"),
    "resumed grid ran")
  T.truthy(exists(run .. "/DONE"))
  T.truthy(io.open(d .. "/b2.out"):read("a"):find("WARNING: " .. run .. " was started by build", 1, true))
  T.truthy(io.open(run .. ".log"):read("a"):find("resumes with", 1, true))
  status = sh(reproduce("status", b) .. " 2>&1")
  T.truthy(status:find("3 runs: 3 done"), status)
  local ra = records(d .. "/a/main/numberline/turbo-kl-s1/metrics.jsonl")
  local rb = records(run .. "/metrics.jsonl")
  T.eq(#rb, #ra)
  for i = 1, #ra do
    T.eq(rb[i].update, ra[i].update)   -- every update once, in order
    for _, k in ipairs{"success_rate", "return", "invalid_rate", "entropy", "kl", "value_loss", "eval_success",
                       "teacher_kl_token", "teacher_param_rel", "tokens_generated", "tokens_trained", "actions",
                       "episodes", "episodes_started"} do
      if type(ra[i][k]) == "number" then T.near(rb[i][k], ra[i][k], 1e-6, k .. " at update " .. ra[i].update)
      else T.eq(rb[i][k], ra[i][k], k) end
    end
  end
  -- success_rate's denominator: every episode started, finished or still running at the update's end
  for i = 2, #rb do T.truthy(rb[i].episodes_started >= rb[i].episodes and rb[i].episodes_started > 0, rb[i].update) end
  -- update 1: the teacher is the merge of the SFT start alone, i.e. the agent: no distance, no KL, same actions;
  -- later the pool holds the updates and the teacher moves away from the SFT start
  T.eq(rb[2].teacher_pool, "0"); T.eq(rb[2].teacher_merge, "ties")
  T.eq(rb[2].teacher_param_dist, 0); T.near(rb[2].teacher_kl_token, 0, 1e-9); T.eq(rb[2].teacher_action_differs, 0)
  T.eq(rb[#rb].teacher_pool, "0,1,2,3,4,5,6,7"); T.truthy(rb[#rb].teacher_param_dist > 0 and rb[#rb].agent_sft_dist > 0)
  T.truthy(rb[#rb].tokens_trained >= rb[#rb].tokens_generated and rb[#rb].tokens_teacher_scored > 0)
  -- the teacher's scoring pass has its own share of the update's time; PPO has none
  T.truthy(rb[#rb].time_guide_s > 0 and rb[#rb].time_split:find(" guide ", 1, true), rb[#rb].time_split)
  local rp1 = records(b .. "/main/numberline/ppo-s1/metrics.jsonl")
  T.truthy(rp1[2].time_guide_s < 1e-3)
  -- PPO logs how far it moved from the SFT start too (0 before its first step, then growing), as a guided run does
  T.eq(rp1[2].agent_sft_dist, 0); T.truthy(rp1[#rp1].agent_sft_dist > 0, rp1[#rp1].agent_sft_dist)
  T.truthy(rp1[#rp1].teacher_param_dist == nil)
  -- the RL runs did not evaluate the shared SFT start again: they copied its evaluation
  local sft0 = records(b .. "/sft/numberline-s1/metrics.jsonl")[1]
  T.truthy(sft0.eval_outcomes ~= nil)
  T.eq(rb[1].update, 0); T.eq(rb[1].eval_outcomes, sft0.eval_outcomes); T.eq(rb[1].eval_from, b .. "/sft/numberline-s1")
  -- the report reads the grid
  local report = io.open(b .. "-docs/report.md"):read("a")
  T.truthy(report:find("GTR%-Turbo %(KL%)")); T.truthy(report:find("teacher, watched"))
  -- GTR-Turbo (KL) against PPO on the same episodes: a difference with its interval and the count that differ
  T.truthy(report:find("| GTR%-Turbo %(KL%) | [^|]+ | [^|]+ | [%+%-]%d+%.%d %[[%+%-]%d+%.%d, [%+%-]%d+%.%d%], %d+ differ |"), report)
  -- and in rollout success at the same update, over the updates both made (8 each here): the mean difference
  local shown = report:match("| ([%+%-]%d+%.%d) %[[%+%-]%d+%.%d, [%+%-]%d+%.%d%] %(at 8 updates%) |")
  T.truthy(shown, report)
  local rp, diff = records(b .. "/main/numberline/ppo-s1/metrics.jsonl"), 0
  for u = 1, 8 do diff = diff + (rb[u + 1].success_rate - rp[u + 1].success_rate) / 8 end
  T.near(tonumber(shown), 100 * diff, 0.051)
  -- the teacher table says how long GTR-Turbo's rollouts stayed PPO's: update 1 always (the same SFT start, the same
  -- generators, a teacher that is the SFT start), then until the guidance changes a sampled token
  local k, n = report:match("| numberline, GTR%-Turbo %(KL%) |[^\n]* (%d+)/(%d+) |\n")
  T.truthy(k, report); T.eq(tonumber(n), 8); T.truthy(tonumber(k) >= 1 and tonumber(k) <= 8)
  -- the grid's records are kept under the docs (for git), byte for byte
  local kept = b .. "-docs/runs/main/numberline/turbo-kl-s1"
  T.truthy(exists(kept .. "/DONE") and exists(kept .. "/config.json"), "the run's records are kept")
  local kept_metrics = io.open(kept .. "/metrics.jsonl"):read("a")
  T.truthy(not os.execute("git check-ignore -q docs/results/wave2/runs/main/points24/ppo-s1/metrics.jsonl 2>/dev/null"),
    "git keeps what scripts/reproduce keeps under docs/results/<grid>/runs/")
  T.eq(kept_metrics, io.open(run .. "/metrics.jsonl"):read("a"))
  -- a new machine without the runs: nothing runs again, the status counts them done, the report's tables are the same
  local function tables(path)
    local t = {}
    for l in io.lines(path) do if l:match("^| ") then t[#t + 1] = l end end
    return table.concat(t, "\n")
  end
  local before = tables(b .. "-docs/report.md")
  os.execute(("rm -rf %q %q"):format(b, b .. "-docs/report.md"))
  local again = sh(reproduce("run", b) .. " 2>&1")
  T.truthy(not again:find("start: ") and not again:find("failed"), again)
  status = sh(reproduce("status", b) .. " 2>&1")
  T.truthy(status:find("3 runs: 3 done"), status)
  T.truthy(#before > 0); T.eq(tables(b .. "-docs/report.md"), before)
  local function report_again() return sh(reproduce("report", b) .. " 2>&1") end
  -- an unfinished run never replaces a finished one's records
  os.execute(("mkdir -p %q && echo '{\"update\":0}' > %q"):format(run, run .. "/metrics.jsonl"))
  report_again()
  T.eq(io.open(kept .. "/metrics.jsonl"):read("a"), kept_metrics)
  -- a finished one does, but never through a link
  os.execute(("rm -rf %q && cp -r %q %q && rm %q && ln -s /dev/null %q"):format(run, kept, run, kept .. "/config.json", kept .. "/config.json"))
  T.truthy(report_again():find("config.json is not a regular file; not archived", 1, true))
  T.truthy(os.execute(("test -L %q"):format(kept .. "/config.json")), "the link is left as it was")
  T.eq(io.open(kept .. "/metrics.jsonl"):read("a"), kept_metrics)
  os.execute("rm -rf " .. d)
end)

T.it("the report's ablation table: each variant against its own PPO control where it has one, and against its reference", function()
  -- records as scripts/reproduce keeps them, for the wave-2 grid's Points24 seed-1 ablations: the main grid's PPO
  -- and GTR-Turbo (KL) runs, the lr-1e-4 control, a variant with that control and one without (unfinished)
  local d = tmpdir()
  local out, docs = d .. "/o", d .. "/docs"
  local function run(rel, rates, outcomes, done, teacher, actions, early)  -- early: an evaluation at update 2
    local dir = out .. "/" .. rel
    os.execute(("mkdir -p %q"):format(dir))
    local f = assert(io.open(dir .. "/metrics.jsonl", "w"))
    f:write(moon.json.encode({update = 0, wall_s = 0, eval_success = 0.125, eval_outcomes = ("1"):rep(2) .. ("0"):rep(14)}), "\n")
    for u, rate in ipairs(rates) do
      local r = {update = u, wall_s = 100 * u, success_rate = rate, tokens_generated = 1000 + u,
                 actions = (u == 1 and actions:sub(1, 1) or actions:sub(-1)) .. ":" .. u}
      if teacher then r.teacher_param_rel, r.teacher_kl_token, r.kl, r.teacher_merge, r.teacher_pool = 0.01 * u, 0.001, 0.002, "ties", "0" end
      r.agent_sft_dist = #rel * u  -- the report shows the last update's
      if u == 2 and early then r.eval_outcomes, r.eval_success = early, 1 end
      if u == #rates then
        r.eval_outcomes = outcomes
        local n = 0; for _ in outcomes:gmatch("1") do n = n + 1 end
        r.eval_success = n / #outcomes
      end
      f:write(moon.json.encode(r), "\n")
    end
    f:close()
    if done then io.open(dir .. "/DONE", "w"):close() end
  end
  -- PPO evaluated at update 2 too (the grid's schedule): finished runs are compared at their final evaluations,
  -- whatever the other's schedule (the ablations evaluated only at the end)
  run("main/points24/ppo-s1", {0, 0, 0, 0}, "1100000000000000", true, false, "a", ("1"):rep(16))
  run("main/points24/turbo-kl-s1", {0.25, 0.25, 0.25, 0.25}, "1111000000000000", true, true, "a")
  run("ablation/ppo-lr-1e-4", {0.5, 0.5, 0.5}, "0000000000000000", true, false, "b")
  run("ablation/lr-1e-4-kl-30", {0.5, 0.5, 0.5, 0.5}, "1111111100000000", true, true, "bc")
  run("ablation/pool-4", {0.25, 0.25}, "1100000000000011", false, true, "a")
  run("ablation/kl-coef-300", {0.25, 0.5, 0.5}, "1111110000000000", true, true, "a")
  run("ablation/merge-ema-kl-300", {0.25, 0.25, 0.5, 0.5}, "1111000000000011", true, true, "a")
  -- a variant on more seeds (kl-coef-300 names seeds 1-3): seed 2's run against seed 2's PPO and baseline; seed 3's
  -- has not run
  run("main/points24/ppo-s2", {0, 0, 0}, "0000000000000000", true, false, "a")
  run("main/points24/turbo-kl-s2", {0, 0, 0}, "1000000000000000", true, true, "a")
  run("ablation/kl-coef-300-s2", {0, 0.25, 0}, "1100000000000000", true, true, "a")
  -- a finished run kept in git (docs/runs) and the same run made again on this machine, under way: the kept one counts
  run("kept", {0, 0, 0}, ("0"):rep(16), true, false, "a")
  os.execute(("mkdir -p %q && mv %q %q"):format(docs .. "/runs/main/points24", out .. "/kept", docs .. "/runs/main/points24/gtr-s1"))
  run("main/points24/gtr-s1", {1}, ("1"):rep(16), false, false, "a")
  -- a FIFO where a run's records would be (no writer: opening it for reading would block) is no run, at once
  os.execute(("mkdir -p %q && mkfifo %q"):format(out .. "/ablation/merge-average", out .. "/ablation/merge-average/metrics.jsonl"))
  local function make_report(extra)  -- scripts/report.lua on these records: its output and report.md
    local log = sh(("MOONLAB_STDLIB=%q timeout 120 %q run scripts/report.lua %q %q wave2%s 2>&1"):format(
      os.getenv("MOONLAB_STDLIB") or "stdlib", exe, out, docs, extra or ""))
    return log, io.open(docs .. "/report.md"):read("a")
  end
  local log, report = make_report()
  local function row(name)  -- the table row that begins with `name` (plain text), from its newline
    local at = report:find("\n| " .. name, 1, true)
    return at and report:match("^\n[^\n]*", at)
  end
  T.truthy(report:find("## GTR-Turbo ablations on points24 (seed 1, 3600 s each)", 1, true), log .. report)
  -- the lr-1e-4 variant against its control at lr 1e-4 (8 of 16 episodes better, the same rollout success over the
  -- 3 updates both made), not against the main grid's PPO (+37.5, 6 differ; +50 at matched updates)
  local kl30 = row("lr-1e-4-kl-30: ")
  T.truthy(kl30, report)
  T.truthy(kl30:find("| +50.0 [", 1, true) and kl30:find(", 8 differ | +0.0 [+0.0, +0.0] (at 3 updates) |", 1, true), kl30)
  -- with how far the run moved from its SFT start (its last update's agent_sft_dist), the control's too
  T.truthy(kl30:find(("| %d | "):format(4 * #"ablation/lr-1e-4-kl-30"), 1, true), kl30)
  T.truthy(row("ppo-lr-1e-4: "):find(("| %d | "):format(3 * #"ablation/ppo-lr-1e-4"), 1, true), report)
  -- a variant without a control of its own is compared with the main grid's PPO run, and is marked unfinished: at
  -- the latest evaluation both made (update 2: -75.0, 12 differ; PPO's final would give +12.5, 2 differ)
  local pool = row("pool-4: ")
  T.truthy(pool, report)
  T.truthy(pool:find("^\n| pool%-4: [^|]* %* |"), pool)
  T.truthy(pool:find("| -75.0 [", 1, true) and pool:find(", 12 differ | +25.0 [+25.0, +25.0] (at 2 updates) |", 1, true), pool)
  -- ... and against its reference, the baseline (the same success on the final 16 episodes, 4 of them differ; the
  -- same rollout success at the 2 updates both made)
  T.truthy(pool:find(", 12 differ | +25.0 [+25.0, +25.0] (at 2 updates) | +0.0 [", 1, true)
           and pool:find(", 4 differ | +0.0 [+0.0, +0.0] (at 2 updates) |", 1, true), pool)
  -- a variant that names its reference (versus) against that run: merge-ema-kl-300 against kl-coef-300 (against
  -- the baseline it would be +12.5, 2 differ), rollouts 0 / -25 / 0 at the 3 updates both made; and one whose
  -- reference has not run has no such comparison
  local ema = row("merge-ema-kl-300: ")
  T.truthy(ema and ema:find(" | +0.0 [", 1, true) and ema:find(", 4 differ | -8.3 [", 1, true)
           and ema:find("(at 3 updates) | ", 1, true), ema or report)
  T.truthy(kl30:find(" (at 3 updates) | – | – | ", 1, true), kl30)
  -- the baseline is the main grid's GTR-Turbo (KL) run; the control has its own row and nothing to compare with
  T.truthy(row("turbo-kl (baseline): "):find("| +12.5 [", 1, true), report)
  T.truthy(row("ppo-lr-1e-4: PPO, ppo.lr=1e-4 "):find("| 0.0 [0.0, 0.0] | – | – | – | – |", 1, true), report)
  T.truthy(row("turbo-kl (baseline): "):find(" (at 4 updates) | – | – | ", 1, true), report)
  -- one row over the variant's seeds: each seed paired with its own PPO run (4 and 2 episodes better: +6 of 32) and
  -- its own baseline (2 and 1 better: +3 of 32); the seeds it has, of the 3 planned
  local k300 = row("kl-coef-300: ")
  T.truthy(k300 and k300:find("^\n| kl%-coef%-300: KL coefficient 300 %(seeds 1, 2 of 3%) |"), k300 or report)
  T.truthy(k300:find("| +18.8 [", 1, true) and k300:find(", 6 differ | ", 1, true), k300)
  T.truthy(k300:find("| +9.4 [", 1, true) and k300:find(", 3 differ | ", 1, true), k300)
  T.truthy(k300:find(" | 3 / 3 | ", 1, true), k300)                  -- updates, seed by seed
  T.truthy(row("GTR (solver teacher) "):find("^\n| GTR %(solver teacher%) | 0%.0 %[0%.0, 0%.0%] |"), row("GTR (solver teacher) "))
  -- the variants that did not run have no row (merge-average: a FIFO in place of its records)
  T.truthy(not row("merge-ema: ") and not row("merge-average: "), report)
  -- the teacher table: the variant's rollouts against its control's (the same actions at update 1 only: 1 of the 3
  -- both made; against the main grid's PPO it would be 0 of 4), and pool-4's against the main grid's PPO (2 of 2)
  T.truthy(row("ablation lr-1e-4-kl-30 | ties | 1 |"):find(" 1/3 |", 1, true), report)
  T.truthy(row("ablation pool-4 | ties | 1 |"):find(" 2/2 |", 1, true), report)
  -- `finished`: the unfinished pool-4 run is left out of the tables (and the curves), the finished ones stay
  log, report = make_report(" finished")
  T.truthy(not row("pool-4: ") and not row("ablation pool-4 "), log .. report)
  T.truthy(not report:find(" * |", 1, true), report)
  T.truthy(row("lr-1e-4-kl-30: ") == kl30, report)
  os.execute("rm -rf " .. d)
end)
