/* Recurrent networks against PyTorch 1.13: every case of tests/ref/recurrent.h5 (written by
 * tests/ref/recurrent_reference.py, which documents the layout) is rebuilt in moonlab with the
 * fixture's weights, run forward and backward, and compared: outputs, final states, and the
 * gradients of the inputs, the initial states and every parameter. Cases: each cell type, 1 and
 * 2 layers, one and two directions, both output modes, initial states, variable lengths
 * (PyTorch's pack_padded_sequence), gradients into the final states, learnable initial states,
 * truncated BPTT over two windows, and models (embedding + GRU + per-step cross-entropy,
 * one-hot ids into a bidirectional LSTM with lengths, an LSTM encoder-decoder).
 *
 * Tolerance. PyTorch computed in float64 on weights and inputs that are float32 numbers, so
 * the difference is moonlab's float32 arithmetic alone. Each array is compared by its maximum
 * floored relative error max_i |got_i - want_i| / max(|want_i|, 1e-3 max_j |want_j|), which
 * must be <= 1e-4. It is the relative error of each element of at least a thousandth of the
 * array's largest value; a smaller element is measured against that floor, so its own relative
 * error can be far above 1e-4. Such elements are sums whose terms cancel: float32 rounds each
 * term at the array's scale, so what is left carries an absolute error of ~1e-7 of that scale,
 * not a small relative one (an error of 1e-4 of a thousandth of the scale is still caught). The
 * run prints the largest floored error and, for information, the largest relative error with no
 * floor, each with the case, array and element where it occurs; ML_SHOW_ERRORS=1 prints every
 * array's floored error. A wrong gate, a wrong time step or a missing term is off by O(1). */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/loss.h"
#include "moonlab/nn.h"
#include "moonlab/rnn.h"

#define FIXTURE "tests/ref/recurrent.h5"
#define MAX_REL 1e-4

/* The largest floored error of any comparison, and the largest relative error without the floor
 * (elements whose reference is exactly 0 and which moonlab gives as exactly 0 left out), with
 * where they occur, reported at the end. */
static struct {
    double err;
    char where[96];
    double got, want, scale;
} worst_seen, worst_raw;

/* ---- reading the fixture ---- */

static int has(hid_t g, const char *name)
{
    return H5Lexists(g, name, H5P_DEFAULT) > 0;
}

/* A dataset as doubles (malloc'd) with its shape; NULL (and a failed check) if unreadable. */
static double *read_doubles(hid_t g, const char *name, int *ndim, int64_t *shape, int64_t *n)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    CHECK_MSG(d >= 0, "dataset %s missing", name);
    if (d < 0)
        return NULL;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[4] = {0};
    int nd = H5Sget_simple_extent_ndims(sp);
    double *buf = NULL;
    if (nd >= 0 && nd <= 4) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        *n = 1;
        for (int i = 0; i < nd; i++) {
            shape[i] = (int64_t)dims[i];
            *n *= (int64_t)dims[i];
        }
        *ndim = nd;
        buf = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *buf);
        if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            free(buf);
            buf = NULL;
        }
    }
    CHECK_MSG(buf != NULL, "dataset %s unreadable", name);
    H5Sclose(sp);
    H5Dclose(d);
    return buf;
}

/* A dataset as a new float tensor of its shape (a scalar as (1)). */
static int read_tensor(hid_t g, const char *name, ml_tensor_t *t)
{
    int nd;
    int64_t shape[4], n;
    memset(t, 0, sizeof *t);
    double *v = read_doubles(g, name, &nd, shape, &n);
    if (!v)
        return 0;
    if (nd == 0) {
        nd = 1;
        shape[0] = 1;
    }
    int ok = ml_tensor_new(t, nd, shape) == ML_OK;
    CHECK(ok);
    for (int64_t i = 0; ok && i < n; i++)
        t->data[i] = (float)v[i];
    free(v);
    return ok;
}

static int64_t attr_int(hid_t g, const char *name)
{
    long long v = -1;
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    CHECK_MSG(a >= 0, "attribute %s missing", name);
    if (a >= 0) {
        CHECK(H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0);
        H5Aclose(a);
    }
    return (int64_t)v;
}

/* A string attribute (variable or fixed length) into buf. */
static void attr_str(hid_t g, const char *name, char *buf, size_t size)
{
    buf[0] = '\0';
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    CHECK_MSG(a >= 0, "attribute %s missing", name);
    if (a < 0)
        return;
    hid_t ft = H5Aget_type(a);
    if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft)); /* h5py writes UTF-8 */
        char *s = NULL;
        if (H5Aread(a, mt, &s) >= 0 && s) {
            snprintf(buf, size, "%s", s);
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t len = H5Tget_size(ft);
        char *s = calloc(len + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len + 1);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (s && H5Aread(a, mt, s) >= 0)
            snprintf(buf, size, "%s", s);
        free(s);
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Aclose(a);
}

/* ---- comparing ---- */

/* Compare got (n floats, shaped like the fixture's dataset) with the fixture. */
static void compare(const char *cname, hid_t g, const char *name, const float *got, int64_t n)
{
    int nd;
    int64_t shape[4], m;
    double *want = read_doubles(g, name, &nd, shape, &m);
    if (!want)
        return;
    CHECK_MSG(m == n, "%s: %s has %lld values, moonlab gives %lld", cname, name, (long long)m,
              (long long)n);
    double scale = 0, err = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < m; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < m && m == n; i++) {
        const double d = fabs((double)got[i] - want[i]);
        double e = d / fmax(fabs(want[i]), 1e-3 * scale);
        if (scale == 0) /* an all-zero reference: exact zeros expected */
            e = got[i] != 0.0f ? INFINITY : 0.0;
        if (e > err || isnan(e)) {
            err = e;
            at = i;
        }
        const double raw = want[i] != 0.0 ? d / fabs(want[i]) : got[i] != 0.0f ? INFINITY : 0.0;
        if (raw > worst_raw.err) {
            worst_raw.err = raw;
            snprintf(worst_raw.where, sizeof worst_raw.where, "%s %s[%lld]", cname, name,
                     (long long)i);
            worst_raw.got = got[i];
            worst_raw.want = want[i];
            worst_raw.scale = scale;
        }
    }
    if (err > worst_seen.err || isnan(err)) {
        worst_seen.err = err;
        snprintf(worst_seen.where, sizeof worst_seen.where, "%s %s[%lld]", cname, name,
                 (long long)at);
        worst_seen.got = m == n ? got[at] : NAN;
        worst_seen.want = want[at];
        worst_seen.scale = scale;
    }
    if (getenv("ML_SHOW_ERRORS"))
        printf("%-42s %-6s %.3g\n", cname, name, err);
    CHECK_MSG(err <= MAX_REL, "%s: %s: max relative error %.3g (> %g)", cname, name, err, MAX_REL);
    free(want);
}

static void compare_tensor(const char *cname, hid_t g, const char *name, const ml_tensor_t *t)
{
    CHECK_MSG(t != NULL, "%s: moonlab gives no %s", cname, name);
    if (t)
        compare(cname, g, name, t->data, ml_tensor_numel(t));
}

/* The fixture's flat parameters into params (n of them). */
static int load_params(const char *cname, hid_t g, float *params, int64_t n)
{
    int nd;
    int64_t shape[4], m;
    double *v = read_doubles(g, "params", &nd, shape, &m);
    if (!v)
        return 0;
    CHECK_MSG(m == n, "%s: the fixture has %lld parameters, moonlab's layout %lld", cname,
              (long long)m, (long long)n);
    for (int64_t i = 0; i < m && m == n; i++)
        params[i] = (float)v[i];
    free(v);
    return m == n;
}

/* ---- recurrent stacks through the C API ---- */

typedef struct {
    ml_rnn_t r;
    float *params, *grads;
    int64_t np;
} stack_t_;

static int open_stack(stack_t_ *s, const char *cname, hid_t g, int extra_flags)
{
    char cell[16];
    memset(s, 0, sizeof *s);
    attr_str(g, "cell", cell, sizeof cell);
    int c = ml_cell_from_name(cell);
    CHECK_MSG(c >= 0, "%s: unknown cell '%s'", cname, cell);
    if (c < 0)
        return 0;
    const int flags = (attr_int(g, "sequence") ? 0 : ML_RNN_LAST) |
                      (attr_int(g, "bidirectional") ? ML_RNN_BIDIRECTIONAL : 0) |
                      (attr_int(g, "learn_state") ? ML_RNN_LEARN_STATE : 0) | extra_flags;
    const int64_t D = attr_int(g, "in"), H = attr_int(g, "hidden");
    const int L = (int)attr_int(g, "layers");
    int rc = ml_rnn_init(&s->r, (ml_cell_t)c, D, H, L, flags);
    CHECK_MSG(rc == ML_OK, "%s: %s", cname, ml_errmsg());
    if (rc)
        return 0;
    s->np = ml_rnn_nparams((ml_cell_t)c, D, H, L, flags);
    s->params = calloc((size_t)s->np, sizeof(float));
    s->grads = calloc((size_t)s->np, sizeof(float));
    ml_rnn_bind(&s->r, s->params, s->grads);
    return load_params(cname, g, s->params, s->np);
}

static void close_stack(stack_t_ *s)
{
    ml_rnn_free(&s->r);
    free(s->params);
    free(s->grads);
}

static int64_t *read_lengths(hid_t g)
{
    if (!has(g, "lengths"))
        return NULL;
    int nd;
    int64_t shape[4], n;
    double *v = read_doubles(g, "lengths", &nd, shape, &n);
    int64_t *len = v ? malloc((size_t)n * sizeof *len) : NULL;
    for (int64_t i = 0; len && i < n; i++)
        len[i] = (int64_t)v[i];
    free(v);
    return len;
}

static void run_stack(const char *cname, hid_t g)
{
    stack_t_ s;
    ml_tensor_t x = {0}, h0 = {0}, c0 = {0}, dy = {0}, dhn = {0}, dcn = {0};
    int64_t *len = read_lengths(g);
    if (!open_stack(&s, cname, g, 0) || !read_tensor(g, "x", &x) || !read_tensor(g, "dy", &dy))
        goto done;
    if (has(g, "h0") && !read_tensor(g, "h0", &h0))
        goto done;
    if (has(g, "c0") && !read_tensor(g, "c0", &c0))
        goto done;
    if (has(g, "dhn") && !read_tensor(g, "dhn", &dhn))
        goto done;
    if (has(g, "dcn") && !read_tensor(g, "dcn", &dcn))
        goto done;
    CHECK(ml_rnn_set_state(&s.r, h0.data ? &h0 : NULL, c0.data ? &c0 : NULL) == ML_OK);
    const ml_tensor_t *y, *hn, *cn, *dx, *dh0, *dc0;
    int rc = ml_rnn_forward(&s.r, &x, len, &y);
    CHECK_MSG(rc == ML_OK, "%s: forward: %s", cname, ml_errmsg());
    if (rc)
        goto done;
    compare_tensor(cname, g, "y", y);
    ml_rnn_final_state(&s.r, &hn, &cn);
    compare_tensor(cname, g, "hn", hn);
    if (has(g, "cn"))
        compare_tensor(cname, g, "cn", cn);
    rc = ml_rnn_backward_states(&s.r, &dy, dhn.data ? &dhn : NULL, dcn.data ? &dcn : NULL, 1, &dx);
    CHECK_MSG(rc == ML_OK, "%s: backward: %s", cname, ml_errmsg());
    if (rc)
        goto done;
    compare_tensor(cname, g, "dx", dx);
    compare(cname, g, "grads", s.grads, s.np);
    ml_rnn_state_grad(&s.r, &dh0, &dc0);
    if (has(g, "dh0"))
        compare_tensor(cname, g, "dh0", dh0);
    if (has(g, "dc0"))
        compare_tensor(cname, g, "dc0", dc0);
done:
    close_stack(&s);
    free(len);
    ml_tensor_t *ts[6] = {&x, &h0, &c0, &dy, &dhn, &dcn};
    for (int i = 0; i < 6; i++)
        ml_tensor_free(ts[i]);
}

/* Window 2 of a stream after window 1, the state carried (detached) between them. */
static void run_truncated(const char *cname, hid_t g)
{
    stack_t_ s;
    ml_tensor_t x1 = {0}, x2 = {0}, dy = {0};
    if (open_stack(&s, cname, g, 0) && read_tensor(g, "x1", &x1) && read_tensor(g, "x2", &x2) &&
        read_tensor(g, "dy", &dy)) {
        const ml_tensor_t *y, *dx;
        ml_rnn_set_carry(&s.r, 1);
        ml_rnn_reset_state(&s.r);
        int rc = ml_rnn_forward(&s.r, &x1, NULL, &y);
        if (!rc)
            rc = ml_rnn_forward(&s.r, &x2, NULL, &y);
        if (!rc) {
            compare_tensor(cname, g, "y2", y);
            rc = ml_rnn_backward(&s.r, &dy, 1, &dx);
        }
        CHECK_MSG(rc == ML_OK, "%s: %s", cname, ml_errmsg());
        if (!rc) {
            compare_tensor(cname, g, "dx2", dx);
            compare(cname, g, "grads", s.grads, s.np);
        }
    }
    close_stack(&s);
    ml_tensor_free(&x1);
    ml_tensor_free(&x2);
    ml_tensor_free(&dy);
}

/* ---- models ---- */

static ml_layer_spec_t spec(ml_layer_kind_t kind)
{
    ml_layer_spec_t s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.bias = 1;
    return s;
}

static ml_layer_spec_t rec(ml_cell_t cell, int64_t hidden, int layers, int sequence, int bi)
{
    ml_layer_spec_t s = spec(ML_LAYER_RECURRENT);
    s.cell = cell;
    s.hidden = hidden;
    s.layers = layers;
    s.sequence = sequence;
    s.bidirectional = bi;
    return s;
}

/* The layers a model case names (the same as recurrent_reference.py builds). */
static int model_specs(const char *model, hid_t g, ml_layer_spec_t *s)
{
    if (strcmp(model, "embedding_gru_linear") == 0) {
        s[0] = spec(ML_LAYER_EMBEDDING);
        s[0].in = attr_int(g, "vocab");
        s[0].out = attr_int(g, "size");
        s[1] = rec(ML_CELL_GRU, attr_int(g, "hidden"), 1, 1, 0);
        s[2] = spec(ML_LAYER_LINEAR);
        s[2].out = attr_int(g, "classes");
        return 3;
    }
    if (strcmp(model, "one_hot_bilstm_linear") == 0) {
        s[0] = spec(ML_LAYER_ONE_HOT);
        s[0].in = attr_int(g, "vocab");
        s[1] = rec(ML_CELL_LSTM, attr_int(g, "hidden"), 2, 1, 1);
        s[2] = spec(ML_LAYER_LINEAR);
        s[2].out = attr_int(g, "classes");
        return 3;
    }
    if (strcmp(model, "encoder_decoder_lstm") == 0) {
        s[0] = rec(ML_CELL_LSTM, attr_int(g, "hidden"), 2, 0, 0);
        s[0].in = attr_int(g, "in");
        s[1] = spec(ML_LAYER_REPEAT);
        s[1].out = attr_int(g, "steps");
        s[2] = rec(ML_CELL_LSTM, attr_int(g, "hidden"), 2, 1, 0);
        s[2].state_from = 1;
        s[3] = spec(ML_LAYER_LINEAR);
        s[3].out = attr_int(g, "classes");
        return 4;
    }
    return 0;
}

static void run_model(const char *cname, hid_t g)
{
    char model[64];
    attr_str(g, "model", model, sizeof model);
    ml_layer_spec_t specs[8];
    int n = model_specs(model, g, specs);
    CHECK_MSG(n > 0, "%s: unknown model '%s'", cname, model);
    if (!n)
        return;
    ml_model_t *m = NULL;
    int rc = ml_model_new(&m, n, specs);
    CHECK_MSG(rc == ML_OK, "%s: %s", cname, ml_errmsg());
    if (rc)
        return;
    ml_tensor_t x = {0}, len = {0}, dy = {0}, target = {0};
    const int ids = has(g, "ids");
    if (!load_params(cname, g, m->params, m->nparams) || !read_tensor(g, ids ? "ids" : "x", &x) ||
        (has(g, "lengths") && !read_tensor(g, "lengths", &len)))
        goto done;
    const ml_tensor_t *y, *dx = NULL;
    rc = ml_model_forward_lengths(m, &x, len.data ? &len : NULL, &y);
    CHECK_MSG(rc == ML_OK, "%s: forward: %s", cname, ml_errmsg());
    if (rc)
        goto done;
    compare_tensor(cname, g, "y", y);
    if (has(g, "target")) { /* mean cross-entropy over every step */
        if (!read_tensor(g, "target", &target) || ml_tensor_new(&dy, y->ndim, y->shape))
            goto done;
        double loss, correct;
        CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &loss, &correct, &dy, y, &target,
                      NULL) == ML_OK);
        float lf = (float)loss;
        compare(cname, g, "loss", &lf, 1);
    } else if (!read_tensor(g, "dy", &dy)) {
        goto done;
    }
    rc = ml_model_backward_fresh(m, &dy, ids ? NULL : &dx);
    CHECK_MSG(rc == ML_OK, "%s: backward: %s", cname, ml_errmsg());
    if (rc)
        goto done;
    if (has(g, "dx"))
        compare_tensor(cname, g, "dx", dx);
    compare(cname, g, "grads", m->grads, m->nparams);
done:
    ml_model_free(m);
    ml_tensor_t *ts[4] = {&x, &len, &dy, &target};
    for (int i = 0; i < 4; i++)
        ml_tensor_free(ts[i]);
}

/* ---- every case ---- */

typedef struct {
    int stack, truncated, model, unknown;
} counts_t;

static herr_t run_case(hid_t top, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    counts_t *n = data;
    hid_t g = H5Gopen2(top, name, H5P_DEFAULT);
    if (g < 0)
        return -1;
    char kind[16];
    attr_str(g, "kind", kind, sizeof kind);
    if (strcmp(kind, "stack") == 0) {
        run_stack(name, g);
        n->stack++;
    } else if (strcmp(kind, "truncated") == 0) {
        run_truncated(name, g);
        n->truncated++;
    } else if (strcmp(kind, "model") == 0) {
        run_model(name, g);
        n->model++;
    } else {
        CHECK_MSG(0, "%s: unknown kind '%s'", name, kind);
        n->unknown++;
    }
    H5Gclose(g);
    return 0;
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are checked, not printed by HDF5 */
    hid_t f = H5Fopen(FIXTURE, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK_MSG(f >= 0, "cannot open %s (run from the source directory)", FIXTURE);
    if (f < 0)
        return check_report("test_rnn_reference");
    counts_t n = {0, 0, 0, 0};
    hid_t top = H5Gopen2(f, "cases", H5P_DEFAULT);
    CHECK(top >= 0);
    if (top >= 0) {
        CHECK(H5Literate(top, H5_INDEX_NAME, H5_ITER_INC, NULL, run_case, &n) >= 0);
        H5Gclose(top);
    }
    H5Fclose(f);
    /* every kind of case is there: the fixture was not truncated or emptied */
    CHECK_MSG(n.stack >= 20 && n.truncated >= 2 && n.model >= 3 && n.unknown == 0,
              "cases run: %d stacks, %d truncated, %d models, %d unknown", n.stack, n.truncated,
              n.model, n.unknown);
    printf("%d stacks, %d truncated, %d models\n", n.stack, n.truncated, n.model);
    printf("largest relative error, floored at 1e-3 of the array's largest value: %.3g (<= %g "
           "required), %s: %.7g for %.7g, largest %.4g\n",
           worst_seen.err, MAX_REL, worst_seen.where, worst_seen.got, worst_seen.want,
           worst_seen.scale);
    printf("largest relative error without the floor (not tested): %.3g, %s: %.7g for %.7g, "
           "largest %.4g\n",
           worst_raw.err, worst_raw.where, worst_raw.got, worst_raw.want, worst_raw.scale);
    return check_report("test_rnn_reference");
}
