#include "moonlab/loss.h"

#include <math.h>
#include <string.h>

#include "moonlab/error.h"

static const char *const loss_names[ML_LOSS_NKINDS] = {
    [ML_LOSS_MSE] = "mse",
    [ML_LOSS_CROSS_ENTROPY] = "cross_entropy",
    [ML_LOSS_BCE_LOGITS] = "bce_logits",
};

const char *ml_loss_name(ml_loss_kind_t kind)
{
    return (unsigned)kind < ML_LOSS_NKINDS ? loss_names[kind] : "?";
}

int ml_loss_kind_from_name(const char *name)
{
    for (int k = 0; k < ML_LOSS_NKINDS; k++)
        if (strcmp(loss_names[k], name) == 0)
            return k;
    return -1;
}

/* Element (i, j) of a 1-D or 2-D tensor with any strides. */
static inline float at2(const ml_tensor_t *t, int64_t i, int64_t j)
{
    return t->data[i * t->stride[0] + (t->ndim > 1 ? j * t->stride[1] : 0)];
}

static int check_inputs(ml_loss_kind_t kind, const ml_tensor_t *pred, const ml_tensor_t *target,
                        const ml_tensor_t *weights, const ml_tensor_t *dpred)
{
    char a[64], b[64];
    const char *name = ml_loss_name(kind);
    if ((unsigned)kind >= ML_LOSS_NKINDS)
        return ml__fail(ML_EARG, "loss: unknown kind %d", (int)kind);
    if (pred->ndim != 2)
        return ml__fail(ML_ESHAPE, "%s: prediction is %s, expected (B,C)", name,
                        ml_shape_str(a, sizeof a, pred));
    int64_t B = pred->shape[0], C = pred->shape[1];
    if (C < 1)
        return ml__fail(ML_ESHAPE, "%s: prediction is %s: no outputs", name,
                        ml_shape_str(a, sizeof a, pred));
    if (kind == ML_LOSS_CROSS_ENTROPY) {
        int ok = (target->ndim == 1 && target->shape[0] == B) ||
                 (target->ndim == 2 && target->shape[0] == B && target->shape[1] == 1);
        if (!ok)
            return ml__fail(ML_ESHAPE, "%s: target is %s, expected class indices (%lld,)", name,
                            ml_shape_str(a, sizeof a, target), (long long)B);
    } else if (target->ndim != 2 || target->shape[0] != B || target->shape[1] != C) {
        return ml__fail(ML_ESHAPE, "%s: target is %s, prediction %s", name,
                        ml_shape_str(a, sizeof a, target), ml_shape_str(b, sizeof b, pred));
    }
    if (weights && !((weights->ndim == 1 && weights->shape[0] == B) ||
                     (weights->ndim == 2 && weights->shape[0] == B && weights->shape[1] == 1)))
        return ml__fail(ML_ESHAPE, "%s: weights are %s, expected (%lld,)", name,
                        ml_shape_str(a, sizeof a, weights), (long long)B);
    if (dpred && (dpred->ndim != 2 || dpred->shape[0] != B || dpred->shape[1] != C ||
                  !ml_tensor_is_contiguous(dpred)))
        return ml__fail(ML_ESHAPE, "%s: gradient buffer is %s, expected contiguous %s", name,
                        ml_shape_str(a, sizeof a, dpred), ml_shape_str(b, sizeof b, pred));
    return ML_OK;
}

/* Whether tv is not a class index in [0, C) (NaN included; no cast before the range is known). */
static int bad_class(float tv, int64_t C)
{
    return !(tv >= 0.0f && tv < (float)C) || floorf(tv) != tv;
}

/* A (B, T, ...) tensor seen as (B·T, ...): per-step losses of sequence outputs. */
static int fold_steps(ml_tensor_t *out, const ml_tensor_t *t, const char *what, ml_loss_kind_t kind)
{
    if (!ml_tensor_is_contiguous(t)) {
        char s[64];
        return ml__fail(ML_ESHAPE, "%s: %s %s of a sequence loss must be contiguous",
                        ml_loss_name(kind), what, ml_shape_str(s, sizeof s, t));
    }
    int64_t shape[ML_MAX_DIMS];
    shape[0] = t->shape[0] * t->shape[1];
    for (int i = 2; i < t->ndim; i++)
        shape[i - 1] = t->shape[i];
    return ml_tensor_reshape(out, t, t->ndim - 1, shape);
}

int ml_loss(ml_loss_kind_t kind, ml_reduce_t reduce, double *loss, double *correct,
            ml_tensor_t *dpred, const ml_tensor_t *pred, const ml_tensor_t *target,
            const ml_tensor_t *weights)
{
    if (pred->ndim == 3) {
        /* sequence outputs (B, T, C): one loss term per step; targets (B, T) of class
         * indices or (B, T, C); weights (B, T), e.g. a 0/1 mask of real steps */
        char a[64];
        int64_t B = pred->shape[0], T = pred->shape[1];
        int tok = kind == ML_LOSS_CROSS_ENTROPY
                      ? target->ndim == 2 && target->shape[0] == B && target->shape[1] == T
                      : target->ndim == 3 && target->shape[0] == B && target->shape[1] == T;
        if (!tok) {
            char b[64];
            return ml__fail(ML_ESHAPE, "%s: target is %s for sequence outputs %s",
                            ml_loss_name(kind), ml_shape_str(a, sizeof a, target),
                            ml_shape_str(b, sizeof b, pred));
        }
        if (weights && !(weights->ndim == 2 && weights->shape[0] == B && weights->shape[1] == T))
            return ml__fail(ML_ESHAPE, "%s: weights are %s, expected per-step weights (%lld,%lld)",
                            ml_loss_name(kind), ml_shape_str(a, sizeof a, weights), (long long)B,
                            (long long)T);
        /* class indices here, where the sequence and step of a bad one are known */
        for (int64_t b = 0; kind == ML_LOSS_CROSS_ENTROPY && b < B; b++)
            for (int64_t t = 0; t < T; t++) {
                float tv = target->data[b * target->stride[0] + t * target->stride[1]];
                if (bad_class(tv, pred->shape[2]))
                    return ml__fail(ML_EARG, "%s: target of sequence %lld, step %lld is %g, expected a class index in [0, %lld)",
                                    ml_loss_name(kind), (long long)b + 1, (long long)t + 1,
                                    (double)tv, (long long)pred->shape[2]);
            }
        ml_tensor_t p2, t2, w2, d2;
        int rc = fold_steps(&p2, pred, "prediction", kind);
        if (!rc)
            rc = fold_steps(&t2, target, "target", kind);
        if (!rc && weights)
            rc = fold_steps(&w2, weights, "weights", kind);
        if (!rc && dpred)
            rc = fold_steps(&d2, dpred, "gradient", kind);
        if (rc)
            return rc;
        return ml_loss(kind, reduce, loss, correct, dpred ? &d2 : NULL, &p2, &t2,
                       weights ? &w2 : NULL);
    }
    int rc = check_inputs(kind, pred, target, weights, dpred);
    if (rc)
        return rc;
    int64_t B = pred->shape[0], C = pred->shape[1];
    double wsum = 0.0;
    for (int64_t i = 0; i < B; i++)
        wsum += weights ? at2(weights, i, 0) : 1.0;
    double denom = reduce == ML_REDUCE_SUM ? 1.0
                   : reduce == ML_REDUCE_WEIGHTED_MEAN ? wsum
                                                       : (double)B;
    if (reduce == ML_REDUCE_WEIGHTED_MEAN && !(wsum > 0.0))
        return ml__fail(ML_EARG, "%s: weighted mean needs a positive sum of weights, got %g",
                        ml_loss_name(kind), wsum);
    if (B == 0)
        denom = 1.0;
    double total = 0.0, hits = 0.0;
    float *d = dpred ? dpred->data : NULL;
    for (int64_t i = 0; i < B; i++) {
        double w = weights ? at2(weights, i, 0) : 1.0;
        float gscale = (float)(w / denom);
        const float *p = pred->data + i * pred->stride[0];
        int64_t ps = pred->stride[1];
        double li = 0.0;
        if (kind == ML_LOSS_MSE) {
            for (int64_t j = 0; j < C; j++) {
                double diff = (double)p[j * ps] - at2(target, i, j);
                li += 0.5 * diff * diff;
                if (d)
                    d[i * C + j] = gscale * (float)diff;
            }
        } else if (kind == ML_LOSS_CROSS_ENTROPY) {
            float tv = at2(target, i, 0);
            if (bad_class(tv, C))
                return ml__fail(ML_EARG, "%s: target of row %lld is %g, expected a class index in [0, %lld)",
                                ml_loss_name(kind), (long long)i + 1, (double)tv, (long long)C);
            int64_t cls = (int64_t)tv;
            double mx = -INFINITY;
            int64_t arg = 0;
            for (int64_t j = 0; j < C; j++)
                if (p[j * ps] > mx) {
                    mx = p[j * ps];
                    arg = j;
                }
            double s = 0.0;
            for (int64_t j = 0; j < C; j++)
                s += exp((double)p[j * ps] - mx);
            /* s >= 1: the row's largest term is exp(0) */
            // cppcheck-suppress invalidFunctionArg
            double lse = mx + log(s);
            li = lse - p[cls * ps];
            hits += arg == cls ? w : 0.0;
            if (d)
                for (int64_t j = 0; j < C; j++)
                    d[i * C + j] = gscale * (float)(exp((double)p[j * ps] - lse) - (j == cls));
        } else { /* BCE with logits, stable: max(z,0) - z*t + log(1 + exp(-|z|)) */
            int all = 1;
            for (int64_t j = 0; j < C; j++) {
                double z = p[j * ps], t = at2(target, i, j);
                li += (z > 0 ? z : 0) - z * t + log1p(exp(-fabs(z)));
                all &= (z > 0) == (t > 0.5);
                if (d)
                    d[i * C + j] = gscale * (float)(1.0 / (1.0 + exp(-z)) - t);
            }
            hits += all ? w : 0.0;
        }
        total += w * li;
    }
    *loss = total / denom;
    if (correct)
        *correct = kind == ML_LOSS_MSE ? 0.0 : hits;
    return ML_OK;
}
