/* luaopen_moonlab_core: one table with the engine's modules and a few system facts. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lcommon.h"
#include "moonlab/kernels.h"
#include "moonlab/results.h"
#include "moonlab/version.h"

static int c_set_threads(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1 || n > 1024)
        return luaL_error(L, "set_threads: %d threads (1 to 1024)", (int)n);
    ml_k_set_threads((int)n);
    return 0;
}

static int c_threads(lua_State *L)
{
    lua_pushinteger(L, ml_k_get_threads());
    return 1;
}

/* gemm_count(true) zeroes the GEMM counters and starts counting; gemm_count(false) stops;
 * either returns the counts so far: {calls, flops, seconds}. */
static int c_gemm_count(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    int on = lua_toboolean(L, 1);
    int64_t calls;
    double flops, seconds;
    if (!on)
        ml_k_gemm_count(0);
    ml_k_gemm_counted(&calls, &flops, &seconds);
    if (on)
        ml_k_gemm_count(1);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)calls);
    lua_setfield(L, -2, "calls");
    lua_pushnumber(L, flops);
    lua_setfield(L, -2, "flops");
    lua_pushnumber(L, seconds);
    lua_setfield(L, -2, "seconds");
    return 1;
}

static int c_cores(lua_State *L)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

static int c_versions(lua_State *L)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, ML_VERSION);
    lua_setfield(L, -2, "moonlab");
    lua_pushstring(L, LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE);
    lua_setfield(L, -2, "lua");
    lua_pushstring(L, ml_k_blis_version());
    lua_setfield(L, -2, "blis");
    lua_pushstring(L, ml_results_hdf5_version());
    lua_setfield(L, -2, "hdf5");
    return 1;
}

static int c_hostname(lua_State *L)
{
    char buf[256];
    if (gethostname(buf, sizeof buf) != 0)
        strcpy(buf, "unknown");
    buf[sizeof buf - 1] = '\0';
    lua_pushstring(L, buf);
    return 1;
}

static int c_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* Seconds on a monotonic clock, for timing. */
static int c_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* mkdir -p; returns true or nil, message */
static int c_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return luaL_error(L, "mkdir: path is empty or too long");
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                lua_pushnil(L);
                lua_pushfstring(L, "cannot create directory '%s': %s", buf, strerror(errno));
                return 2;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int luaopen_moonlab_core(lua_State *L)
{
    static const luaL_Reg sys[] = {{"set_threads", c_set_threads}, {"threads", c_threads},
                                   {"cores", c_cores},             {"versions", c_versions},
                                   {"hostname", c_hostname},       {"pid", c_pid},
                                   {"clock", c_clock},             {"mkdir", c_mkdir},
                                   {"gemm_count", c_gemm_count},   {NULL, NULL}};
    luaL_newlib(L, sys);
    ml__open_tensor(L);
    lua_setfield(L, -2, "tensor");
    ml__open_model(L);
    lua_setfield(L, -2, "model");
    ml__open_loss(L);
    lua_setfield(L, -2, "loss");
    ml__open_optim(L);
    lua_setfield(L, -2, "optim");
    ml__open_rng(L);
    lua_setfield(L, -2, "rng");
    ml__open_results(L);
    lua_setfield(L, -2, "results");
    ml__open_datasets(L);
    lua_setfield(L, -2, "datasets");
    ml__open_shift(L);
    lua_setfield(L, -2, "shift");
    ml__open_index(L);
    lua_setfield(L, -2, "index");
    ml__open_split(L);
    lua_setfield(L, -2, "split");
    ml__open_queue(L);
    lua_setfield(L, -2, "queue");
    ml__open_proc(L);
    lua_setfield(L, -2, "proc");
    ml__open_rfile(L);
    lua_setfield(L, -2, "rfile");
    ml__open_h5data(L);
    lua_setfield(L, -2, "h5data");
    ml__open_setting(L);
    lua_setfield(L, -2, "setting");
    ml__open_preprocess(L);
    lua_setfield(L, -2, "pre");
    ml__open_synth(L);
    lua_setfield(L, -2, "synth");
    lua_pushstring(L, ML_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
