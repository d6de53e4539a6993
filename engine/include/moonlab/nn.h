/* Layers with forward and backward, and the sequential model that owns them.
 *
 * Contract (torch/nn style): forward(x) computes and keeps what backward needs; backward(dy)
 * accumulates parameter gradients (+=) and, when asked, writes the input gradient. Layers own
 * their outputs and input gradients, sized on first use and reused after. A model owns one flat
 * parameter buffer and one flat gradient buffer; layer weights are views into them.
 * Activations are (B, F): B batch rows, F features, or (B, T, F) sequences: a recurrent layer
 * reads (B, T, D) and gives (B, T, H) or its last step (B, H); linear and elementwise layers act
 * on the last dimension of either.
 *
 * Variable lengths: a forward may carry per-sequence lengths (B). They belong to the sequence
 * the model reads: every layer from the first up to and including the first recurrent layer that
 * gives its last step (or up to a repeat layer) sees them ("the chain"). Recurrent layers treat
 * steps past a sequence's length as padding (rnn.h), embedding and one-hot layers give zero
 * vectors there without reading the ids, and when the model's output is still that sequence,
 * its padded steps are zero and their output gradient is ignored. */
#ifndef MOONLAB_NN_H
#define MOONLAB_NN_H

#include <stdint.h>
#include "moonlab/init.h"
#include "moonlab/rnn.h"
#include "moonlab/rng.h"
#include "moonlab/tensor.h"

typedef enum {
    ML_LAYER_LINEAR = 0,
    ML_LAYER_RELU,
    ML_LAYER_SIGMOID,
    ML_LAYER_TANH,
    ML_LAYER_SOFTMAX,
    ML_LAYER_LOG_SOFTMAX,
    ML_LAYER_DROPOUT,
    ML_LAYER_IDENTITY,
    ML_LAYER_RECURRENT,     /* RNN / GRU / LSTM stack over (B, T, D): moonlab/rnn.h */
    ML_LAYER_EMBEDDING,     /* ids (B, T) -> vectors (B, T, E); weight (V, E) as PyTorch's */
    ML_LAYER_ONE_HOT,       /* ids (B, T) -> one-hot vectors (B, T, V); before a recurrent layer
                               it builds nothing: that layer reads the ids (ML_RNN_IDS) */
    ML_LAYER_REPEAT,        /* vectors (B, F) -> the same vector at each of M steps (B, M, F) */
    ML_LAYER_NKINDS
} ml_layer_kind_t;

/* What a script asks for; the model fills in the rest. */
typedef struct ml_layer_spec {
    ml_layer_kind_t kind;
    int64_t in, out;        /* linear: features in (0 = from the previous layer) and out;
                               embedding: vocabulary size V and vector size E; one-hot: V in;
                               repeat: steps M out */
    int bias;               /* linear: 1 to have a bias */
    float p;                /* dropout: probability of zeroing */
    ml_init_t weight_init;  /* linear, recurrent (DEFAULT: U(±1/sqrt(fan_in)) / U(±1/sqrt(H))) */
    ml_init_t bias_init;
    ml_cell_t cell;         /* recurrent: the cell */
    int64_t hidden;         /* recurrent: H */
    int layers;             /* recurrent: stacked layers (>= 1) */
    int sequence;           /* recurrent: 1 = output every step (B,T,H), 0 = last step (B,H) */
    int bidirectional;      /* recurrent: 1 = both directions, outputs 2H */
    int learn_state;        /* recurrent: learnable initial states (ML_RNN_LEARN_STATE) */
    int state_from;         /* recurrent: 1-based index of an earlier recurrent layer whose final
                               states are this one's initial states (encoder -> decoder; the
                               gradient flows back into them); 0 = none */
} ml_layer_spec_t;

typedef struct ml_layer {
    ml_layer_spec_t spec;
    int64_t in, out;          /* resolved feature sizes */
    int64_t offset, nparams;  /* slice of the model's flat buffers */
    ml_tensor_t w, b;         /* (out, in), (out): views into params */
    ml_tensor_t dw, db;       /* views into grads */
    ml_tensor_t y;            /* (B, out): forward output, owned */
    ml_tensor_t dx;           /* (B, in): input gradient, owned */
    ml_tensor_t mask;         /* dropout: (B, F) scale mask, owned */
    ml_tensor_t x;            /* view of the last forward input (borrowed) */
    ml_rnn_t *rnn;            /* recurrent: the stack (owned); y and dx are views into it */
    int chain;                /* reads the model input's sequence: gets the lengths */
    int fused;                /* one-hot: the next (recurrent) layer reads the ids itself */
    int state_to;             /* recurrent: 1-based index of the layer that starts from this
                                 one's final states, 0 = none */
} ml_layer_t;

typedef struct ml_model {
    int nlayers;
    ml_layer_t *layers;
    int64_t in, out;          /* model input and output features (last dimension) */
    int in_ndim;              /* 3 if the model reads sequences (B, T, D), else 2 */
    int64_t nparams;
    float *params;            /* (nparams) */
    float *grads;             /* (nparams) */
    float *decay;             /* (nparams): 1 for weights, 0 for biases (weight decay mask) */
    ml_rng_t rng;             /* dropout masks */
    int train;                /* 1 in training mode (dropout active) */
    int overwrite;            /* next backward writes gradients instead of adding (set by
                                 ml_model_backward_fresh, cleared after that backward) */
    int out_chain;            /* the output is still the input's sequence (B, T, ·) */
    int carry;                /* recurrent layers carry their final states to the next forward */
    int64_t *len;             /* (B) lengths of the last forward, when it had them (owned) */
    int64_t len_cap;
    int has_len;
    ml_tensor_t dy_mask;      /* output gradient with padded steps zeroed (lengths only) */
} ml_model_t;

/* Build a sequential model from specs. Fails with a message naming the layer ("layer 2
 * (linear): ...") on inconsistent sizes. Parameters are zero until ml_model_init. */
int ml_model_new(ml_model_t **out, int nlayers, const ml_layer_spec_t *specs);
void ml_model_free(ml_model_t *m);
/* Initialise every parameter from its spec (DEFAULT = PyTorch's linear default). */
int ml_model_init(ml_model_t *m, uint64_t seed);

/* Forward x (B, in) -> *y (B, out); *y points at the last layer's owned output, valid until
 * the next forward. */
int ml_model_forward(ml_model_t *m, const ml_tensor_t *x, const ml_tensor_t **y);
/* The same for a batch of sequences with lengths (B) or (B, 1): integers 1..T held as floats
 * (NULL: every sequence has T steps). The lengths are kept for the backward pass. */
int ml_model_forward_lengths(ml_model_t *m, const ml_tensor_t *x, const ml_tensor_t *lengths,
                             const ml_tensor_t **y);
/* Lengths of the last forward (B of them), or NULL if it had none. */
const int64_t *ml_model_lengths(const ml_model_t *m);
/* Truncated BPTT: with carry on, each recurrent layer starts every forward from the previous
 * forward's final states, detached (rnn.h); ml_model_reset_state returns every recurrent layer
 * to its default initial state (zeros or learned), dropping carried and set states. */
void ml_model_set_carry(ml_model_t *m, int on);
void ml_model_reset_state(ml_model_t *m);
/* Feeding the output back (1 -> N generation) for a model that reads ids (B, T) (an embedding
 * or one-hot first layer) and gives logits (B, T, V) over the same ids on every step: from the
 * initial states, read prime (B, P), then `steps` times pick the next id from the last step's
 * logits and feed it back as a (B, 1) input, the states carried. temperature > 0 samples from
 * softmax(logits / temperature) with rng; 0 takes the most likely id. out (B, steps) receives
 * the ids. Evaluation mode throughout; the model's carry setting is restored, its states are
 * left at the end of the generated text. */
int ml_model_generate(ml_model_t *m, ml_tensor_t *out, const ml_tensor_t *prime, double temperature,
                      ml_rng_t *rng);
/* Backward from dy (B, out) of the last forward. Gradients accumulate into m->grads. If dx is
 * non-NULL, *dx receives the input gradient (B, in), owned by the first layer; otherwise the
 * first layer skips computing it. */
int ml_model_backward(ml_model_t *m, const ml_tensor_t *dy, const ml_tensor_t **dx);
void ml_model_zero_grad(ml_model_t *m);
/* Backward that writes the gradients instead of accumulating them: the same result as
 * ml_model_zero_grad followed by ml_model_backward, without a pass to clear the buffer (every
 * parameter belongs to exactly one layer, so each is written once). For training loops. */
int ml_model_backward_fresh(ml_model_t *m, const ml_tensor_t *dy, const ml_tensor_t **dx);

const char *ml_layer_name(ml_layer_kind_t kind);
int ml_layer_kind_from_name(const char *name);

#endif
