/* Models: architecture, the one-buffer parameter layout, PyTorch's default
 * initialisation, and the CPU forward and backward passes (the reference
 * every other backend is checked against).
 *
 * Both architectures of docs/design.md are one family: an input image, n_conv
 * conv blocks (conv k x k with padding, ReLU, maxpool 2x2), a flatten, and
 * n_fc fully connected layers with ReLU (and optional dropout) between them;
 * the last fc layer gives the logits. `mlp` is n_conv = 0; the paper `cnn`
 * is one 3 -> 16 conv block then fc 4096 -> 64 -> 64 -> 64 -> 10 without
 * bias. Layers are named as in the seeds: conv1.., fc1...
 *
 * Dimension letters: B batch, C channels, H height, W width, O fc outputs,
 * I fc inputs, K conv kernel side. */
#ifndef MODSWEEP_NN_H
#define MODSWEEP_NN_H

#include <stddef.h>
#include <stdint.h>

#include "modsweep/kernels.h"

#define MS_MAX_CONV 4
#define MS_MAX_FC 8
#define MS_MAX_TENSORS (2 * (MS_MAX_CONV + MS_MAX_FC))
#define MS_MAX_CLASSES 10

typedef struct ms_arch {
    int in_c, in_h, in_w;     /* input image C x H x W */
    int n_conv;               /* conv blocks: conv K x K (padding) -> ReLU -> maxpool 2x2 */
    int conv_c[MS_MAX_CONV];  /* output channels of each conv block */
    int conv_k, conv_pad;     /* kernel side and zero padding (3 and 1 in the paper CNN) */
    int conv_bias;            /* conv layers carry a bias (PyTorch's default: yes) */
    int n_fc;                 /* fc layers; the last gives the logits */
    int fc_out[MS_MAX_FC];    /* output width of each fc layer; fc_out[n_fc-1] = classes */
    int fc_bias;              /* fc layers carry a bias */
    float dropout;            /* dropout probability after each hidden fc ReLU (0 = none) */
} ms_arch_t;

typedef enum ms_tensor_kind { MS_T_WEIGHT = 0, MS_T_BIAS = 1 } ms_tensor_kind_t;
typedef enum ms_layer_kind { MS_L_CONV = 0, MS_L_FC = 1 } ms_layer_kind_t;

/* One tensor inside the parameter buffer, in PyTorch's layout and order. */
typedef struct ms_tensor {
    char name[24];   /* "conv1.weight", "fc2.bias", as in a PyTorch state_dict */
    size_t off;      /* offset in floats from the start of the buffer */
    size_t n;        /* number of floats */
    int ndim;        /* 1, 2 or 4 */
    int shape[4];    /* conv weight (C_out, C_in, K, K); fc weight (O, I); bias (O) */
    int fan_in;      /* of the layer it belongs to */
    int layer_kind;  /* ms_layer_kind_t */
    int layer;       /* index among layers of its kind (fc2 -> 1) */
    int kind;        /* ms_tensor_kind_t */
} ms_tensor_t;

/* The parameter layout of an architecture: where every tensor lives in the
 * single float buffer (parameters, gradients and optimiser moments share it). */
typedef struct ms_layout {
    ms_arch_t arch;
    int n_tensors;
    ms_tensor_t t[MS_MAX_TENSORS];
    size_t n_params;
    /* Derived shapes. */
    int conv_in_c[MS_MAX_CONV], conv_h[MS_MAX_CONV], conv_w[MS_MAX_CONV]; /* conv output H, W */
    int pool_h[MS_MAX_CONV], pool_w[MS_MAX_CONV];                          /* after pooling */
    int fc_in[MS_MAX_FC];
    int conv_weight[MS_MAX_CONV], conv_bias_t[MS_MAX_CONV]; /* tensor indices (-1 if none) */
    int fc_weight[MS_MAX_FC], fc_bias_t[MS_MAX_FC];
    size_t n_fc_weights; /* sum of fc weight counts (the prunable weights) */
} ms_layout_t;

/* Fills L from arch and checks it (positive sizes, pooling leaves >= 1 pixel,
 * limits). Returns MS_EINVAL with a message naming the fault. */
int ms_layout_init(ms_layout_t *L, const ms_arch_t *arch);

/* Index of the tensor called `name`, or -1. */
int ms_layout_find(const ms_layout_t *L, const char *name);

/* PyTorch's default initialisation (kaiming_uniform(a = sqrt(5)) for weights,
 * U(+-1/sqrt(fan_in)) for biases; both are U(+-1/sqrt(fan_in))), drawn from
 * stream MS_RNG_INIT keyed by seed, sub-stream = tensor index, so the result
 * depends only on (arch, seed). */
void ms_params_init(const ms_layout_t *L, float *params, uint64_t seed);

/* L1/L2 penalty on the weight tensors (biases are not penalised): returns
 * l1 * sum|w| + l2 * sum w^2 accumulated in double and, when grad is not
 * NULL, adds its gradient l1 * sign(w) + 2 * l2 * w to grad. */
double ms_params_penalty(const ms_layout_t *L, const float *params, float *grad, float l1,
                         float l2);

/* Dropout of one training step: the mask of element e of a hidden fc layer's
 * output is keep iff ms_rng_float_at(seed, MS_RNG_DROPOUT, step, base + e) >= p. */
typedef struct ms_dropout {
    uint64_t seed;
    uint32_t step;
} ms_dropout_t;

typedef struct ms_net ms_net_t;

/* The kernels a network runs on, and how its buffers are laid out for them.
 * ms_net_forward and ms_net_backward walk the layers once for every backend
 * and call the kernels through this table: the CPU's (ms_net_ops_cpu, the
 * kernels of kernels.h) or the GPU's (src/gpu/nn_gpu.c, kernels_gpu.h). */
typedef struct ms_net_ops {
    size_t align;       /* every buffer starts at a multiple of align bytes (a power of 2) */
    size_t scratch_min; /* floats of scratch at least */
    /* Floats of scratch the forward and backward passes of one conv block,
     * (C, H, W) -> F with kernel side K and padding P, need for net->max_b
     * images and net->threads threads. */
    size_t (*conv_scratch)(const ms_net_t *net, int C, int H, int W, int F, int K, int P);
    int conv_act_optional; /* conv_forward accepts act = NULL (its backward never reads act) */
    ms_conv_relu_pool_forward_fn *conv_forward;
    ms_conv_relu_pool_backward_fn *conv_backward;
    ms_linear_forward_fn *linear_forward;
    ms_linear_backward_fn *linear_backward;
    ms_relu_dropout_forward_fn *relu_dropout_forward;
    ms_relu_dropout_backward_fn *relu_dropout_backward;
} ms_net_ops_t;

/* The CPU's table (ms_net_init sets it). */
extern const ms_net_ops_t ms_net_ops_cpu;

/* The network: the layout plus every buffer one forward and backward pass
 * needs for up to max_b images, allocated once at init, on the CPU
 * (ms_net_init) or, inside gpu.h's ms_gpu_net_t, on a GPU. The activation
 * pointers are public so analyses can read them after ms_net_forward. */
struct ms_net {
    ms_layout_t L;
    int max_b;
    int threads;             /* worker threads for this network's kernels (>= 1) */
    const ms_net_ops_t *ops; /* the kernels it runs on */
    /* Activations of the last forward pass (B = last batch size). */
    float *conv_act[MS_MAX_CONV];  /* (B, C, H, W) after ReLU, before pooling */
    uint8_t *pool_idx[MS_MAX_CONV]; /* (B, C, H/2, W/2) place of each window's maximum, 2 dy + dx */
    float *pool_out[MS_MAX_CONV];  /* (B, C, H/2, W/2) */
    float *fc_in0;                 /* (B, I0): alias of the flattened last pool_out or the input */
    float *fc_act[MS_MAX_FC];      /* (B, O_l): ReLU(z) of hidden layers (after dropout), logits last */
    /* Backward scratch. */
    float *d_fc[MS_MAX_FC];        /* (B, O_l) gradient w.r.t. layer l's pre-activation */
    float *d_in0;                  /* (B, I0) gradient w.r.t. the fc input */
    float *d_conv[MS_MAX_CONV];    /* (B, C, H, W) gradient w.r.t. conv pre-activation */
    float *scratch;                /* im2col and per-chunk partial sums */
    size_t scratch_n;
    int last_b;
    int dropout_active;            /* the last forward pass applied dropout */
    /* 1 (ms_net_prepare's default): ms_net_forward stores conv_act. 0: it
     * may leave conv_act as it was where ops->conv_act_optional (the CPU),
     * sparing the writes; the trainer's network does so unless a hook reads
     * the activations (ms_train_hooks_t.needs_conv_act). */
    int keep_conv_act;
    void *mem;                     /* the single allocation behind every pointer above */
};

/* Allocates every buffer for batches of up to max_b, with per-thread scratch
 * for max(threads, ms_kernels_threads()) threads (the kernels' thread count is
 * set once per process with ms_kernels_set_threads). */
int ms_net_init(ms_net_t *net, const ms_arch_t *arch, int max_b, int threads);
void ms_net_free(ms_net_t *net);

/* For a backend that allocates its own memory (the GPU network of gpu.h):
 * ms_net_init's checks without the allocation. ms_net_prepare fills net's
 * layout, max_b, threads and ops; then ms_net_carve(net, NULL) returns the
 * bytes all buffers need together and ms_net_carve(net, mem) points them into
 * mem (aligned to ops->align), in the same order. ms_net_take reserves count
 * elements of size bytes at *off, padded to align bytes, and returns their
 * address inside base (NULL when base is NULL: only counting). */
int ms_net_prepare(ms_net_t *net, const ms_arch_t *arch, int max_b, int threads,
                   const ms_net_ops_t *ops);
size_t ms_net_carve(ms_net_t *net, char *base);
void *ms_net_take(char *base, size_t *off, size_t count, size_t size, size_t align);

/* Forward pass of B images x (B, in_c, in_h, in_w). drop = NULL evaluates
 * (no dropout). Results: net->fc_act[n_fc-1] holds the logits (B, classes). */
void ms_net_forward(ms_net_t *net, const float *params, const float *x, int B,
                    const ms_dropout_t *drop);

/* Mean cross-entropy of the last forward pass (of a CPU network) against
 * labels y, accumulated in double; also stores dL/dlogits =
 * (softmax - onehot) / B in d_fc[n_fc-1]. If loss_per_sample is not NULL
 * it receives each sample's CE. */
double ms_net_ce_loss(ms_net_t *net, const uint8_t *y, int B, double *loss_per_sample);

/* Backward pass after ms_net_forward and ms_net_ce_loss on the same batch:
 * overwrites grad (n_params floats) with dL/dparams. x is the same input. */
void ms_net_backward(ms_net_t *net, const float *params, const float *x, int B, float *grad);

/* Predicted class of each of the B images of the last forward pass (of a
 * CPU network). */
void ms_net_argmax(const ms_net_t *net, int B, uint8_t *pred);

#endif
