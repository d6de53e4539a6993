/* Optimizers over one flat parameter buffer, global-norm clipping and learning-rate schedules. */
#ifndef MOONLAB_OPTIM_H
#define MOONLAB_OPTIM_H

#include <stdint.h>

typedef enum { ML_OPT_SGD = 0, ML_OPT_ADAM, ML_OPT_ADAMW, ML_OPT_NKINDS } ml_optim_kind_t;

typedef struct ml_optim {
    ml_optim_kind_t kind;
    float lr;
    float momentum;       /* SGD: heavy ball, PyTorch's form v = mu*v + g; p -= lr*v */
    int nesterov;         /* SGD */
    float weight_decay;   /* SGD, Adam: g += wd*p (coupled L2); AdamW: p -= lr*wd*p */
    float beta1, beta2, eps;  /* Adam, AdamW */
    int64_t n;            /* parameter count, fixed by the first step */
    int64_t t;            /* steps taken */
    float *m, *v;         /* state, (n) each, allocated on the first step */
} ml_optim_t;

/* Defaults: lr 0.01 (SGD) / 0.001 (Adam), betas 0.9/0.999, eps 1e-8, AdamW decay 0.01. */
void ml_optim_defaults(ml_optim_t *o, ml_optim_kind_t kind);
/* One update of params (n) from grads (n). decay (n) or NULL masks weight decay per element
 * (1 applies, 0 exempts). Fails if n differs from the first step's n. */
int ml_optim_step(ml_optim_t *o, float *params, const float *grads, const float *decay,
                  int64_t n);
void ml_optim_free(ml_optim_t *o);
/* Restore a saved state (a checkpoint): step count t and the moment buffers m, v (n floats
 * each; v is NULL for SGD). Fails if the optimizer was already used for another n. */
int ml_optim_set_state(ml_optim_t *o, int64_t t, const float *m, const float *v, int64_t n);

/* Scale grads so that their global L2 norm is at most max_norm; returns the norm before. */
double ml_clip_grad_norm(float *grads, int64_t n, double max_norm);

typedef enum { ML_SCHED_CONSTANT = 0, ML_SCHED_STEP, ML_SCHED_COSINE } ml_sched_kind_t;
typedef struct ml_schedule {
    ml_sched_kind_t kind;
    float base_lr;
    int64_t step_size;  /* STEP: multiply by gamma every step_size epochs */
    float gamma;
    int64_t t_max;      /* COSINE: epochs from base_lr to min_lr */
    float min_lr;
} ml_schedule_t;
/* Learning rate for 0-based epoch. */
float ml_schedule_lr(const ml_schedule_t *s, int64_t epoch);

const char *ml_optim_name(ml_optim_kind_t kind);
int ml_optim_kind_from_name(const char *name);

#endif
