/* libFuzzer target: ml_setting_parse (`--set key=value`) on arbitrary bytes, checked against
 * the Lua code it replaced (cli.lua's key=value pattern and run.parse_value, kept below as
 * the reference and run in an embedded Lua 5.4): the same inputs must be refused, and the
 * same key and value (type and number) come out. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/setting.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The Lua implementation before the move to C (moonlab 0.1.0's cli.lua and run.lua). */
static const char reference[] =
    "local function parse_value(s)\n"
    "  if s == 'true' then return true end\n"
    "  if s == 'false' then return false end\n"
    "  local n = math.tointeger(tonumber(s))\n"
    "  if n and s:match('^[-+]?%d+$') then return n end\n"
    "  local f = tonumber(s)\n"
    "  if f then return f end\n"
    "  return s\n"
    "end\n"
    "return function(kv)\n"
    "  local k, v = kv:match('^([%a_][%w_]*)=(.*)$')\n"
    "  if not k then return nil end\n"
    "  return k, parse_value(v)\n"
    "end\n";

static lua_State *L;

static void start_lua(void)
{
    L = luaL_newstate();
    if (!L)
        abort();
    luaL_openlibs(L);
    if (luaL_loadstring(L, reference) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        abort();
    lua_setglobal(L, "reference");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L)
        start_lua();
    const char *arg = (const char *)data;
    ml_setting_t s;
    int rc = ml_setting_parse(&s, arg, size);

    lua_getglobal(L, "reference");
    lua_pushlstring(L, arg, size);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK)
        abort();
    if (rc != ML_OK) {
        if (!lua_isnil(L, -2) || strncmp(ml_errmsg(), "--set ", 6) != 0)
            abort();
        lua_pop(L, 2);
        return 0;
    }
    size_t klen;
    const char *key = lua_tolstring(L, -2, &klen);
    if (!key || klen != s.key_len || s.key != arg || memcmp(key, s.key, klen) != 0 ||
        s.text != arg + klen + 1 || s.text_len != size - klen - 1)
        abort();
    switch (s.kind) {
    case ML_SETTING_BOOLEAN:
        if (!lua_isboolean(L, -1) || lua_toboolean(L, -1) != s.boolean)
            abort();
        break;
    case ML_SETTING_INTEGER:
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) != s.integer)
            abort();
        break;
    case ML_SETTING_NUMBER: {
        if (lua_type(L, -1) != LUA_TNUMBER || lua_isinteger(L, -1))
            abort();
        lua_Number v = lua_tonumber(L, -1);
        if (!(v == s.number || (v != v && s.number != s.number)))
            abort();
        break;
    }
    default: {
        size_t vlen;
        if (lua_type(L, -1) != LUA_TSTRING)
            abort();
        const char *v = lua_tolstring(L, -1, &vlen);
        if (vlen != s.text_len || memcmp(v, s.text, vlen) != 0)
            abort();
    }
    }
    lua_pop(L, 2);
    return 0;
}
