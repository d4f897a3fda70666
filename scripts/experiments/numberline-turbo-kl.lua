-- turbo-kl on numberline with the default config; extra key=value arguments override it (see scripts/experiment.lua).
arg = {[0] = arg[0], "turbo-kl", "numberline", table.unpack(arg)}
dofile((debug.getinfo(1, "S").source:match("^@(.*)/experiments/") or "scripts") .. "/experiment.lua")
