-- Runs every Lua spec given on the command line: moonlab run tests/lua/run.lua tests/lua/*_spec.lua
local T = require("moon.test")
for _, path in ipairs(arg) do
  local chunk, err = loadfile(path)
  if not chunk then
    T.it(path, function() error(err) end)
  else
    T.describe(path:match("([^/]+)_spec%.lua$") or path, function() chunk(T) end)
  end
end
os.exit(T.report())
