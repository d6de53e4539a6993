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
 * block. Each step runs two GEMMs over all gates on weights laid out once per pass, the input
 * projection X_t W_ihᵀ and the recurrent term H_{t-1} W_hhᵀ, and the backward step two, dG_t W_hh
 * and the input gradient dG_t W_ih; the weight gradients are two GEMMs over all steps. (One GEMM
 * for the input projection of all steps gives the same sums: run at each step, the gate rows it
 * writes are still in cache when the gate math reads them, which measured 3.6 % faster.)
 *
 * Variable lengths: with per-sequence lengths n_b (1 <= n_b <= T), sequence b has steps
 * 0..n_b-1 (PyTorch's pack_padded_sequence). On a padded step the states carry over unchanged,
 * the output is zero and no gradient enters or leaves (the gate gradients there are zero and
 * the state gradients pass through), so the final states are each sequence's states at its own
 * last step; the last-step output is step n_b-1; the backward direction reads steps n_b-1..0.
 * Without lengths nothing of this runs (no extra pass).
 *
 * Ids input (ML_RNN_IDS): the first layer reads ids (B, T), integers 0..D-1 held as floats, as
 * one-hot vectors of size D without building them: the input projection of a step is column id
 * of W_ih, gathered, and dW_ih receives each step's gate gradient in that column.
 *
 * Memory (floats, per layer, sized on first use and reused; nothing is allocated in the time
 * loop): T·B·D_l (input, time-major) + T·B·G·H (gate activations) + T·B·G·H (gate gradients) +
 * (T+1)·B·H (hidden states) [+ (T+1)·B·H cell states and T·B·H tanh(C_t) for LSTM, + T·B·H
 * recurrent candidate term and T·B·G·H hidden-side gradients for GRU], plus T·B·D_l for the input gradient (neither of
 * the two T·B·D_l blocks for the first layer with ids input, which keeps 2·T·B ids instead),
 * plus 2·G·H·H for W_hh and 2·G·H·D_l for W_ih laid out for the per-step products; and once
 * per stack, B·G·H for each thread's rows of a per-step product. */
#ifndef MOONLAB_RNN_H
#define MOONLAB_RNN_H

#include <stdint.h>
#include "moonlab/kernels.h"
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
    ml_tensor_t hn;                /* GRU: (T, B, H) H_{t-1} W_hnᵀ + b_hn; LSTM: tanh(C_t) */
    ml_tensor_t h;                 /* (T+1, B, H) hidden states, h[0] = initial */
    ml_tensor_t c;                 /* LSTM: (T+1, B, H) cell states */
    ml_tensor_t dx;                /* (T, B, D_l) input gradient (time-major) */
    ml_tensor_t mask;              /* (T, B, D_l) dropout mask on this layer's input (l > 0) */
    ml_tensor_t wpack;             /* W_hhᵀ (H, G·H) and W_hh (G·H, H) laid out for the
                                      micro-kernel (ml_k_pack) at each forward and backward:
                                      the per-step products read them without a copy per step */
    ml_k_packed_t w_fwd, w_bwd;
    ml_tensor_t ipack;             /* W_ihᵀ (D_l, G·H) and W_ih (G·H, D_l) laid out likewise,
                                      for the per-step input products (not with ids) */
    ml_k_packed_t i_fwd, i_bwd;
} ml_rnn_layer_t;

#define ML_RNN_MAX_LAYERS 8

/* ml_rnn_init flags */
#define ML_RNN_LAST 1          /* output the last step (B, dirs·H) instead of every step */
#define ML_RNN_BIDIRECTIONAL 2 /* a second direction reads each layer's input backwards */
#define ML_RNN_LEARN_STATE 4   /* learnable initial states: h0 (and c0 for LSTM), each
                                  (layers·dirs, H), shared by every sequence of a batch, as
                                  parameters after the weights */
#define ML_RNN_IDS 8           /* the input is ids (B, T) read as one-hot vectors of size D */

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
    ml_tensor_t dseq;              /* scratch (T, B, dirs·H): their gradient */
    ml_tensor_t dh;                /* scratch (T, B, H): one direction's output gradient */
    ml_tensor_t dh_next;           /* scratch (B, H) */
    ml_tensor_t dc_next;           /* scratch (B, H), LSTM */
    ml_tensor_t tmp;               /* scratch (B, G·H) */
    ml_tensor_t rows;              /* scratch: each thread's rows of a per-step product, laid
                                      out for the micro-kernel (rows_per floats a thread) */
    int64_t rows_per;
    int rows_threads;              /* threads rows has room for */
    ml_tensor_t h0, c0;            /* (L, B, H) initial states, when set (else zeros) */
    int has_h0, has_c0;
    ml_tensor_t hn, cn;            /* (L, B, H) final states of the last forward */
    ml_tensor_t dh0, dc0;          /* (L, B, H) gradients of the initial states */
    float dropout;                 /* probability of zeroing a layer's output before the next
                                      layer (PyTorch's dropout; not after the last layer) */
    int train;                     /* dropout only when set (the model's training mode) */
    ml_rng_t *rng;                 /* dropout masks (the model's stream) */
    int dropped;                   /* the last forward applied dropout */
    int ids;                       /* ML_RNN_IDS: the input is ids (B, T) */
    int64_t *tok;                  /* ids mode: (dirs, T, B) ids time-major, each direction in
                                      its own time order, -1 on padded steps (owned) */
    int64_t tok_cap;
    int64_t *len;                  /* (B) lengths of the last forward, when it had them (owned) */
    int64_t len_cap;
    int has_len;
    int learn_state;               /* ML_RNN_LEARN_STATE */
    float *h0p, *c0p;              /* learnable initial states (layers·dirs, H) (views into the
                                      model's buffer; c0p for LSTM) */
    float *dh0p, *dc0p;            /* their gradients */
    int used_h0p, used_c0p;        /* the last forward started from them */
    int carry;                     /* each forward starts from the previous one's final states */
} ml_rnn_t;

/* Gates per cell (1, 1, 3, 4). */
int ml_rnn_gates(ml_cell_t cell);
/* Parameters of a stack: sum over layers and directions of G·H·(D_l + H + 2), D_l = dirs·H
 * above the first layer, plus layers·dirs·H (·2 for LSTM) with ML_RNN_LEARN_STATE. flags as
 * for ml_rnn_init (only ML_RNN_BIDIRECTIONAL and ML_RNN_LEARN_STATE matter). */
int64_t ml_rnn_nparams(ml_cell_t cell, int64_t in, int64_t hidden, int nlayers, int flags);
/* Set up r (no buffers yet); flags: ML_RNN_LAST, ML_RNN_BIDIRECTIONAL, ML_RNN_LEARN_STATE,
 * ML_RNN_IDS. */
int ml_rnn_init(ml_rnn_t *r, ml_cell_t cell, int64_t in, int64_t hidden, int nlayers,
                int flags);
/* Point the layers' parameters and gradients into params/grads (nparams each, in the order
 * documented above; the learnable states h0 then c0 last). */
void ml_rnn_bind(ml_rnn_t *r, float *params, float *grads);
void ml_rnn_free(ml_rnn_t *r);

/* x (B, T, D), any strides, or ids (B, T) with ML_RNN_IDS; lengths (B) in 1..T or NULL (every
 * sequence has T steps) -> *y: (B, T, dirs·H) or (B, dirs·H) (the last step: the backward
 * direction's part there has read only that step, as PyTorch's output[:, -1]), owned by r.
 * The lengths are copied; the backward pass uses them. */
int ml_rnn_forward(ml_rnn_t *r, const ml_tensor_t *x, const int64_t *lengths,
                   const ml_tensor_t **y);
/* dy shaped like the output (contiguous); parameter gradients accumulate (+=, or are written
 * when overwrite is set); *dx (B, T, D) if dx is non-NULL (zeros (B, T) for ids input). */
int ml_rnn_backward(ml_rnn_t *r, const ml_tensor_t *dy, int overwrite, const ml_tensor_t **dx);
/* The same with gradients flowing into the final states too: dhn (and dcn for LSTM), shaped
 * (layers·dirs, B, H) like ml_rnn_final_state's, or NULL for none. */
int ml_rnn_backward_states(ml_rnn_t *r, const ml_tensor_t *dy, const ml_tensor_t *dhn,
                           const ml_tensor_t *dcn, int overwrite, const ml_tensor_t **dx);

/* Initial states for the following forward passes: h0 (and, for LSTM, c0) shaped
 * (layers·dirs, B, H), copied; NULL returns that state to its default (zeros, or the learnable
 * state). The batch size of the next forward must match. */
int ml_rnn_set_state(ml_rnn_t *r, const ml_tensor_t *h0, const ml_tensor_t *c0);
/* Carry mode (truncated BPTT over consecutive windows of long streams): when on, every forward
 * starts from the previous forward's final states, copied as values, so a backward pass stops
 * at the window's first step (the states are detached). */
void ml_rnn_set_carry(ml_rnn_t *r, int on);
/* Return both initial states to their default (as ml_rnn_set_state(r, NULL, NULL)). */
void ml_rnn_reset_state(ml_rnn_t *r);
/* Final states (layers, B, H) of the last forward (c only for LSTM, else NULL), owned by r. */
void ml_rnn_final_state(const ml_rnn_t *r, const ml_tensor_t **hn, const ml_tensor_t **cn);
/* Gradients of the loss with respect to the initial states, (layers, B, H), from the last
 * backward (c only for LSTM, else NULL), owned by r. Gradients flowing into the final states
 * are part of the objective only through ml_rnn_backward_states. */
void ml_rnn_state_grad(const ml_rnn_t *r, const ml_tensor_t **dh0, const ml_tensor_t **dc0);

const char *ml_cell_name(ml_cell_t cell);
int ml_cell_from_name(const char *name);

#endif
