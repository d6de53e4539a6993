/* core.setting: `--set key=value` parsing (setting.h) for the command line.
 *   core.setting.parse("key=value") -> key, value | nil, message
 *   core.setting.value("text")      -> true/false, an integer, a float or the text */
#include "lcommon.h"
#include "moonlab/setting.h"

static void push_value(lua_State *L, const ml_setting_t *s)
{
    switch (s->kind) {
    case ML_SETTING_BOOLEAN: lua_pushboolean(L, s->boolean); break;
    case ML_SETTING_INTEGER: lua_pushinteger(L, (lua_Integer)s->integer); break;
    case ML_SETTING_NUMBER: lua_pushnumber(L, (lua_Number)s->number); break;
    default: lua_pushlstring(L, s->text, s->text_len); break;
    }
}

static int s_parse(lua_State *L)
{
    size_t n;
    const char *arg = luaL_checklstring(L, 1, &n);
    ml_setting_t s;
    if (ml_setting_parse(&s, arg, n))
        return ml__push_failure(L);
    lua_pushlstring(L, s.key, s.key_len);
    push_value(L, &s);
    return 2;
}

static int s_value(lua_State *L)
{
    size_t n;
    const char *text = luaL_checklstring(L, 1, &n);
    ml_setting_t s;
    ml_setting_value(&s, text, n);
    push_value(L, &s);
    return 1;
}

int ml__open_setting(lua_State *L)
{
    static const luaL_Reg fns[] = {{"parse", s_parse}, {"value", s_value}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
