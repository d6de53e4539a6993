#include "moonlab/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/kernels.h"

/* Capacity (in floats) of an owning tensor is kept in a header before the data, so that
 * ml_tensor_ensure can reuse a buffer without another field every view would carry. */
typedef struct { int64_t capacity; int64_t pad[7]; } block_header_t; /* 64-byte aligned data */

static float *block_alloc(int64_t n)
{
    size_t bytes = sizeof(block_header_t) + (size_t)(n > 0 ? n : 1) * sizeof(float);
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0)
        return NULL;
    memset(p, 0, bytes);
    ((block_header_t *)p)->capacity = n;
    return (float *)(void *)((char *)p + sizeof(block_header_t));
}

static block_header_t *block_of(float *data)
{
    return (block_header_t *)((char *)data - sizeof(block_header_t));
}

static int check_shape(int ndim, const int64_t *shape, int64_t *numel)
{
    *numel = 0;
    if (ndim < 0 || ndim > ML_MAX_DIMS)
        return ml__fail(ML_EARG, "tensor: %d dimensions (at most %d)", ndim, ML_MAX_DIMS);
    /* The strides are products of the sizes even when another size is 0, so the limit applies
     * to the product of the non-zero sizes. */
    int64_t n = 1, strided = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return ml__fail(ML_EARG, "tensor: size %lld of dimension %d is negative",
                            (long long)shape[i], i + 1);
        if (shape[i] > 0 && strided > INT64_MAX / 4 / shape[i])
            return ml__fail(ML_EARG, "tensor: too many elements");
        strided *= shape[i] > 0 ? shape[i] : 1;
        n *= shape[i];
    }
    *numel = n;
    return ML_OK;
}

static void set_contiguous(ml_tensor_t *t, int ndim, const int64_t *shape)
{
    t->ndim = ndim;
    int64_t s = 1;
    for (int i = ML_MAX_DIMS - 1; i >= 0; i--) {
        if (i < ndim) {
            t->shape[i] = shape[i];
            t->stride[i] = s;
            s *= shape[i];
        } else {
            t->shape[i] = 1;
            t->stride[i] = 1;
        }
    }
}

int ml_tensor_new(ml_tensor_t *t, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    int64_t n;
    int rc = check_shape(ndim, shape, &n);
    if (rc)
        return rc;
    float *data = block_alloc(n);
    if (!data)
        return ml__fail(ML_ENOMEM, "tensor: cannot allocate %lld floats", (long long)n);
    t->data = data;
    t->owns = 1;
    set_contiguous(t, ndim, shape);
    return ML_OK;
}

void ml_tensor_free(ml_tensor_t *t)
{
    if (!t)
        return;
    if (t->owns && t->data)
        free(block_of(t->data));
    memset(t, 0, sizeof *t);
}

int ml_tensor_ensure(ml_tensor_t *t, int ndim, const int64_t *shape)
{
    int64_t n;
    int rc = check_shape(ndim, shape, &n);
    if (rc)
        return rc;
    if (t->owns && t->data && block_of(t->data)->capacity >= n) {
        set_contiguous(t, ndim, shape);
        return ML_OK;
    }
    ml_tensor_free(t);
    return ml_tensor_new(t, ndim, shape);
}

int64_t ml_tensor_numel(const ml_tensor_t *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

int ml_tensor_is_contiguous(const ml_tensor_t *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s)
            return 0;
        s *= t->shape[i];
    }
    return 1;
}

float *ml_tensor_at(const ml_tensor_t *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++)
        off += idx[i] * t->stride[i];
    return t->data + off;
}

int ml_tensor_slice(ml_tensor_t *out, const ml_tensor_t *src, int dim, int64_t start,
                    int64_t stop, int64_t step)
{
    if (dim < 0 || dim >= src->ndim)
        return ml__fail(ML_EARG, "slice: dimension %d out of range (tensor has %d)", dim + 1,
                        src->ndim);
    if (step <= 0)
        return ml__fail(ML_EARG, "slice: step must be positive, got %lld", (long long)step);
    int64_t size = src->shape[dim];
    if (start < 0 || stop > size || start > stop)
        return ml__fail(ML_EARG, "slice: range [%lld, %lld) out of bounds for size %lld",
                        (long long)start, (long long)stop, (long long)size);
    ml_tensor_t v = *src;
    v.owns = 0;
    v.data = src->data + start * src->stride[dim];
    v.shape[dim] = (stop - start + step - 1) / step;
    v.stride[dim] = src->stride[dim] * step;
    *out = v;
    return ML_OK;
}

int ml_tensor_rows(ml_tensor_t *out, const ml_tensor_t *src, int64_t start, int64_t n)
{
    return ml_tensor_slice(out, src, 0, start, start + n, 1);
}

int ml_tensor_transpose(ml_tensor_t *out, const ml_tensor_t *src, int d0, int d1)
{
    if (d0 < 0 || d1 < 0 || d0 >= src->ndim || d1 >= src->ndim)
        return ml__fail(ML_EARG, "transpose: dimensions %d and %d out of range (tensor has %d)",
                        d0 + 1, d1 + 1, src->ndim);
    ml_tensor_t v = *src;
    v.owns = 0;
    v.shape[d0] = src->shape[d1];
    v.shape[d1] = src->shape[d0];
    v.stride[d0] = src->stride[d1];
    v.stride[d1] = src->stride[d0];
    *out = v;
    return ML_OK;
}

int ml_tensor_reshape(ml_tensor_t *out, const ml_tensor_t *src, int ndim, const int64_t *shape)
{
    char buf[64];
    if (ndim < 0 || ndim > ML_MAX_DIMS)
        return ml__fail(ML_EARG, "reshape: %d dimensions (at most %d)", ndim, ML_MAX_DIMS);
    if (!ml_tensor_is_contiguous(src))
        return ml__fail(ML_ESTATE, "reshape: tensor %s is a non-contiguous view; copy it first",
                        ml_shape_str(buf, sizeof buf, src));
    int64_t want[ML_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        want[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0)
                return ml__fail(ML_EARG, "reshape: only one size may be -1");
            infer = i;
        } else if (shape[i] < 0) {
            return ml__fail(ML_EARG, "reshape: size %lld is negative", (long long)shape[i]);
        } else {
            known *= shape[i];
        }
    }
    int64_t n = ml_tensor_numel(src);
    if (infer >= 0) {
        if (known == 0 || n % known != 0)
            return ml__fail(ML_ESHAPE, "reshape: cannot infer a size for %lld elements from %s",
                            (long long)n, ml_shape_str(buf, sizeof buf, src));
        want[infer] = n / known;
        known *= want[infer];
    }
    if (known != n)
        return ml__fail(ML_ESHAPE, "reshape: %s has %lld elements, the new shape %lld",
                        ml_shape_str(buf, sizeof buf, src), (long long)n, (long long)known);
    ml_tensor_t v = *src;
    v.owns = 0;
    set_contiguous(&v, ndim, want);
    *out = v;
    return ML_OK;
}

/* Visit every element of up to two same-shape tensors in row-major order. */
#define FOR_EACH_INDEX(t, body)                                                 \
    do {                                                                        \
        int64_t i_[ML_MAX_DIMS] = {0};                                          \
        int64_t n_ = ml_tensor_numel(t);                                        \
        for (int64_t k_ = 0; k_ < n_; k_++) {                                   \
            body;                                                               \
            for (int d_ = (t)->ndim - 1; d_ >= 0; d_--) {                       \
                if (++i_[d_] < (t)->shape[d_])                                  \
                    break;                                                      \
                i_[d_] = 0;                                                     \
            }                                                                   \
        }                                                                       \
    } while (0)

static int same_shape(const ml_tensor_t *a, const ml_tensor_t *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

int ml_tensor_copy(ml_tensor_t *dst, const ml_tensor_t *src)
{
    if (!same_shape(dst, src)) {
        char a[64], b[64];
        return ml__fail(ML_ESHAPE, "copy: destination %s, source %s",
                        ml_shape_str(a, sizeof a, dst), ml_shape_str(b, sizeof b, src));
    }
    if (ml_tensor_is_contiguous(dst) && ml_tensor_is_contiguous(src)) {
        memmove(dst->data, src->data, (size_t)ml_tensor_numel(src) * sizeof(float));
        return ML_OK;
    }
    FOR_EACH_INDEX(src, *ml_tensor_at(dst, i_) = *ml_tensor_at(src, i_));
    return ML_OK;
}

int ml_tensor_fill(ml_tensor_t *t, float v)
{
    FOR_EACH_INDEX(t, *ml_tensor_at(t, i_) = v);
    return ML_OK;
}

int ml_tensor_all_finite(const ml_tensor_t *t)
{
    int ok = 1;
    FOR_EACH_INDEX(t, ok &= isfinite(*ml_tensor_at(t, i_)) ? 1 : 0);
    return ok;
}

double ml_tensor_sum(const ml_tensor_t *t)
{
    double s = 0;
    FOR_EACH_INDEX(t, s += *ml_tensor_at(t, i_));
    return s;
}

int ml_tensor_argmax(ml_tensor_t *out, const ml_tensor_t *t)
{
    int ok = t->ndim >= 2 && t->shape[t->ndim - 1] >= 1 && out->ndim == t->ndim - 1;
    for (int d = 0; ok && d < out->ndim; d++)
        ok = out->shape[d] == t->shape[d];
    if (!ok) {
        char a[64], b[64];
        return ml__fail(ML_ESHAPE,
                        "argmax: tensor %s, result %s: expected (...,C) with C >= 1 and the "
                        "result (...)",
                        ml_shape_str(a, sizeof a, t), ml_shape_str(b, sizeof b, out));
    }
    int last = t->ndim - 1;
    int64_t C = t->shape[last], cs = t->stride[last];
    FOR_EACH_INDEX(out, {
        int64_t idx[ML_MAX_DIMS] = {0};
        for (int d = 0; d < last; d++)
            idx[d] = i_[d];
        const float *row = ml_tensor_at(t, idx);
        int64_t arg = 0;
        float best = row[0];
        for (int64_t c = 1; c < C; c++)
            if (row[c * cs] > best || (best != best && row[c * cs] == row[c * cs])) {
                best = row[c * cs];
                arg = c;
            }
        *ml_tensor_at(out, i_) = (float)arg;
    });
    return ML_OK;
}

const char *ml_shape_str(char *buf, size_t n, const ml_tensor_t *t)
{
    size_t used = 0;
    used += (size_t)snprintf(buf + used, n - used, "(");
    for (int i = 0; i < t->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld",
                                 (long long)t->shape[i]);
    if (used < n)
        snprintf(buf + used, n - used, t->ndim == 1 ? ",)" : ")");
    return buf;
}

int ml_tensor_matmul(ml_tensor_t *c, const ml_tensor_t *a, const ml_tensor_t *b, float alpha,
                     float beta)
{
    if (a->ndim != 2 || b->ndim != 2 || c->ndim != 2 || a->shape[1] != b->shape[0] ||
        c->shape[0] != a->shape[0] || c->shape[1] != b->shape[1]) {
        char sa[64], sb[64], sc[64];
        return ml__fail(ML_ESHAPE, "matmul: A %s @ B %s into C %s", ml_shape_str(sa, 64, a),
                        ml_shape_str(sb, 64, b), ml_shape_str(sc, 64, c));
    }
    ml_k_gemm(c->data, c->stride[0], c->stride[1], a->data, a->stride[0], a->stride[1],
              b->data, b->stride[0], b->stride[1], a->shape[0], b->shape[1], a->shape[1],
              alpha, beta);
    return ML_OK;
}
