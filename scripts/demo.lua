-- The main job: a short default GTR-Turbo (KL guidance, TIES-merged teacher) experiment on NumberLine.
-- SFT initialisation from the solver's demonstrations, then PPO updates guided by the merged checkpoint pool.
-- Extra key=value arguments override the config (see scripts/experiment.lua), e.g. `scripts/demo updates=20`.
local defaults = {"turbo-kl", "numberline", "updates=6",
                  "run_dir=runs/demo-" .. os.date("%Y%m%d-%H%M%S")}
local args = {[0] = arg[0]}
for _, a in ipairs(defaults) do args[#args + 1] = a end
for _, a in ipairs(arg) do args[#args + 1] = a end
arg = args
print(("moonlab %s — GTR-Turbo on NumberLine (a few minutes on 2 cores)"):format(moon.version))
dofile((debug.getinfo(1, "S").source:match("^@(.*)/demo%.lua$") or "scripts") .. "/experiment.lua")
