local T = ...

T.it("exposes a version and the moon module", function()
  T.truthy(type(moon.version) == "string")
  T.eq(require("moon"), moon)
end)

T.it("binding errors are catchable Lua errors naming the function and option", function()
  T.raises(function() moon.inspect({}, {depth = "deep"}) end, "moon.inspect: option 'depth': expected integer, got string")
  T.raises(function() moon.inspect({}, {dept = 1}) end, "unknown option 'dept'")
  T.raises(function() moon.inspect({}, 5) end, "argument #2 'opts': expected table of options, got number")
  -- a field of an argument is named as a field, not given the stack slot it was read from as an argument number
  T.raises(function() moon.dist.flatten({moon.zeros(2)}, {extra = {1, "x"}}) end,
           "moon.dist.flatten: element 2 of 'opts.extra': expected number, got string")
end)

T.it("inspect renders nested tables and cycles", function()
  local t = {1, 2, x = {y = "z"}}
  T.eq(moon.inspect(t), '{1, 2, x = {y = "z"}}')
  t.me = t
  T.truthy(moon.inspect(t):find("<cycle", 1, true))
end)

T.it("many errors in a loop leave the state usable", function()
  local n = 0
  for i = 1, 10000 do
    if not pcall(moon.inspect, {}, {items = "x"}) then n = n + 1 end
  end
  T.eq(n, 10000)
end)

T.it("clock is monotonic", function()
  local a = moon.clock(); local b = moon.clock()
  T.truthy(b >= a)
end)

T.it("file_kind names what is at a path without opening it (a FIFO does not block)", function()
  local d = os.tmpname(); os.remove(d)
  assert(os.execute(("mkdir -p %q && cd %q && touch f && mkdir sub && mkfifo p && ln -s f to-f && ln -s gone dangling"
    .. " && ln -s p to-p"):format(d, d)))
  T.eq(moon.file_kind(d .. "/f"), "file")
  T.eq(moon.file_kind(d .. "/sub"), "directory")
  T.eq(moon.file_kind(d .. "/sub/"), "directory")
  T.eq(moon.file_kind(d .. "/p"), "fifo")
  T.eq(moon.file_kind(d .. "/to-f"), "file")        -- links are followed
  T.eq(moon.file_kind(d .. "/to-p"), "fifo")
  T.eq(moon.file_kind(d .. "/dangling"), "link")    -- ... and a link to nothing says so
  T.eq(moon.file_kind(d .. "/missing"), nil)
  T.eq(moon.file_kind(d .. "/f/below"), nil)        -- not reachable: through a file
  T.eq(moon.file_kind("/dev/null"), "character")
  T.eq(moon.file_kind(""), nil)
  T.raises(function() moon.file_kind(d .. "/f\0/x") end, "moon.file_kind: argument #1 'path': contains a NUL byte")
  T.raises(function() moon.file_kind(nil) end, "argument #1 'path': expected string")
  os.execute(("rm -rf %q"):format(d))
end)

T.it("write_file writes bytes atomically and never replaces what is not a regular file", function()
  local d = os.tmpname(); os.remove(d)
  assert(os.execute(("mkdir -p %q && cd %q && mkdir sub && mkfifo p && echo old > f && ln -s f to-f"):format(d, d)))
  local data = "a\0b\255\n" .. ("x"):rep(100000)
  moon.write_file(d .. "/new", data)
  T.eq(io.open(d .. "/new", "rb"):read("a"), data)                  -- every byte, a NUL and invalid UTF-8 too
  moon.write_file(d .. "/to-f", "via the link")
  T.eq(io.open(d .. "/f"):read("a"), "via the link")
  T.eq(moon.file_kind(d .. "/to-f"), "file")                        -- the link stays a link to the file
  T.truthy(os.execute(("test -L %q"):format(d .. "/to-f")))
  T.raises(function() moon.write_file(d .. "/sub", "x") end, "not a regular file")
  T.raises(function() moon.write_file(d .. "/p", "x") end, "not a regular file")   -- at once: no open, no block
  T.eq(moon.file_kind(d .. "/p"), "fifo")
  T.raises(function() moon.write_file(d .. "/missing/x", "x") end, "missing/x")
  T.raises(function() moon.write_file(d .. "/f", 5) end, "argument #2 'data': expected string")
  local left = io.popen(("ls -A %q"):format(d)):read("a")
  T.eq(left, "f\nnew\np\nsub\nto-f\n")                             -- no temporary file left behind
  os.execute(("rm -rf %q"):format(d))
end)

T.it("a path with a NUL byte is refused, never cut short, by bindings and by Lua's own file functions (and one that is not UTF-8 by bindings)", function()
  local d = os.tmpname(); os.remove(d)
  assert(os.execute(("mkdir -p %q && echo keep > %q/keep"):format(d, d)))
  local p = d .. "/prefix\0/../keep"
  T.raises(function() moon.write_file(p, "x") end, "argument #1 'path': contains a NUL byte")
  T.raises(function() moon.run.open(p) end, "moon.run.open: argument #1 'dir': contains a NUL byte")
  T.raises(function() moon.ckpt.save(p, {w = moon.zeros(2)}) end, "contains a NUL byte")
  T.raises(function() moon.ckpt.load(d .. "/keep\0x") end, "contains a NUL byte")
  T.raises(function() moon.merge.files{method = "average", models = {d .. "/a", p}, output = d .. "/o"} end,
           "option 'models', element 2: contains a NUL byte")
  T.raises(function() moon.merge.files{method = "average", models = {d .. "/a"}, output = p} end, "option 'output': contains a NUL byte")
  local f, msg = io.open(p, "w")
  T.eq(f, nil); T.truthy(msg:find("io.open: argument #1: the path contains a NUL byte", 1, true))
  T.eq(os.rename(d .. "/keep", p), nil)
  T.eq(os.remove(d .. "/keep\0x"), nil)
  T.eq(loadfile(d .. "/keep\0x"), nil)
  T.raises(function() io.lines(p) end, "io.lines: argument #1: the path contains a NUL byte")
  T.raises(function() io.output(p) end, "io.output: argument #1: the path contains a NUL byte")
  T.raises(function() dofile(d .. "/keep\0x") end, "dofile: argument #1: the path contains a NUL byte")
  T.raises(function() moon.write_file(d .. "/bad\255name", "x") end, "argument #1 'path': is not valid UTF-8")
  T.raises(function() moon.merge.files{method = "average", models = {d .. "/\192"}, output = d .. "/o"} end,
           "option 'models', element 1: is not valid UTF-8")
  T.raises(function() moon.vlm.new{decoder = d .. "/\255"} end, "option 'decoder': is not valid UTF-8")
  T.eq(io.open(d .. "/keep"):read("a"), "keep\n")                   -- the file the prefix names is untouched
  T.eq(io.popen(("ls -A %q"):format(d)):read("a"), "keep\n")          -- and nothing was created
  io.output(io.stdout)
  os.execute(("rm -rf %q"):format(d))
end)

T.it("mkdir creates a directory and its parents, and names what is in the way", function()
  local d = os.tmpname(); os.remove(d)
  assert(os.execute(("mkdir -p %q && cd %q && touch f && mkfifo p && ln -s nowhere dangling"):format(d, d)))
  moon.mkdir(d .. "/a/b/c/")
  T.eq(moon.file_kind(d .. "/a/b/c"), "directory")
  moon.mkdir(d .. "/a/b")                                            -- already there: fine
  T.raises(function() moon.mkdir(d .. "/f") end, "is a regular file, not a directory")
  T.raises(function() moon.mkdir(d .. "/p") end, "is a FIFO, not a directory")
  T.raises(function() moon.mkdir(d .. "/dangling") end, "is a symbolic link, not a directory")
  T.raises(function() moon.mkdir(d .. "/f/below") end, "Not a directory")
  T.raises(function() moon.mkdir("") end, "an empty path names no directory")
  T.raises(function() moon.mkdir(d .. "/n\0/x") end, "contains a NUL byte")
  T.eq(moon.file_kind(d .. "/n"), nil)
  os.execute(("rm -rf %q"):format(d))
end)

T.it("the command line passes a script's arguments as their bytes and refuses paths that are not UTF-8", function()
  local d = os.tmpname(); os.remove(d)
  assert(os.execute(("mkdir -p %q"):format(d)))
  local script = d .. "/args.lua"
  moon.write_file(script, 'io.write(table.concat({select("#", ...), (arg[1] or ""):byte(1, -1)}, " "))')
  local function run(args)
    local p = io.popen(("%q %s 2>&1; echo \" rc=$?\""):format(moon.executable(), args))
    local out = p:read("a"); p:close(); return out
  end
  T.eq(run(("run %q '\255\192x' ''"):format(script)), "2 255 192 120 rc=0\n")   -- not repaired to U+FFFD
  T.eq(run("-e 'io.write(#\"\255\254\")'"), "2 rc=0\n")
  local out = run(("run %q"):format(d .. "/bad\255.lua"))
  T.truthy(out:find("argument 2 .* is not valid UTF%-8") and out:find("rc=2", 1, true), out)
  out = run(("merge -o %q a b"):format(d .. "/out\255"))
  T.truthy(out:find("argument 3 .* is not valid UTF%-8") and out:find("rc=2", 1, true), out)
  T.eq(io.popen(("ls -A %q"):format(d)):read("a"), "args.lua\n")
  os.execute(("rm -rf %q"):format(d))
end)

T.it("chunks are text only: precompiled bytecode, which Lua does not verify, is refused everywhere", function()
  local dumped = string.dump(function(a) return a + 1 end)
  local f, err = load(dumped)
  T.eq(f, nil); T.truthy(err:find("attempt to load a binary chunk", 1, true), err)
  T.eq(load(dumped, "x", "b"), nil)                                  -- asking for binary mode does not get it
  local d = os.tmpname(); os.remove(d)
  assert(os.execute(("mkdir -p %q"):format(d)))
  moon.write_file(d .. "/bin.lua", dumped)
  T.eq(loadfile(d .. "/bin.lua"), nil)
  T.raises(function() dofile(d .. "/bin.lua") end, "attempt to load a binary chunk")
  package.path = d .. "/?.lua;" .. package.path
  T.raises(function() require("bin") end, "attempt to load a binary chunk")
  moon.write_file(d .. "/textmod.lua", "return {v = 7}")
  T.eq(require("textmod").v, 7)                                      -- text modules load as before
  local p = io.popen(("%q run %q 2>&1; echo \" rc=$?\""):format(moon.executable(), d .. "/bin.lua"))
  local out = p:read("a"); p:close()
  T.truthy(out:find("binary chunk") and out:find("rc=1", 1, true), out)
  T.eq(load("return 1 + 1")(), 2)
  os.execute(("rm -rf %q"):format(d))
end)
