/* Hebbian connection strengths of conv layers and dynamic sparse training
 * (hebbian.h, seed 004).
 *
 * Dimension letters: B samples of a block, C input channels, H W input size,
 * F filters, K kernel side, P padding, HO WO output size, HW = HO WO output
 * positions, CKK = C K K connections of a filter. Block arrays put the
 * position outermost and the sample next: row (p, b). */
#include "modsweep/hebbian.h"
#include "modsweep/error.h"
#include "modsweep/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

ms_conv_geom_t ms_conv_geom(const ms_layout_t *L, int l) {
    const ms_arch_t *a = &L->arch;
    ms_conv_geom_t g = {.C = L->conv_in_c[l],
                        .H = l ? L->pool_h[l - 1] : a->in_h,
                        .W = l ? L->pool_w[l - 1] : a->in_w,
                        .F = a->conv_c[l],
                        .K = a->conv_k,
                        .P = a->conv_pad};
    return g;
}

int ms_hebb_init(ms_hebb_t *h, const ms_conv_geom_t *g, int max_b, int with_corr) {
    memset(h, 0, sizeof *h);
    h->g = *g;
    h->HO = g->H + 2 * g->P - g->K + 1;
    h->WO = g->W + 2 * g->P - g->K + 1;
    h->CKK = g->C * g->K * g->K;
    h->max_b = max_b;
    h->with_corr = with_corr;
    if (h->HO < 1 || h->WO < 1 || max_b < 1)
        return ms_err_set(MS_EINVAL, "hebbian: conv output %dx%d, block %d", h->HO, h->WO, max_b);
    const size_t HW = (size_t)h->HO * h->WO, F = g->F, CKK = h->CKK, B = max_b;
    h->binary = calloc(F * CKK, sizeof(double));
    h->col = malloc(sizeof(double) * HW * B * CKK);
    h->ycol = malloc(sizeof(double) * F * HW * B);
    int ok = h->binary && h->col && h->ycol;
    if (ok && with_corr) {
        h->sx = calloc(CKK * HW, sizeof(double));
        h->sxx = calloc(CKK * HW, sizeof(double));
        h->sy = calloc(F * HW, sizeof(double));
        h->syy = calloc(F * HW, sizeof(double));
        h->sxy = calloc(HW * F * CKK, sizeof(double));
        h->xp = malloc(sizeof(double) * (CKK * HW + F * HW)); /* shift references */
        h->yp = malloc(sizeof(double) * HW * F * B);
        ok = h->sx && h->sxx && h->sy && h->syy && h->sxy && h->xp && h->yp;
    }
    if (!ok) {
        ms_hebb_free(h);
        return ms_err_set(MS_ENOMEM, "hebbian: out of memory");
    }
    return 0;
}

void ms_hebb_free(ms_hebb_t *h) {
    free(h->binary);
    free(h->sx);
    free(h->sxx);
    free(h->sy);
    free(h->syy);
    free(h->sxy);
    free(h->col);
    free(h->ycol);
    free(h->xp);
    free(h->yp);
    memset(h, 0, sizeof *h);
}

/* col (HW x B x CKK): the input value behind each connection at each position. */
static void im2col(const ms_hebb_t *h, const float *x, int B, double *col) {
    const ms_conv_geom_t *g = &h->g;
    const int HW = h->HO * h->WO, K = g->K;
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < h->HO; oh++)
            for (int ow = 0; ow < h->WO; ow++) {
                double *dst = col + ((size_t)(oh * h->WO + ow) * B + b) * h->CKK;
                for (int c = 0; c < g->C; c++)
                    for (int i = 0; i < K; i++) {
                        const int ih = oh + i - g->P;
                        for (int j = 0; j < K; j++) {
                            const int iw = ow + j - g->P;
                            double v = 0.0;
                            if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W)
                                v = x[(((size_t)b * g->C + c) * g->H + ih) * g->W + iw];
                            dst[(c * K + i) * K + j] = v;
                        }
                    }
            }
    (void)HW;
}

void ms_hebb_add(ms_hebb_t *h, const float *x, const float *y, int B) {
    const ms_conv_geom_t *g = &h->g;
    const int F = g->F, CKK = h->CKK, HW = h->HO * h->WO;
    for (int b0 = 0; b0 < B; b0 += h->max_b) {
        const int nb = B - b0 < h->max_b ? B - b0 : h->max_b;
        const float *xb = x + (size_t)b0 * g->C * g->H * g->W;
        const float *yb = y + (size_t)b0 * F * HW;
        im2col(h, xb, nb, h->col);
        if (h->with_corr) {
            /* Shift references: the first sample's values (constant columns
             * then give exact zeros). */
            double *rx = h->xp, *ry = h->xp + (size_t)CKK * HW;
            if (h->samples == 0 && b0 == 0) {
                for (int p = 0; p < HW; p++) {
                    for (int k = 0; k < CKK; k++)
                        rx[(size_t)k * HW + p] = h->col[((size_t)p * nb) * CKK + k];
                    for (int f = 0; f < F; f++)
                        ry[(size_t)f * HW + p] = yb[(size_t)f * HW + p];
                }
            }
            for (int p = 0; p < HW; p++) {
                double *cp = h->col + (size_t)p * nb * CKK;
                for (int b = 0; b < nb; b++)
                    for (int k = 0; k < CKK; k++) {
                        const double v = cp[(size_t)b * CKK + k] - rx[(size_t)k * HW + p];
                        cp[(size_t)b * CKK + k] = v;
                        h->sx[(size_t)k * HW + p] += v;
                        h->sxx[(size_t)k * HW + p] += v * v;
                    }
                double *yp = h->yp + (size_t)p * F * nb;
                for (int f = 0; f < F; f++)
                    for (int b = 0; b < nb; b++) {
                        const double v =
                            (double)yb[((size_t)b * F + f) * HW + p] - ry[(size_t)f * HW + p];
                        yp[(size_t)f * nb + b] = v;
                        h->sy[(size_t)f * HW + p] += v;
                        h->syy[(size_t)f * HW + p] += v * v;
                    }
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, F, CKK, nb, 1.0, yp, nb, cp,
                            CKK, 1.0, h->sxy + (size_t)p * F * CKK, CKK);
            }
            im2col(h, xb, nb, h->col); /* the unshifted values for the binary count */
        }
        /* Binary: [y > 0] (F x HW nb) times [x > 0] (HW nb x CKK). */
        const size_t rows = (size_t)HW * nb;
        for (size_t e = 0; e < rows * CKK; e++)
            h->col[e] = h->col[e] > 0.0 ? 1.0 : 0.0;
        for (int f = 0; f < F; f++)
            for (int p = 0; p < HW; p++)
                for (int b = 0; b < nb; b++)
                    h->ycol[(size_t)f * rows + (size_t)p * nb + b] =
                        yb[((size_t)b * F + f) * HW + p] > 0.0f ? 1.0 : 0.0;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, F, CKK, (int)rows, 1.0, h->ycol,
                    (int)rows, h->col, CKK, 1.0, h->binary, CKK);
        h->samples += nb;
    }
}

void ms_hebb_result(const ms_hebb_t *h, double *binary, double *corr) {
    const int F = h->g.F, CKK = h->CKK, HW = h->HO * h->WO;
    if (binary) memcpy(binary, h->binary, sizeof(double) * (size_t)F * CKK);
    if (!corr) return;
    const double n = (double)h->samples;
    for (int f = 0; f < F; f++)
        for (int k = 0; k < CKK; k++) {
            double s = 0.0;
            for (int p = 0; p < HW; p++) {
                const double mx = h->sx[(size_t)k * HW + p] / n, my = h->sy[(size_t)f * HW + p] / n;
                const double vx = h->sxx[(size_t)k * HW + p] / n - mx * mx;
                const double vy = h->syy[(size_t)f * HW + p] / n - my * my;
                const double cxy = h->sxy[((size_t)p * F + f) * CKK + k] / n - mx * my;
                if (vx > 0.0 && vy > 0.0) s += fabs(cxy / sqrt(vx * vy));
            }
            corr[(size_t)f * CKK + k] = h->samples > 0 ? s / HW : NAN;
        }
}

void ms_conv_preact(const ms_conv_geom_t *g, const float *x, const float *w, const float *b, int B,
                    float *y) {
    const int HO = g->H + 2 * g->P - g->K + 1, WO = g->W + 2 * g->P - g->K + 1, K = g->K;
    for (int n = 0; n < B; n++)
        for (int f = 0; f < g->F; f++)
            for (int oh = 0; oh < HO; oh++)
                for (int ow = 0; ow < WO; ow++) {
                    double s = b ? b[f] : 0.0;
                    for (int c = 0; c < g->C; c++)
                        for (int i = 0; i < K; i++) {
                            const int ih = oh + i - g->P;
                            if (ih < 0 || ih >= g->H) continue;
                            for (int j = 0; j < K; j++) {
                                const int iw = ow + j - g->P;
                                if (iw < 0 || iw >= g->W) continue;
                                s += (double)w[((f * g->C + c) * K + i) * K + j] *
                                     x[(((size_t)n * g->C + c) * g->H + ih) * g->W + iw];
                            }
                        }
                    y[(((size_t)n * g->F + f) * HO + oh) * WO + ow] = (float)s;
                }
}

/* ---- dynamic sparse training ----------------------------------------------- */

struct ms_sparse {
    const ms_layout_t *L;
    uint64_t seed;
    int every, k1, k2, n_conv, events;
    ms_hebb_t hebb[MS_MAX_CONV];
    uint8_t *mask[MS_MAX_CONV]; /* 1 = active, per conv weight */
    double *strength;           /* scratch (F * CKK of the largest layer) */
    int32_t *order;             /* scratch (K K) */
    uint8_t *state;             /* scratch (K K) */
};

int ms_sparse_create(ms_sparse_t **out, const ms_settings_t *s, const ms_layout_t *L) {
    *out = NULL;
    if (s->meas.sparse_every <= 0 || L->arch.n_conv == 0) return 0;
    ms_sparse_t *sp = calloc(1, sizeof *sp);
    if (!sp) return ms_err_set(MS_ENOMEM, "sparse training: out of memory");
    sp->L = L;
    sp->seed = s->seed;
    sp->every = s->meas.sparse_every;
    sp->k1 = s->meas.sparse_k1;
    sp->k2 = s->meas.sparse_k2;
    sp->n_conv = L->arch.n_conv;
    const ms_arch_t *a = &L->arch;
    size_t most = 0;
    int rc = 0;
    for (int l = 0; l < a->n_conv && !rc; l++) {
        ms_conv_geom_t g = ms_conv_geom(L, l);
        rc = ms_hebb_init(&sp->hebb[l], &g, s->batch, 0);
        const size_t n = L->t[L->conv_weight[l]].n;
        if (!rc && !(sp->mask[l] = malloc(n))) rc = ms_err_set(MS_ENOMEM, "sparse: out of memory");
        if (!rc) memset(sp->mask[l], 1, n);
        if (n > most) most = n;
    }
    if (!rc) {
        sp->strength = malloc(sizeof(double) * most);
        sp->order = malloc(sizeof(int32_t) * (size_t)a->conv_k * a->conv_k);
        sp->state = malloc((size_t)a->conv_k * a->conv_k);
        if (!sp->strength || !sp->order || !sp->state)
            rc = ms_err_set(MS_ENOMEM, "sparse: out of memory");
    }
    if (rc) {
        ms_sparse_free(sp);
        return rc;
    }
    *out = sp;
    return 0;
}

void ms_sparse_free(ms_sparse_t *sp) {
    if (!sp) return;
    for (int l = 0; l < MS_MAX_CONV; l++) {
        ms_hebb_free(&sp->hebb[l]);
        free(sp->mask[l]);
    }
    free(sp->strength);
    free(sp->order);
    free(sp->state);
    free(sp);
}

void ms_sparse_select(const double *s, int kk, int k1, int k2, int32_t *order, uint8_t *state) {
    /* Insertion sort: strongest first, ties keep the lower index first. */
    for (int i = 0; i < kk; i++)
        order[i] = i;
    for (int i = 1; i < kk; i++) {
        int32_t v = order[i];
        int j = i - 1;
        while (j >= 0 && s[order[j]] < s[v]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    for (int rank = 0; rank < kk; rank++)
        state[order[rank]] = rank < k1   ? MS_SPARSE_KEEP
                             : rank < k2 ? MS_SPARSE_REINIT
                                         : MS_SPARSE_PRUNE;
}

/* One connection event of conv layer l. */
static void sparse_event(ms_sparse_t *sp, ms_trainer_t *tr, int l) {
    const ms_layout_t *L = sp->L;
    const ms_tensor_t *t = &L->t[L->conv_weight[l]];
    const int F = t->shape[0], C = t->shape[1], KK = t->shape[2] * t->shape[3];
    const float bound = (float)(1.0 / sqrt((double)t->fan_in));
    ms_hebb_result(&sp->hebb[l], sp->strength, NULL);
    ms_rng_t r;
    ms_rng_init(&r, sp->seed, MS_RNG_SPARSE, (uint32_t)sp->events);
    for (int f = 0; f < F; f++)
        for (int c = 0; c < C; c++) {
            const size_t base = ((size_t)f * C + c) * KK;
            ms_sparse_select(sp->strength + base, KK, sp->k1, sp->k2, sp->order, sp->state);
            for (int i = 0; i < KK; i++) {
                const size_t e = base + (size_t)i, off = t->off + e;
                const int was = sp->mask[l][e];
                switch (sp->state[i]) {
                case MS_SPARSE_KEEP:
                    sp->mask[l][e] = 1;
                    if (!was) tr->m[off] = tr->v[off] = 0.0f;
                    break;
                case MS_SPARSE_REINIT:
                    ms_rng_seek(&r, off);
                    tr->params[off] = (2.0f * ms_rng_float(&r) - 1.0f) * bound;
                    sp->mask[l][e] = 1;
                    tr->m[off] = tr->v[off] = 0.0f;
                    break;
                default:
                    tr->params[off] = 0.0f;
                    sp->mask[l][e] = 0;
                    tr->m[off] = tr->v[off] = 0.0f;
                    break;
                }
            }
        }
    /* The sums start again. */
    const ms_hebb_t *h = &sp->hebb[l];
    memset(sp->hebb[l].binary, 0, sizeof(double) * (size_t)h->g.F * h->CKK);
    sp->hebb[l].samples = 0;
}

int ms_sparse_after_step(ms_sparse_t *sp, ms_trainer_t *tr, long step) {
    if (!sp) return 0;
    const ms_layout_t *L = sp->L;
    const ms_net_t *net = &tr->net;
    const int B = net->last_b;
    if (!net->keep_conv_act && net->ops->conv_act_optional)
        return ms_err_set(MS_EINVAL, "dynamic sparse training reads the conv activations: its "
                                     "training hooks must set needs_conv_act");
    for (int l = 0; l < sp->n_conv; l++) {
        const float *x = l ? net->pool_out[l - 1] : tr->bx;
        ms_hebb_add(&sp->hebb[l], x, net->conv_act[l], B);
    }
    if ((step + 1) % sp->every == 0) {
        for (int l = 0; l < sp->n_conv; l++)
            sparse_event(sp, tr, l);
        sp->events++;
    }
    for (int l = 0; l < sp->n_conv; l++) {
        const ms_tensor_t *t = &L->t[L->conv_weight[l]];
        for (size_t e = 0; e < t->n; e++)
            if (!sp->mask[l][e]) tr->params[t->off + e] = 0.0f;
    }
    return 0;
}

void ms_sparse_stats(const ms_sparse_t *sp, double *sparsity, int *events) {
    for (int l = 0; l < sp->n_conv; l++) {
        const size_t n = sp->L->t[sp->L->conv_weight[l]].n;
        size_t off = 0;
        for (size_t e = 0; e < n; e++)
            off += !sp->mask[l][e];
        sparsity[l] = (double)off / (double)n;
    }
    if (events) *events = sp->events;
}
