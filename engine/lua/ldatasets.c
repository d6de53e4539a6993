/* core.datasets: the readers of datasets.h for Lua.
 *
 *   core.datasets.idx(path [, divisor])  -> tensor (the bytes 0..255 as floats, divided by
 *                                           divisor if given: 255 gives pixels in 0..1)
 *   core.datasets.check_labels(labels, classes [, name])
 *                                        -> true, or nil and a message naming the first item
 *                                           whose label is outside 0..classes-1
 *   core.datasets.csv(path [, opts])     -> x (N,D), y (N) or nil when there is no label column
 *   core.datasets.text(path)             -> ids (N), vocabulary (a string: the characters in
 *                                           id order)
 *   core.datasets.encode(vocab, string)  -> ids (#string)
 *   core.datasets.decode(vocab, ids)     -> string
 *   core.datasets.vocab(string)          -> its distinct bytes in increasing order
 *
 * A file that is missing, unreadable or malformed is an expected failure: the readers return
 * nil and the engine's message (which names the file, and for CSV the line and field). Wrong
 * argument types, unknown options and ids outside the vocabulary are misuse and raise. */
#include <stdio.h>
#include <string.h>

#include "lcommon.h"
#include "moonlab/data.h"
#include "moonlab/datasets.h"
#include "moonlab/error.h"

static int d_idx(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Number divisor = luaL_optnumber(L, 2, 1.0);
    if (!(divisor > 0.0) || divisor > 1e30)
        ml__raise(L, "datasets.idx: the divisor must be a positive number, got %f", divisor);
    ml_tensor_t *t = ml__push_empty_tensor(L, "datasets.idx");
    if (ml_idx_read(t, path))
        return ml__push_failure(L);
    /* In place on the new (contiguous) tensor: x / 255 afterwards would need a second copy of
     * 188 MB for Fashion-MNIST's training images. Division, not multiplication by 1/d, so the
     * values are exactly those of x / d. */
    if (divisor != 1.0) {
        float d = (float)divisor;
        int64_t n = ml_tensor_numel(t);
        for (int64_t i = 0; i < n; i++)
            t->data[i] /= d;
    }
    return 1;
}

static int d_check_labels(lua_State *L)
{
    const ml_tensor_t *t = ml__check_tensor(L, 1, "datasets.check_labels");
    int64_t classes = ml__check_integer(L, 2, "classes", "datasets.check_labels");
    const char *name = luaL_optstring(L, 3, "labels");
    if (t->ndim != 1)
        ml__raise(L, "datasets.check_labels: labels must be one-dimensional (N), got %d "
                  "dimensions", t->ndim);
    if (classes < 1)
        ml__raise(L, "datasets.check_labels: classes must be at least 1, got %lld",
                  (long long)classes);
    if (ml_idx_check_labels(t, classes, name))
        return ml__push_failure(L);
    lua_pushboolean(L, 1);
    return 1;
}

/* opts: delimiter = "," (one character; " " = any run of spaces and tabs), header = 0 (lines
 * to skip; true = 1), label = nil (column from 1, negative from the end, or a header name;
 * nil/false = none), missing = "error" | "nan" | "drop". */
static void read_csv_options(lua_State *L, int idx, ml_csv_options_t *o)
{
    static const char *const keys[] = {"delimiter", "header", "label", "missing", NULL};
    const char *fname = "datasets.csv";
    memset(o, 0, sizeof *o);
    ml__check_keys(L, idx, keys, fname);
    if (lua_isnoneornil(L, idx))
        return;
    const char *delim = ml__opt_string(L, idx, "delimiter", ",", fname);
    if (strlen(delim) != 1 || strchr("\"\r\n", delim[0]))
        ml__raise(L, "%s: option 'delimiter' must be one character (not a quote or a line break), "
                     "got '%s'", fname, delim);
    o->delimiter = delim[0];

    int t = lua_getfield(L, idx, "header");
    if (t == LUA_TBOOLEAN) {
        o->header_lines = lua_toboolean(L, -1);
    } else if (t != LUA_TNIL) {
        int ok;
        lua_Integer h = lua_tointegerx(L, -1, &ok);
        if (!ok || h < 0 || h > 1000000)
            ml__raise(L, "%s: option 'header' must be a number of lines (0 or more) or a boolean",
                      fname);
        o->header_lines = (int)h;
    }
    lua_pop(L, 1);

    t = lua_getfield(L, idx, "label");
    if (t == LUA_TSTRING) {
        o->label_name = lua_tostring(L, -1); /* the option table keeps it alive */
        if (o->header_lines < 1)
            ml__raise(L, "%s: label '%s' is a column name, which needs header = 1 (or more)",
                      fname, o->label_name);
    } else if (t == LUA_TNUMBER) {
        int ok;
        lua_Integer k = lua_tointegerx(L, -1, &ok);
        if (!ok || k == 0 || k > 1000000 || k < -1000000)
            ml__raise(L, "%s: option 'label' must be a column number (from 1, or negative from the "
                         "end), a column name, or false", fname);
        o->label_column = (int)k;
    } else if (t != LUA_TNIL && !(t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
        ml__raise(L, "%s: option 'label' must be a column number or name, got %s", fname,
                  luaL_typename(L, -1));
    }
    lua_pop(L, 1);

    const char *missing = ml__opt_string(L, idx, "missing", "error", fname);
    if (strcmp(missing, "error") == 0)
        o->missing = ML_CSV_MISSING_ERROR;
    else if (strcmp(missing, "nan") == 0)
        o->missing = ML_CSV_MISSING_NAN;
    else if (strcmp(missing, "drop") == 0)
        o->missing = ML_CSV_MISSING_DROP;
    else
        ml__raise(L, "%s: option 'missing' must be \"error\", \"nan\" or \"drop\", got \"%s\"",
                  fname, missing);
}

static int d_csv(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ml_csv_options_t o;
    read_csv_options(L, 2, &o);
    ml_tensor_t *x = ml__push_empty_tensor(L, "datasets.csv");
    ml_tensor_t *y = ml__push_empty_tensor(L, "datasets.csv");
    if (ml_csv_read(x, y, path, &o))
        return ml__push_failure(L);
    if (!y->data) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    return 2;
}

static int d_text(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ml_tensor_t *ids = ml__push_empty_tensor(L, "datasets.text");
    ml_vocab_t v;
    if (ml_text_read(ids, &v, path))
        return ml__push_failure(L);
    lua_pushlstring(L, (const char *)v.chars, (size_t)v.size);
    return 2;
}

static void check_vocab(lua_State *L, int idx, ml_vocab_t *v, const char *fname)
{
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    if (ml_vocab_from_chars(v, s, n))
        ml__raise(L, "%s: %s", fname, ml_errmsg());
}

static int d_encode(lua_State *L)
{
    ml_vocab_t v;
    check_vocab(L, 1, &v, "datasets.encode");
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (v.id[c] < 0) {
            char shown[8]; /* lua_pushfstring has no %x */
            snprintf(shown, sizeof shown, c >= 0x20 && c < 0x7f ? "'%c'" : "0x%02x", c);
            ml__raise(L, "datasets.encode: character %d (%s) is not in the vocabulary",
                      (int)i + 1, shown);
        }
    }
    ml_tensor_t *ids = ml__push_empty_tensor(L, "datasets.encode");
    if (ml_vocab_encode(ids, &v, s, n))
        return ml__engine_error(L, "datasets.encode");
    return 1;
}

static int d_decode(lua_State *L)
{
    ml_vocab_t v;
    check_vocab(L, 1, &v, "datasets.decode");
    ml_tensor_t *ids = ml__check_tensor(L, 2, "datasets.decode");
    size_t n = (size_t)ml_tensor_numel(ids);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n);
    if (ml_vocab_decode(out, &v, ids))
        return ml__engine_error(L, "datasets.decode");
    luaL_pushresultsize(&b, n);
    return 1;
}

/* datasets.windows(ids, B, k) -> x, y (W·B, k): truncated-BPTT windows of one id stream cut
 * into B parallel streams (ml_stream_windows). */
static int d_windows(lua_State *L)
{
    const char *fname = "datasets.windows";
    ml_tensor_t *ids = ml__check_tensor(L, 1, fname);
    lua_Integer B = luaL_checkinteger(L, 2), k = luaL_checkinteger(L, 3);
    if (ids->ndim != 1) {
        char s[64];
        ml__raise(L, "%s: ids are %s, expected one stream (N)", fname, ml_shape_str(s, sizeof s, ids));
    }
    int64_t W = ml_stream_windows_count(ids->shape[0], (int64_t)B, (int64_t)k);
    if (W < 1)
        return ml__engine_error(L, fname);
    int64_t shape[2] = {W * (int64_t)B, (int64_t)k};
    ml_tensor_t *x = ml__push_tensor(L, 2, shape, fname);
    ml_tensor_t *y = ml__push_tensor(L, 2, shape, fname);
    if (ml_stream_windows(x, y, ids, (int64_t)B, (int64_t)k))
        return ml__engine_error(L, fname);
    return 2;
}

/* core.datasets.vocab(string) -> the string's distinct bytes in increasing order */
static int d_vocab(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    ml_vocab_t v;
    ml_vocab_build(&v, s, n);
    lua_pushlstring(L, (const char *)v.chars, (size_t)v.size);
    return 1;
}

int ml__open_datasets(lua_State *L)
{
    static const luaL_Reg fns[] = {{"idx", d_idx},       {"check_labels", d_check_labels},
                                   {"csv", d_csv},       {"text", d_text},
                                   {"encode", d_encode}, {"decode", d_decode},
                                   {"windows", d_windows}, {"vocab", d_vocab},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
