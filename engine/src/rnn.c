#include "moonlab/rnn.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "moonlab/error.h"
#include "moonlab/kernels.h"
#include "vmath.h"

static const char *const cell_names[ML_CELL_NKINDS] = {
    [ML_CELL_RNN_TANH] = "rnn", [ML_CELL_RNN_RELU] = "rnn_relu",
    [ML_CELL_GRU] = "gru", [ML_CELL_LSTM] = "lstm"};

const char *ml_cell_name(ml_cell_t cell)
{
    return (unsigned)cell < ML_CELL_NKINDS ? cell_names[cell] : "?";
}

int ml_cell_from_name(const char *name)
{
    for (int k = 0; k < ML_CELL_NKINDS; k++)
        if (strcmp(cell_names[k], name) == 0)
            return k;
    return -1;
}

int ml_rnn_gates(ml_cell_t cell)
{
    return cell == ML_CELL_LSTM ? 4 : cell == ML_CELL_GRU ? 3 : 1;
}

int64_t ml_rnn_nparams(ml_cell_t cell, int64_t in, int64_t hidden, int nlayers, int flags)
{
    int64_t gh = ml_rnn_gates(cell) * hidden, n = 0;
    int64_t dirs = (flags & ML_RNN_BIDIRECTIONAL) ? 2 : 1;
    for (int l = 0; l < nlayers; l++)
        n += dirs * gh * ((l == 0 ? in : dirs * hidden) + hidden + 2);
    if (flags & ML_RNN_LEARN_STATE)
        n += (cell == ML_CELL_LSTM ? 2 : 1) * (int64_t)nlayers * dirs * hidden;
    return n;
}

static int nsub(const ml_rnn_t *r)
{
    return r->nlayers * r->dirs;
}

int ml_rnn_init(ml_rnn_t *r, ml_cell_t cell, int64_t in, int64_t hidden, int nlayers,
                int flags)
{
    memset(r, 0, sizeof *r);
    if ((unsigned)cell >= ML_CELL_NKINDS)
        return ml__fail(ML_EARG, "recurrent layer: unknown cell %d", (int)cell);
    if (in <= 0 || hidden <= 0)
        return ml__fail(ML_EARG, "%s: input size %lld and hidden size %lld must be positive",
                        ml_cell_name(cell), (long long)in, (long long)hidden);
    if (nlayers < 1 || nlayers > ML_RNN_MAX_LAYERS)
        return ml__fail(ML_EARG, "%s: %d layers (1 to %d)", ml_cell_name(cell), nlayers,
                        ML_RNN_MAX_LAYERS);
    r->cell = cell;
    r->in = in;
    r->hidden = hidden;
    r->nlayers = nlayers;
    r->last_only = (flags & ML_RNN_LAST) != 0;
    r->dirs = (flags & ML_RNN_BIDIRECTIONAL) ? 2 : 1;
    r->learn_state = (flags & ML_RNN_LEARN_STATE) != 0;
    r->ids = (flags & ML_RNN_IDS) != 0;
    for (int k = 0; k < nsub(r); k++)
        r->layers[k].in = k < r->dirs ? in : r->dirs * hidden;
    return ML_OK;
}

void ml_rnn_bind(ml_rnn_t *r, float *params, float *grads)
{
    int64_t gh = ml_rnn_gates(r->cell) * r->hidden, off = 0;
    for (int s = 0; s < nsub(r); s++) {
        ml_rnn_layer_t *L = &r->layers[s];
        float **p[4] = {&L->w_ih, &L->w_hh, &L->b_ih, &L->b_hh};
        float **g[4] = {&L->dw_ih, &L->dw_hh, &L->db_ih, &L->db_hh};
        const int64_t sizes[4] = {gh * L->in, gh * r->hidden, gh, gh};
        for (int k = 0; k < 4; k++) {
            *p[k] = params + off;
            *g[k] = grads + off;
            off += sizes[k];
        }
    }
    if (r->learn_state) {
        int64_t n = nsub(r) * r->hidden;
        r->h0p = params + off;
        r->dh0p = grads + off;
        if (r->cell == ML_CELL_LSTM) {
            r->c0p = params + off + n;
            r->dc0p = grads + off + n;
        }
    }
}

void ml_rnn_free(ml_rnn_t *r)
{
    for (int l = 0; l < 2 * ML_RNN_MAX_LAYERS; l++) {
        ml_rnn_layer_t *L = &r->layers[l];
        ml_tensor_t *ts[11] = {&L->x, &L->gates, &L->dgates, &L->dgates_h, &L->hn,   &L->h,
                               &L->c, &L->dx,    &L->mask,   &L->wpack,    &L->ipack};
        for (int k = 0; k < 11; k++)
            ml_tensor_free(ts[k]);
    }
    ml_tensor_t *ts[14] = {&r->y,  &r->dx, &r->dh, &r->dh_next, &r->dc_next, &r->tmp, &r->rows,
                           &r->h0, &r->c0, &r->hn, &r->cn,      &r->dh0,     &r->dc0, &r->dseq};
    for (int k = 0; k < 14; k++)
        ml_tensor_free(ts[k]);
    free(r->tok);
    free(r->len);
    r->tok = r->len = NULL;
    r->tok_cap = r->len_cap = 0;
}


static int ensure3(ml_tensor_t *t, int64_t a, int64_t b, int64_t c)
{
    int64_t shape[3] = {a, b, c};
    return ml_tensor_ensure(t, 3, shape);
}

static int ensure2(ml_tensor_t *t, int64_t a, int64_t b)
{
    int64_t shape[2] = {a, b};
    return ml_tensor_ensure(t, 2, shape);
}

/* Floats for each of a weight's transpose (K, GH) and the weight (GH, K) laid out: wpack's and
 * ipack's two rows. */
static int64_t pack_half(int64_t K, int64_t GH)
{
    const int64_t f = ml_k_pack_size(K, GH), b = ml_k_pack_size(GH, K);
    return (f > b ? f : b) + 1;
}

/* Whether sub-layer l reads ids (the first layer's directions with ML_RNN_IDS): then it keeps
 * no (T, B, D) blocks, gathers its input projection, and has no input products or gradient. */
static int reads_ids(const ml_rnn_t *r, int l)
{
    return r->ids && l < r->dirs;
}

/* Whether layer 0's dense input rows are loaded inside its time loop (input_rows from
 * forward_rows, each thread its own rows) rather than before it by load_input: with one
 * direction, whose time loop reads them in order. */
static int loads_in_steps(const ml_rnn_t *r)
{
    return !r->ids && r->dirs == 1;
}

/* Buffers for a forward/backward of T steps over B sequences. */
static int ensure_buffers(ml_rnn_t *r, int64_t T, int64_t B)
{
    int64_t H = r->hidden, GH = ml_rnn_gates(r->cell) * H;
    int rc = 0;
    const int64_t S = nsub(r), DH = r->dirs * H;
    int64_t kmax = GH > H ? GH : H; /* the longest sum of a per-step product */
    for (int k = 0; k < S && !rc; k++) {
        ml_rnn_layer_t *L = &r->layers[k];
        const int dense = !reads_ids(r, k);
        rc = (dense && ensure3(&L->x, T, B, L->in)) || ensure3(&L->gates, T, B, GH) ||
             ensure3(&L->dgates, T, B, GH) || ensure3(&L->h, T + 1, B, H) ||
             ensure2(&L->wpack, 2, pack_half(H, GH)) ||
             (dense && (ensure3(&L->dx, T, B, L->in) || ensure2(&L->ipack, 2, pack_half(L->in, GH))));
        if (dense && L->in > kmax)
            kmax = L->in;
        if (!rc && r->cell == ML_CELL_LSTM)
            rc = ensure3(&L->c, T + 1, B, H) || ensure3(&L->hn, T, B, H);
        if (!rc && r->cell == ML_CELL_GRU)
            rc = ensure3(&L->hn, T, B, H) || ensure3(&L->dgates_h, T, B, GH);
        if (!rc && k >= r->dirs && k % r->dirs == 0 && r->dropout > 0.0f)
            rc = ensure3(&L->mask, T, B, L->in);
    }
    if (!rc)
        rc = ensure3(&r->dh, T, B, H) || ensure2(&r->dh_next, B, H) ||
             ensure2(&r->dc_next, B, H) || ensure2(&r->tmp, B, GH) ||
             ensure3(&r->dseq, T, B, DH);
    if (!rc) {
        const int nt = ml_k_get_threads();
        r->rows_per = ml_k_packed_scratch_size(B, kmax) + 1; /* never 0 */
        rc = ensure2(&r->rows, nt, r->rows_per);
        r->rows_threads = rc ? 0 : nt;
    }
    if (!rc)
        rc = r->last_only ? ensure2(&r->y, B, DH) : ensure3(&r->y, B, T, DH);
    if (!rc)
        rc = ensure3(&r->hn, S, B, H) || ensure3(&r->dh0, S, B, H);
    if (!rc && r->cell == ML_CELL_LSTM)
        rc = ensure3(&r->cn, S, B, H) || ensure3(&r->dc0, S, B, H);
    if (!rc && r->ids && r->tok_cap < r->dirs * T * B) {
        int64_t *p = realloc(r->tok, (size_t)(r->dirs * T * B) * sizeof *p);
        rc = p == NULL;
        if (p) {
            r->tok = p;
            r->tok_cap = r->dirs * T * B;
        }
    }
    if (rc)
        return ml__fail(ML_ENOMEM, "%s: cannot allocate buffers for T=%lld, B=%lld",
                        ml_cell_name(r->cell), (long long)T, (long long)B);
    return ML_OK;
}

/* Gate math of one sequence at one step: the input projection (in place) and the recurrent
 * term in, biases added in the order they always were, activations out in place. Kept
 * in functions of their own, with restrict arguments, so that each loop vectorizes. */
static void lstm_cell(float *restrict g, const float *restrict hw, const float *restrict b_ih,
                      const float *restrict b_hh, const float *restrict cp, float *restrict cc,
                      float *restrict tc, float *restrict h, int64_t H)
{
    /* pre-activation ((x W_ihᵀ + b_ih) + b_hh) + h W_hhᵀ, summed in that order */
#define PRE(k) (g[(k) * H + j] + b_ih[(k) * H + j] + b_hh[(k) * H + j] + hw[(k) * H + j])
    for (int64_t j = 0; j < H; j++) {
        float i = ml_vsigmoidf(PRE(0)), f = ml_vsigmoidf(PRE(1));
        float gc = ml_vtanhf(PRE(2)), o = ml_vsigmoidf(PRE(3));
        g[j] = i;
        g[H + j] = f;
        g[2 * H + j] = gc;
        g[3 * H + j] = o;
        cc[j] = f * cp[j] + i * gc;
        tc[j] = ml_vtanhf(cc[j]);
        h[j] = o * tc[j];
    }
#undef PRE
}

/* GRU: hw holds H_{t-1} W_hᵀ for r, z and the candidate, without biases; the candidate's hidden
 * term (with b_hn) is kept in hn_out for the backward pass. */
static void gru_cell(float *restrict gr, float *restrict gz, float *restrict gn,
                     const float *restrict hw, const float *restrict b_ih,
                     const float *restrict b_hh, float *restrict hn_out,
                     const float *restrict hp, float *restrict h, int64_t H)
{
    for (int64_t j = 0; j < H; j++) {
        float r = ml_vsigmoidf(gr[j] + b_ih[j] + b_hh[j] + hw[j]);
        float z = ml_vsigmoidf(gz[j] + b_ih[H + j] + b_hh[H + j] + hw[H + j]);
        float hn = hw[2 * H + j] + b_hh[2 * H + j];
        float n = ml_vtanhf(gn[j] + b_ih[2 * H + j] + r * hn);
        hn_out[j] = hn;
        gr[j] = r;
        gz[j] = z;
        gn[j] = n;
        h[j] = z * hp[j] + (1.0f - z) * n;
    }
}

/* The LSTM's step backward for one sequence: from d = dL/dh_t and dc (dL/dc_t from the step
 * after, replaced by dL/dc_{t-1}), the pre-activation gradients of the four gates; tcs holds
 * tanh(c_t), kept by the forward pass. */
static void lstm_cell_backward(float *restrict di, float *restrict df, float *restrict dg,
                               float *restrict d_o, float *restrict dc, const float *restrict gi,
                               const float *restrict gf, const float *restrict gg,
                               const float *restrict go, const float *restrict cp,
                               const float *restrict tcs, const float *restrict d, int64_t H)
{
    for (int64_t j = 0; j < H; j++) {
        float i = gi[j], f = gf[j], g = gg[j], o = go[j];
        float tc = tcs[j];
        float dcj = d[j] * o * (1.0f - tc * tc) + dc[j];
        di[j] = dcj * g * i * (1.0f - i);
        df[j] = dcj * cp[j] * f * (1.0f - f);
        dg[j] = dcj * i * (1.0f - g * g);
        d_o[j] = d[j] * tc * o * (1.0f - o);
        dc[j] = dcj * f;
    }
}

/* The GRU's step backward for one sequence: the input-side pre-activation gradients (dr, dz,
 * dn) and the hidden-side ones (dhr, dhz, dhn: the candidate's is gated by r). */
static void gru_cell_backward(float *restrict dr, float *restrict dz, float *restrict dn,
                              float *restrict dhr, float *restrict dhz, float *restrict dhn,
                              const float *restrict gr, const float *restrict gz,
                              const float *restrict gn, const float *restrict hp,
                              const float *restrict hn, const float *restrict d, int64_t H)
{
    for (int64_t j = 0; j < H; j++) {
        float r = gr[j], z = gz[j], n = gn[j];
        float dnj = d[j] * (1.0f - z) * (1.0f - n * n);
        float dzj = d[j] * (hp[j] - n) * z * (1.0f - z);
        float drj = dnj * hn[j] * r * (1.0f - r);
        dr[j] = dhr[j] = drj;
        dz[j] = dhz[j] = dzj;
        dn[j] = dnj;
        dhn[j] = dnj * r;
    }
}

/* Steps of sequence b: its length, or T. */
static inline int64_t steps_of(const int64_t *len, int64_t b, int64_t T)
{
    return len ? len[b] : T;
}

/* Initial state of sub-layer s into dst (B, H): the set state, else the learnable one, else
 * zeros. */
static void initial_state(float *dst, const ml_tensor_t *set, int has, const float *learned,
                          int s, int64_t B, int64_t H)
{
    if (has)
        memcpy(dst, set->data + s * B * H, (size_t)(B * H) * sizeof *dst);
    else if (learned)
        for (int64_t b = 0; b < B; b++)
            memcpy(dst + b * H, learned + s * H, (size_t)H * sizeof *dst);
    else
        memset(dst, 0, (size_t)(B * H) * sizeof *dst);
}

/* Input projection of every step for ids input: row (t, b) is column id of W_ih (the product of
 * a one-hot vector with W_ihᵀ), zeros on padded steps (id -1). */
static void gather_columns(float *gates, const float *w_ih, const int64_t *tok, int64_t rows,
                           int64_t GH, int64_t D)
{
    for (int64_t row = 0; row < rows; row++) {
        float *restrict g = gates + row * GH;
        const int64_t id = tok[row];
        if (id < 0) {
            memset(g, 0, (size_t)GH * sizeof *g);
            continue;
        }
        const float *restrict w = w_ih + id;
        for (int64_t j = 0; j < GH; j++)
            g[j] = w[j * D];
    }
}

/* The time loops run each batch row through every step on its own (row b's state depends on
 * row b alone), so with several threads each takes a block of rows through all T steps with no
 * synchronisation between steps: its per-step products on one thread (ml_k_gemm1), its gate
 * maths beside them. Blocks of fewer rows would make the per-step products too small to pay
 * for a thread. Each row goes through the same operations in the same order whatever the
 * thread count (ml_k_gemm1 at one thread too), so the results are the same bits. */
#define ROWS_PER_THREAD 16
/* ... and fewer multiply-adds in the recurrent products than this (about 20 us) would not pay
 * for waking a thread, nor for waiting on one that another job keeps off its core. */
#define WORK_PER_THREAD (1 << 20)

/* What a block of rows needs: the layer, the sizes, (forward) the input when its rows are still
 * to be loaded and whether the initial hidden state is zeros, and (backward) the gradients
 * coming in and whether the input's is wanted. */
typedef struct {
    ml_rnn_t *r;
    int l;
    int64_t T, B;
    const ml_tensor_t *in; /* the input, when its rows are still to be loaded (input_rows) */
    int zero_h0;
    const float *dh;      /* (T, B, H), or with dy_last set, */
    const float *dy_last; /* (B, H) at each sequence's last step */
    int need_dx;
} steps_t;

/* fn(s, b0, b1) over blocks of rows [b0, b1) covering 0..B, in parallel when the thread count,
 * B and the work allow. */
static void over_rows(void (*fn)(const steps_t *, int64_t, int64_t), const steps_t *s)
{
    const int64_t H = s->r->hidden, work = s->B * s->T * ml_rnn_gates(s->r->cell) * H * H;
    int64_t nt = ml_k_get_threads();
    if (nt > s->B / ROWS_PER_THREAD)
        nt = s->B / ROWS_PER_THREAD;
    if (nt > work / WORK_PER_THREAD)
        nt = work / WORK_PER_THREAD;
    if (nt > s->r->rows_threads) /* each thread its own scratch */
        nt = s->r->rows_threads;
    if (nt <= 1) {
        fn(s, 0, s->B);
        return;
    }
    _Pragma("omp parallel num_threads((int)nt)")
    {
        const int64_t n = omp_get_num_threads(), i = omp_get_thread_num();
        fn(s, s->B * i / n, s->B * (i + 1) / n);
    }
}

/* The calling thread's scratch for per-step products (over_rows runs at most rows_threads). */
static float *thread_rows(ml_rnn_t *r)
{
    return r->rows.data + omp_get_thread_num() * r->rows_per;
}

/* A layer's outputs at one of its steps, rows b0..b1, straight to where they are read: below
 * the top, the next layer's input x (T, B, dirs*H); at the top, the stack's output y, (B, T,
 * dirs*H) or with last_only (B, dirs*H) at each sequence's last step. The forward direction's
 * h_{t+1} is step t's; the backward direction's (its input reversed within each sequence) is
 * step n_b-1-t's; steps past a sequence's end get zeros. Written by the thread that computed
 * the rows, so no pass over the whole output follows the time loop. */
static void output_rows(const steps_t *s, const float *hc, int64_t t, int64_t b0, int64_t b1)
{
    const ml_rnn_t *r = s->r;
    const int64_t H = r->hidden, B = s->B, T = s->T, DH = r->dirs * H;
    const int d = s->l % r->dirs, layer = s->l / r->dirs;
    const int64_t *len = r->has_len ? r->len : NULL;
    const size_t row = (size_t)H * sizeof(float);
    if (layer + 1 < r->nlayers) { /* time-major, the next layer's input */
        float *dst = r->layers[(ptrdiff_t)(layer + 1) * r->dirs].x.data + d * H;
        for (int64_t b = b0; b < b1; b++) {
            const int64_t n = steps_of(len, b, T);
            if (t < n)
                memcpy(dst + ((d ? n - 1 - t : t) * B + b) * DH, hc + b * H, row);
            else
                memset(dst + (t * B + b) * DH, 0, row);
        }
    } else if (r->last_only) { /* the step at each sequence's end: t = n-1, reversed t = 0 */
        for (int64_t b = b0; b < b1; b++)
            if (t == (d ? 0 : steps_of(len, b, T) - 1))
                memcpy(r->y.data + b * DH + d * H, hc + b * H, row);
    } else { /* batch-first */
        float *dst = r->y.data + d * H;
        for (int64_t b = b0; b < b1; b++) {
            const int64_t n = steps_of(len, b, T);
            if (t < n)
                memcpy(dst + (b * T + (d ? n - 1 - t : t)) * DH, hc + b * H, row);
            else
                memset(dst + (b * T + t) * DH, 0, row);
        }
    }
}

/* Rows b0..b1 of the input x (B, T, D) at step t into layer 0's time-major x (zeros on padded
 * steps). */
static void input_rows(ml_rnn_t *r, const ml_tensor_t *x, int64_t t, int64_t b0, int64_t b1,
                       int64_t B)
{
    const int64_t *len = r->has_len ? r->len : NULL, D = r->in;
    float *xt = r->layers[0].x.data + t * B * D;
    for (int64_t b = b0; b < b1; b++) {
        const float *src = x->data + b * x->stride[0] + t * x->stride[1];
        float *dst = xt + b * D;
        if (len && t >= len[b])
            memset(dst, 0, (size_t)D * sizeof *dst);
        else if (x->stride[2] == 1)
            memcpy(dst, src, (size_t)D * sizeof *dst);
        else
            for (int64_t d = 0; d < D; d++)
                dst[d] = src[d * x->stride[2]];
    }
}

/* Rows b0..b1 of one layer through all steps: the input product, biases, the recurrent
 * product, the gate maths. The input product of a step (x_t W_ihᵀ, into the gates) runs
 * beside its recurrent product, where their rows are still in cache, and not for all steps
 * at once: each element is the same sum either way. */
static void forward_rows(const steps_t *s, int64_t b0, int64_t b1)
{
    ml_rnn_t *r = s->r;
    ml_rnn_layer_t *L = &r->layers[s->l];
    const int64_t T = s->T, B = s->B, nb = b1 - b0;
    const int64_t H = r->hidden, G = ml_rnn_gates(r->cell), GH = G * H;
    const ml_cell_t cell = r->cell;
    const int64_t *len = r->has_len ? r->len : NULL;
    float *gates = L->gates.data, *h = L->h.data, *c = L->c.data, *tmp = r->tmp.data + b0 * GH;
    float *rows = thread_rows(r);
    const float *restrict b_ih = L->b_ih, *restrict b_hh = L->b_hh;
    const int dense = !reads_ids(r, s->l);
    for (int64_t t = 0; t < T; t++) {
        float *restrict g = gates + t * B * GH;
        const float *restrict hp = h + t * B * H;
        float *restrict hc = h + (t + 1) * B * H;
        if (s->in)
            input_rows(r, s->in, t, b0, b1, B);
        if (dense)
            ml_k_gemm_packed(g + b0 * GH, GH, L->x.data + (t * B + b0) * L->in, L->in, &L->i_fwd,
                             nb, 0.0f, rows);
        /* all gates' recurrent terms in one product, beside the input projection in g: the
         * gate maths add the two and the biases in one pass */
        if (t == 0 && s->zero_h0) /* a product of zeros: +0 in every element, as from BLIS */
            memset(tmp, 0, (size_t)(nb * GH) * sizeof *tmp);
        else
            ml_k_gemm_packed(tmp, GH, hp + b0 * H, H, &L->w_fwd, nb, 0.0f, rows);
        for (int64_t b = b0; b < b1; b++) {
            float *restrict gb = g + b * GH;
            const float *restrict hpb = hp + b * H, *restrict th = tmp + (b - b0) * GH;
            float *restrict hcb = hc + b * H;
            if (len && t >= len[b]) { /* padded: the states carry over */
                memcpy(hcb, hpb, (size_t)H * sizeof *hcb);
                if (cell == ML_CELL_LSTM)
                    memcpy(c + (t + 1) * B * H + b * H, c + t * B * H + b * H,
                           (size_t)H * sizeof *c);
                continue;
            }
            switch (cell) {
            case ML_CELL_RNN_TANH:
                for (int64_t j = 0; j < H; j++)
                    hcb[j] = gb[j] = ml_vtanhf(gb[j] + b_ih[j] + b_hh[j] + th[j]);
                break;
            case ML_CELL_RNN_RELU:
                for (int64_t j = 0; j < H; j++) {
                    const float v = gb[j] + b_ih[j] + b_hh[j] + th[j];
                    hcb[j] = gb[j] = v > 0.0f ? v : 0.0f;
                }
                break;
            case ML_CELL_LSTM:
                lstm_cell(gb, th, b_ih, b_hh, c + t * B * H + b * H, c + (t + 1) * B * H + b * H,
                          L->hn.data + t * B * H + b * H, hcb, H);
                break;
            default: /* GRU */
                gru_cell(gb, gb + H, gb + 2 * H, th, b_ih, b_hh, L->hn.data + t * B * H + b * H,
                         hpb, hcb, H);
                break;
            }
        }
        /* the stack's output at step t (see output_rows) */
        output_rows(s, hc, t, b0, b1);
    }
}

/* One layer over all steps: L->x holds the time-major input (or r->tok the ids), results go to
 * L->h (and L->c). */
static void layer_forward(ml_rnn_t *r, int l, const ml_tensor_t *in, int64_t T, int64_t B)
{
    ml_rnn_layer_t *L = &r->layers[l];
    const int64_t H = r->hidden, GH = ml_rnn_gates(r->cell) * H, D = L->in;
    const int dense = !reads_ids(r, l);
    /* ids: the input projection of every step at once is a gather of W_ih's columns; dense
     * input: at each step (forward_rows) on W_ihᵀ (D, GH) laid out here */
    if (dense)
        ml_k_pack(&L->i_fwd, L->ipack.data, L->w_ih, 1, D, D, GH);
    else
        gather_columns(L->gates.data, L->w_ih, r->tok + l * T * B, T * B, GH, D);
    ml_k_pack(&L->w_fwd, L->wpack.data, L->w_hh, 1, H, H, GH); /* W_hhᵀ (H, GH) */
    initial_state(L->h.data, &r->h0, r->has_h0, r->learn_state ? r->h0p : NULL, l, B, H);
    if (r->cell == ML_CELL_LSTM)
        initial_state(L->c.data, &r->c0, r->has_c0, r->learn_state ? r->c0p : NULL, l, B, H);
    const steps_t s = {.r = r, .l = l, .T = T, .B = B, .in = in,
                       .zero_h0 = !r->has_h0 && !r->learn_state};
    over_rows(forward_rows, &s);
}

/* The backward direction's input: dst[t] = src[T-1-t] for T blocks of B rows of n floats, or
 * with lengths, row b of dst[t] = row b of src[n_b-1-t] for t < n_b and zeros after. */
static void reverse_time(float *dst, const float *src, int64_t T, int64_t B, int64_t n,
                         const int64_t *len)
{
    if (!len) {
        for (int64_t t = 0; t < T; t++)
            memcpy(dst + t * B * n, src + (T - 1 - t) * B * n, (size_t)(B * n) * sizeof(float));
        return;
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            float *d = dst + (t * B + b) * n;
            if (t < len[b])
                memcpy(d, src + ((len[b] - 1 - t) * B + b) * n, (size_t)n * sizeof(float));
            else
                memset(d, 0, (size_t)n * sizeof(float));
        }
}

static int dropping(const ml_rnn_t *r)
{
    return r->train && r->dropout > 0.0f && r->rng != NULL;
}

/* Everything about the input and lengths is checked before anything is changed: a refused
 * forward leaves r as it was. */
static int check_input(const ml_rnn_t *r, const ml_tensor_t *x, const int64_t *lengths)
{
    char s[64];
    const char *name = ml_cell_name(r->cell);
    if (r->ids) {
        if (x->ndim != 2 || x->shape[1] < 1)
            return ml__fail(ML_ESHAPE, "%s: input is %s, expected ids (B,T) with T >= 1", name,
                            ml_shape_str(s, sizeof s, x));
    } else if (x->ndim != 3 || x->shape[2] != r->in || x->shape[1] < 1) {
        return ml__fail(ML_ESHAPE, "%s: input is %s, expected (B,T,%lld) with T >= 1", name,
                        ml_shape_str(s, sizeof s, x), (long long)r->in);
    }
    const int64_t B = x->shape[0], T = x->shape[1];
    if ((r->has_h0 && r->h0.shape[1] != B) || (r->has_c0 && r->c0.shape[1] != B))
        return ml__fail(ML_ESHAPE, "%s: initial state is for a batch of %lld, the input has %lld%s",
                        name, (long long)(r->has_h0 ? r->h0 : r->c0).shape[1], (long long)B,
                        r->carry ? " (carried from the previous batch: reset the state, or "
                                   "keep the batch size)"
                                 : "");
    for (int64_t b = 0; lengths && b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return ml__fail(ML_EARG, "%s: length %lld of sequence %lld is outside 1..%lld (input %s)",
                            name, (long long)lengths[b], (long long)b + 1, (long long)T,
                            ml_shape_str(s, sizeof s, x));
    for (int64_t b = 0; r->ids && b < B; b++)
        for (int64_t t = 0; t < steps_of(lengths, b, T); t++) {
            float v = x->data[b * x->stride[0] + t * x->stride[1]];
            if (!(v >= 0.0f && v < (float)r->in) || v != (float)(int64_t)v)
                return ml__fail(ML_EARG, "%s: id %g at (%lld,%lld) is not an integer in 0..%lld",
                                name, (double)v, (long long)b + 1, (long long)t + 1,
                                (long long)r->in - 1);
        }
    return ML_OK;
}

/* The input, time-major: the ids of both directions (-1 on padded steps), or rows of layer 0's
 * x (zeros on padded steps); with one direction those are left to forward_rows (input_rows),
 * each thread loading the rows it takes through the steps. */
static void load_input(ml_rnn_t *r, const ml_tensor_t *x, int64_t T, int64_t B)
{
    const int64_t *len = r->has_len ? r->len : NULL;
    if (r->ids) {
        int64_t *fwd = r->tok, *bwd = r->tok + T * B;
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < B; b++) {
                int64_t n = steps_of(len, b, T);
                fwd[t * B + b] = t < n ? (int64_t)x->data[b * x->stride[0] + t * x->stride[1]] : -1;
            }
        for (int64_t t = 0; r->dirs == 2 && t < T; t++)
            for (int64_t b = 0; b < B; b++) {
                int64_t n = steps_of(len, b, T);
                bwd[t * B + b] = t < n ? fwd[(n - 1 - t) * B + b] : -1;
            }
        return;
    }
    for (int64_t t = 0; !loads_in_steps(r) && t < T; t++)
        input_rows(r, x, t, 0, B, B);
}

static int keep_lengths(ml_rnn_t *r, const int64_t *lengths, int64_t B)
{
    r->has_len = 0;
    if (!lengths)
        return ML_OK;
    if (r->len_cap < B) {
        int64_t *p = realloc(r->len, (size_t)B * sizeof *p);
        if (!p)
            return ml__fail(ML_ENOMEM, "%s: cannot keep %lld lengths", ml_cell_name(r->cell),
                            (long long)B);
        r->len = p;
        r->len_cap = B;
    }
    memcpy(r->len, lengths, (size_t)B * sizeof *lengths);
    r->has_len = 1;
    return ML_OK;
}

static int copy_state(ml_rnn_t *r, ml_tensor_t *dst, int *has, const ml_tensor_t *src,
                      const char *what);

int ml_rnn_forward(ml_rnn_t *r, const ml_tensor_t *x, const int64_t *lengths,
                   const ml_tensor_t **y)
{
    int rc = check_input(r, x, lengths);
    if (rc)
        return rc;
    const int64_t B = x->shape[0], T = x->shape[1], H = r->hidden;
    r->T = 0; /* until this forward is through, there is nothing to go back through */
    rc = ensure_buffers(r, T, B);
    if (!rc)
        rc = keep_lengths(r, lengths, B);
    if (rc)
        return rc;
    const int64_t *len = r->has_len ? r->len : NULL;
    r->B = B;
    r->dropped = dropping(r);
    r->used_h0p = r->learn_state && !r->has_h0;
    r->used_c0p = r->learn_state && !r->has_c0 && r->cell == ML_CELL_LSTM;
    load_input(r, x, T, B);
    const int dirs = r->dirs;
    const int64_t DH = dirs * H;
    for (int l = 0; l < r->nlayers; l++) {
        const int first = l * dirs; /* the layer's forward sub-layer */
        ml_rnn_layer_t *F = &r->layers[first];
        if (l > 0 && r->dropped) { /* the layer below's outputs (in F->x), through dropout */
            const int64_t n = T * B * DH;
            float keep = 1.0f - r->dropout, scale = 1.0f / keep;
            float *mask = F->mask.data;
            for (int64_t k = 0; k < n; k++)
                mask[k] = ml_rng_float(r->rng) < keep ? scale : 0.0f;
            for (int64_t k = 0; k < n; k++)
                F->x.data[k] *= mask[k];
        }
        /* the backward direction reads the same input in reverse time (ids: already done) */
        if (dirs == 2 && !(r->ids && l == 0))
            reverse_time(r->layers[first + 1].x.data, F->x.data, T, B, F->in, len);
        for (int d = 0; d < dirs; d++) {
            int k = l * dirs + d;
            ml_rnn_layer_t *L = &r->layers[k];
            layer_forward(r, k, k == 0 && loads_in_steps(r) ? x : NULL, T, B);
            memcpy(r->hn.data + k * B * H, L->h.data + T * B * H, (size_t)(B * H) * sizeof(float));
            if (r->cell == ML_CELL_LSTM)
                memcpy(r->cn.data + k * B * H, L->c.data + T * B * H, (size_t)(B * H) * sizeof(float));
        }
        /* the layer's outputs, [forward h_t, backward h_t] at step t, are now in the next
         * layer's x or in y (output_rows) */
    }
    if (r->carry) { /* the next forward starts here: values only, so BPTT stops at its start */
        rc = copy_state(r, &r->h0, &r->has_h0, &r->hn, "carried h");
        if (!rc && r->cell == ML_CELL_LSTM)
            rc = copy_state(r, &r->c0, &r->has_c0, &r->cn, "carried c");
        if (rc)
            return rc;
    }
    r->T = T;
    *y = &r->y;
    return ML_OK;
}

/* Rows b0..b1 of one layer back through all steps, from s->dh and what dh_next/dc_next hold
 * (the final states' gradients): the gates' gradients, and the initial states' in dh_next and
 * dc_next. */
static void backward_rows(const steps_t *s, int64_t b0, int64_t b1)
{
    ml_rnn_t *r = s->r;
    ml_rnn_layer_t *L = &r->layers[s->l];
    const int64_t T = s->T, B = s->B, nb = b1 - b0;
    const int64_t H = r->hidden, GH = ml_rnn_gates(r->cell) * H;
    const ml_cell_t cell = r->cell;
    const int64_t *len = r->has_len ? r->len : NULL;
    float *restrict dh_next = r->dh_next.data, *restrict dc_next = r->dc_next.data;
    float *restrict dht = r->tmp.data; /* (B, H) view of the scratch */
    const float *dgh_all = cell == ML_CELL_GRU ? L->dgates_h.data : L->dgates.data;
    float *rows = thread_rows(r);
    for (int64_t t = T - 1; t >= 0; t--) {
        const float *restrict g = L->gates.data + t * B * GH;
        float *restrict dg = L->dgates.data + t * B * GH;
        const float *restrict hp = L->h.data + t * B * H;
        if (s->dy_last) { /* zeros but at the last step: the sums a (T, B, H) of them give */
            for (int64_t b = b0; b < b1; b++) {
                const float *restrict dy = s->dy_last + b * H;
                const int last = t == steps_of(len, b, T) - 1;
                for (int64_t j = 0; j < H; j++)
                    dht[b * H + j] = (last ? dy[j] : 0.0f) + dh_next[b * H + j];
            }
        } else {
            const float *restrict dhin = s->dh + t * B * H;
            for (int64_t k = b0 * H; k < b1 * H; k++)
                dht[k] = dhin[k] + dh_next[k];
        }
        for (int64_t b = b0; b < b1; b++) {
            const float *restrict gb = g + b * GH;
            float *restrict dgb = dg + b * GH;
            const float *restrict d = dht + b * H;
            if (len && t >= len[b]) { /* padded: no gradient here; the state's passes through */
                memset(dgb, 0, (size_t)GH * sizeof *dgb);
                if (cell == ML_CELL_GRU)
                    memset(L->dgates_h.data + t * B * GH + b * GH, 0, (size_t)GH * sizeof *dgb);
                continue;
            }
            switch (cell) {
            case ML_CELL_RNN_TANH:
                for (int64_t j = 0; j < H; j++)
                    dgb[j] = d[j] * (1.0f - gb[j] * gb[j]);
                break;
            case ML_CELL_RNN_RELU:
                for (int64_t j = 0; j < H; j++)
                    dgb[j] = gb[j] > 0.0f ? d[j] : 0.0f;
                break;
            case ML_CELL_LSTM:
                lstm_cell_backward(dgb, dgb + H, dgb + 2 * H, dgb + 3 * H, dc_next + b * H, gb,
                                   gb + H, gb + 2 * H, gb + 3 * H, L->c.data + t * B * H + b * H,
                                   L->hn.data + t * B * H + b * H, d, H);
                break;
            default: { /* GRU */
                float *restrict dghb = L->dgates_h.data + t * B * GH + b * GH;
                gru_cell_backward(dgb, dgb + H, dgb + 2 * H, dghb, dghb + H, dghb + 2 * H, gb,
                                  gb + H, gb + 2 * H, hp + b * H, L->hn.data + t * B * H + b * H,
                                  d, H);
                break;
            }
            }
        }
        /* gradient into the previous hidden state */
        const float *dgh = dgh_all + (t * B + b0) * GH;
        if (cell == ML_CELL_GRU) {
            for (int64_t b = b0; b < b1; b++)
                for (int64_t j = 0; j < H; j++) /* the z ⊙ H_{t-1} path */
                    dh_next[b * H + j] = dht[b * H + j] * g[b * GH + H + j];
            ml_k_gemm_packed(dh_next + b0 * H, H, dgh, GH, &L->w_bwd, nb, 1.0f, rows);
        } else {
            ml_k_gemm_packed(dh_next + b0 * H, H, dgh, GH, &L->w_bwd, nb, 0.0f, rows);
        }
        for (int64_t b = b0; len && b < b1; b++) /* padded: H_{t+1} = H_t */
            if (t >= len[b])
                memcpy(dh_next + b * H, dht + b * H, (size_t)H * sizeof(float));
        /* the input's gradient at this step, dG_t W_ih, while dG_t is in cache */
        if (s->need_dx)
            ml_k_gemm_packed(L->dx.data + (t * B + b0) * L->in, L->in, dg + b0 * GH, GH,
                             &L->i_bwd, nb, 0.0f, rows);
    }
}

/* Gradients of one layer from dh (T, B, H) on its outputs (zero on padded steps), or with dh
 * NULL from dy_last (B, H) on each sequence's last output alone, and, if given,
 * dhn/dcn (B, H) on its final states; writes L->dgates (and dgates_h), parameter gradients, and
 * L->dx when need_dx. */
static void layer_backward(ml_rnn_t *r, int l, const float *dh, const float *dy_last,
                           const float *dhn, const float *dcn, int64_t T, int64_t B,
                           int overwrite, int need_dx)
{
    ml_rnn_layer_t *L = &r->layers[l];
    const int64_t H = r->hidden, GH = ml_rnn_gates(r->cell) * H, D = L->in;
    const ml_cell_t cell = r->cell;
    float *restrict dh_next = r->dh_next.data, *restrict dc_next = r->dc_next.data;
    if (dhn)
        memcpy(dh_next, dhn, (size_t)(B * H) * sizeof(float));
    else
        memset(dh_next, 0, (size_t)(B * H) * sizeof(float));
    if (dcn)
        memcpy(dc_next, dcn, (size_t)(B * H) * sizeof(float));
    else
        memset(dc_next, 0, (size_t)(B * H) * sizeof(float));
    /* W_hh (GH, H), in the second half of wpack (the first holds W_hhᵀ for the forward) */
    ml_k_pack(&L->w_bwd, L->wpack.data + L->wpack.shape[1], L->w_hh, H, 1, GH, H);
    if (need_dx) /* W_ih (GH, D), likewise in ipack's second half */
        ml_k_pack(&L->i_bwd, L->ipack.data + L->ipack.shape[1], L->w_ih, D, 1, GH, D);
    const steps_t s = {.r = r, .l = l, .T = T, .B = B, .dh = dh, .dy_last = dy_last,
                       .need_dx = need_dx};
    over_rows(backward_rows, &s);
    float *dgh_all = cell == ML_CELL_GRU ? L->dgates_h.data : L->dgates.data;
    /* what flowed out of step 0 is the initial states' gradient */
    memcpy(r->dh0.data + l * B * H, dh_next, (size_t)(B * H) * sizeof(float));
    if (cell == ML_CELL_LSTM)
        memcpy(r->dc0.data + l * B * H, dc_next, (size_t)(B * H) * sizeof(float));
    const float beta = overwrite ? 0.0f : 1.0f;
    /* weight gradients over all steps, dW_ih = dGᵀ X and dW_hh = dG_hᵀ H_prev, and the biases'
     * (the column sums of dG and dG_h), dG read once where dG_h is dG */
    if (overwrite) {
        memset(L->db_ih, 0, (size_t)GH * sizeof(float));
        memset(L->db_hh, 0, (size_t)GH * sizeof(float));
    }
    const int onehot = reads_ids(r, l);
    if (onehot) { /* X one-hot: each row's gradient lands in column id */
        if (overwrite)
            memset(L->dw_ih, 0, (size_t)(GH * D) * sizeof(float));
        const int64_t *tok = r->tok + l * T * B;
        for (int64_t row = 0; row < T * B; row++) {
            if (tok[row] < 0)
                continue;
            const float *restrict dgr = L->dgates.data + row * GH;
            float *restrict w = L->dw_ih + tok[row];
            for (int64_t j = 0; j < GH; j++)
                w[j * D] += dgr[j];
        }
    }
    const ml_k_group_t gi = {.c = L->dw_ih, .ldc = D, .b = L->x.data, .ldb = D, .n = D};
    const ml_k_group_t gh = {.c = L->dw_hh, .ldc = H, .b = L->h.data, .ldb = H, .n = H};
    if (dgh_all == L->dgates.data) {
        const ml_k_group_t both[2] = {gi, gh};
        ml_k_gemm_at(L->dgates.data, GH, T * B, GH, onehot ? both + 1 : both, onehot ? 1 : 2,
                     beta, L->db_ih);
        if (overwrite) /* the same sum: b_ih and b_hh enter alike */
            memcpy(L->db_hh, L->db_ih, (size_t)GH * sizeof(float));
        else
            ml_k_sum_rows(L->db_hh, dgh_all, GH, T * B, GH);
    } else {
        if (onehot)
            ml_k_sum_rows(L->db_ih, L->dgates.data, GH, T * B, GH);
        else
            ml_k_gemm_at(L->dgates.data, GH, T * B, GH, &gi, 1, beta, L->db_ih);
        ml_k_gemm_at(dgh_all, GH, T * B, GH, &gh, 1, beta, L->db_hh);
    }
}

/* The learnable initial states' gradients: the sum over the batch of the initial states'. */
static void learned_state_grad(ml_rnn_t *r, float *dp, const float *dstate, int used,
                               int overwrite)
{
    const int64_t H = r->hidden, B = r->B;
    if (overwrite)
        memset(dp, 0, (size_t)(nsub(r) * H) * sizeof(float));
    if (!used)
        return;
    for (int s = 0; s < nsub(r); s++)
        for (int64_t b = 0; b < B; b++)
            ml_k_axpy(dp + s * H, dstate + (s * B + b) * H, 1.0f, H);
}

static int check_grad_shape(const ml_rnn_t *r, const ml_tensor_t *t, const ml_tensor_t *like,
                            const char *what)
{
    int ok = t->ndim == like->ndim && ml_tensor_is_contiguous(t);
    for (int i = 0; ok && i < t->ndim; i++)
        ok = t->shape[i] == like->shape[i];
    if (!ok) {
        char a[64], b[64];
        return ml__fail(ML_ESHAPE, "%s: %s is %s, expected %s (contiguous)", ml_cell_name(r->cell),
                        what, ml_shape_str(a, sizeof a, t), ml_shape_str(b, sizeof b, like));
    }
    return ML_OK;
}

int ml_rnn_backward(ml_rnn_t *r, const ml_tensor_t *dy, int overwrite, const ml_tensor_t **dx)
{
    return ml_rnn_backward_states(r, dy, NULL, NULL, overwrite, dx);
}

int ml_rnn_backward_states(ml_rnn_t *r, const ml_tensor_t *dy, const ml_tensor_t *dhn,
                           const ml_tensor_t *dcn, int overwrite, const ml_tensor_t **dx)
{
    const int64_t T = r->T, B = r->B, H = r->hidden;
    if (!r->y.data || T == 0)
        return ml__fail(ML_ESTATE, "%s: no forward pass to go back through", ml_cell_name(r->cell));
    int rc = check_grad_shape(r, dy, &r->y, "output gradient");
    if (!rc && dhn)
        rc = check_grad_shape(r, dhn, &r->hn, "final hidden state gradient");
    if (!rc && dcn && r->cell != ML_CELL_LSTM)
        rc = ml__fail(ML_EARG, "%s: only an LSTM has a cell state", ml_cell_name(r->cell));
    if (!rc && dcn)
        rc = check_grad_shape(r, dcn, &r->cn, "final cell state gradient");
    if (rc)
        return rc;
    const int dirs = r->dirs;
    const int64_t DH = dirs * H;
    const int64_t *len = r->has_len ? r->len : NULL;
    float *dseq = r->dseq.data, *dh = r->dh.data;
    /* the last step's outputs of one direction go to its top layer as they are (dy_last) */
    const int sparse = r->last_only && dirs == 1;
    if (r->last_only && !sparse) {
        memset(dseq, 0, (size_t)(T * B * DH) * sizeof(float));
        for (int64_t bb = 0; bb < B; bb++)
            memcpy(dseq + ((steps_of(len, bb, T) - 1) * B + bb) * DH, dy->data + bb * DH,
                   (size_t)DH * sizeof(float));
    } else if (!r->last_only) {
        for (int64_t bb = 0; bb < B; bb++)
            for (int64_t t = 0; t < T; t++) {
                float *dst = dseq + (t * B + bb) * DH;
                if (len && t >= len[bb]) /* a padded output is a constant zero */
                    memset(dst, 0, (size_t)DH * sizeof(float));
                else
                    memcpy(dst, dy->data + (bb * T + t) * DH, (size_t)DH * sizeof(float));
            }
    }
    for (int l = r->nlayers - 1; l >= 0; l--) {
        int need_dx = l > 0 || (dx != NULL && !r->ids);
        for (int d = 0; d < dirs; d++) {
            /* this direction's share of the output gradient, in its own time order (one
             * direction: all of it, as it is) */
            if (dirs > 1)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t bb = 0; bb < B; bb++) {
                        const int64_t n = steps_of(len, bb, T);
                        float *dst = dh + (t * B + bb) * H;
                        if (t >= n)
                            memset(dst, 0, (size_t)H * sizeof(float));
                        else
                            memcpy(dst, dseq + ((d ? n - 1 - t : t) * B + bb) * DH + d * H,
                                   (size_t)H * sizeof(float));
                    }
            const int k = l * dirs + d;
            const int top = sparse && l == r->nlayers - 1;
            layer_backward(r, k, top ? NULL : dirs > 1 ? dh : dseq, top ? dy->data : NULL,
                           dhn ? dhn->data + k * B * H : NULL, dcn ? dcn->data + k * B * H : NULL,
                           T, B, overwrite, need_dx);
        }
        if (!need_dx)
            continue;
        /* the input gradient of the layer: forward part + time-reversed backward part */
        const int first = l * dirs;
        ml_rnn_layer_t *F = &r->layers[first];
        const int64_t Din = F->in, n = B * Din;
        if (dirs == 2) {
            const float *rev = r->layers[first + 1].dx.data;
            if (!len)
                for (int64_t t = 0; t < T; t++)
                    ml_k_axpy(F->dx.data + t * n, rev + (T - 1 - t) * n, 1.0f, n);
            else
                for (int64_t t = 0; t < T; t++)
                    for (int64_t bb = 0; bb < B; bb++)
                        if (t < len[bb])
                            ml_k_axpy(F->dx.data + (t * B + bb) * Din,
                                      rev + ((len[bb] - 1 - t) * B + bb) * Din, 1.0f, Din);
        }
        if (l > 0) { /* becomes the gradient of the layer below's outputs */
            const float *mask = F->mask.data;
            for (int64_t k = 0; k < T * n; k++)
                dseq[k] = r->dropped ? F->dx.data[k] * mask[k] : F->dx.data[k];
        }
    }
    if (r->learn_state) {
        learned_state_grad(r, r->dh0p, r->dh0.data, r->used_h0p, overwrite);
        if (r->cell == ML_CELL_LSTM)
            learned_state_grad(r, r->dc0p, r->dc0.data, r->used_c0p, overwrite);
    }
    if (dx) {
        int64_t shape[3] = {B, T, r->in};
        if (ml_tensor_ensure(&r->dx, r->ids ? 2 : 3, shape))
            return ml__fail(ML_ENOMEM, "%s: cannot allocate the input gradient", ml_cell_name(r->cell));
        if (r->ids) { /* ids have no gradient */
            memset(r->dx.data, 0, (size_t)(B * T) * sizeof(float));
        } else {
            const float *src = r->layers[0].dx.data;
            for (int64_t bb = 0; bb < B; bb++)
                for (int64_t t = 0; t < T; t++)
                    memcpy(r->dx.data + (bb * T + t) * r->in, src + (t * B + bb) * r->in,
                           (size_t)r->in * sizeof(float));
        }
        *dx = &r->dx;
    }
    return ML_OK;
}

static int check_state(const ml_rnn_t *r, const ml_tensor_t *src, const char *what)
{
    if (src && (src->ndim != 3 || src->shape[0] != nsub(r) || src->shape[2] != r->hidden)) {
        char s[64];
        return ml__fail(ML_ESHAPE, "%s: %s is %s, expected (%d,B,%lld)", ml_cell_name(r->cell),
                        what, ml_shape_str(s, sizeof s, src), nsub(r), (long long)r->hidden);
    }
    return ML_OK;
}

static int copy_state(ml_rnn_t *r, ml_tensor_t *dst, int *has, const ml_tensor_t *src,
                      const char *what)
{
    *has = 0;
    if (!src)
        return ML_OK;
    if (ml_tensor_ensure(dst, 3, src->shape) || ml_tensor_copy(dst, src))
        return ml__fail(ML_ENOMEM, "%s: cannot keep the %s", ml_cell_name(r->cell), what);
    *has = 1;
    return ML_OK;
}

int ml_rnn_set_state(ml_rnn_t *r, const ml_tensor_t *h0, const ml_tensor_t *c0)
{
    /* everything is checked before anything is kept: a refused call changes nothing */
    if (c0 && r->cell != ML_CELL_LSTM)
        return ml__fail(ML_EARG, "%s: only an LSTM has a cell state", ml_cell_name(r->cell));
    int rc = check_state(r, h0, "h0");
    if (!rc)
        rc = check_state(r, c0, "c0");
    if (rc)
        return rc;
    if (h0 && c0 && h0->shape[1] != c0->shape[1])
        return ml__fail(ML_ESHAPE, "%s: h0 is for a batch of %lld, c0 for %lld",
                        ml_cell_name(r->cell), (long long)h0->shape[1], (long long)c0->shape[1]);
    rc = copy_state(r, &r->h0, &r->has_h0, h0, "h0");
    if (!rc)
        rc = copy_state(r, &r->c0, &r->has_c0, c0, "c0");
    return rc;
}

void ml_rnn_set_carry(ml_rnn_t *r, int on)
{
    r->carry = on != 0;
}

void ml_rnn_reset_state(ml_rnn_t *r)
{
    r->has_h0 = r->has_c0 = 0;
}

void ml_rnn_final_state(const ml_rnn_t *r, const ml_tensor_t **hn, const ml_tensor_t **cn)
{
    *hn = r->hn.data ? &r->hn : NULL;
    *cn = r->cell == ML_CELL_LSTM && r->cn.data ? &r->cn : NULL;
}

void ml_rnn_state_grad(const ml_rnn_t *r, const ml_tensor_t **dh0, const ml_tensor_t **dc0)
{
    *dh0 = r->dh0.data ? &r->dh0 : NULL;
    *dc0 = r->cell == ML_CELL_LSTM && r->dc0.data ? &r->dc0 : NULL;
}
