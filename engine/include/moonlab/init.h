/* Parameter initializers over a flat array of n floats that holds a (fan_out, fan_in) weight
 * (or a bias of fan_out). All draw from an ml_rng_t, so a seed fixes the values. */
#ifndef MOONLAB_INIT_H
#define MOONLAB_INIT_H

#include <stdint.h>
#include "moonlab/rng.h"

typedef enum {
    ML_INIT_DEFAULT = 0,   /* PyTorch's nn.Linear default: U(-1/sqrt(fan_in), +1/sqrt(fan_in)) */
    ML_INIT_ZEROS,
    ML_INIT_CONSTANT,      /* a */
    ML_INIT_NORMAL,        /* N(a, b^2): a mean, b std */
    ML_INIT_UNIFORM,       /* U(a, b) */
    ML_INIT_XAVIER_UNIFORM,/* U(±gain*sqrt(6/(fan_in+fan_out))), gain a (1 if 0) */
    ML_INIT_XAVIER_NORMAL, /* N(0, gain^2 * 2/(fan_in+fan_out)) */
    ML_INIT_KAIMING_UNIFORM, /* U(±sqrt(6/fan_in)) (ReLU gain sqrt 2, fan_in mode) */
    ML_INIT_KAIMING_NORMAL,  /* N(0, 2/fan_in) */
    ML_INIT_ORTHOGONAL,    /* rows (or columns) orthonormal, times gain a (1 if 0) */
    ML_INIT_NKINDS
} ml_init_kind_t;

typedef struct ml_init {
    ml_init_kind_t kind;
    float a, b;
} ml_init_t;

/* Fill w (fan_out, fan_in), row-major, n = fan_out*fan_in. Returns ML_EARG for an unknown
 * kind or bad sizes, ML_ENOMEM if the orthogonal initializer cannot get its scratch space. */
int ml_init_fill(float *w, int64_t fan_out, int64_t fan_in, const ml_init_t *init,
                 ml_rng_t *rng);
/* Fill n values (a bias of n = fan_out) whose scale follows the layer's fans: PyTorch's
 * default bias is U(+-1/sqrt(fan_in)). Orthogonal fills a unit vector times the gain. */
int ml_init_fill_n(float *w, int64_t n, int64_t fan_out, int64_t fan_in, const ml_init_t *init,
                   ml_rng_t *rng);
/* Name <-> kind ("xavier_uniform" ...); -1 if unknown. */
int ml_init_kind_from_name(const char *name);
const char *ml_init_name(ml_init_kind_t kind);

#endif
