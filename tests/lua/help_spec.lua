-- help() on the gtr stdlib: doc strings registered from the Lua sources (gtr/doc.lua), hooks documented once.
local T = ...
local child = T.child

T.it("help() on gtr modules, runs and hooks (doc strings registered from the Lua sources)", function()
  local out, ok = child([[
    help(require("gtr.turbo"))
    print("--")
    help(require("gtr.core").Run.update)
    print("--")
    help(require("gtr.core").hooks)
    print("--")
    help(require("gtr"))
    print("--")
    help(require("gtr.turbo").new{env = "numberline", quiet = true, sft = {demos = 0}, eval = {episodes = 0},
      num_envs = 1, run_dir = os.tmpname() .. "-run"})
    help(require("gtr.turbo").new)
  ]])
  T.truthy(ok, out)
  T.truthy(out:find("GTR-Turbo: the checkpoints RL produces are merged", 1, true), out)
  T.truthy(out:find("turbo.estimator(t) -- The KL estimator", 1, true), out)
  T.truthy(out:find("Run:update() -- One full update", 1, true), out)
  T.truthy(out:find("extra_loss(run, score, idx, samples) -> loss, stats", 1, true), out)
  T.truthy(out:find("0-based", 1, true), out)
  T.truthy(out:find("gtr: RL algorithms for VLM agents", 1, true), out)
  T.truthy(out:find("turbo.new(cfg) -- A GTR-Turbo run", 1, true), out)
  T.truthy(out:find("methods:\n  Run:", 1, true), out)  -- help(run)
  T.truthy(out:find("\n  Run:advantages(samples, last, old) -- GAE", 1, true), out)
  T.raises(function() require("gtr.core").new({}, "x", {extra_los = function() end}) end, "unknown hook 'extra_los'")
end)
