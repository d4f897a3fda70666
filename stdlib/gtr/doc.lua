--- help() for the gtr stdlib: the `---` comments written above each function (and at the top of each file) become
-- the doc strings help() shows (moon.doc), so each is written once, in the source, where a reader of the code sees
-- it too. Every gtr module calls doc.module(M) on its table before returning it.
--   help(require("gtr.turbo"))   help(run)   help(run.update)   help(require("gtr.core").hooks)
local doc = {}

local files = {}

local function lines_of(source)
  if files[source] ~= nil then return files[source] end
  local out = false
  if source:sub(1, 1) == "@" then
    local f = io.open(source:sub(2), "r")
    if f then
      out = {}
      for line in f:lines() do out[#out + 1] = line end
      f:close()
    end
  end
  files[source] = out
  return out
end

-- The comment block that ends just above line n, if it starts with `---` (plain `--` lines are notes, not docs).
local function comment_above(lines, n)
  local block, i = {}, n - 1
  while i >= 1 and lines[i]:match("^%s*%-%-") do
    table.insert(block, 1, lines[i])
    i = i - 1
  end
  if #block == 0 or not block[1]:match("^%s*%-%-%-") then return nil end
  for k, l in ipairs(block) do block[k] = l:gsub("^%s*%-%-%-?%s?", "") end
  return table.concat(block, "\n")
end

--- The doc string of a Lua function from its source: its signature (the `function` line, e.g. `Run:update()`)
-- and the `---` comment above it; nil when there is none.
function doc.of(f)
  local info = debug.getinfo(f, "S")
  if info.what ~= "Lua" or info.linedefined <= 0 then return nil end
  local lines = lines_of(info.source)
  if not lines or not lines[info.linedefined] then return nil end
  local text = comment_above(lines, info.linedefined)
  if not text then return nil end
  local sig = lines[info.linedefined]:match("function%s+([%w_.:]+%s*%b())")
  return sig and (sig .. " -- " .. text) or text
end

--- The header comment of a Lua source file (its leading `---` block).
function doc.header(source)
  local lines = lines_of(source)
  if not lines then return nil end
  local n = 1
  while lines[n] and lines[n]:match("^%s*%-%-") do n = n + 1 end
  return n > 1 and comment_above(lines, n) or nil
end

--- Registers the docs of a module table `m` (its header, from `source` or the file of its functions, and each
-- function's comment), and, when given, of `methods` (a class table such as core.Run). Returns `m`.
function doc.module(m, methods, source)
  for _, t in ipairs{m, methods or {}} do
    for _, v in pairs(t) do
      if type(v) == "function" then
        local text = doc.of(v)
        if text then moon.doc(v, text) end
        local info = debug.getinfo(v, "S")
        if info.what == "Lua" then source = source or info.source end
      end
    end
  end
  local header = source and doc.header(source)
  if header then moon.doc(m, header) end
  if methods and header then moon.doc(methods, header) end
  return m
end

return doc
