// The C side of the Lua/Swift boundary. Every lua_error / longjmp happens here, in C frames only, after the
// Swift function that produced the error has returned (see DESIGN.md, "The Lua/Swift boundary").
#include "CLuaShim.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <readline/readline.h>
#include <readline/history.h>

static moon_dispatch_fn g_dispatch = NULL;
static moon_release_fn g_release = NULL;

void moon_set_dispatcher(moon_dispatch_fn dispatch, moon_release_fn release) {
    g_dispatch = dispatch;
    g_release = release;
}

/* ---- boxes and closures ---- */

static const char *BOX_META = "moon.box";

static int box_gc(lua_State *L) {
    void **p = (void **)lua_touserdata(L, 1);
    if (p && *p) { g_release(*p); *p = NULL; }
    return 0;
}

static int trampoline(lua_State *L) {
    void **p = (void **)lua_touserdata(L, lua_upvalueindex(1));
    int n = g_dispatch(L, p ? *p : NULL);
    if (n == MOON_ERROR_SENTINEL) return lua_error(L); /* the Swift frame has returned: safe to longjmp */
    return n;
}

void moon_push_swift_closure(lua_State *L, void *box) {
    void **p = (void **)lua_newuserdatauv(L, sizeof(void *), 0);
    *p = box;
    if (luaL_newmetatable(L, BOX_META)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc"); /* plain new table: no metamethods, cannot raise */
    }
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, trampoline, 1);
}

/* ---- object userdata ---- */

typedef struct { void *ptr; } moon_obj;

static int obj_gc(lua_State *L) {
    moon_obj *o = (moon_obj *)lua_touserdata(L, 1);
    if (o && o->ptr) { void *p = o->ptr; o->ptr = NULL; g_release(p); }
    return 0;
}

int moon_new_object_metatable(lua_State *L, const char *tname) {
    if (!luaL_newmetatable(L, tname)) return 0;
    lua_pushcfunction(L, obj_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, obj_gc);
    lua_setfield(L, -2, "__close");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__moonobj");
    return 1;
}

void moon_push_object(lua_State *L, void *object, const char *tname) {
    moon_obj *o = (moon_obj *)lua_newuserdatauv(L, sizeof(moon_obj), 1);
    o->ptr = object;
    moon_new_object_metatable(L, tname);
    lua_setmetatable(L, -2);
}

void *moon_test_object(lua_State *L, int idx, const char *tname) {
    moon_obj *o = (moon_obj *)luaL_testudata(L, idx, tname);
    return o ? o->ptr : NULL;
}

void moon_push_object_ref(lua_State *L, void *object, int ref) {
    moon_obj *o = (moon_obj *)lua_newuserdatauv(L, sizeof(moon_obj), 1);
    o->ptr = object;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_setmetatable(L, -2);
}

void *moon_test_object_ref(lua_State *L, int idx, int ref) {
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return NULL;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!same) return NULL;
    moon_obj *o = (moon_obj *)lua_touserdata(L, idx);
    return o ? o->ptr : NULL;
}

void *moon_any_object(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return NULL;
    lua_pushstring(L, "__moonobj");
    lua_rawget(L, -2);
    int ok = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (!ok) return NULL;
    moon_obj *o = (moon_obj *)lua_touserdata(L, idx);
    return o ? o->ptr : NULL;
}

void *moon_clear_object(lua_State *L, int idx) {
    moon_obj *o = (moon_obj *)lua_touserdata(L, idx);
    if (!o) return NULL;
    void *p = o->ptr;
    o->ptr = NULL;
    return p;
}

/* ---- protected calls ---- */

int moon_traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int moon_pcall_traceback(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, moon_traceback);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

int moon_loadbuffer(lua_State *L, const char *buf, size_t size, const char *name, const char *mode) {
    return luaL_loadbufferx(L, buf, size, name, mode);
}

static int panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "moonlab: unprotected Lua error (internal bug): %s\n", msg ? msg : "?");
    fflush(stderr);
    abort();
    return 0;
}

void moon_install_panic(lua_State *L) { lua_atpanic(L, panic); }

/* ---- macro shims ---- */

void moon_pop(lua_State *L, int n) { lua_pop(L, n); }
void moon_newtable(lua_State *L) { lua_newtable(L); }
int moon_upvalueindex(int i) { return lua_upvalueindex(i); }
int moon_isnoneornil(lua_State *L, int idx) { return lua_isnoneornil(L, idx); }
int moon_registryindex(void) { return LUA_REGISTRYINDEX; }
void moon_pushglobaltable(lua_State *L) { lua_pushglobaltable(L); }
void moon_remove(lua_State *L, int idx) { lua_remove(L, idx); }
void moon_insert(lua_State *L, int idx) { lua_insert(L, idx); }
void moon_replace(lua_State *L, int idx) { lua_replace(L, idx); }
const char *moon_tostring(lua_State *L, int idx, size_t *len) { return lua_tolstring(L, idx, len); }
int moon_next(lua_State *L, int idx) { return lua_next(L, idx); }

static int tostring_k(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

int moon_safe_tostring(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, tostring_k);
    lua_pushvalue(L, idx);
    return lua_pcall(L, 1, 1, 0);
}

static int gettable_k(lua_State *L) { lua_gettable(L, 1); return 1; }
static int settable_k(lua_State *L) { lua_settable(L, 1); return 0; }

int moon_safe_gettable(lua_State *L, int t) {
    t = lua_absindex(L, t);
    lua_pushcfunction(L, gettable_k);
    lua_pushvalue(L, t);
    lua_rotate(L, -3, 2); /* key, f, t -> f, t, key */
    return lua_pcall(L, 2, 1, 0);
}

int moon_safe_settable(lua_State *L, int t) {
    t = lua_absindex(L, t);
    lua_pushcfunction(L, settable_k);
    lua_pushvalue(L, t);
    lua_rotate(L, -4, 2); /* key, value, f, t -> f, t, key, value */
    return lua_pcall(L, 3, 0, 0);
}

static int gcstep_k(lua_State *L) {
    lua_gc(L, LUA_GCSTEP, (int)lua_tointeger(L, 1));
    return 0;
}

void moon_gc_hint(lua_State *L, int kbytes) {
    if (kbytes <= 0) return;
    lua_pushcfunction(L, gcstep_k);
    lua_pushinteger(L, kbytes);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
}

int moon_gc_count(lua_State *L) { return lua_gc(L, LUA_GCCOUNT, 0); }

/* ---- interrupts ---- */

static lua_State *volatile g_L = NULL;       /* the thread to stop: the main thread, or the one in a binding */
static volatile sig_atomic_t g_running = 0;
static volatile sig_atomic_t g_prompt_interrupt = 0;
static volatile sig_atomic_t g_interrupt = 0; /* polled by long Swift loops and by the dispatcher */

static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint(int sig) {
    (void)sig;
    if (g_running && g_L) {
        g_interrupt = 1;
        /* lua_sethook is safe to call from a signal handler (as lua.c does) */
        lua_sethook(g_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    } else {
        g_prompt_interrupt = 1;
        if (isatty(STDIN_FILENO)) {
            (void)!write(STDOUT_FILENO, "^C\n", 3);
            rl_replace_line("", 0);
            rl_on_new_line();
            rl_redisplay();
        }
    }
}

void moon_install_sigint(lua_State *L) {
    g_L = L;
    rl_catch_signals = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
}

void moon_set_running(int running) {
    g_interrupt = 0;
    g_running = running;
}

int moon_take_prompt_interrupt(void) {
    int v = g_prompt_interrupt;
    g_prompt_interrupt = 0;
    return v;
}

void moon_request_interrupt(lua_State *L) {
    g_interrupt = 1;
    lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

int moon_interrupt_pending(void) { return g_interrupt; }

void moon_clear_interrupt(void) { g_interrupt = 0; }

lua_State *moon_swap_running_thread(lua_State *L) {
    lua_State *old = g_L;
    if (old != NULL) g_L = L; /* only once the REPL installed its handler */
    return old;
}

/* ---- readline completion ---- */

static moon_complete_fn g_complete = NULL;

static char **attempted_completion(const char *text, int start, int end) {
    rl_attempted_completion_over = 1; /* never fall back to file names */
    if (!g_complete) return NULL;
    return g_complete(text, start, end);
}

void moon_install_completion(moon_complete_fn fn) {
    g_complete = fn;
    rl_attempted_completion_function = attempted_completion;
    rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^#~[]";
    rl_completer_word_break_characters = rl_basic_word_break_characters;
}

char **moon_completion_matches(const char *text, char **candidates, int count) {
    (void)text;
    if (count <= 0) return NULL;
    char **m = (char **)malloc(sizeof(char *) * (size_t)(count + 2));
    /* m[0] is the longest common prefix (what readline substitutes) */
    size_t lcp = strlen(candidates[0]);
    for (int i = 1; i < count; i++) {
        size_t j = 0;
        while (j < lcp && candidates[i][j] == candidates[0][j]) j++;
        lcp = j;
    }
    m[0] = strndup(candidates[0], lcp);
    for (int i = 0; i < count; i++) m[i + 1] = strdup(candidates[i]);
    m[count + 1] = NULL;
    if (count == 1) { free(m[0]); m[0] = m[1]; m[1] = NULL; }
    return m;
}
