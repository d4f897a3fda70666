-- How state-dependent a policy's actions are, as logged by its run: every evaluation records, on the first turn of
-- its fixed episodes, the share of the most common action, the agreement with the task's solver and the action
-- counts (eval_first_* in metrics.jsonl, gtr/evaluate.lua); each update records the rollout's action frequencies
-- (actions, top_action_share). This prints the last of each for run directories:
--   moonlab run scripts/action_stats.lua RUN_DIR [RUN_DIR ...]
if not arg[1] then io.stderr:write("usage: moonlab run scripts/action_stats.lua RUN_DIR [RUN_DIR ...]\n"); os.exit(2) end
for _, dir in ipairs(arg) do
  local ev, up
  local f = io.open(dir .. "/metrics.jsonl", "r")
  if not f then print(dir .. " | no metrics.jsonl"); goto next end
  for line in f:lines() do
    if line:match("%S") then
      local r = moon.json.decode(line)
      if r.eval_first_actions then ev = r end
      if r.actions then up = r end
    end
  end
  f:close()
  if ev then
    print(("%s | update %d evaluation: most common action %.0f%% | agrees with the solver %.0f%% | %s"):format(dir,
      ev.update, 100 * ev.eval_first_top_action_share, 100 * ev.eval_first_solver_agreement, ev.eval_first_actions))
  end
  if up then
    print(("%s | update %d rollout: most common action %.0f%% | %s"):format(dir, up.update, 100 * up.top_action_share, up.actions))
  end
  ::next::
end
