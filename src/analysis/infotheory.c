/* Information measures of binned activations, unit sets, and the ablation of
 * neurons and directions with the search for the direction of largest KL
 * divergence (infotheory.h, seed 002).
 *
 * Dimension letters: N samples, U units of the ablated layer, C classes,
 * O / NI outputs / inputs of a downstream fc layer, NB samples of a block. */
#include "modsweep/infotheory.h"
#include "modsweep/error.h"
#include "modsweep/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- binning and entropies -------------------------------------------------- */

/* The value of selected column j of row n. */
static inline float sel_at(const ms_info_sel_t *a, int n, int j) {
    return a->x[(size_t)n * a->ld + (a->cols ? a->cols[j] : j)];
}

/* The binning of a selection: lo and the factor bins / (max - min) (0 for a
 * constant selection, which then falls in bin 0). */
typedef struct binning {
    double lo, scale;
    int bins;
} binning_t;

static binning_t make_binning(const ms_info_sel_t *a, int N, int bins) {
    float lo = INFINITY, hi = -INFINITY;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < a->n; j++) {
            float v = sel_at(a, n, j);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    binning_t b = {.lo = lo, .scale = 0.0, .bins = bins};
    if (hi > lo) b.scale = bins / ((double)hi - (double)lo);
    return b;
}

static inline int bin_of(const binning_t *b, float v) {
    int k = (int)(((double)v - b->lo) * b->scale);
    return k >= b->bins ? b->bins - 1 : (k < 0 ? 0 : k);
}

/* -sum p log p of counts c[0..n) with stride `stride`, total t (> 0). */
static double entropy_counts(const int64_t *c, int n, int stride, int64_t t) {
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        int64_t k = c[(size_t)i * stride];
        if (k > 0) s += (double)k * log((double)k);
    }
    return log((double)t) - s / (double)t;
}

double ms_info_entropy(const ms_info_sel_t *a, int N, int bins) {
    if (N < 1 || a->n < 1) return NAN;
    binning_t b = make_binning(a, N, bins);
    int64_t c[4096] = {0};
    int64_t *cnt = bins <= 4096 ? c : calloc((size_t)bins, sizeof *cnt);
    if (!cnt) return NAN;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < a->n; j++)
            cnt[bin_of(&b, sel_at(a, n, j))]++;
    double h = entropy_counts(cnt, bins, 1, (int64_t)N * a->n);
    if (cnt != c) free(cnt);
    return h;
}

int ms_info_pair(const ms_info_sel_t *x, const ms_info_sel_t *y, int N, int bins, int64_t *hist,
                 ms_info_stats_t *out) {
    if (N < 1 || x->n < 1 || y->n < 1 || bins < 1)
        return ms_err_set(MS_EINVAL, "information: empty selection (%d samples, %d and %d units)",
                          N, x->n, y->n);
    binning_t bx = make_binning(x, N, bins), by = make_binning(y, N, bins);
    const int J = x->n < y->n ? x->n : y->n;
    memset(hist, 0, sizeof(int64_t) * (size_t)bins * bins);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < J; j++)
            hist[(size_t)bin_of(&bx, sel_at(x, n, j)) * bins + bin_of(&by, sel_at(y, n, j))]++;
    const int64_t t = (int64_t)N * J;
    /* Marginals: row sums (X) and column sums (Y), each in a fixed order. */
    int64_t mx[4096], my[4096];
    int64_t *px = bins <= 4096 ? mx : calloc((size_t)bins, sizeof *px);
    int64_t *py = bins <= 4096 ? my : calloc((size_t)bins, sizeof *py);
    if (!px || !py) {
        if (px != mx) free(px);
        if (py != my) free(py);
        return ms_err_set(MS_ENOMEM, "information: out of memory");
    }
    for (int i = 0; i < bins; i++) {
        int64_t r = 0, c = 0;
        for (int k = 0; k < bins; k++) {
            r += hist[(size_t)i * bins + k];
            c += hist[(size_t)k * bins + i];
        }
        px[i] = r;
        py[i] = c;
    }
    out->hx = entropy_counts(px, bins, 1, t);
    out->hy = entropy_counts(py, bins, 1, t);
    out->hxy = entropy_counts(hist, bins * bins, 1, t);
    out->hx_given_y = out->hxy - out->hy;
    out->hy_given_x = out->hxy - out->hx;
    out->mi = out->hx + out->hy - out->hxy;
    if (px != mx) free(px);
    if (py != my) free(py);
    return 0;
}

int ms_info_module(const float *A, int ua, const float *Bl, int ub, int N, const int *pa, int na,
                   const int *pb, int nb, int bins, int *cols, int64_t *hist, double meas[4],
                   double comp[3]) {
    if (na < 1 || na >= ua || nb < 1 || nb > ub)
        return ms_err_set(MS_EINVAL,
                          "information: unit sets of %d of %d and %d of %d units (the first must "
                          "leave units out)",
                          na, ua, nb, ub);
    /* The units of A outside pa, ascending (as the seed's list comprehension). */
    int nn = 0;
    for (int i = 0; i < ua; i++) {
        int in = 0;
        for (int k = 0; k < na && !in; k++)
            in = pa[k] == i;
        if (!in) cols[nn++] = i;
    }
    ms_info_sel_t a2p = {.x = Bl, .ld = ub, .cols = pb, .n = nb};
    ms_info_sel_t a1notp = {.x = A, .ld = ua, .cols = cols, .n = nn};
    ms_info_sel_t a1 = {.x = A, .ld = ua, .cols = NULL, .n = ua};
    ms_info_sel_t a1p = {.x = A, .ld = ua, .cols = pa, .n = na};
    ms_info_stats_t st;
    int rc = ms_info_pair(&a2p, &a1notp, N, bins, hist, &st);
    if (rc) return rc;
    meas[0] = st.hx_given_y;
    meas[1] = ms_info_entropy(&a2p, N, bins);
    if ((rc = ms_info_pair(&a2p, &a1, N, bins, hist, &st))) return rc;
    meas[2] = st.hx_given_y;
    if ((rc = ms_info_pair(&a2p, &a1p, N, bins, hist, &st))) return rc;
    meas[3] = st.hx_given_y;
    comp[0] = meas[0] - meas[1];
    comp[1] = meas[2] - meas[3];
    comp[2] = meas[2] - meas[0];
    return 0;
}

void ms_info_unitset(int n, int k, uint64_t seed, uint32_t sub, int *out) {
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (!idx) {
        for (int i = 0; i < k; i++)
            out[i] = i;
        return;
    }
    for (int i = 0; i < n; i++)
        idx[i] = i;
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_UNITSETS, sub);
    ms_rng_shuffle(&r, idx, n);
    for (int i = 0; i < k; i++)
        out[i] = idx[i];
    free(idx);
}

/* ---- ablation ---------------------------------------------------------------- */

#define ABLATE_BLOCK 256

/* The downstream fc layers are layer + 1 .. n_fc - 1; their weights (O x NI)
 * and biases (O) are copied into ab->w in that order. */
static int n_down(const ms_ablate_t *ab) {
    return ab->L->arch.n_fc - 1 - ab->layer;
}

/* Log-softmax of one row of logits z (C) into lp. */
static void log_softmax(const double *z, int C, double *lp) {
    double mx = z[0];
    for (int c = 1; c < C; c++)
        if (z[c] > mx) mx = z[c];
    double s = 0.0;
    for (int c = 0; c < C; c++)
        s += exp(z[c] - mx);
    double ls = log(s) + mx;
    for (int c = 0; c < C; c++)
        lp[c] = z[c] - ls;
}

/* Offsets inside ab->buf for a block of NB samples: the projected layer
 * output (NB x U), each downstream layer's output (NB x O_k: ReLU output of
 * hidden layers, logits last) and its gradient (NB x max width). */
typedef struct ablate_bufs {
    double *hp;
    double *act[MS_MAX_FC];
    double *g0, *g1; /* gradient ping-pong buffers */
    double *lp;      /* (NB x C) log-softmax */
} ablate_bufs_t;

static void carve_bufs(const ms_ablate_t *ab, double *base, ablate_bufs_t *b, size_t *total) {
    const ms_arch_t *a = &ab->L->arch;
    const size_t NB = (size_t)ab->block;
    size_t off = 0, widest = (size_t)ab->U;
    b->hp = base ? base + off : NULL;
    off += NB * ab->U;
    for (int k = 0; k < n_down(ab); k++) {
        int O = a->fc_out[ab->layer + 1 + k];
        b->act[k] = base ? base + off : NULL;
        off += NB * O;
        if ((size_t)O > widest) widest = (size_t)O;
    }
    b->g0 = base ? base + off : NULL;
    off += NB * widest;
    b->g1 = base ? base + off : NULL;
    off += NB * widest;
    b->lp = base ? base + off : NULL;
    off += NB * ab->C;
    *total = off;
}

/* Runs the downstream layers on b->hp (NB rows); the logits end in the last
 * act buffer (or are hp itself when the ablated layer gives the logits). */
static const double *forward_down(const ms_ablate_t *ab, ablate_bufs_t *b, int NB) {
    const ms_arch_t *a = &ab->L->arch;
    const double *in = b->hp;
    int NI = ab->U;
    const double *w = ab->w;
    for (int k = 0; k < n_down(ab); k++) {
        int O = a->fc_out[ab->layer + 1 + k];
        const double *W = w, *bias = w + (size_t)O * NI;
        double *z = b->act[k];
        for (int r = 0; r < NB; r++)
            memcpy(z + (size_t)r * O, bias, sizeof(double) * O);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, NB, O, NI, 1.0, in, NI, W, NI, 1.0, z,
                    O);
        if (k < n_down(ab) - 1)
            for (size_t e = 0; e < (size_t)NB * O; e++)
                z[e] = z[e] > 0.0 ? z[e] : 0.0;
        w += (size_t)O * NI + O;
        in = z;
        NI = O;
    }
    return in;
}

int ms_ablate_init(ms_ablate_t *ab, const ms_layout_t *L, const float *params, int layer,
                   const double *h, int N) {
    memset(ab, 0, sizeof *ab);
    const ms_arch_t *a = &L->arch;
    if (layer < 0 || layer >= a->n_fc || N < 1)
        return ms_err_set(MS_EINVAL, "ablation: layer %d of %d fc layers, %d samples", layer,
                          a->n_fc, N);
    ab->L = L;
    ab->params = params;
    ab->layer = layer;
    ab->U = a->fc_out[layer];
    ab->C = a->fc_out[a->n_fc - 1];
    ab->N = N;
    ab->h = h;
    ab->block = N < ABLATE_BLOCK ? N : ABLATE_BLOCK;
    size_t nw = 0;
    for (int k = layer + 1; k < a->n_fc; k++)
        nw += (size_t)a->fc_out[k] * (L->fc_in[k] + 1);
    ablate_bufs_t b;
    size_t nbuf;
    carve_bufs(ab, NULL, &b, &nbuf);
    ab->lq = malloc(sizeof(double) * (size_t)N * ab->C);
    ab->hq = malloc(sizeof(double) * (size_t)N);
    ab->w = malloc(sizeof(double) * (nw ? nw : 1));
    ab->buf = malloc(sizeof(double) * nbuf);
    if (!ab->lq || !ab->hq || !ab->w || !ab->buf) {
        ms_ablate_free(ab);
        return ms_err_set(MS_ENOMEM, "ablation: out of memory");
    }
    double *w = ab->w;
    for (int k = layer + 1; k < a->n_fc; k++) {
        const int O = a->fc_out[k], NI = L->fc_in[k];
        const float *W = params + L->t[L->fc_weight[k]].off;
        for (size_t e = 0; e < (size_t)O * NI; e++)
            w[e] = W[e];
        w += (size_t)O * NI;
        for (int o = 0; o < O; o++)
            w[o] = L->fc_bias_t[k] >= 0 ? params[L->t[L->fc_bias_t[k]].off + o] : 0.0;
        w += O;
    }
    /* The unablated output distribution. */
    carve_bufs(ab, ab->buf, &b, &nbuf);
    for (int n0 = 0; n0 < N; n0 += ab->block) {
        const int NB = N - n0 < ab->block ? N - n0 : ab->block;
        memcpy(b.hp, h + (size_t)n0 * ab->U, sizeof(double) * (size_t)NB * ab->U);
        const double *z = forward_down(ab, &b, NB);
        for (int r = 0; r < NB; r++) {
            double *lq = ab->lq + (size_t)(n0 + r) * ab->C, s = 0.0;
            log_softmax(z + (size_t)r * ab->C, ab->C, lq);
            for (int c = 0; c < ab->C; c++)
                s -= exp(lq[c]) * lq[c];
            ab->hq[n0 + r] = s;
        }
    }
    return 0;
}

void ms_ablate_free(ms_ablate_t *ab) {
    free(ab->lq);
    free(ab->hq);
    free(ab->w);
    free(ab->buf);
    memset(ab, 0, sizeof *ab);
}

double ms_ablate_eval(ms_ablate_t *ab, const double *d, double *dentropy, double *grad) {
    const ms_arch_t *a = &ab->L->arch;
    const int U = ab->U, C = ab->C, N = ab->N, nd = n_down(ab);
    ablate_bufs_t b;
    size_t nbuf;
    carve_bufs(ab, ab->buf, &b, &nbuf);
    double kl_sum = 0.0, dh_sum = 0.0;
    if (grad) memset(grad, 0, sizeof(double) * U);
    for (int n0 = 0; n0 < N; n0 += ab->block) {
        const int NB = N - n0 < ab->block ? N - n0 : ab->block;
        const double *h = ab->h + (size_t)n0 * U;
        /* h' = h - (h . d) d */
        for (int r = 0; r < NB; r++) {
            const double *hr = h + (size_t)r * U;
            double s = 0.0;
            for (int u = 0; u < U; u++)
                s += hr[u] * d[u];
            double *pr = b.hp + (size_t)r * U;
            for (int u = 0; u < U; u++)
                pr[u] = hr[u] - s * d[u];
        }
        const double *z = forward_down(ab, &b, NB);
        /* KL(p' || p) and the entropy change per sample; the logits' gradient. */
        double *g = b.g0;
        for (int r = 0; r < NB; r++) {
            double *lp = b.lp + (size_t)r * C;
            const double *lq = ab->lq + (size_t)(n0 + r) * C;
            log_softmax(z + (size_t)r * C, C, lp);
            double kl = 0.0, hp = 0.0;
            for (int c = 0; c < C; c++) {
                double p = exp(lp[c]);
                kl += p * (lp[c] - lq[c]);
                hp -= p * lp[c];
            }
            kl_sum += kl;
            dh_sum += hp - ab->hq[n0 + r];
            if (grad)
                for (int c = 0; c < C; c++) {
                    double p = exp(lp[c]);
                    g[(size_t)r * C + c] = p * (lp[c] - lq[c] - kl) / N;
                }
        }
        if (!grad) continue;
        /* Back through the downstream layers to h'. */
        int O = C;
        for (int k = nd - 1; k >= 0; k--) {
            const int layer = ab->layer + 1 + k, NI = ab->L->fc_in[layer];
            const double *W = ab->w;
            for (int j = 0; j < k; j++) {
                int lj = ab->layer + 1 + j;
                W += (size_t)a->fc_out[lj] * ab->L->fc_in[lj] + a->fc_out[lj];
            }
            double *gin = g == b.g0 ? b.g1 : b.g0;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NB, NI, O, 1.0, g, O, W, NI, 0.0,
                        gin, NI);
            if (k > 0) {
                const double *act = b.act[k - 1]; /* ReLU output of the layer below */
                for (size_t e = 0; e < (size_t)NB * NI; e++)
                    if (!(act[e] > 0.0)) gin[e] = 0.0;
            }
            g = gin;
            O = NI;
        }
        /* d/dd of h' = h - (h.d) d: -[(g'.d) h + (h.d) g'] per sample. */
        for (int r = 0; r < NB; r++) {
            const double *hr = h + (size_t)r * U, *gr = g + (size_t)r * U;
            double s = 0.0, gd = 0.0;
            for (int u = 0; u < U; u++) {
                s += hr[u] * d[u];
                gd += gr[u] * d[u];
            }
            for (int u = 0; u < U; u++)
                grad[u] -= gd * hr[u] + s * gr[u];
        }
    }
    if (dentropy) *dentropy = dh_sum / N;
    return kl_sum / N;
}

static double norm2(const double *x, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* Memory of the L-BFGS search (pairs of the last steps). */
#define LBFGS_M 8
/* The stall test of the search (see ms_ablate_maxkl). */
#define STALL_STEPS 10
#define STALL_RISE 1e-12

/* The objective F(v) = KL of direction v / |v| and its gradient with
 * respect to v, (I - d d^T) g / |v|; *tn receives the norm of the tangent
 * gradient (I - d d^T) g at the unit direction d. d: scratch (U). */
static double objective(ms_ablate_t *ab, const double *v, double *d, double *grad, double *tn) {
    const int U = ab->U;
    const double nv = norm2(v, U);
    for (int u = 0; u < U; u++)
        d[u] = v[u] / nv;
    const double f = ms_ablate_eval(ab, d, NULL, grad);
    double gd = 0.0;
    for (int u = 0; u < U; u++)
        gd += grad[u] * d[u];
    for (int u = 0; u < U; u++)
        grad[u] = (grad[u] - gd * d[u]) / nv;
    *tn = norm2(grad, U) * nv;
    return f;
}

double ms_ablate_maxkl(ms_ablate_t *ab, double *d, int max_iters, int *iters, int *converged) {
    const int U = ab->U;
    double *mem = U > 0 ? malloc(sizeof(double) * (size_t)U * (2 * LBFGS_M + 6)) : NULL;
    if (!mem) {
        if (iters) *iters = 0;
        if (converged) *converged = 0;
        return NAN;
    }
    double *S = mem, *Y = S + (size_t)U * LBFGS_M, *v = Y + (size_t)U * LBFGS_M;
    double *g = v + U, *gn = g + U, *p = gn + U, *vn = p + U, *du = vn + U;
    double rho[LBFGS_M], alpha[LBFGS_M], hist[STALL_STEPS];
    int head = 0, used = 0;
    double nd = norm2(d, U);
    for (int u = 0; u < U; u++)
        v[u] = nd > 0.0 ? d[u] / nd : (double)(u == 0);
    double tn, f = objective(ab, v, du, g, &tn);
    int it = 0, conv = 0;
    for (;;) {
        if (!(tn > MS_MAXKL_TOL * f)) {
            conv = 1;
            break;
        }
        if (it >= max_iters) break;
        /* Ascent direction p = H g by the two-loop recursion. */
        memcpy(p, g, sizeof(double) * U);
        for (int k = 0; k < used; k++) {
            const int j = (head - 1 - k + LBFGS_M) % LBFGS_M;
            double a = 0.0;
            for (int u = 0; u < U; u++)
                a += S[(size_t)j * U + u] * p[u];
            alpha[j] = rho[j] * a;
            for (int u = 0; u < U; u++)
                p[u] -= alpha[j] * Y[(size_t)j * U + u];
        }
        if (used > 0) {
            const int j = (head - 1 + LBFGS_M) % LBFGS_M;
            double sy = 0.0, yy = 0.0;
            for (int u = 0; u < U; u++) {
                sy += S[(size_t)j * U + u] * Y[(size_t)j * U + u];
                yy += Y[(size_t)j * U + u] * Y[(size_t)j * U + u];
            }
            for (int u = 0; u < U; u++)
                p[u] *= sy / yy;
        } else {
            /* A first step of about 0.1 radian. */
            const double gg = norm2(g, U), nv = norm2(v, U);
            for (int u = 0; u < U; u++)
                p[u] *= 0.1 * nv / gg;
        }
        for (int k = used - 1; k >= 0; k--) {
            const int j = (head - 1 - k + LBFGS_M) % LBFGS_M;
            double b = 0.0;
            for (int u = 0; u < U; u++)
                b += Y[(size_t)j * U + u] * p[u];
            b *= rho[j];
            for (int u = 0; u < U; u++)
                p[u] += (alpha[j] - b) * S[(size_t)j * U + u];
        }
        double slope = 0.0;
        for (int u = 0; u < U; u++)
            slope += g[u] * p[u];
        if (!(slope > 0.0)) { /* not an ascent direction: forget the memory */
            memcpy(p, g, sizeof(double) * U);
            const double gg = norm2(g, U), nv = norm2(v, U);
            for (int u = 0; u < U; u++)
                p[u] *= 0.1 * nv / gg;
            slope = 0.1 * nv * gg;
            used = 0;
        }
        /* Backtracking (Armijo) line search. */
        double step = 1.0, fn = f, tnn = tn;
        int accepted = 0;
        for (int t = 0; t < 60 && !accepted; t++, step *= 0.5) {
            for (int u = 0; u < U; u++)
                vn[u] = v[u] + step * p[u];
            fn = objective(ab, vn, du, gn, &tnn);
            accepted = fn >= f + 1e-4 * step * slope;
        }
        if (!accepted) {
            if (used == 0) break; /* no step raises the KL at this precision */
            used = 0;             /* retry from the plain gradient */
            continue;
        }
        /* A stall: the KL rose by less than STALL_RISE of itself over the
         * last STALL_STEPS accepted steps (a maximum at a ReLU kink, where
         * the gradient need not vanish). */
        hist[it % STALL_STEPS] = f;
        it++;
        if (it >= STALL_STEPS && fn - hist[it % STALL_STEPS] <= STALL_RISE * fn) {
            f = fn;
            memcpy(v, vn, sizeof(double) * U);
            conv = 1;
            break;
        }
        /* Store the pair (s, y) of the minimisation of -F when it is curved. */
        double sy = 0.0, ss = 0.0, yy = 0.0;
        double *sj = S + (size_t)head * U, *yj = Y + (size_t)head * U;
        for (int u = 0; u < U; u++) {
            sj[u] = vn[u] - v[u];
            yj[u] = g[u] - gn[u];
            sy += sj[u] * yj[u];
            ss += sj[u] * sj[u];
            yy += yj[u] * yj[u];
        }
        if (sy > 1e-12 * sqrt(ss * yy)) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (used < LBFGS_M) used++;
        }
        memcpy(v, vn, sizeof(double) * U);
        memcpy(g, gn, sizeof(double) * U);
        f = fn;
        tn = tnn;
        /* Keep |v| near 1 (F does not depend on it; the memory does). */
        const double nv = norm2(v, U);
        if (nv > 4.0 || nv < 0.25) {
            for (int u = 0; u < U; u++)
                v[u] /= nv, g[u] *= nv;
            used = 0;
        }
    }
    const double nv = norm2(v, U);
    for (int u = 0; u < U; u++)
        d[u] = v[u] / nv;
    free(mem);
    if (iters) *iters = it;
    if (converged) *converged = conv;
    return f;
}
