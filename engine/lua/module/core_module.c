/* The Lua C module moonlab/core.so for stock lua5.4 and busted. Its entry point,
 * luaopen_moonlab_core, lives in the binding library linked in whole; this unit only gives the
 * module target a source and pins the symbol so the linker keeps it. */
#include "../lcommon.h"

int (*const ml__module_entry)(lua_State *) = luaopen_moonlab_core;
