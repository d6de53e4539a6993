#include "moonlab/data.h"

#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/kernels.h"
#include "moonlab/rng.h"

/* Room for one batch's source rows: never more than an epoch has. */
static int alloc_pick(ml_batcher_t *b)
{
    int64_t cap = b->batch < b->n ? b->batch : b->n;
    free(b->pick);
    b->pick = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *b->pick);
    return b->pick ? ML_OK : ML_ENOMEM;
}

int ml_batcher_init(ml_batcher_t *b, int nt, const ml_tensor_t *const *ts, int64_t batch,
                    int shuffle, int drop_last, uint64_t seed)
{
    char s0[64], s1[64];
    memset(b, 0, sizeof *b);
    if (nt < 1 || nt > ML_BATCH_MAX_TENSORS)
        return ml__fail(ML_EARG, "batches: %d tensors (1 to %d)", nt, ML_BATCH_MAX_TENSORS);
    if (batch < 1)
        return ml__fail(ML_EARG, "batches: batch size must be >= 1, got %lld", (long long)batch);
    for (int i = 0; i < nt; i++) {
        if (ts[i]->ndim < 1)
            return ml__fail(ML_ESHAPE, "batches: tensor %d is a scalar; expected rows", i + 1);
        if (ts[i]->shape[0] != ts[0]->shape[0])
            return ml__fail(ML_ESHAPE, "batches: tensor %d is %s but tensor 1 is %s: first sizes differ",
                            i + 1, ml_shape_str(s0, sizeof s0, ts[i]), ml_shape_str(s1, sizeof s1, ts[0]));
        b->src[i] = *ts[i];
        b->src[i].owns = 0;
    }
    b->nt = nt;
    b->n = ts[0]->shape[0];
    b->batch = batch;
    b->shuffle = shuffle;
    b->drop_last = drop_last;
    b->seed = seed;
    b->weights = nt > 2 ? 2 : 0;
    b->lengths = 0;
    if (shuffle) {
        b->order = malloc((size_t)(b->n > 0 ? b->n : 1) * sizeof *b->order);
        if (!b->order)
            return ml__fail(ML_ENOMEM, "batches: cannot allocate an order of %lld", (long long)b->n);
    }
    if (alloc_pick(b)) {
        ml_batcher_free(b);
        return ml__fail(ML_ENOMEM, "batches: cannot allocate a batch of %lld", (long long)batch);
    }
    ml_batcher_start(b, 0);
    return ML_OK;
}

int ml_batcher_select(ml_batcher_t *b, const int64_t *rows, int64_t nrows)
{
    int64_t total = b->src[0].shape[0];
    if (nrows < 0)
        return ml__fail(ML_EARG, "batches: %lld selected rows", (long long)nrows);
    for (int64_t i = 0; i < nrows; i++)
        if (rows[i] < 0 || rows[i] >= total)
            return ml__fail(ML_EARG, "batches: selected row %lld is %lld, outside 0..%lld",
                            (long long)i + 1, (long long)rows[i], (long long)total - 1);
    size_t bytes = (size_t)(nrows > 0 ? nrows : 1) * sizeof(int64_t);
    int64_t *copy = malloc(bytes);
    int64_t *order = b->shuffle ? malloc(bytes) : NULL;
    if (!copy || (b->shuffle && !order)) {
        free(copy);
        free(order);
        return ml__fail(ML_ENOMEM, "batches: cannot allocate %lld selected rows", (long long)nrows);
    }
    memcpy(copy, rows, (size_t)nrows * sizeof(int64_t));
    free(b->rows);
    free(b->order);
    b->rows = copy;
    b->order = order;
    b->n = nrows;
    if (alloc_pick(b))
        return ml__fail(ML_ENOMEM, "batches: cannot allocate a batch of %lld", (long long)b->batch);
    ml_batcher_start(b, 0);
    return ML_OK;
}

void ml_batcher_start(ml_batcher_t *b, int64_t epoch)
{
    b->pos = 0;
    if (b->shuffle) {
        ml_rng_t r;
        ml_rng_seed(&r, ml_seed_derive(b->seed, "epoch", (uint64_t)epoch));
        ml_rng_permutation(&r, b->order, b->n);
    }
}

/* Floats of a batch below which its rows are copied on one thread. */
#define GATHER_PAR_MIN (1 << 16)

/* Copy the rows named by order[0..m) of src into the front of buf (contiguous). */
static int gather(ml_tensor_t *buf, ml_tensor_t *out, const ml_tensor_t *src,
                  const int64_t *order, int64_t m)
{
    int64_t shape[ML_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = m;
    int rc = ml_tensor_ensure(buf, src->ndim, shape);
    if (rc)
        return rc;
    ml_tensor_t row_src, row_dst;
    int64_t per = ml_tensor_numel(src) / (src->shape[0] ? src->shape[0] : 1);
    if (ml_tensor_is_contiguous(src)) {
        /* rows scattered over a large dataset come from memory at its latency: on several
         * threads, more of them are on their way at once */
        _Pragma("omp parallel for if (m * per >= GATHER_PAR_MIN) num_threads(ml_k_get_threads())")
        for (int64_t i = 0; i < m; i++)
            memcpy(buf->data + i * per, src->data + order[i] * src->stride[0],
                   (size_t)per * sizeof(float));
    } else {
        for (int64_t i = 0; i < m; i++) {
            ml_tensor_rows(&row_src, src, order[i], 1);
            ml_tensor_rows(&row_dst, buf, i, 1);
            ml_tensor_copy(&row_dst, &row_src);
        }
    }
    *out = *buf;
    out->owns = 0;
    return ML_OK;
}

int ml_batcher_next(ml_batcher_t *b, const ml_tensor_t **out)
{
    int64_t left = b->n - b->pos;
    if (left <= 0 || (b->drop_last && left < b->batch))
        return 0;
    int64_t m = left < b->batch ? left : b->batch;
    if (!b->shuffle && !b->rows) { /* consecutive rows: views, no copy */
        for (int i = 0; i < b->nt; i++) {
            ml_tensor_rows(&b->out[i], &b->src[i], b->pos, m);
            out[i] = &b->out[i];
        }
        b->pos += m;
        return 1;
    }
    /* Source row of each batch position: through the epoch order, then the selection. */
    for (int64_t i = 0; i < m; i++) {
        int64_t k = b->shuffle ? b->order[b->pos + i] : b->pos + i;
        b->pick[i] = b->rows ? b->rows[k] : k;
    }
    for (int i = 0; i < b->nt; i++) {
        if (gather(&b->buf[i], &b->out[i], &b->src[i], b->pick, m))
            return -1;
        out[i] = &b->out[i];
    }
    b->pos += m;
    return 1;
}

void ml_batcher_free(ml_batcher_t *b)
{
    for (int i = 0; i < ML_BATCH_MAX_TENSORS; i++)
        ml_tensor_free(&b->buf[i]);
    free(b->order);
    free(b->rows);
    free(b->pick);
    memset(b, 0, sizeof *b);
}

int64_t ml_stream_windows_count(int64_t n, int64_t B, int64_t k)
{
    if (B < 1 || k < 1) {
        ml__fail(ML_EARG, "stream: %lld streams of windows of %lld steps: both must be >= 1",
                 (long long)B, (long long)k);
        return 0;
    }
    int64_t L = n / B, W = L > 0 ? (L - 1) / k : 0;
    if (W < 1)
        ml__fail(ML_EARG, "stream: %lld ids make %lld streams of %lld, too short for one window of "
                 "%lld steps and its targets (at least B·(k+1) = %lld ids)",
                 (long long)n, (long long)B, (long long)L, (long long)k, (long long)B * ((long long)k + 1));
    return W;
}

int ml_stream_windows(ml_tensor_t *x, ml_tensor_t *y, const ml_tensor_t *ids, int64_t B,
                      int64_t k)
{
    char a[64];
    if (ids->ndim != 1)
        return ml__fail(ML_ESHAPE, "stream: ids are %s, expected one stream (N)",
                        ml_shape_str(a, sizeof a, ids));
    int64_t W = ml_stream_windows_count(ids->shape[0], B, k);
    if (W < 1)
        return ML_EARG;
    const ml_tensor_t *out[2] = {x, y};
    for (int i = 0; i < 2; i++)
        if (out[i]->ndim != 2 || out[i]->shape[0] != W * B || out[i]->shape[1] != k ||
            !ml_tensor_is_contiguous(out[i]))
            return ml__fail(ML_ESHAPE, "stream: %s is %s, expected contiguous (%lld,%lld)",
                            i ? "y" : "x", ml_shape_str(a, sizeof a, out[i]), (long long)W * B,
                            (long long)k);
    const int64_t L = ids->shape[0] / B, s = ids->stride[0];
    for (int64_t w = 0; w < W; w++)
        for (int64_t j = 0; j < B; j++) {
            const float *src = ids->data + (j * L + w * k) * s;
            float *xr = x->data + (w * B + j) * k, *yr = y->data + (w * B + j) * k;
            for (int64_t t = 0; t < k; t++) {
                xr[t] = src[t * s];
                yr[t] = src[(t + 1) * s];
            }
        }
    return ML_OK;
}
