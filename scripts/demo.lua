-- The default moonlab job. Until the RL layer lands this shows, for real, what exists: the Lua host and
-- its bindings. It never prints fabricated results.
print(("moonlab %s — %s"):format(moon.version, "scriptable workbench for agentic VLM policies"))
help()
local modules = {}
for k, v in pairs(moon) do if type(v) == "table" then modules[#modules + 1] = "moon." .. k end end
table.sort(modules)
print("available modules: " .. (#modules > 0 and table.concat(modules, ", ") or "(none yet)"))
