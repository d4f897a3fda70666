/// Guards on the standard library, installed in every state:
/// - Lua's own file functions hand their path to the C library as it is, so a path with a NUL byte names its prefix
///   (`io.open("run\0/../x", "w")` creates "run"). Moonlab's bindings refuse such paths (`LuaCall.path`); the
///   standard library's file functions refuse them the same way, each in its own failure style: `io.open`,
///   `os.remove`, `os.rename` and `loadfile` return nil and a message, `io.lines`, `io.input`, `io.output` and
///   `dofile` raise.
/// - Chunks are text only: Lua does not verify precompiled bytecode, and a damaged binary chunk crashes the VM
///   (a byte flipped in `string.dump` output segfaults), so `load`, `loadfile`, `dofile` and `require` load source
///   text, as moonlab's own loading does.
extension LuaState {
    static let pathGuardSource = """
        local find, select, type, error = string.find, select, type, error
        local function nul(p) return type(p) == "string" and find(p, "\\0", 1, true) ~= nil end
        local function message(name, i) return ("%s: argument #%d: the path contains a NUL byte"):format(name, i) end
        local function returning(name, f, n)
          return function(...)
            for i = 1, n do if nul((select(i, ...))) then return nil, message(name, i), 22 end end
            return f(...)
          end
        end
        local function raising(name, f)
          return function(...)
            if nul((...)) then error(message(name, 1), 2) end
            return f(...)
          end
        end
        io.open = returning("io.open", io.open, 1)
        os.remove = returning("os.remove", os.remove, 1)
        os.rename = returning("os.rename", os.rename, 2)
        io.lines = raising("io.lines", io.lines)
        io.input = raising("io.input", io.input)
        io.output = raising("io.output", io.output)
        -- text chunks only (a binary chunk is refused: "attempt to load a binary chunk (mode is 't')")
        local rawload, rawloadfile = load, loadfile
        load = function(chunk, name, _, ...) return rawload(chunk, name, "t", ...) end
        loadfile = function(path, _, ...)
          if nul(path) then return nil, message("loadfile", 1) end
          return rawloadfile(path, "t", ...)
        end
        dofile = function(path)
          if nul(path) then error(message("dofile", 1), 2) end
          local f, err = rawloadfile(path, "t")
          if not f then error(err, 2) end
          return f()
        end
        package.searchers[2] = function(name)  -- the Lua-file searcher, loading text only
          local path, err = package.searchpath(name, package.path)
          if not path then return err end
          local f, lerr = rawloadfile(path, "t")
          if not f then error(("error loading module '%s' from file '%s':\\n\\t%s"):format(name, path, lerr), 2) end
          return f, path
        end
        """

    /// Installs the guards (at state creation, after the standard libraries).
    func installPathGuards() {
        do { try run(LuaState.pathGuardSource, name: "=(path guards)") } catch {
            fatalError("moonlab: the path guards failed to load: \(error)")
        }
    }
}
