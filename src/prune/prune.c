/* Exact greedy per-weight pruning (prune.h): the canonical evaluation, the
 * naive reference loop, and the fast windowed algorithm that reproduces it
 * bit for bit. The fast path's row tree and its vectorised forward pass are
 * in rowtree.c.
 *
 * Dimension letters: N samples (the label's images), NI inputs and O outputs
 * of an fc layer, NC classes, B window length (candidate states).
 *
 * Built with -ffp-contract=off (CMakeLists.txt): every a * b + c below is a
 * rounded product then a rounded sum, as the canonical evaluation defines. */
#include "modsweep/prune.h"
#include "modsweep/canon.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"

#include "clones.h"
#include "cone.h"
#include "rowtree.h"
#include "window.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef ms_i128 i128;

/* ---- exp and log in plain double arithmetic (canon.h) ---------------------------- */

double ms_exact_exp(double x) { return ms_canon_exp(x); }

double ms_exact_log(double x) { return ms_canon_log(x); }

/* ---- the canonical evaluation ------------------------------------------------------ */

static double fixed_to_double(i128 q) { return (double)q / 9007199254740992.0; }

/* The canonical pre-activation of one fc row: bias plus the pairwise tree
 * sum of the terms w[i] * h[i]. The tree is fixed by the input indices alone:
 * level 0 holds the terms, a term whose weight is 0 being absent; node t of
 * level k + 1 combines nodes 2t and 2t + 1 of level k into left + right when
 * both are present, the present one when only one is, and is absent when
 * neither is. z = bias + root (bias alone when the root is absent); without a
 * bias, z = root (or 0). Zeroing one weight changes only the nodes above it,
 * which is what lets the fast path update a row in O(log NI) per sample.
 * buf (NI doubles) and pres (NI bytes) are scratch. */
static double row_tree(const float *w, const double *h, int NI, const float *bias, double *buf,
                       uint8_t *pres) {
    int n = NI, present = 0;
    for (int i = 0; i < NI; i++) {
        pres[i] = w[i] != 0.0f;
        present += pres[i];
        buf[i] = pres[i] ? (double)w[i] * h[i] : 0.0;
    }
    if (present == NI) {
        /* No absent leaf: the same pairs, without presence tests. */
        while (n > 1) {
            const int m = n / 2;
            for (int t = 0; t < m; t++) buf[t] = buf[2 * t] + buf[2 * t + 1];
            if (n & 1) buf[m] = buf[n - 1];
            n = (n + 1) / 2;
        }
        const double root = NI > 0 ? buf[0] : 0.0;
        if (bias) return NI > 0 ? (double)*bias + root : (double)*bias;
        return root;
    }
    while (n > 1) {
        const int m = (n + 1) / 2;
        for (int t = 0; t < m; t++) {
            const int a = 2 * t, b = 2 * t + 1;
            const int pa = pres[a], pb = b < n && pres[b];
            if (pa && pb)
                buf[t] = buf[a] + buf[b];
            else if (pb)
                buf[t] = buf[b];
            else
                buf[t] = buf[a]; /* present, or absent (then unused) */
            pres[t] = (uint8_t)(pa || pb);
        }
        n = m;
    }
    const int root = NI > 0 && pres[0];
    if (bias) return root ? (double)*bias + buf[0] : (double)*bias;
    return root ? buf[0] : 0.0;
}

/* 2x2 max pooling of F planes (HO, WO) into (PH, PW), the first maximum. */
static void pool_2x2(const double *out, int F, int HO, int WO, int PH, int PW, double *in) {
    for (int f = 0; f < F; f++)
        for (int py = 0; py < PH; py++)
            for (int px = 0; px < PW; px++) {
                const double *o = out + ((size_t)f * HO + 2 * py) * WO + 2 * px;
                double m = o[0];
                if (o[1] > m) m = o[1];
                if (o[WO] > m) m = o[WO];
                if (o[WO + 1] > m) m = o[WO + 1];
                in[((size_t)f * PH + py) * PW + px] = m;
            }
}

/* The conv part (if any) of every image in double, canonical order: bias,
 * then taps (c, ky, kx) ascending; ReLU; 2x2 max pooling (first maximum).
 * Writes the fc input features h0 (N, NI0). */
static int canonical_features(const ms_layout_t *L, const float *params, const float *x, int N,
                              double *h0) {
    const ms_arch_t *a = &L->arch;
    const size_t D = (size_t)a->in_c * a->in_h * a->in_w;
    if (a->n_conv == 0) {
        for (size_t j = 0; j < (size_t)N * D; j++) h0[j] = (double)x[j];
        return 0;
    }
    size_t maxbuf = D;
    for (int l = 0; l < a->n_conv; l++) {
        size_t s = (size_t)a->conv_c[l] * L->conv_h[l] * L->conv_w[l];
        if (s > maxbuf) maxbuf = s;
    }
    double *in = malloc(sizeof(double) * maxbuf), *out = malloc(sizeof(double) * maxbuf);
    if (!in || !out) {
        free(in);
        free(out);
        return ms_err_set(MS_ENOMEM, "pruning: cannot allocate conv buffers");
    }
    const int K = a->conv_k, P = a->conv_pad;
    for (int n = 0; n < N; n++) {
        for (size_t j = 0; j < D; j++) in[j] = (double)x[(size_t)n * D + j];
        int C = a->in_c, H = a->in_h, W = a->in_w;
        for (int l = 0; l < a->n_conv; l++) {
            const int F = a->conv_c[l], HO = L->conv_h[l], WO = L->conv_w[l];
            const float *w = params + L->t[L->conv_weight[l]].off;
            const float *b = L->conv_bias_t[l] >= 0 ? params + L->t[L->conv_bias_t[l]].off : NULL;
            for (int f = 0; f < F; f++)
                for (int y = 0; y < HO; y++)
                    for (int xo = 0; xo < WO; xo++)
                        out[((size_t)f * HO + y) * WO + xo] =
                            relu_d(ms_canon_conv_at(in, w, b, C, H, W, K, P, f, y, xo));
            const int PH = L->pool_h[l], PW = L->pool_w[l];
            pool_2x2(out, F, HO, WO, PH, PW, in);
            C = F;
            H = PH;
            W = PW;
        }
        const size_t NI0 = (size_t)L->fc_in[0];
        memcpy(h0 + (size_t)n * NI0, in, sizeof(double) * NI0);
    }
    free(in);
    free(out);
    return 0;
}

/* canonical_features of the fast path, bitwise the same, written with the
 * sample index last, h0T (NI0, N), as the row trees read it: each output
 * position's taps (c, ky, kx) ascending with the filters in vector lanes
 * (which taps fall in the padding depends on the position only, so every
 * lane adds exactly the terms of ms_canon_conv_at, in its order), the images
 * split among the threads; cloned per instruction set (clones.h). Checked
 * against canonical_features by test_prune (the naive loop, which uses
 * canonical_features, must give the same L0, losses and masks on CNNs). */
MS_PRUNE_CLONES
static int features_fast(const ms_layout_t *L, const float *params, const float *x, int N,
                         double *h0T) {
    const ms_arch_t *a = &L->arch;
    const size_t D = (size_t)a->in_c * a->in_h * a->in_w;
    if (a->n_conv == 0) {
        for (int n = 0; n < N; n++)
            for (size_t j = 0; j < D; j++)
                h0T[j * (size_t)N + n] = (double)x[(size_t)n * D + j];
        return 0;
    }
    const int K = a->conv_k, P = a->conv_pad;
    size_t maxbuf = D, nwt = 0;
    int maxF = 0;
    for (int l = 0; l < a->n_conv; l++) {
        const size_t s = (size_t)a->conv_c[l] * L->conv_h[l] * L->conv_w[l];
        if (s > maxbuf) maxbuf = s;
        if (a->conv_c[l] > maxF) maxF = a->conv_c[l];
        nwt += L->t[L->conv_weight[l]].n;
    }
    /* The weights as doubles, filter index last: wt[l][(c, ky, kx)][f]. */
    double *wt = malloc(sizeof(double) * nwt);
    const int nth = ms_kernels_threads();
    double *bufs = malloc(sizeof(double) * (2 * maxbuf + (size_t)maxF) * (size_t)nth);
    if (!wt || !bufs) {
        free(wt);
        free(bufs);
        return ms_err_set(MS_ENOMEM, "pruning: cannot allocate conv buffers");
    }
    double *wl[MS_MAX_CONV];
    size_t off = 0;
    for (int l = 0, C = a->in_c; l < a->n_conv; l++) {
        const int F = a->conv_c[l], T = C * K * K;
        const float *w = params + L->t[L->conv_weight[l]].off;
        wl[l] = wt + off;
        for (int f = 0; f < F; f++)
            for (int tp = 0; tp < T; tp++) wl[l][(size_t)tp * F + f] = (double)w[(size_t)f * T + tp];
        off += (size_t)F * T;
        C = F;
    }
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && N > 1)
    for (int n = 0; n < N; n++) {
        int me = 0;
#ifdef _OPENMP
        me = omp_get_thread_num();
#endif
        double *in = bufs + (2 * maxbuf + (size_t)maxF) * (size_t)me, *out = in + maxbuf,
               *acc = out + maxbuf;
        for (size_t j = 0; j < D; j++) in[j] = (double)x[(size_t)n * D + j];
        int C = a->in_c, H = a->in_h, W = a->in_w;
        for (int l = 0; l < a->n_conv; l++) {
            const int F = a->conv_c[l], HO = L->conv_h[l], WO = L->conv_w[l];
            const float *b = L->conv_bias_t[l] >= 0 ? params + L->t[L->conv_bias_t[l]].off : NULL;
            for (int y = 0; y < HO; y++)
                for (int xo = 0; xo < WO; xo++) {
                    for (int f = 0; f < F; f++) acc[f] = b ? (double)b[f] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++) {
                            const int yy = y + ky - P;
                            if (yy < 0 || yy >= H) continue;
                            for (int kx = 0; kx < K; kx++) {
                                const int xx = xo + kx - P;
                                if (xx < 0 || xx >= W) continue;
                                const double v = in[((size_t)c * H + yy) * W + xx];
                                const double *wf = wl[l] + ((size_t)(c * K + ky) * K + kx) * F;
                                for (int f = 0; f < F; f++) acc[f] = acc[f] + wf[f] * v;
                            }
                        }
                    for (int f = 0; f < F; f++)
                        out[((size_t)f * HO + y) * WO + xo] = relu_d(acc[f]);
                }
            const int PH = L->pool_h[l], PW = L->pool_w[l];
            pool_2x2(out, F, HO, WO, PH, PW, in);
            C = F;
            H = PH;
            W = PW;
        }
        for (int i = 0; i < L->fc_in[0]; i++)
            h0T[(size_t)i * N + n] = in[i];
    }
    free(wt);
    free(bufs);
    return 0;
}

/* Scratch of row_tree: NI doubles and NI bytes for the widest layer. */
typedef struct tree_scratch {
    double *buf;
    uint8_t *pres;
} tree_scratch_t;

static int max_width(const ms_layout_t *L) {
    int m = L->arch.fc_out[0];
    for (int l = 0; l < L->arch.n_fc; l++) {
        if (L->fc_in[l] > m) m = L->fc_in[l];
        if (L->arch.fc_out[l] > m) m = L->arch.fc_out[l];
    }
    return m;
}

static int scratch_init(tree_scratch_t *t, int width) {
    t->buf = malloc(sizeof(double) * (size_t)width);
    t->pres = malloc((size_t)width);
    return t->buf && t->pres ? 0 : ms_err_set(MS_ENOMEM, "pruning: out of memory");
}
static void scratch_free(tree_scratch_t *t) {
    free(t->buf);
    free(t->pres);
}

/* One canonical fc row o of layer l on input h. */
static inline double fc_row(const ms_layout_t *L, const float *w, int l, int o, const double *h,
                            tree_scratch_t *t) {
    const int NI = L->fc_in[l];
    const float *b = fc_bias(L, w, l);
    return row_tree(w + L->t[L->fc_weight[l]].off + (size_t)o * NI, h, NI, b ? b + o : NULL,
                    t->buf, t->pres);
}

/* Canonical forward of fc layers first..n_fc-1 for one sample whose input to
 * layer `first` is h, with the weights w (pruned ones zeroed). Returns the
 * sample's loss. ba, bb: max_width doubles each. */
static double canonical_tail(const ms_layout_t *L, const float *w, int first, const double *h,
                             int label, double *ba, double *bb, tree_scratch_t *t) {
    const ms_arch_t *a = &L->arch;
    const double *in = h;
    double *out = ba;
    for (int l = first; l < a->n_fc; l++) {
        for (int o = 0; o < a->fc_out[l]; o++) {
            const double z = fc_row(L, w, l, o, in, t);
            out[o] = l + 1 < a->n_fc ? relu_d(z) : z;
        }
        in = out;
        out = out == ba ? bb : ba;
    }
    return ms_canon_ce(in, a->fc_out[a->n_fc - 1], label);
}

/* Pre-activations z (N, O) of layer l and, if hout is not NULL, their ReLU,
 * for all samples whose input is hin (N, NI). */
static void canonical_layer(const ms_layout_t *L, const float *w, int l, int N, const double *hin,
                            double *z, double *hout, tree_scratch_t *t) {
    const int O = L->arch.fc_out[l], NI = L->fc_in[l];
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            const double v = fc_row(L, w, l, o, hin + (size_t)n * NI, t);
            if (z) z[(size_t)n * O + o] = v;
            if (hout) hout[(size_t)n * O + o] = relu_d(v);
        }
}

void ms_prune_apply_mask(const ms_layout_t *L, float *params, const uint8_t *mask) {
    size_t off = 0;
    for (int l = 0; l < L->arch.n_fc; l++) {
        const ms_tensor_t *t = &L->t[L->fc_weight[l]];
        for (size_t j = 0; j < t->n; j++)
            if (!mask[off + j]) params[t->off + j] = 0.0f;
        off += t->n;
    }
}

double ms_prune_canonical_loss(const ms_layout_t *L, const float *params, const uint8_t *mask,
                               const float *x, int N, int label) {
    const int MW = max_width(L);
    float *w = malloc(sizeof(float) * L->n_params);
    double *h0 = malloc(sizeof(double) * (size_t)N * L->fc_in[0]);
    double *ba = malloc(sizeof(double) * MW), *bb = malloc(sizeof(double) * MW);
    tree_scratch_t t;
    double result = NAN;
    if (scratch_init(&t, MW) == 0 && w && h0 && ba && bb) {
        memcpy(w, params, sizeof(float) * L->n_params);
        if (mask) ms_prune_apply_mask(L, w, mask);
        if (canonical_features(L, w, x, N, h0) == 0) {
            i128 s = 0;
            for (int n = 0; n < N; n++)
                s += ms_canon_fixed_loss(
                    canonical_tail(L, w, 0, h0 + (size_t)n * L->fc_in[0], label, ba, bb, &t));
            result = fixed_to_double(s) / N;
        }
    }
    scratch_free(&t);
    free(w);
    free(h0);
    free(ba);
    free(bb);
    return result;
}

/* ---- shared state of a pruning run ----------------------------------------------- */

typedef struct prune_run {
    const ms_layout_t *L;
    const ms_prune_cfg_t *cfg;
    int N, NC, nf;
    float *w;               /* current weights (pruned ones zeroed) */
    double *hin[MS_MAX_FC]; /* (N, NI_l) input of fc layer l (naive path) */
    /* The fast path's state, sample index last (one vector lane per sample): */
    double *hinT[MS_MAX_FC]; /* (NI_l, N) input of fc layer l */
    double *logT;            /* (NC, N) logits */
    i128 *q;                 /* (N) fixed-point losses */
    i128 s_cur, s0, tie_tol;
    long ties, evaluated, windows;
    double *ba, *bb;        /* per-sample scratch */
    tree_scratch_t ts;
} prune_run_t;

static int tie(const prune_run_t *r, i128 s) {
    i128 d = s - r->s0;
    if (d < 0) d = -d;
    return d < r->tie_tol;
}

/* ---- the naive reference ------------------------------------------------------------ */

/* Visits every candidate of layer l: zero it, evaluate all samples from the
 * cached input of layer l with a plain canonical forward, restore it if the
 * loss rose above L0. */
static void naive_layer(prune_run_t *r, int l, uint8_t *mask) {
    const ms_layout_t *L = r->L;
    const int O = L->arch.fc_out[l], NI = L->fc_in[l];
    float *wl = r->w + L->t[L->fc_weight[l]].off;
    for (int o = 0; o < O; o++) {
        for (int i = 0; i < NI; i++) {
            const size_t wi = (size_t)o * NI + i;
            const float keep = wl[wi];
            wl[wi] = 0.0f;
            i128 s = 0;
            for (int n = 0; n < r->N; n++)
                s += ms_canon_fixed_loss(canonical_tail(L, r->w, l, r->hin[l] + (size_t)n * NI,
                                                        r->cfg->label, r->ba, r->bb, &r->ts));
            r->evaluated++;
            if (tie(r, s)) r->ties++;
            if (s > r->s0) {
                wl[wi] = keep;
                mask[wi] = 1;
            } else {
                mask[wi] = 0;
            }
        }
    }
}

/* ---- the fast path: one layer ------------------------------------------------------- */

/* The threads of a layer share the samples out in parts (cone.h), one part
 * per thread, and walk every window's states together: each evaluates a
 * state on its own part (its own view of the row tree, its own blocks of
 * the cone) and publishes its share of the loss change; each decides from
 * the published shares, state by state, and runs ahead on the next states
 * meanwhile, so no thread waits for another within a window. Every thread
 * reaches the same decisions, so each closes the window on its own: it
 * commits the accepted zeroings to its own view (its own presence counts
 * and flags, its own samples' node values), and thread 0 keeps the books
 * and the mask; threads meet only at the end of a row. The committed
 * state's downstream is not evaluated again:
 * each part's memo (the last state it walked) carries over to the next
 * window, whose first share counts from it plus what it stands away from the
 * committed state, a sum of the part's shares of the states after the last
 * accepted one. The row's final state is evaluated once against its start,
 * and must agree with the sum of the accepted shares. With a team of ranks
 * (each walks only its share of a window's states) the threads meet after
 * every window (the team's first failure comes from MPI), and the committed
 * state is evaluated instead. The shares are integers, so the sums do not
 * depend on the split. */
typedef struct post {
    _Atomic long done; /* the last state posted: a stamp that only grows */
    char pad[64 - sizeof(long)];
} post_t;

static void cpu_relax(int *spins) {
    if (++*spins > 200) {
        *spins = 0;
        sched_yield(); /* more threads than cores: let the others run */
    } else {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

/* Whether every part has posted the state with stamp need (wait: until). */
static int all_posted(post_t *prog, int np, long need, int wait) {
    for (int k = 0; k < np; k++) {
        int spins = 0;
        while (atomic_load_explicit(&prog[k].done, memory_order_acquire) < need) {
            if (!wait) return 0;
            cpu_relax(&spins);
        }
    }
    return 1;
}

/* Where a window's decisions stand: the last state decided, the loss sum
 * there, and the first failing state (Bw + 1 while none). */
typedef struct window_dec {
    int dec, fail, Bw;
    i128 s;
} window_dec_t;

/* Decides, in order, the states up to last that every part has posted
 * (waiting for their posts when wait), until one fails. Thread 0 records
 * the ties (tie_flag; NULL on the others). */
static void decide(window_dec_t *wd, const prune_run_t *r, post_t *prog, i128 (*share)[BMAX + 2],
                   int np, long stamp, int last, int wait, uint8_t *tie_flag) {
    while (wd->fail > wd->Bw && wd->dec < last && all_posted(prog, np, stamp + wd->dec + 1, wait)) {
        wd->dec++;
        for (int k = 0; k < np; k++) wd->s += share[k][wd->dec];
        if (tie_flag) tie_flag[wd->dec] = (uint8_t)tie(r, wd->s);
        if (wd->s > r->s0) wd->fail = wd->dec;
    }
}

/* One part's pre-activations and its share of the loss change (tree values
 * already updated). */
static i128 part_share(const rowtree_t *v, cone_t *cn, const float *bo, double *zb, int k, int me,
                       int commit) {
    rt_z(v, bo, zb, cn->n0[k], cn->n0[k + 1]);
    return cone_eval_part(cn, zb, commit, k, me);
}

/* The books of a closed window (fail: this rank's first failing state, gfail
 * the team's; Bw + 1 where none): windows and states counted, ties among
 * this rank's decided states (states after the first failure were
 * speculative), the accepted candidates j .. j+gfail-2 zeroed in the mask
 * and the weights, and j+gfail-1 kept if it failed. */
static void close_window(prune_run_t *r, uint8_t *mrow, float *wrow, int j, int Bw, int b0, int b1,
                         int fail, int gfail, const uint8_t *tie_flag) {
    r->windows++;
    if (b1 >= b0) r->evaluated += (fail < b1 ? fail : b1) - b0 + 1;
    for (int b = b0; b <= b1 && b <= gfail && b <= fail; b++) r->ties += tie_flag[b];
    const int accept = ms__window_accepted(gfail, Bw);
    for (int i = j; i < j + accept; i++) {
        mrow[i] = 0;
        wrow[i] = 0.0f;
    }
    if (gfail <= Bw) mrow[j + accept] = 1;
}

/* The parts of the next row, in proportion to each part's speed on this
 * one (samples per second of its walk: the cores of a node are not always
 * equally fast, and a part's samples cost what they cost), half way from
 * the current split, the boundaries on whole cache lines. The masks do not
 * depend on the split; only the time does. Resets busy. */
static void resplit(cone_t *cn, double *busy, int N) {
    const int nth = cn->nth;
    double rate[CONE_MAX_THREADS], sum = 0.0;
    int n0[CONE_MAX_THREADS + 1], ok = 1;
    for (int k = 0; k < nth; k++) {
        const int n = cn->n0[k + 1] - cn->n0[k];
        ok &= busy[k] > 0.0 && n > 0;
        rate[k] = ok ? n / busy[k] : 0.0;
        sum += rate[k];
        busy[k] = 0.0;
    }
    if (!ok) return;
    n0[0] = 0;
    n0[nth] = N;
    double at = 0.0;
    for (int k = 0; k + 1 < nth; k++) {
        at += 0.5 * (cn->n0[k + 1] - cn->n0[k]) + 0.5 * N * rate[k] / sum;
        const int lo = n0[k] + 8, hi = N - 8 * (nth - 1 - k);
        if (hi < lo) return;
        const int b = (int)(at / 8.0 + 0.5) * 8;
        n0[k + 1] = b < lo ? lo : b > hi ? hi : b;
    }
    cone_split(cn, n0);
}

static int fast_layer(prune_run_t *r, int l, uint8_t *mask) {
    const ms_layout_t *L = r->L;
    const int O = L->arch.fc_out[l], NI = L->fc_in[l], N = r->N;
    const float *bl = fc_bias(L, r->w, l);
    float *wl = r->w + L->t[L->fc_weight[l]].off;
    int team = 1, rank = 0;
    MPI_Comm_size(r->cfg->comm, &team);
    MPI_Comm_rank(r->cfg->comm, &rank);
    const int nb = (N + CONE_BS - 1) / CONE_BS;
    int nth = ms_kernels_threads();
    if (nth > nb) nth = nb;
    if (nth > CONE_MAX_THREADS) nth = CONE_MAX_THREADS;
    cone_t cn;
    rowtree_t t;
    memset(&t, 0, sizeof t);
    /* The row's pre-activations, and z[N] = +0 for the cone's padding. */
    double *zb = aligned_alloc(64, sizeof(double) * (((size_t)N + 8) / 8 * 8));
    uint8_t tie_flag[BMAX + 2];
    /* Two windows' shares (by the window's parity): a thread may start the
     * next window while another still reads this one's. */
    i128(*share)[BMAX + 2] = malloc(sizeof(i128) * (BMAX + 2) * 2 * (size_t)nth);
    i128 cshare[CONE_MAX_THREADS];
    /* Without a team, the memo (the last state evaluated) carries over to the
     * next window instead of being reset to the committed state, which is
     * then never evaluated: spec[k] is what part k's memo stands away from it. */
    i128 spec[CONE_MAX_THREADS];
    double busy[CONE_MAX_THREADS] = {0}; /* seconds of each part's walk in this row */
    const int carry = team == 1;
    post_t *prog = aligned_alloc(64, sizeof(post_t) * (size_t)nth);
    int32_t *vmem = NULL;
    rowtree_t *view = malloc(sizeof(rowtree_t) * (size_t)nth); /* one per part */
    uint8_t *row_ok = NULL;
    int err = cone_init(&cn, L, r->w, l, N, r->cfg->label, nth);
    if (!err) err = rowtree_init(&t, NI, N);
    if (!err) vmem = aligned_alloc(64, sizeof(int32_t) * rt_view_ints(&t) * (size_t)nth);
    if (!err && (!zb || !share || !prog || !vmem || !view))
        err = ms_err_set(MS_ENOMEM, "pruning: cannot allocate row buffers for fc%d", l + 1);
    if (err) goto done;
    zb[N] = 0.0;
    for (int k = 0; k < nth; k++) atomic_init(&prog[k].done, 0);
    const double *hT = r->hinT[l];
    const int fixed_window = r->cfg->window > 0;
    int B0 = fixed_window ? r->cfg->window : 32;
    if (B0 > BMAX) B0 = BMAX;
    /* Written in a single block, read after it: one flag per row, so a
     * thread that runs ahead to the next row never changes the one another
     * thread is about to read. */
    row_ok = calloc((size_t)O, 1);
    int gfail = 0;
    if (!row_ok) {
        err = ms_err_set(MS_ENOMEM, "pruning: out of memory");
        goto done;
    }
    i128 s_cur0 = r->s_cur;
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        int me = 0, nt = 1;
#ifdef _OPENMP
        me = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        long stamp = 0;
        int B = B0;
        i128 s_cur = s_cur0;
        for (int o = 0; o < O; o++) {
            uint8_t *mrow = mask + (size_t)o * NI;
            float *wrow = wl + (size_t)o * NI;
            const float *bo = bl ? bl + o : NULL;
#pragma omp single
            {
                if (err) {
                } else if (!cone_output_is_read(&cn, o)) {
                    /* Every candidate leaves the logits, hence L, exactly as
                     * they are. Every rank of the team decides this row; rank
                     * 0 counts its ties (the counts are summed over the team). */
                    if (rank == 0 && tie(r, s_cur)) r->ties += NI;
                    for (int i = 0; i < NI; i++) {
                        mrow[i] = 0;
                        wrow[i] = 0.0f;
                    }
                    const double h = relu_d(bo ? (double)*bo : 0.0);
                    for (int n = 0; n < N; n++)
                        r->hinT[l + 1][(size_t)o * N + n] = h; /* read by no one */
                } else if ((err = cone_set_row(&cn, o, r->hinT, r->logT, r->q)) == 0) {
                    rt_build_counts(&t, wrow, hT);
                    row_ok[o] = 1;
                }
            }
            if (err) break;
            if (!row_ok[o]) continue;
            for (int k = me; k < nth; k += nt) {
                rt_view(&t, &view[k], vmem + rt_view_ints(&t) * (size_t)k);
                rt_build_values(&t, cn.n0[k], cn.n0[k + 1]);
                cone_memo_reset_part(&cn, k); /* the committed state */
                spec[k] = 0;
            }
            const i128 s_row0 = s_cur;
            int j = 0;
            while (j < NI) {
                const int Bw = NI - j < B ? NI - j : B;
                /* This rank's share of the window's states b = 1..Bw: state b
                 * zeroes candidates j .. j+b-1. */
                const int b0 = 1 + (int)((long)Bw * rank / team),
                          b1 = (int)((long)Bw * (rank + 1) / team);
                window_dec_t wd = {.dec = b0 - 1, .fail = Bw + 1, .Bw = Bw, .s = s_cur};
                i128(*sh_w)[BMAX + 2] = share + (size_t)nth * ((stamp / (BMAX + 2)) & 1);
                uint8_t *ties_here = me == 0 ? tie_flag : NULL;
                for (int k = me; k < nth; k += nt) {
                    rt_window_begin(&view[k], j, Bw);
                    if (!carry) cone_memo_reset_part(&cn, k); /* the committed state */
                }
                int last = 0; /* the last state this thread walked */
                for (int b = 1; b <= b1 && wd.fail > Bw; b++) {
                    const double w0 = nth > 1 ? ms_now() : 0.0;
                    int changed = 0;
                    for (int k = me; k < nth; k += nt)
                        if ((changed = rt_window_zero_counts(&view[k], j + b - 1)))
                            rt_path_values(&view[k], j + b - 1, cn.n0[k], cn.n0[k + 1]);
                    if (b < b0) continue;
                    for (int k = me; k < nth; k += nt) {
                        i128 sh =
                            changed || b == b0 ? part_share(&view[k], &cn, bo, zb, k, me, 0) : 0;
                        /* Carried memo: the first state's change counts from the
                         * memo; from the committed state it is that plus spec. */
                        if (carry && b == 1) sh += spec[k];
                        sh_w[k][b] = sh;
                        atomic_store_explicit(&prog[k].done, stamp + b, memory_order_release);
                    }
                    last = b;
                    if (nth > 1) {
                        /* The time of the walk itself, by part (not the waits):
                         * the parts are resized on it at the row's end. */
                        const double w = (ms_now() - w0) / ((nth - me + nt - 1) / nt);
                        for (int k = me; k < nth; k += nt) busy[k] += w;
                    }
                    /* Decide the states every part has posted, without waiting. */
                    decide(&wd, r, prog, sh_w, nth, stamp, b, 0, ties_here);
                }
                /* The rest of this rank's states, once posted. */
                decide(&wd, r, prog, sh_w, nth, stamp, b1, 1, ties_here);
                const int fail = wd.fail;
                stamp += BMAX + 2;
                int gf = fail;
                if (!carry) {
                    /* A team: the first failure is the team's. */
#pragma omp barrier
#pragma omp master
                    {
                        gfail = fail;
                        MPI_Allreduce(&fail, &gfail, 1, MPI_INT, MPI_MIN, r->cfg->comm);
                        close_window(r, mrow, wrow, j, Bw, b0, b1, fail, gfail, tie_flag);
                    }
#pragma omp barrier
                    gf = gfail;
                }
                const int acc = ms__window_accepted(gf, Bw);
                if (carry) {
                    /* Every thread has decided the same states (the same
                     * shares in the same order): each closes the window on
                     * its own, without a barrier. The loss sum at the accepted
                     * state, and what each of its parts' memo (the last state
                     * it walked) stands away from it, are sums of posted
                     * shares; thread 0 keeps the books and the mask. */
                    for (int k = 0; k < nth; k++)
                        for (int b = 1; b <= acc; b++) s_cur += sh_w[k][b];
                    for (int k = me; k < nth; k += nt) {
                        i128 sp = 0;
                        for (int b = acc + 1; b <= last; b++) sp += sh_w[k][b];
                        spec[k] = sp;
                    }
                    if (me == 0) close_window(r, mrow, wrow, j, Bw, b0, b1, fail, gf, tie_flag);
                }
                for (int k = me; k < nth; k += nt) {
                    rt_commit_counts(&view[k], j, acc);
                    rt_commit_values(&view[k], j, acc, cn.n0[k], cn.n0[k + 1]);
                    /* A team's rank walked only its share of the states: its
                     * memo may stand at none it knows the loss of. The
                     * committed state is evaluated, and the next window
                     * starts from it. */
                    if (!carry) cshare[k] = acc > 0 ? part_share(&view[k], &cn, bo, zb, k, me, 1) : 0;
                }
                if (!carry) {
#pragma omp barrier
                    for (int k = 0; k < nth; k++) s_cur += cshare[k];
                }
                /* Window length: grow while windows pass, shrink to twice the
                 * run length after a failure. The mask does not depend on it. */
                if (!fixed_window) {
                    if (gf > Bw)
                        B = B * 2 > BMAX ? BMAX : B * 2;
                    else
                        B = 2 * gf < 8 * team ? 8 * team : (2 * gf > BMAX ? BMAX : 2 * gf);
                }
                j += acc + (gf <= Bw);
            }
            if (carry) {
                /* The row's committed state, evaluated once against its start:
                 * its change must be the sum of the accepted states' shares. */
                for (int k = me; k < nth; k += nt)
                    cshare[k] = part_share(&view[k], &cn, bo, zb, k, me, 1);
#pragma omp barrier
            }
#pragma omp single
            {
                i128 d = 0;
                for (int k = 0; k < nth && carry; k++) d += cshare[k];
                if (!err && carry && d != s_cur - s_row0)
                    err = ms_err_set(MS_EINVAL,
                                     "pruning: fc%d row %d: the loss sum carried through the "
                                     "windows differs from the committed state's (bug)",
                                     l + 1, o);
                if (!err) err = cone_write_back(&cn, r->hinT, r->logT, r->q);
                r->s_cur = s_cur;
                if (nth > 1) resplit(&cn, busy, N);
            }
        }
    }
done:
    cone_free(&cn);
    free(t.mem);
    free(zb);
    free(share);
    free(prog);
    free(vmem);
    free(view);
    free(row_ok);
    return err;
}

/* ---- the driver ----------------------------------------------------------------------- */

int ms_prune(const ms_layout_t *L, const float *params, const float *x, int N,
             const ms_prune_cfg_t *cfg, ms_prune_result_t *res) {
    const ms_arch_t *a = &L->arch;
    const double t0 = MPI_Wtime();
    if (N < 1) return ms_err_set(MS_EINVAL, "pruning: label %d has no images", cfg->label);
    prune_run_t r = {.L = L, .cfg = cfg, .N = N, .NC = a->fc_out[a->n_fc - 1], .nf = a->n_fc};
    const int MW = max_width(L);
    int err = scratch_init(&r.ts, MW);
    r.w = malloc(sizeof(float) * L->n_params);
    r.q = malloc(sizeof(i128) * N);
    r.logT = malloc(sizeof(double) * (size_t)N * r.NC);
    r.ba = malloc(sizeof(double) * MW);
    r.bb = malloc(sizeof(double) * MW);
    int oom = err != 0;
    for (int l = 0; l < a->n_fc; l++) {
        /* The naive path keeps every layer's input per sample; the fast path
         * keeps them with the sample index last. */
        if (cfg->naive) r.hin[l] = malloc(sizeof(double) * (size_t)N * L->fc_in[l]);
        if (!cfg->naive) r.hinT[l] = malloc(sizeof(double) * (size_t)N * L->fc_in[l]);
        if (cfg->naive && !r.hin[l]) oom = 1;
        if (!cfg->naive && !r.hinT[l]) oom = 1;
    }
    if (oom || !r.w || !r.q || !r.logT || !r.ba || !r.bb) {
        err = ms_err_set(MS_ENOMEM, "pruning: cannot allocate state for %d images", N);
        goto done;
    }
    memcpy(r.w, params, sizeof(float) * L->n_params);
    if ((err = cfg->naive ? canonical_features(L, r.w, x, N, r.hin[0])
                          : features_fast(L, r.w, x, N, r.hinT[0])))
        goto done;
    if (cfg->naive) {
        for (int l = 0; l + 1 < a->n_fc; l++)
            canonical_layer(L, r.w, l, N, r.hin[l], NULL, r.hin[l + 1], &r.ts);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < r.NC; c++)
                r.logT[(size_t)c * N + n] =
                    fc_row(L, r.w, a->n_fc - 1, c, r.hin[a->n_fc - 1] + (size_t)n * L->fc_in[a->n_fc - 1],
                           &r.ts);
    } else if ((err = forward_T(L, r.w, N, r.hinT, r.logT))) {
        goto done;
    }
    r.s0 = 0;
    for (int n = 0; n < N; n++) {
        double zn[MS_MAX_CLASSES];
        for (int c = 0; c < r.NC; c++) zn[c] = r.logT[(size_t)c * N + n];
        r.q[n] = ms_canon_fixed_loss(ms_canon_ce(zn, r.NC, cfg->label));
        r.s0 += r.q[n];
    }
    r.s_cur = r.s0;
    /* |L - L0| < 1e-9 in fixed point: 1e-9 * N * 2^53. */
    r.tie_tol = (i128)(1e-9 * 9007199254740992.0) * N;
    memset(res->mask, 1, L->n_fc_weights);
    size_t off[MS_MAX_FC], acc = 0;
    for (int l = 0; l < a->n_fc; l++) {
        off[l] = acc;
        acc += L->t[L->fc_weight[l]].n;
        res->total[l] = (long)L->t[L->fc_weight[l]].n;
        res->layer_seconds[l] = 0;
    }
    for (int l = a->n_fc - 1; l >= 0 && !err; l--) {
        if (!(cfg->layers & (1u << l))) continue;
        const double tl = MPI_Wtime();
        if (cfg->naive)
            naive_layer(&r, l, res->mask + off[l]);
        else
            err = fast_layer(&r, l, res->mask + off[l]);
        res->layer_seconds[l] = MPI_Wtime() - tl;
        if (cfg->verbose)
            ms_message("prune label %d: fc%d done in %.2f s", cfg->label, l + 1,
                       res->layer_seconds[l]);
    }
    if (err) goto done;
    long kept_all = 0;
    for (int l = 0; l < a->n_fc; l++) {
        long k = 0;
        for (long j = 0; j < res->total[l]; j++) k += res->mask[off[l] + j];
        res->kept[l] = k;
        kept_all += k;
    }
    res->ecs = (double)kept_all / (double)L->n_fc_weights;
    res->loss0 = fixed_to_double(r.s0) / N;
    /* The final loss, recomputed from scratch; for the fast path also a check
     * that its incremental state is exactly the canonical evaluation. */
    i128 s = 0;
    if (cfg->naive) {
        for (int n = 0; n < N; n++)
            s += ms_canon_fixed_loss(canonical_tail(L, r.w, 0,
                                                    r.hin[0] + (size_t)n * L->fc_in[0], cfg->label,
                                                    r.ba, r.bb, &r.ts));
    } else {
        double *hT[MS_MAX_FC] = {r.hinT[0]};
        double *lg = malloc(sizeof(double) * (size_t)N * r.NC);
        int ok = lg != NULL;
        for (int l = 1; l < a->n_fc; l++)
            ok &= (hT[l] = malloc(sizeof(double) * (size_t)N * L->fc_in[l])) != NULL;
        if (!ok)
            err = ms_err_set(MS_ENOMEM, "pruning: out of memory");
        else if ((err = forward_T(L, r.w, N, hT, lg)) == 0)
            for (int n = 0; n < N; n++) {
                double zn[MS_MAX_CLASSES];
                for (int c = 0; c < r.NC; c++) zn[c] = lg[(size_t)c * N + n];
                s += ms_canon_fixed_loss(ms_canon_ce(zn, r.NC, cfg->label));
            }
        free(lg);
        for (int l = 1; l < a->n_fc; l++) free(hT[l]);
        if (!err && s != r.s_cur)
            err = ms_err_set(MS_EINVAL,
                             "pruning: internal state diverged from the canonical evaluation (bug)");
        if (err) goto done;
    }
    res->loss_final = fixed_to_double(s) / N;
    long tot[2] = {r.ties, r.evaluated}, sum[2];
    MPI_Allreduce(tot, sum, 2, MPI_LONG, MPI_SUM, cfg->comm);
    res->ties = sum[0];
    res->evaluated = sum[1];
    res->windows = r.windows;
done:
    scratch_free(&r.ts);
    free(r.w);
    free(r.q);
    free(r.logT);
    free(r.ba);
    free(r.bb);
    for (int l = 0; l < a->n_fc; l++) {
        free(r.hin[l]);
        free(r.hinT[l]);
    }
    res->seconds = MPI_Wtime() - t0;
    return err;
}
