/* Recurrent sequence layers: vanilla RNN (tanh or ReLU), GRU and LSTM, stacked, with full
 * backpropagation through time.
 *
 * Equations (d2l's, with PyTorch's parameter layout so weights move between the two):
 *   RNN:  H_t = phi(X_t W_ihᵀ + b_ih + H_{t-1} W_hhᵀ + b_hh)
 *   GRU:  r = sigmoid(X_t W_irᵀ + b_ir + H_{t-1} W_hrᵀ + b_hr)
 *         z = sigmoid(X_t W_izᵀ + b_iz + H_{t-1} W_hzᵀ + b_hz)
 *         ñ = tanh(X_t W_inᵀ + b_in + r ⊙ (H_{t-1} W_hnᵀ + b_hn))   (r inside, as PyTorch)
 *         H_t = z ⊙ H_{t-1} + (1 - z) ⊙ ñ
 *   LSTM: i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of X_t W_ihᵀ + b_ih + H_{t-1} W_hhᵀ + b_hh
 *         C_t = f ⊙ C_{t-1} + i ⊙ g,  H_t = o ⊙ tanh(C_t)
 * Bidirectional: each layer also runs a second stack of the same shapes over the input read
 * backwards in time; the layer's output at step t is [forward H_t, backward H_t] (2H), which
 * the next layer reads. Per layer l the parameters are, in this order (PyTorch's weight_ih_l{l}, weight_hh_l{l},
 * bias_ih_l{l}, bias_hh_l{l}): W_ih (G·H, D_l), W_hh (G·H, H), b_ih (G·H), b_hh (G·H), with
 * G = 1 (RNN), 3 (GRU: r, z, n), 4 (LSTM: i, f, g, o) and D_l = D for l = 0, H above.
 *
 * Layout: input and output are batch-first (B, T, D) and (B, T, H) (or (B, H) for the last step);
 * internally everything is time-major (T, B, ·) so that one step's rows are one contiguous
 * block. The input projection of all steps is one GEMM, each step's recurrent term one fused GEMM
 * over all gates, and the weight gradients two GEMMs over all steps.
 *
 * Memory (floats, per layer, sized on first use and reused; nothing is allocated in the time
 * loop): T·B·D_l (input, time-major) + T·B·G·H (gate activations) + T·B·G·H (gate gradients) +
 * (T+1)·B·H (hidden states) [+ (T+1)·B·H cell states for LSTM, + T·B·H recurrent candidate term
 * and T·B·G·H hidden-side gradients for GRU], plus T·B·D_l for the input gradient. */
#ifndef MOONLAB_RNN_H
#define MOONLAB_RNN_H

#include <stdint.h>
#include "moonlab/rng.h"
#include "moonlab/tensor.h"

typedef enum { ML_CELL_RNN_TANH = 0, ML_CELL_RNN_RELU, ML_CELL_GRU, ML_CELL_LSTM, ML_CELL_NKINDS } ml_cell_t;

typedef struct ml_rnn_layer {
    int64_t in;                    /* D_l */
    float *w_ih, *w_hh, *b_ih, *b_hh;      /* parameters (views into the model's buffer) */
    float *dw_ih, *dw_hh, *db_ih, *db_hh;  /* their gradients */
    ml_tensor_t x;                 /* (T, B, D_l) time-major input */
    ml_tensor_t gates;             /* (T, B, G·H) gate activations */
    ml_tensor_t dgates;            /* (T, B, G·H) gradients of the gate pre-activations */
    ml_tensor_t dgates_h;          /* GRU: (T, B, 3H) hidden-side pre-activation gradients */
    ml_tensor_t hn;                /* GRU: (T, B, H) H_{t-1} W_hnᵀ + b_hn */
    ml_tensor_t h;                 /* (T+1, B, H) hidden states, h[0] = initial */
    ml_tensor_t c;                 /* LSTM: (T+1, B, H) cell states */
    ml_tensor_t dx;                /* (T, B, D_l) input gradient (time-major) */
    ml_tensor_t mask;              /* (T, B, D_l) dropout mask on this layer's input (l > 0) */
} ml_rnn_layer_t;

#define ML_RNN_MAX_LAYERS 8

/* ml_rnn_init flags */
#define ML_RNN_LAST 1          /* output the last step (B, dirs·H) instead of every step */
#define ML_RNN_BIDIRECTIONAL 2 /* a second direction reads each layer's input backwards */

typedef struct ml_rnn {
    ml_cell_t cell;
    int64_t in, hidden;            /* D, H */
    int nlayers;
    int dirs;                      /* 1, or 2 when bidirectional */
    int last_only;                 /* 1: output (B, dirs·H) of the last step; 0: (B, T, dirs·H) */
    int64_t T, B;                  /* of the last forward */
    /* sub-layer s = l·dirs + d: layer l, direction d (1 = reversed time), as PyTorch orders
     * its parameters (…_l{l} then …_l{l}_reverse) and its states ((layers·dirs, B, H)) */
    ml_rnn_layer_t layers[2 * ML_RNN_MAX_LAYERS];
    ml_tensor_t y;                 /* output, batch-first */
    ml_tensor_t dx;                /* input gradient, batch-first (B, T, D) */
    ml_tensor_t seq;               /* scratch (T, B, dirs·H): a layer's outputs, both directions */
    ml_tensor_t dseq;              /* scratch (T, B, dirs·H): their gradient */
    ml_tensor_t dh;                /* scratch (T, B, H): one direction's output gradient */
    ml_tensor_t dh_next;           /* scratch (B, H) */
    ml_tensor_t dc_next;           /* scratch (B, H), LSTM */
    ml_tensor_t tmp;               /* scratch (B, G·H) */
    ml_tensor_t h0, c0;            /* (L, B, H) initial states, when set (else zeros) */
    int has_h0, has_c0;
    ml_tensor_t hn, cn;            /* (L, B, H) final states of the last forward */
    ml_tensor_t dh0, dc0;          /* (L, B, H) gradients of the initial states */
    float dropout;                 /* probability of zeroing a layer's output before the next
                                      layer (PyTorch's dropout; not after the last layer) */
    int train;                     /* dropout only when set (the model's training mode) */
    ml_rng_t *rng;                 /* dropout masks (the model's stream) */
    int dropped;                   /* the last forward applied dropout */
} ml_rnn_t;

/* Gates per cell (1, 1, 3, 4). */
int ml_rnn_gates(ml_cell_t cell);
/* Parameters of a stack: sum over layers and directions of G·H·(D_l + H + 2), D_l = dirs·H
 * above the first layer. */
int64_t ml_rnn_nparams(ml_cell_t cell, int64_t in, int64_t hidden, int nlayers, int bidirectional);
/* Set up r (no buffers yet); flags: ML_RNN_LAST, ML_RNN_BIDIRECTIONAL. */
int ml_rnn_init(ml_rnn_t *r, ml_cell_t cell, int64_t in, int64_t hidden, int nlayers,
                int flags);
/* Point the layers' parameters and gradients into params/grads (nparams each, in the order
 * documented above). */
void ml_rnn_bind(ml_rnn_t *r, float *params, float *grads);
void ml_rnn_free(ml_rnn_t *r);

/* x (B, T, D), any strides -> *y: (B, T, dirs·H) or (B, dirs·H) (the last step: the backward
 * direction's part there has read only that step, as PyTorch's output[:, -1]), owned by r. */
int ml_rnn_forward(ml_rnn_t *r, const ml_tensor_t *x, const ml_tensor_t **y);
/* dy shaped like the output (contiguous); parameter gradients accumulate (+=, or are written
 * when overwrite is set); *dx (B, T, D) if dx is non-NULL. */
int ml_rnn_backward(ml_rnn_t *r, const ml_tensor_t *dy, int overwrite, const ml_tensor_t **dx);

/* Initial states for the following forward passes: h0 (and, for LSTM, c0) shaped
 * (layers·dirs, B, H), copied; NULL returns that state to zeros. The batch size of the next forward
 * must match. */
int ml_rnn_set_state(ml_rnn_t *r, const ml_tensor_t *h0, const ml_tensor_t *c0);
/* Final states (layers, B, H) of the last forward (c only for LSTM, else NULL), owned by r. */
void ml_rnn_final_state(const ml_rnn_t *r, const ml_tensor_t **hn, const ml_tensor_t **cn);
/* Gradients of the loss with respect to the initial states, (layers, B, H), from the last
 * backward (c only for LSTM, else NULL), owned by r. Gradients flowing into the final states
 * are not part of the objective (as when PyTorch's h_n is not used). */
void ml_rnn_state_grad(const ml_rnn_t *r, const ml_tensor_t **dh0, const ml_tensor_t **dc0);

const char *ml_cell_name(ml_cell_t cell);
int ml_cell_from_name(const char *name);

#endif
