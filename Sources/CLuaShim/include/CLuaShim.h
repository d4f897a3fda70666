#ifndef MOON_CLUASHIM_H
#define MOON_CLUASHIM_H
#include <lua5.4/lua.h>
#include <lua5.4/lualib.h>
#include <lua5.4/lauxlib.h>

/// Result a Swift binding returns when it left an error message on the stack.
#define MOON_ERROR_SENTINEL (-1)

/// The single Swift entry point all exported functions go through. `box` is the retained Swift closure box
/// stored in the C closure's first upvalue. Returns the number of results, or MOON_ERROR_SENTINEL after pushing
/// the error message. It must never raise a Lua error itself.
typedef int (*moon_dispatch_fn)(lua_State *L, void *box);
/// Releases a Swift box (called from the __gc of the box holder).
typedef void (*moon_release_fn)(void *box);

/// Installs the Swift dispatcher and release functions (once per process).
void moon_set_dispatcher(moon_dispatch_fn dispatch, moon_release_fn release);

/// Pushes a Lua C closure that calls the Swift box through the trampoline. The closure owns one retain of `box`.
void moon_push_swift_closure(lua_State *L, void *box);

/// Pushes a full userdata holding `object` (one retain, released in __gc/__close by the release function),
/// with the metatable registered under `tname` (created by moon_new_object_metatable).
void moon_push_object(lua_State *L, void *object, const char *tname);
/// Returns the object pointer of a userdata at `idx` whose metatable is `tname`, or NULL (never raises).
void *moon_test_object(lua_State *L, int idx, const char *tname);
/// As moon_push_object, with the metatable given by its registry reference (no name lookup: the fast path).
void moon_push_object_ref(lua_State *L, void *object, int metatableRef);
/// As moon_test_object, with the metatable given by its registry reference.
void *moon_test_object_ref(lua_State *L, int idx, int metatableRef);
/// Returns the object pointer of any moonlab object userdata at `idx`, or NULL.
void *moon_any_object(lua_State *L, int idx);
/// Creates (or fetches) the metatable named `tname`, with __gc and __close that release the object and a
/// __name field; leaves it on the stack. Returns 1 if newly created.
int moon_new_object_metatable(lua_State *L, const char *tname);
/// Clears the object pointer of a userdata (after an explicit free); returns the old pointer.
void *moon_clear_object(lua_State *L, int idx);

/// Message handler for lua_pcall: appends a traceback to the error message.
int moon_traceback(lua_State *L);
/// lua_pcall with moon_traceback as the message handler. Returns the status; on error the message with
/// traceback is on the stack.
int moon_pcall_traceback(lua_State *L, int nargs, int nresults);

/// Loads a chunk from a buffer without running it (non-raising).
int moon_loadbuffer(lua_State *L, const char *buf, size_t size, const char *name, const char *mode);

/// Installs the panic handler that reports and aborts cleanly (internal invariant violation only).
void moon_install_panic(lua_State *L);

/// Macro shims.
void moon_pop(lua_State *L, int n);
void moon_newtable(lua_State *L);
int moon_upvalueindex(int i);
int moon_isnoneornil(lua_State *L, int idx);
int moon_registryindex(void);
void moon_pushglobaltable(lua_State *L);
void moon_remove(lua_State *L, int idx);
void moon_insert(lua_State *L, int idx);
void moon_replace(lua_State *L, int idx);
const char *moon_tostring(lua_State *L, int idx, size_t *len);
/// luaL_tolstring inside a protected call (so __tostring errors cannot escape). Pushes the string or an
/// error message; returns LUA_OK or an error status.
int moon_safe_tostring(lua_State *L, int idx);
/// lua_next wrapper (lua_next itself only raises on an invalid key, which we never pass).
int moon_next(lua_State *L, int idx);
/// Protected lua_gettable / lua_settable (metamethods may run): status code, value pushed (or error message).
int moon_safe_gettable(lua_State *L, int tableIdx);
int moon_safe_settable(lua_State *L, int tableIdx);
/// Tells the collector about external memory: performs a GC step proportional to `kbytes` (protected).
void moon_gc_hint(lua_State *L, int kbytes);
/// Current Lua heap size in KiB.
int moon_gc_count(lua_State *L);

/// Interrupt support (Ctrl-C): installs a SIGINT handler. While a statement runs (moon_set_running(1)) SIGINT
/// sets a debug hook that raises "interrupted!" in Lua; at the prompt it clears the readline line.
void moon_install_sigint(lua_State *L);
void moon_set_running(int running);
/// Returns and clears the "Ctrl-C pressed at the prompt" flag.
int moon_take_prompt_interrupt(void);
/// Requests an interrupt programmatically (used by tests), as if SIGINT arrived while running.
void moon_request_interrupt(lua_State *L);
/// Whether an interrupt was requested and not yet cleared (cleared when a REPL statement starts or ends, or by
/// moon_clear_interrupt). Long Swift loops poll it through MoonTensor's `Interrupt`.
int moon_interrupt_pending(void);
void moon_clear_interrupt(void);
/// Makes `L` the thread Ctrl-C stops (the dispatcher passes the coroutine a binding runs in); returns the previous
/// one. Does nothing (returns NULL) until moon_install_sigint was called.
lua_State *moon_swap_running_thread(lua_State *L);

/// Readline completion: installs a completer that calls back into Swift with the text and the full line.
typedef char **(*moon_complete_fn)(const char *text, int start, int end);
void moon_install_completion(moon_complete_fn fn);
char **moon_completion_matches(const char *text, char **candidates, int count);

/// Opens a pseudo-terminal master; writes the slave's path into `slave_name`. Returns the fd or -1.
int moon_pty_open(char *slave_name, size_t size);
/// glibc's POSIX_SPAWN_SETSID flag.
short moon_spawn_setsid_flag(void);
#endif
