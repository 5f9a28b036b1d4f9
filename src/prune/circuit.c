/* Judging circuits under ablation kinds, approximate circuit methods and
 * their scores against the exact greedy circuit (circuit.h).
 *
 * Dimension letters: N images judged, NF find images, NI/O fc inputs and
 * outputs, NC classes, NW fc weights, B batch of the feature pass. */
#include "modsweep/circuit.h"
#include "modsweep/canon.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/rng.h"
#include "circuit_lanes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FEATURE_BATCH 256

static const char *const kind_names[MS_ABL_KINDS] = {"zero", "mean", "resample"};
static const char *const method_names[MS_CM_METHODS] = {"magnitude", "attribution", "ig"};

const char *ms_ablation_kind_name(int kind) {
    return kind >= 0 && kind < MS_ABL_KINDS ? kind_names[kind] : "?";
}

const char *ms_circuit_method_name(int method) {
    return method >= 0 && method < MS_CM_METHODS ? method_names[method] : "?";
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- features ------------------------------------------------------------------------ */

/* Features of N images with a network made for batches of net->max_b. */
static void features_with(ms_net_t *net, const float *params, const float *x, int N, double *h0) {
    const ms_layout_t *L = &net->L;
    const ms_arch_t *a = &L->arch;
    const size_t D = (size_t)a->in_c * a->in_h * a->in_w, NI0 = (size_t)L->fc_in[0];
    const int B = net->max_b;
    for (int b0 = 0; b0 < N; b0 += B) {
        const int nb = N - b0 < B ? N - b0 : B;
        ms_net_forward(net, params, x + D * b0, nb, NULL);
        for (size_t j = 0; j < (size_t)nb * NI0; j++)
            h0[(size_t)b0 * NI0 + j] = (double)net->fc_in0[j];
    }
}

int ms_circuit_features(const ms_layout_t *L, const float *params, const float *x, int N,
                        double *h0) {
    if (N <= 0) return 0;
    ms_net_t net;
    int rc = ms_net_init(&net, &L->arch, N < FEATURE_BATCH ? N : FEATURE_BATCH, 0);
    if (rc) return rc;
    features_with(&net, params, x, N, h0);
    ms_net_free(&net);
    return 0;
}

/* ---- the masked forward pass in double ------------------------------------------------ */

int ms_circuit_resample_source(uint64_t seed, long id, int l, int NF) {
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_RESAMPLE, (uint32_t)((uint64_t)id * MS_MAX_FC + (uint64_t)l));
    return (int)ms_rng_below(&r, (uint32_t)NF);
}

/* What judging one mask under one kind needs, built once per call: each fc
 * layer's kept weights in sparse rows (ascending input index) and the
 * constant part of each pre-activation, the bias plus the removed weights'
 * contribution: nothing (zero), w * mean (mean), or, for resample, one
 * vector per find image r (w * a_l(r)), since a removed weight only ever
 * reads one of the NF find images. */
typedef struct plan {
    int *row_start[MS_MAX_FC]; /* (O + 1) */
    int *idx[MS_MAX_FC];       /* (kept) input index */
    double *w[MS_MAX_FC];      /* (kept) weight */
    double *c[MS_MAX_FC];      /* (O), or (NF, O) for resample */
} plan_t;

static void plan_free(plan_t *p) {
    for (int l = 0; l < MS_MAX_FC; l++) {
        free(p->row_start[l]);
        free(p->idx[l]);
        free(p->w[l]);
        free(p->c[l]);
    }
    memset(p, 0, sizeof *p);
}

/* Test hook (circuit.h): non-zero takes the one-image loops of plan_init
 * and ms_circuit_ref_init instead of resample_const. */
int ms__circuit_plan_scalar = 0;

/* Four blocks of JB find images from block rb on (blocks past the last
 * repeat it and are not stored). */
#define RG 4
MS_PRUNE_CLONES
static void resample_group(int O, int NI, int NR, const int *rs, const int *ri, const double *rw,
                           const double *bias, const vjb_t *at, int rb, double *c) {
    const int nrb = (NR + JB - 1) / JB;
    const vjb_t *A[RG];
    for (int g = 0; g < RG; g++)
        A[g] = at + (size_t)(rb + g < nrb ? rb + g : nrb - 1) * NI;
    for (int o = 0; o < O; o++) {
        vjb_t z0;
        splat(&z0, bias[o]);
        vjb_t z1 = z0, z2 = z0, z3 = z0;
        for (int k = rs[o]; k < rs[o + 1]; k++) {
            const double w = rw[k];
            const int i = ri[k];
            const vjb_t t0 = w * A[0][i], t1 = w * A[1][i], t2 = w * A[2][i], t3 = w * A[3][i];
            z0 = z0 + t0;
            z1 = z1 + t1;
            z2 = z2 + t2;
            z3 = z3 + t3;
        }
        const vjb_t z[RG] = {z0, z1, z2, z3};
        for (int g = 0; g < RG; g++)
            for (int j = 0; j < JB; j++) {
                const int r = (rb + g) * JB + j;
                if (r < NR && rb + g < nrb) c[(size_t)r * O + o] = z[g][j];
            }
    }
}

/* Resample's constant part of fc layer l, c (NR, O): c[r][o] = the bias
 * plus the sum over the removed inputs i of output o, ascending, of
 * w[o][i] * a_l(r)[i], as plan_init's one-image loop adds it, for blocks of
 * JB find images at once (ref->act_t). Each output's removed inputs are
 * listed once; the groups of blocks are split among the threads in a fixed
 * way and each entry of c is written by one of them. With m NULL every
 * input counts (the full model's pre-activation, as ms_circuit_ref_init's
 * one-image loop sums it). Returns -1 when out of memory. */
static int resample_const(const ms_layout_t *L, const float *params, const uint8_t *m, int l,
                          const ms_circuit_ref_t *ref, double *c) {
    const int O = L->arch.fc_out[l], NI = L->fc_in[l], NR = ref->NF;
    const float *w = fc_w(L, params, l), *b = fc_b(L, params, l);
    long nrm = 0;
    for (size_t j = 0; j < (size_t)O * NI; j++)
        nrm += !m || !m[j];
    int *rs = malloc(sizeof(int) * (size_t)(O + 1)), *ri = malloc(sizeof(int) * (size_t)(nrm + 1));
    double *rw = malloc(sizeof(double) * (size_t)(nrm + 1)), *bias = malloc(sizeof(double) * O);
    if (!rs || !ri || !rw || !bias) {
        free(rs);
        free(ri);
        free(rw);
        free(bias);
        return -1;
    }
    long k = 0;
    for (int o = 0; o < O; o++) {
        rs[o] = (int)k;
        bias[o] = b ? (double)b[o] : 0.0;
        for (int i = 0; i < NI; i++)
            if (!m || !m[(size_t)o * NI + i]) {
                ri[k] = i;
                rw[k++] = (double)w[(size_t)o * NI + i];
            }
    }
    rs[O] = (int)k;
    const int ngr = ((NR + JB - 1) / JB + RG - 1) / RG, T = ms_kernels_threads();
    const vjb_t *at = (const vjb_t *)ref->act_t[l];
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1 && ngr > 1)
    for (int t = 0; t < T; t++)
        for (int gr = (int)((long)ngr * t / T); gr < (int)((long)ngr * (t + 1) / T); gr++)
            resample_group(O, NI, NR, rs, ri, rw, bias, at, gr * RG, c);
    free(rs);
    free(ri);
    free(rw);
    free(bias);
    return 0;
}

static int plan_init(plan_t *p, const ms_layout_t *L, const float *params, const uint8_t *mask,
                     int kind, const ms_circuit_ref_t *ref) {
    const ms_arch_t *a = &L->arch;
    memset(p, 0, sizeof *p);
    if (!mask) kind = MS_ABL_ZERO; /* nothing is removed */
    const int NR = kind == MS_ABL_RESAMPLE ? ref->NF : 1;
    size_t moff = 0;
    for (int l = 0; l < a->n_fc; l++) {
        const int O = a->fc_out[l], NI = L->fc_in[l];
        const float *w = fc_w(L, params, l), *b = fc_b(L, params, l);
        const uint8_t *m = mask ? mask + moff : NULL;
        long nnz = 0;
        for (size_t j = 0; j < (size_t)O * NI; j++)
            nnz += !m || m[j];
        p->row_start[l] = malloc(sizeof(int) * (size_t)(O + 1));
        p->idx[l] = malloc(sizeof(int) * (size_t)(nnz + 1));
        p->w[l] = malloc(sizeof(double) * (size_t)(nnz + 1));
        p->c[l] = malloc(sizeof(double) * (size_t)O * NR);
        if (!p->row_start[l] || !p->idx[l] || !p->w[l] || !p->c[l]) {
            plan_free(p);
            return ms_err_set(MS_ENOMEM, "circuit: out of memory for a masked model");
        }
        long k = 0;
        for (int o = 0; o < O; o++) {
            p->row_start[l][o] = (int)k;
            for (int i = 0; i < NI; i++)
                if (!m || m[(size_t)o * NI + i]) {
                    p->idx[l][k] = i;
                    p->w[l][k++] = (double)w[(size_t)o * NI + i];
                }
        }
        p->row_start[l][O] = (int)k;
        if (kind == MS_ABL_RESAMPLE && !ms__circuit_plan_scalar && ref->act_t[l]) {
            if (resample_const(L, params, m, l, ref, p->c[l])) {
                plan_free(p);
                return ms_err_set(MS_ENOMEM, "circuit: out of memory for a masked model");
            }
            moff += (size_t)O * NI;
            continue;
        }
        for (int r = 0; r < NR; r++) {
            const double *src = kind == MS_ABL_MEAN       ? ref->mean[l]
                                : kind == MS_ABL_RESAMPLE ? ref->act[l] + (size_t)r * NI
                                                          : NULL;
            for (int o = 0; o < O; o++) {
                double z = b ? (double)b[o] : 0.0;
                if (src)
                    for (int i = 0; i < NI; i++)
                        if (!m[(size_t)o * NI + i]) z += (double)w[(size_t)o * NI + i] * src[i];
                p->c[l][(size_t)r * O + o] = z;
            }
        }
        moff += (size_t)O * NI;
    }
    return 0;
}

/* One image's logits (NC) from its features h under a plan: the constant
 * part, then the kept weights times the masked model's input. ba, bb:
 * max_width doubles each. */
static void masked_forward(const ms_layout_t *L, const plan_t *p, int kind,
                           const ms_circuit_ref_t *ref, long id, const double *h, double *ba,
                           double *bb, double *logits) {
    const ms_arch_t *a = &L->arch;
    const double *in = h;
    double *out = ba;
    for (int l = 0; l < a->n_fc; l++) {
        const int O = a->fc_out[l];
        const double *c = p->c[l];
        if (kind == MS_ABL_RESAMPLE)
            c += (size_t)ms_circuit_resample_source(ref->seed, id, l, ref->NF) * O;
        const int *rs = p->row_start[l], *idx = p->idx[l];
        const double *w = p->w[l];
        const int last = l + 1 == a->n_fc;
        double *dst = last ? logits : out;
        for (int o = 0; o < O; o++) {
            double z = c[o];
            for (int k = rs[o]; k < rs[o + 1]; k++)
                z += w[k] * in[idx[k]];
            dst[o] = last ? z : (z > 0.0 ? z : 0.0);
        }
        in = out;
        out = out == ba ? bb : ba;
    }
}

/* The same pass for JB images at once, one image per vector lane: h (NI0,
 * JB) holds the features transposed (input i of lane j at h[i * JB + j]),
 * logits (NC, JB) receive them the same way. Each lane adds the same terms in
 * the same order as masked_forward, with a multiply and an add (never
 * contracted: -ffp-contract=off), so every clone gives masked_forward's bits
 * (tests/test_circuit.c compares them). ba, bb: max_width * JB doubles. */
MS_PRUNE_CLONES
static void masked_forward_block(const ms_layout_t *L, const plan_t *p, int kind,
                                 const ms_circuit_ref_t *ref, const long *id, const vjb_t *h,
                                 vjb_t *ba, vjb_t *bb, vjb_t *logits) {
    const ms_arch_t *a = &L->arch;
    const vjb_t *in = h;
    vjb_t *out = ba;
    for (int l = 0; l < a->n_fc; l++) {
        const int O = a->fc_out[l];
        const double *c[JB];
        for (int j = 0; j < JB; j++)
            c[j] = p->c[l] + (kind == MS_ABL_RESAMPLE
                                  ? (size_t)ms_circuit_resample_source(ref->seed, id[j], l,
                                                                       ref->NF) *
                                        O
                                  : 0);
        const int *rs = p->row_start[l], *idx = p->idx[l];
        const double *w = p->w[l];
        const int last = l + 1 == a->n_fc;
        vjb_t *dst = last ? logits : out;
        const vjb_t zero = {0};
        for (int o = 0; o < O; o++) {
            vjb_t z;
            for (int j = 0; j < JB; j++)
                z[j] = c[j][o];
            for (int k = rs[o]; k < rs[o + 1]; k++) {
                const vjb_t t = w[k] * in[idx[k]];
                z = z + t;
            }
            /* ReLU as masked_forward's z > 0 ? z : 0 (-0 and NaN give +0). */
            dst[o] = last ? z : (vjb_t)((vjbi_t)z & (z > zero));
        }
        in = out;
        out = out == ba ? bb : ba;
    }
}

/* Judges the nb images of one batch (features hs, nb rows) into the running
 * counts: blocks of JB images through masked_forward_block, or one image at
 * a time through masked_forward when ms__circuit_judge_scalar is set (the
 * reference the tests compare with). The blocks are split among the threads
 * in a fixed way and each image's logits land in its own row of z, which is
 * read in image order afterwards: the counts and the CE sum do not depend on
 * the number of threads. */
int ms__circuit_judge_scalar = 0;

typedef struct judge_buf {
    int threads;
    vjb_t *h, *ba, *bb; /* per thread: NI0, MW, MW vectors */
    double *sa, *sb;    /* per thread: MW doubles */
    double *z;          /* (batch, NC) logits */
} judge_buf_t;

static void judge_batch(const ms_layout_t *L, const plan_t *plan, int kind,
                        const ms_circuit_ref_t *ref, const double *hs, int nb, const long *ids,
                        const uint8_t *ys, int label, judge_buf_t *jb, long *correct,
                        int *class_n, double *ce) {
    const ms_arch_t *a = &L->arch;
    const int NC = a->fc_out[a->n_fc - 1], NI0 = L->fc_in[0], MW = max_width(L);
    const int nblk = (nb + JB - 1) / JB, T = jb->threads;
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
    for (int t = 0; t < T; t++) {
        vjb_t *h = jb->h + (size_t)t * NI0, *ba = jb->ba + (size_t)t * MW,
              *bb = jb->bb + (size_t)t * MW;
        double *sa = jb->sa + (size_t)t * MW, *sb = jb->sb + (size_t)t * MW;
        for (int blk = (int)((long)nblk * t / T); blk < (int)((long)nblk * (t + 1) / T); blk++) {
            const int n0 = blk * JB, nj = nb - n0 < JB ? nb - n0 : JB;
            if (ms__circuit_judge_scalar) {
                for (int j = 0; j < nj; j++)
                    masked_forward(L, plan, kind, ref, ids[n0 + j], hs + (size_t)(n0 + j) * NI0,
                                   sa, sb, jb->z + (size_t)(n0 + j) * NC);
                continue;
            }
            long id[JB];
            for (int j = 0; j < JB; j++) {
                const int n = n0 + (j < nj ? j : 0); /* idle lanes repeat the first image */
                id[j] = ids[n];
                const double *src = hs + (size_t)n * NI0;
                for (int i = 0; i < NI0; i++)
                    h[i][j] = src[i];
            }
            vjb_t lg[MS_MAX_CLASSES];
            masked_forward_block(L, plan, kind, ref, id, h, ba, bb, lg);
            for (int j = 0; j < nj; j++)
                for (int c = 0; c < NC; c++)
                    jb->z[(size_t)(n0 + j) * NC + c] = lg[c][j];
        }
    }
    for (int n = 0; n < nb; n++) {
        const double *z = jb->z + (size_t)n * NC;
        int best = 0;
        for (int c = 1; c < NC; c++)
            if (z[c] > z[best]) best = c;
        const int yc = ys[n];
        class_n[yc]++;
        correct[yc] += best == yc;
        if (yc == label) *ce += ms_canon_ce(z, NC, label);
    }
}

/* ---- the reference activations --------------------------------------------------------- */

void ms_circuit_ref_free(ms_circuit_ref_t *ref) {
    for (int l = 0; l < MS_MAX_FC; l++) {
        free(ref->act[l]);
        free(ref->mean[l]);
        free(ref->act_t[l]);
        ref->act[l] = ref->mean[l] = ref->act_t[l] = NULL;
    }
}

/* act_t[l] from act[l]. */
static void ref_blocks(ms_circuit_ref_t *ref, const ms_layout_t *L, int l) {
    const int NI = L->fc_in[l], NF = ref->NF, nrb = (NF + JB - 1) / JB;
    for (int rb = 0; rb < nrb; rb++)
        for (int i = 0; i < NI; i++)
            for (int j = 0; j < JB; j++) {
                const int f = rb * JB + j;
                ref->act_t[l][((size_t)rb * NI + i) * JB + j] =
                    f < NF ? ref->act[l][(size_t)f * NI + i] : 0.0;
            }
}

int ms_circuit_ref_init(ms_circuit_ref_t *ref, const ms_layout_t *L, const float *params,
                        const double *h0_find, int NF, uint64_t seed) {
    memset(ref, 0, sizeof *ref);
    if (NF < 1) return ms_err_set(MS_EINVAL, "circuit: the find set is empty");
    const ms_arch_t *a = &L->arch;
    ref->NF = NF;
    ref->seed = seed;
    for (int l = 0; l < a->n_fc; l++) {
        ref->act[l] = malloc(sizeof(double) * (size_t)NF * L->fc_in[l]);
        ref->mean[l] = calloc((size_t)L->fc_in[l], sizeof(double));
        if (!ref->act[l] || !ref->mean[l]) {
            ms_circuit_ref_free(ref);
            return ms_err_set(MS_ENOMEM, "circuit: cannot hold the find set's activations");
        }
    }
    memcpy(ref->act[0], h0_find, sizeof(double) * (size_t)NF * L->fc_in[0]);
    /* The activations in blocks of JB images (resample's plans and the pass
     * below read them). */
    const int nrb = (NF + JB - 1) / JB;
    for (int l = 0; l < a->n_fc; l++) {
        ref->act_t[l] = aligned_alloc(sizeof(vjb_t), sizeof(vjb_t) * (size_t)nrb * L->fc_in[l]);
        if (!ref->act_t[l]) {
            ms_circuit_ref_free(ref);
            return ms_err_set(MS_ENOMEM, "circuit: cannot hold the find set's activations");
        }
    }
    ref_blocks(ref, L, 0);
    /* The full model's hidden layers, layer by layer for every find image:
     * over blocks of images (the same sums in the same order), or one image
     * at a time when ms__circuit_plan_scalar is set. */
    for (int l = 0; l + 1 < a->n_fc; l++) {
        const int O = a->fc_out[l], NI = L->fc_in[l];
        const float *w = fc_w(L, params, l), *b = fc_b(L, params, l);
        if (!ms__circuit_plan_scalar) {
            double *out = ref->act[l + 1];
            if (resample_const(L, params, NULL, l, ref, out)) {
                ms_circuit_ref_free(ref);
                return ms_err_set(MS_ENOMEM, "circuit: cannot hold the find set's activations");
            }
            for (size_t j = 0; j < (size_t)NF * O; j++)
                out[j] = out[j] > 0.0 ? out[j] : 0.0;
            ref_blocks(ref, L, l + 1);
            continue;
        }
        for (int f = 0; f < NF; f++) {
            const double *in = ref->act[l] + (size_t)f * NI;
            double *out = ref->act[l + 1] + (size_t)f * O;
            for (int o = 0; o < O; o++) {
                double z = b ? (double)b[o] : 0.0;
                for (int i = 0; i < NI; i++)
                    z += (double)w[(size_t)o * NI + i] * in[i];
                out[o] = z > 0.0 ? z : 0.0;
            }
        }
        ref_blocks(ref, L, l + 1);
    }
    for (int l = 0; l < a->n_fc; l++) {
        const int NI = L->fc_in[l];
        for (int f = 0; f < NF; f++)
            for (int i = 0; i < NI; i++)
                ref->mean[l][i] += ref->act[l][(size_t)f * NI + i];
        for (int i = 0; i < NI; i++)
            ref->mean[l][i] /= NF;
    }
    return 0;
}

/* ---- judging ------------------------------------------------------------------------------ */

int ms_circuit_judge_many(const ms_layout_t *L, const float *params, int np,
                          const uint8_t *const *masks, const int *kinds,
                          const ms_circuit_ref_t *ref, const float *x, const int32_t *sel,
                          const double *h0, const uint8_t *y, const int32_t *ids, int N, int label,
                          ms_circuit_eval_t *outs) {
    const ms_arch_t *a = &L->arch;
    const int NI0 = L->fc_in[0];
    if (np < 1 || np > MS_CIRCUIT_MAX_JUDGE)
        return ms_err_set(MS_EINVAL, "circuit: %d masks judged at once (1 to %d)", np,
                          MS_CIRCUIT_MAX_JUDGE);
    int kind[MS_CIRCUIT_MAX_JUDGE];
    for (int q = 0; q < np; q++) {
        if (kinds[q] < 0 || kinds[q] >= MS_ABL_KINDS)
            return ms_err_set(MS_EINVAL, "circuit: unknown ablation kind %d", kinds[q]);
        if (masks[q] && kinds[q] != MS_ABL_ZERO && (!ref || ref->NF < 1))
            return ms_err_set(MS_EINVAL, "circuit: %s ablation needs the find set's activations",
                              kind_names[kinds[q]]);
        kind[q] = masks[q] ? kinds[q] : MS_ABL_ZERO;
    }
    const int MW = max_width(L);
    const int B = N < FEATURE_BATCH ? (N > 0 ? N : 1) : FEATURE_BATCH;
    const size_t D = (size_t)a->in_c * a->in_h * a->in_w;
    const int NC = a->fc_out[a->n_fc - 1];
    const size_t T = (size_t)ms_kernels_threads();
    judge_buf_t jb = {
        .threads = (int)T,
        .h = aligned_alloc(sizeof(vjb_t), sizeof(vjb_t) * T * (size_t)NI0),
        .ba = aligned_alloc(sizeof(vjb_t), sizeof(vjb_t) * T * (size_t)MW),
        .bb = aligned_alloc(sizeof(vjb_t), sizeof(vjb_t) * T * (size_t)MW),
        .sa = malloc(sizeof(double) * T * MW),
        .sb = malloc(sizeof(double) * T * MW),
        .z = malloc(sizeof(double) * (size_t)B * NC),
    };
    double *hb = h0 ? NULL : malloc(sizeof(double) * (size_t)B * NI0);
    float *xb = h0 || !sel ? NULL : malloc(sizeof(float) * (size_t)B * D);
    long *bid = malloc(sizeof(long) * (size_t)B);
    uint8_t *by = malloc((size_t)B);
    long correct[MS_CIRCUIT_MAX_JUDGE][MS_MAX_CLASSES] = {{0}};
    double ce[MS_CIRCUIT_MAX_JUDGE] = {0};
    int rc = 0;
    plan_t plan[MS_CIRCUIT_MAX_JUDGE];
    memset(plan, 0, sizeof plan);
    ms_net_t net;
    int net_ok = 0;
    for (int q = 0; q < np; q++)
        for (int c = 0; c < MS_MAX_CLASSES; c++)
            outs[q].class_n[c] = 0;
    if (!jb.h || !jb.ba || !jb.bb || !jb.sa || !jb.sb || !jb.z || (!h0 && !hb) ||
        (!h0 && sel && !xb) || !bid || !by) {
        rc = ms_err_set(MS_ENOMEM, "circuit: out of memory judging %d images", N);
        goto done;
    }
    for (int q = 0; q < np; q++)
        if ((rc = plan_init(&plan[q], L, params, masks[q], kind[q], ref))) goto done;
    if (!h0 && N > 0 && (rc = ms_net_init(&net, a, B, 0))) goto done;
    net_ok = !h0 && N > 0;
    /* Each batch's features are computed once and judged under every plan. */
    for (int b0 = 0; b0 < N; b0 += B) {
        const int nb = N - b0 < B ? N - b0 : B;
        const double *hs = h0 ? h0 + (size_t)b0 * NI0 : hb;
        if (!h0) {
            const float *xs = x + D * b0;
            if (sel) {
                for (int n = 0; n < nb; n++)
                    memcpy(xb + D * n, x + D * sel[b0 + n], sizeof(float) * D);
                xs = xb;
            }
            features_with(&net, params, xs, nb, hb);
        }
        for (int n = 0; n < nb; n++) {
            bid[n] = ids ? ids[b0 + n] : (sel ? sel[b0 + n] : b0 + n);
            by[n] = y[sel ? sel[b0 + n] : b0 + n];
        }
        for (int q = 0; q < np; q++)
            judge_batch(L, &plan[q], kind[q], ref, hs, nb, bid, by, label, &jb, correct[q],
                        outs[q].class_n, &ce[q]);
    }
    for (int q = 0; q < np; q++) {
        ms_circuit_eval_t *out = &outs[q];
        for (int c = 0; c < MS_MAX_CLASSES; c++)
            out->class_acc[c] = out->class_n[c] ? (double)correct[q][c] / out->class_n[c] : NAN;
        out->label_acc = out->class_acc[label];
        out->label_ce = out->class_n[label] ? ce[q] / out->class_n[label] : NAN;
    }
done:
    free(jb.h);
    free(jb.ba);
    free(jb.bb);
    free(jb.sa);
    free(jb.sb);
    free(jb.z);
    free(hb);
    free(xb);
    free(bid);
    free(by);
    for (int q = 0; q < np; q++)
        plan_free(&plan[q]);
    if (net_ok) ms_net_free(&net);
    return rc;
}

int ms_circuit_judge(const ms_layout_t *L, const float *params, const uint8_t *mask, int kind,
                     const ms_circuit_ref_t *ref, const float *x, const int32_t *sel,
                     const double *h0, const uint8_t *y, const int32_t *ids, int N, int label,
                     ms_circuit_eval_t *out) {
    return ms_circuit_judge_many(L, params, 1, &mask, &kind, ref, x, sel, h0, y, ids, N, label,
                                 out);
}

/* ---- scores (the gradients: circuit_grad.c) ------------------------------------------------- */

int ms_circuit_scores(const ms_layout_t *L, const float *params, int method, int ig_steps,
                      const double *h0_find, int NF, int label, double *score) {
    const int nf = L->arch.n_fc;
    const size_t NW = L->n_fc_weights;
    if (method < 0 || method >= MS_CM_METHODS)
        return ms_err_set(MS_EINVAL, "circuit: unknown method %d", method);
    if (method != MS_CM_MAGNITUDE && NF < 1)
        return ms_err_set(MS_EINVAL, "circuit: %s needs a non-empty find set",
                          method_names[method]);
    if (method == MS_CM_IG && ig_steps < 1)
        return ms_err_set(MS_EINVAL, "circuit: ig needs at least 1 step (got %d)", ig_steps);
    if (method == MS_CM_MAGNITUDE) {
        size_t j = 0;
        for (int l = 0; l < nf; l++) {
            const ms_tensor_t *t = &L->t[L->fc_weight[l]];
            for (size_t k = 0; k < t->n; k++)
                score[j++] = fabs((double)params[t->off + k]);
        }
        return 0;
    }
    double *g = malloc(sizeof(double) * NW);
    if (!g) return ms_err_set(MS_ENOMEM, "circuit: out of memory for scores");
    int rc = 0;
    const int steps = method == MS_CM_IG ? ig_steps : 1;
    for (size_t j = 0; j < NW; j++)
        score[j] = 0.0;
    for (int k = 1; k <= steps && !rc; k++) {
        const double alpha = method == MS_CM_IG ? (double)k / steps : 1.0;
        rc = ms_circuit_grad(L, params, alpha, h0_find, NF, label, g);
        for (size_t j = 0; j < NW && !rc; j++)
            score[j] += g[j];
    }
    if (!rc) {
        size_t j = 0;
        for (int l = 0; l < nf; l++) {
            const ms_tensor_t *t = &L->t[L->fc_weight[l]];
            for (size_t k = 0; k < t->n; k++, j++)
                score[j] = fabs((double)params[t->off + k] * (score[j] / steps));
        }
    }
    free(g);
    return rc;
}

typedef struct scored {
    double s;
    long i;
} scored_t;

/* Higher score first, then the lower index; NaN scores last. */
static int by_score(const void *pa, const void *pb) {
    const scored_t *a = pa, *b = pb;
    const int na = isnan(a->s), nb = isnan(b->s);
    if (na != nb) return na - nb;
    if (!na && a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

int ms_circuit_select(const ms_layout_t *L, const double *score, const long *kept, uint8_t *mask) {
    size_t off = 0, maxn = 0;
    for (int l = 0; l < L->arch.n_fc; l++)
        if (L->t[L->fc_weight[l]].n > maxn) maxn = L->t[L->fc_weight[l]].n;
    scored_t *v = malloc(sizeof(scored_t) * (maxn ? maxn : 1));
    if (!v) return ms_err_set(MS_ENOMEM, "circuit: out of memory selecting a mask");
    for (int l = 0; l < L->arch.n_fc; l++) {
        const long n = (long)L->t[L->fc_weight[l]].n;
        if (kept[l] < 0 || kept[l] > n) {
            free(v);
            return ms_err_set(MS_EINVAL, "circuit: fc%d keeps %ld of %ld weights", l + 1, kept[l],
                              n);
        }
        for (long k = 0; k < n; k++)
            v[k] = (scored_t){score[off + k], k};
        qsort(v, (size_t)n, sizeof(scored_t), by_score);
        memset(mask + off, 0, (size_t)n);
        for (long k = 0; k < kept[l]; k++)
            mask[off + v[k].i] = 1;
        off += (size_t)n;
    }
    free(v);
    return 0;
}

void ms_circuit_jaccard(const ms_layout_t *L, const uint8_t *a, const uint8_t *b, double *jac) {
    size_t off = 0;
    for (int l = 0; l < L->arch.n_fc; l++) {
        const size_t n = L->t[L->fc_weight[l]].n;
        long both = 0, any = 0;
        for (size_t k = 0; k < n; k++) {
            both += a[off + k] && b[off + k];
            any += a[off + k] || b[off + k];
        }
        jac[l] = any ? (double)both / (double)any : 1.0;
        off += n;
    }
}

double ms_circuit_faithfulness(double ce, double ce_full, double ce_empty) {
    const double den = ce_empty - ce_full;
    if (!(den != 0.0) || isnan(ce)) return NAN;
    return (ce_empty - ce) / den;
}

void ms_circuit_size_counts(const ms_layout_t *L, uint32_t layers, double fraction, long *kept) {
    for (int l = 0; l < L->arch.n_fc; l++) {
        const long n = (long)L->t[L->fc_weight[l]].n;
        if (layers >> l & 1u) {
            long k = lround(fraction * (double)n);
            kept[l] = k < 0 ? 0 : (k > n ? n : k);
        } else {
            kept[l] = n;
        }
    }
}

void ms_circuit_sets(const uint8_t *y_test, int n_test, const uint8_t *y_train, int n_train,
                     int label, int find_train, int samples, int32_t *find, int *NF, int32_t *held,
                     int *NH) {
    const uint8_t *yf = find_train ? y_train : y_test;
    const int nf = find_train ? n_train : n_test;
    int k = 0, h = 0;
    /* A test image is in the find set iff it is one of the label's first `samples`. */
    for (int n = 0; n < nf; n++)
        if (yf[n] == label && (samples <= 0 || k < samples)) find[k++] = n;
    int seen = 0;
    for (int n = 0; n < n_test; n++) {
        int in_find = 0;
        if (!find_train && y_test[n] == label) in_find = samples <= 0 || seen++ < samples;
        if (!in_find) held[h++] = n;
    }
    *NF = k;
    *NH = h;
}

/* ---- the assessment of one (model, label) -------------------------------------------------------
 */

static void report_init(ms_circuit_report_t *r) {
    uint8_t *keep[MS_CM_METHODS];
    memcpy(keep, r->method_mask, sizeof keep);
    memset(r, 0, sizeof *r);
    memcpy(r->method_mask, keep, sizeof keep);
    r->full_find_ce = NAN;
    r->full_find_acc = NAN;
    for (int k = 0; k < MS_ABL_KINDS; k++) {
        r->exact_find_ce[k] = r->exact_find_acc[k] = r->empty_heldout_ce[k] = NAN;
        r->empty_find_ce[k] = r->exact_faith[k] = r->exact_find_faith[k] = NAN;
        for (int c = 0; c < MS_MAX_CLASSES; c++)
            r->exact_heldout[k].class_acc[c] = NAN;
        r->exact_heldout[k].label_acc = r->exact_heldout[k].label_ce = NAN;
    }
    for (int c = 0; c < MS_MAX_CLASSES; c++)
        r->full_heldout.class_acc[c] = NAN;
    r->full_heldout.label_acc = r->full_heldout.label_ce = NAN;
    for (int m = 0; m < MS_CM_METHODS; m++) {
        r->method_seconds[m] = NAN;
        for (int l = 0; l < MS_MAX_FC; l++)
            r->jaccard[m][l] = NAN;
        for (int k = 0; k < MS_ABL_KINDS; k++)
            r->method_ce[m][k] = r->method_acc[m][k] = r->method_faith[m][k] = NAN;
        for (int s = 0; s < MS_CIRCUIT_MAX_SIZES; s++)
            for (int k = 0; k < MS_ABL_KINDS; k++)
                r->size_faith[m][s][k] = NAN;
    }
    for (int s = 0; s < MS_CIRCUIT_MAX_SIZES; s++)
        r->size_ecs[s] = NAN;
}

int ms_circuit_assess(const ms_layout_t *L, const float *params, const uint8_t *exact,
                      const ms_circuit_cfg_t *cfg, const double *h0_find, int NF, const float *x,
                      const uint8_t *y, const int32_t *held, int N, ms_circuit_report_t *rep) {
    const double t0 = now_s();
    const ms_arch_t *a = &L->arch;
    const int nf = a->n_fc, NI0 = L->fc_in[0], label = cfg->label;
    const size_t NW = L->n_fc_weights, D = (size_t)a->in_c * a->in_h * a->in_w;
    report_init(rep);
    if (NF < 1) return ms_err_set(MS_EINVAL, "circuit: label %d has an empty find set", label);
    if (cfg->n_sizes < 0 || cfg->n_sizes > MS_CIRCUIT_MAX_SIZES)
        return ms_err_set(MS_EINVAL, "circuit: %d sizes (at most %d)", cfg->n_sizes,
                          MS_CIRCUIT_MAX_SIZES);
    rep->find_n = NF;
    rep->heldout_n = N;
    int NH = 0;
    for (int n = 0; n < N; n++)
        NH += y[held[n]] == label;
    rep->heldout_label_n = NH;
    ms_circuit_ref_t ref = {0};
    uint8_t *yf = malloc((size_t)NF), *yh = malloc((size_t)(NH ? NH : 1));
    uint8_t *empty = malloc(NW), *mask = malloc(NW);
    int32_t *idh = malloc(sizeof(int32_t) * (size_t)(NH ? NH : 1));
    float *xh = malloc(sizeof(float) * D * (size_t)(NH ? NH : 1));
    double *hh = malloc(sizeof(double) * (size_t)NI0 * (NH ? NH : 1));
    double *score = malloc(sizeof(double) * NW);
    int rc = 0;
    if (!yf || !yh || !empty || !mask || !idh || !xh || !hh || !score) {
        rc = ms_err_set(MS_ENOMEM, "circuit: out of memory assessing label %d", label);
        goto done;
    }
    memset(yf, label, (size_t)NF);
    memset(yh, label, (size_t)(NH ? NH : 1));
    /* The held-out images of the label, whose features every mask is judged on. */
    for (int n = 0, j = 0; n < N; n++)
        if (y[held[n]] == label) {
            memcpy(xh + D * j, x + D * held[n], sizeof(float) * D);
            idh[j++] = held[n];
        }
    if ((rc = ms_circuit_features(L, params, xh, NH, hh))) goto done;
    /* The empty circuit: every weight of the pruned layers removed. */
    {
        size_t off = 0;
        for (int l = 0; l < nf; l++) {
            const size_t n = L->t[L->fc_weight[l]].n;
            memset(empty + off, (cfg->layers >> l & 1u) ? 0 : 1, n);
            off += n;
        }
    }
    if (cfg->kinds & ((1u << MS_ABL_MEAN) | (1u << MS_ABL_RESAMPLE)))
        if ((rc = ms_circuit_ref_init(&ref, L, params, cfg->ref_h0 ? cfg->ref_h0 : h0_find,
                                      cfg->ref_h0 ? cfg->ref_n : NF, cfg->seed)))
            goto done;
    ms_circuit_eval_t e;
    if ((rc = ms_circuit_judge(L, params, NULL, MS_ABL_ZERO, NULL, NULL, NULL, h0_find, yf, NULL,
                               NF, label, &e)))
        goto done;
    rep->full_find_ce = e.label_ce;
    rep->full_find_acc = e.label_acc;
    /* The full model and the exact circuit under each kind on the held-out
     * images, in one pass over their features. */
    {
        const uint8_t *jm[1 + MS_ABL_KINDS] = {NULL};
        int jk[1 + MS_ABL_KINDS] = {MS_ABL_ZERO}, jn = 1;
        ms_circuit_eval_t je[1 + MS_ABL_KINDS];
        for (int k = 0; k < MS_ABL_KINDS; k++)
            if (cfg->kinds >> k & 1u) jm[jn] = exact, jk[jn++] = k;
        if ((rc = ms_circuit_judge_many(L, params, jn, jm, jk, &ref, x, held, NULL, y, NULL, N,
                                        label, je)))
            goto done;
        rep->full_heldout = je[0];
        for (int q = 1; q < jn; q++)
            rep->exact_heldout[jk[q]] = je[q];
    }
    const double full_ce = rep->full_heldout.label_ce;
    for (int k = 0; k < MS_ABL_KINDS; k++) {
        if (!(cfg->kinds >> k & 1u)) continue;
        if ((rc = ms_circuit_judge(L, params, exact, k, &ref, NULL, NULL, h0_find, yf, NULL, NF,
                                   label, &e)))
            goto done;
        rep->exact_find_ce[k] = e.label_ce;
        rep->exact_find_acc[k] = e.label_acc;
        if ((rc = ms_circuit_judge(L, params, empty, k, &ref, NULL, NULL, h0_find, yf, NULL, NF,
                                   label, &e)))
            goto done;
        rep->empty_find_ce[k] = e.label_ce;
        if ((rc = ms_circuit_judge(L, params, empty, k, &ref, NULL, NULL, hh, yh, idh, NH, label,
                                   &e)))
            goto done;
        rep->empty_heldout_ce[k] = e.label_ce;
        rep->exact_faith[k] = ms_circuit_faithfulness(rep->exact_heldout[k].label_ce, full_ce,
                                                      rep->empty_heldout_ce[k]);
        rep->exact_find_faith[k] = ms_circuit_faithfulness(rep->exact_find_ce[k], rep->full_find_ce,
                                                           rep->empty_find_ce[k]);
    }
    long kept[MS_MAX_FC];
    {
        size_t off = 0;
        for (int l = 0; l < nf; l++) {
            const size_t n = L->t[L->fc_weight[l]].n;
            kept[l] = 0;
            for (size_t j = 0; j < n; j++)
                kept[l] += exact[off + j] != 0;
            off += n;
        }
    }
    for (int s = 0; s < cfg->n_sizes; s++) {
        long ks[MS_MAX_FC], all = 0;
        ms_circuit_size_counts(L, cfg->layers, cfg->sizes[s], ks);
        for (int l = 0; l < nf; l++)
            all += ks[l];
        rep->size_ecs[s] = (double)all / (double)NW;
    }
    for (int m = 0; m < MS_CM_METHODS; m++) {
        if (!(cfg->methods >> m & 1u)) continue;
        uint8_t *mm = rep->method_mask[m] ? rep->method_mask[m] : mask;
        const double tm = now_s();
        if ((rc = ms_circuit_scores(L, params, m, cfg->ig_steps, h0_find, NF, label, score)))
            goto done;
        if ((rc = ms_circuit_select(L, score, kept, mm))) goto done;
        rep->method_seconds[m] = now_s() - tm;
        ms_circuit_jaccard(L, mm, exact, rep->jaccard[m]);
        for (int k = 0; k < MS_ABL_KINDS; k++) {
            if (!(cfg->kinds >> k & 1u)) continue;
            if ((rc = ms_circuit_judge(L, params, mm, k, &ref, NULL, NULL, hh, yh, idh, NH, label,
                                       &e)))
                goto done;
            rep->method_ce[m][k] = e.label_ce;
            rep->method_acc[m][k] = e.label_acc;
            rep->method_faith[m][k] =
                ms_circuit_faithfulness(e.label_ce, full_ce, rep->empty_heldout_ce[k]);
        }
        for (int s = 0; s < cfg->n_sizes; s++) {
            long ks[MS_MAX_FC];
            ms_circuit_size_counts(L, cfg->layers, cfg->sizes[s], ks);
            if ((rc = ms_circuit_select(L, score, ks, mask))) goto done;
            for (int k = 0; k < MS_ABL_KINDS; k++) {
                if (!(cfg->kinds >> k & 1u)) continue;
                if ((rc = ms_circuit_judge(L, params, mask, k, &ref, NULL, NULL, hh, yh, idh, NH,
                                           label, &e)))
                    goto done;
                rep->size_faith[m][s][k] =
                    ms_circuit_faithfulness(e.label_ce, full_ce, rep->empty_heldout_ce[k]);
            }
        }
    }
done:
    ms_circuit_ref_free(&ref);
    free(yf);
    free(yh);
    free(empty);
    free(mask);
    free(idh);
    free(xh);
    free(hh);
    free(score);
    rep->seconds = now_s() - t0;
    return rc;
}
