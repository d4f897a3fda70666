-- Compares two outputs of tests/dist/train.lua: moonlab run tests/dist/compare.lua A.safetensors B.safetensors [tol]
-- Parameters within tol (1e-5); rollout metrics equal; loss statistics (float32 sums over different splits) within
-- 1e-4 relative + 1e-5. Exits non-zero on a difference.
local a, am = moon.ckpt.load(arg[1]), moon.ckpt.metadata(arg[1])
local b, bm = moon.ckpt.load(arg[2]), moon.ckpt.metadata(arg[2])
local tol = tonumber(arg[3] or "1e-5")
local maxd, names = 0, 0
for k, t in pairs(a) do
  assert(b[k], "missing parameter " .. k)
  maxd = math.max(maxd, (t - b[k]):abs():max():item())
  names = names + 1
end
local ma, mb = moon.json.decode(am.metrics), moon.json.decode(bm.metrics)
local bad = {}
if #ma ~= #mb then bad[#bad + 1] = ("%d vs %d metrics records"):format(#ma, #mb) end
local skip = {wall_s = true, tokens_per_s = true, ranks = true, time_split = true}  -- and every time_* key (clocks)
local loose = {policy_loss = 1, value_loss = 1, approx_kl = 1, clip_frac = 1, ratio = 1, grad_norm = 1, entropy = 1,
               kl = 1, kl_loss = 1, sft_loss = 1,
               -- diagnostics of the teacher (gtr/diagnostics.lua): float32 scores and parameters within 1.2e-7
               teacher_kl_token = 1, teacher_logratio = 1, teacher_param_dist = 1, teacher_param_rel = 1,
               agent_sft_dist = 1}
local compared = 0
for i = 1, math.min(#ma, #mb) do
  for k, v in pairs(ma[i]) do
    local w = mb[i][k]
    if not skip[k] and not k:find("^time_") then
      compared = compared + 1
      local limit = loose[k] and 1e-4 * math.abs(v) + 1e-5 or 1e-12 * math.max(1, math.abs(type(v) == "number" and v or 0))
      if type(v) ~= type(w) or (type(v) == "number" and math.abs(v - w) > limit) or (type(v) ~= "number" and v ~= w) then
        bad[#bad + 1] = ("update %s: %s %s vs %s"):format(ma[i].update, k, tostring(v), tostring(w))
      end
    end
  end
end
print(("compare: %d parameter tensors, max |diff| %.3g (tol %g); %d metric values, %d differ"):format(names, maxd, tol, compared, #bad))
for _, l in ipairs(bad) do print("  " .. l) end
if maxd > tol or #bad > 0 then os.exit(1) end
