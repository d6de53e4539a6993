/* Shared helpers of the binding layer (the only C that includes lua.h). */
#ifndef MOONLAB_LCOMMON_H
#define MOONLAB_LCOMMON_H

#include <lauxlib.h>
#include <lua.h>

#include "moonlab/tensor.h"

#define ML_TENSOR_MT "moonlab.tensor"
#define ML_MODEL_MT "moonlab.model"
#define ML_OPTIM_MT "moonlab.optim"
#define ML_RNG_MT "moonlab.rng"
#define ML_RESULTS_MT "moonlab.results"
#define ML_INDEX_MT "moonlab.index"

/* An index set: n row numbers, 0-based. */
typedef struct ml_lindex {
    int64_t n;
    int64_t rows[];
} ml_lindex_t;

/* Index argument at idx (raises otherwise); *n receives its length. */
const int64_t *ml__check_index(lua_State *L, int idx, int64_t *n, const char *fname);
/* Push a new index set of n entries; returns its (uninitialised) rows. */
int64_t *ml__push_index(lua_State *L, int64_t n);

/* Every userdata whose memory a tensor view may point into (tensors, models) starts with this
 * flag, so a view can tell that its owner was closed before touching the memory. */
typedef struct ml_ltensor {
    int closed;
    ml_tensor_t t;
} ml_ltensor_t;

/* 1 if the tensor userdata at idx is closed or is a view whose owner is closed. */
int ml__tensor_dead(lua_State *L, int idx);

/* Tensor argument at idx, raising "fname: argument N: expected a tensor" or "... closed". */
ml_tensor_t *ml__check_tensor(lua_State *L, int idx, const char *fname);
ml_tensor_t *ml__opt_tensor(lua_State *L, int idx, const char *fname);
/* Push a new owning tensor of the given shape (zeros); raises on bad shape. */
ml_tensor_t *ml__push_tensor(lua_State *L, int ndim, const int64_t *shape, const char *fname);
/* Push a tensor userdata that owns nothing yet (zeroed), for an engine call to fill: pushed
 * before the engine allocates, so no malloc'd memory is held across a call that can raise. If
 * the engine fails, the struct stays zeroed and the userdata is dropped unreturned. */
ml_tensor_t *ml__push_empty_tensor(lua_State *L, const char *fname);
/* Push a view of the tensor at index `base_idx`; the view keeps its base alive. */
ml_tensor_t *ml__push_view(lua_State *L, const ml_tensor_t *view, int base_idx);
/* Push a view of memory owned by the object at owner_idx (a model's flat buffers). */
ml_tensor_t *ml__push_foreign_view(lua_State *L, const ml_tensor_t *view, int owner_idx);
/* Push a contiguous copy of t. */
ml_tensor_t *ml__push_copy(lua_State *L, const ml_tensor_t *t, const char *fname);
/* luaL_error that analyzers (and the compiler) know does not return. */
_Noreturn void ml__raise(lua_State *L, const char *fmt, ...);

/* Raise "fname: <engine message>" for a failed engine call. */
int ml__engine_error(lua_State *L, const char *fname);
/* Raise the engine's message as it is, for engine calls that were given the function's name
 * and start their messages with it. Typed int for `return ml__raise_engine(L)`, as luaL_error. */
_Noreturn int ml__raise_engine(lua_State *L);
/* Push nil and the engine's message, the return of an expected failure (a missing file);
 * returns 2, the number of values. */
int ml__push_failure(lua_State *L);

/* Integer argument at idx; raises "fname: <what> must be an integer, got <value>". */
int64_t ml__check_integer(lua_State *L, int idx, const char *what, const char *fname);

/* Raises "fname: unknown option '<key>' (options: <keys>)" for a key of the option table at
 * idx that is not in keys (NULL-terminated); nil or none is no options. */
void ml__check_keys(lua_State *L, int idx, const char *const *keys, const char *fname);

/* Table-field readers for option tables at idx; raise naming fname and the field. */
lua_Number ml__opt_number(lua_State *L, int idx, const char *field, lua_Number def,
                          const char *fname);
lua_Integer ml__opt_integer(lua_State *L, int idx, const char *field, lua_Integer def,
                            const char *fname);
int ml__opt_bool(lua_State *L, int idx, const char *field, int def, const char *fname);
const char *ml__opt_string(lua_State *L, int idx, const char *field, const char *def,
                           const char *fname);
/* Tensor field of an option table; NULL if absent (required: raise). */
ml_tensor_t *ml__field_tensor(lua_State *L, int idx, const char *field, int required,
                              const char *fname);

int ml__open_tensor(lua_State *L);
int ml__open_model(lua_State *L);
int ml__open_loss(lua_State *L);
int ml__open_optim(lua_State *L);
int ml__open_rng(lua_State *L);
int ml__open_results(lua_State *L);
int ml__open_datasets(lua_State *L);
int ml__open_shift(lua_State *L);
int ml__open_index(lua_State *L);
int ml__open_split(lua_State *L);
int ml__open_queue(lua_State *L);
int ml__open_proc(lua_State *L);
int ml__open_rfile(lua_State *L);
int ml__open_h5data(lua_State *L);
int ml__open_setting(lua_State *L);
int ml__open_preprocess(lua_State *L);
int ml__open_synth(lua_State *L);

int luaopen_moonlab_core(lua_State *L);

#endif
