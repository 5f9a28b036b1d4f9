/* The exact pruning on a data-parallel device (prune_dev.h): the driver,
 * written once against ms_pdev_ops_t, and the host emulation of the
 * operations (plain loops over the per-element functions of prune_dev.h).
 *
 * The driver follows ms_prune's fast path (src/prune/prune.c) step by step: the
 * same layer and row order, the same windows split across the team, the same
 * decisions, ties and final check; only the evaluation of a window's states
 * runs on the device, all states at once.
 *
 * Dimension letters: N samples, NI inputs and O outputs of an fc layer, NC
 * classes, D floats per image, B window length. */
#include "modsweep/prune_dev.h"
#include "modsweep/error.h"
#include "modsweep/log.h"

#include "window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef ms_i128 i128;

/* Window lengths when cfg->window is 0: the first, and the shortest after a
 * failure (per rank of the team). The mask does not depend on them. */
#define WIN_START 64
#define WIN_MIN 16

static double fixed_to_double(i128 q) {
    return (double)q / 9007199254740992.0;
}

/* Device buffers of one pruning run. */
typedef struct dev_run {
    const ms_pdev_ops_t *ops;
    float *w;               /* (n_params) current weights */
    float *x;               /* (N, D) images */
    double *feat[2];        /* conv scratch (N, widest conv vector) */
    double *hin[MS_MAX_FC]; /* (N, NI_l) */
    double *logits;         /* (N, NC) */
    double *hT;             /* (widest NI, N) */
    double *tval;           /* row tree values */
    uint8_t *tpres;         /* row tree presence */
    double *zc, *zs;
    uint8_t *chg;
    i128 *q, *delta, *dq, *scal;
    int32_t *res;
    int *row_start[MS_MAX_FC], *idx[MS_MAX_FC];
    double *cw[MS_MAX_FC];
    int *hrow, *hidx; /* host scratch of upload_csr */
    double *hw;
} dev_run_t;

#define DEV_ALLOC(ptr, bytes)                                                                      \
    do {                                                                                           \
        if (!err) err = ops->alloc((void **)&(ptr), (bytes));                                      \
    } while (0)

/* Uploads layer l of the host weights w as CSR into the run's buffers and
 * describes it in *c. */
static int upload_csr(dev_run_t *d, const ms_layout_t *L, const float *w, int l, ms_pdev_csr_t *c) {
    int *hrow = d->hrow, *hidx = d->hidx;
    double *hw = d->hw;
    const int O = L->arch.fc_out[l], NI = L->fc_in[l];
    const float *wl = w + L->t[L->fc_weight[l]].off;
    long k = 0;
    for (int o = 0; o < O; o++) {
        hrow[o] = (int)k;
        for (int i = 0; i < NI; i++) {
            const float v = wl[(size_t)o * NI + i];
            if (v == 0.0f) continue;
            hidx[k] = i;
            hw[k++] = (double)v;
        }
    }
    hrow[O] = (int)k;
    int err = d->ops->h2d(d->row_start[l], hrow, sizeof(int) * (size_t)(O + 1));
    if (!err && k) err = d->ops->h2d(d->idx[l], hidx, sizeof(int) * (size_t)k);
    if (!err && k) err = d->ops->h2d(d->cw[l], hw, sizeof(double) * (size_t)k);
    c->row_start = d->row_start[l];
    c->idx = d->idx[l];
    c->w = d->cw[l];
    c->bias = L->fc_bias_t[l] >= 0 ? d->w + L->t[L->fc_bias_t[l]].off : NULL;
    c->O = O;
    c->NI = NI;
    return err;
}

/* The levels of a row tree over NI leaves inside the run's tree buffers. */
static void tree_layout(ms_pdev_tree_t *t, dev_run_t *d, int NI, int N) {
    memset(t, 0, sizeof *t);
    t->N = N;
    t->NI = NI;
    t->nk[0] = NI;
    long long v = 0, p = 0;
    while (t->nk[t->D] > 1) {
        t->nk[t->D + 1] = (t->nk[t->D] + 1) / 2;
        t->D++;
        t->voff[t->D] = v;
        t->poff[t->D] = p;
        v += (long long)t->nk[t->D] * N;
        p += t->nk[t->D];
    }
    t->val = d->tval;
    t->pres = d->tpres;
    t->hT = d->hT;
}

/* The current sum S (scal[0]) on the host. */
static int read_s(dev_run_t *d, i128 *s) {
    return d->ops->d2h(s, d->scal, sizeof(i128));
}

/* The canonical forward of every fc layer from the features (host weights w,
 * also uploaded as CSR into csr), the samples' losses, and their sum in
 * scal[slot] and *s. */
static int loss_sum(dev_run_t *d, const ms_layout_t *L, const float *w, int N, int label,
                    ms_pdev_csr_t *csr, int slot, i128 *s) {
    const int nf = L->arch.n_fc, NC = L->arch.fc_out[nf - 1];
    int err = 0;
    for (int l = 0; l < nf && !err; l++) {
        err = upload_csr(d, L, w, l, &csr[l]);
        if (!err)
            err = d->ops->fc_forward(l + 1 < nf ? d->hin[l + 1] : d->logits, d->hin[l], &csr[l], N,
                                     l + 1 < nf);
    }
    if (!err) err = d->ops->losses(d->q, d->logits, N, NC, label);
    if (!err) err = d->ops->sum(d->scal + slot, d->q, N);
    if (!err) err = d->ops->d2h(s, d->scal + slot, sizeof(i128));
    return err;
}

int ms_prune_dev(const ms_layout_t *L, const float *params, const float *x, int N,
                 const ms_prune_cfg_t *cfg, void *team, const ms_pdev_ops_t *ops,
                 ms_prune_result_t *res) {
    const ms_arch_t *a = &L->arch;
    const double t0 = MPI_Wtime();
    const int nf = a->n_fc, NC = a->fc_out[nf - 1];
    const size_t D = (size_t)a->in_c * a->in_h * a->in_w;
    if (N < 1) return ms_err_set(MS_EINVAL, "pruning: label %d has no images", cfg->label);
    int team_size = 1, me = 0;
    MPI_Comm_size(cfg->comm, &team_size);
    MPI_Comm_rank(cfg->comm, &me);

    /* Sizes: the widest layer input, the widest conv vector, non-zeros. */
    int max_ni = 1, max_width = NC;
    size_t conv_max = D, tree_vals = 0, tree_pres = 0;
    for (int l = 0; l < nf; l++) {
        if (L->fc_in[l] > max_ni) max_ni = L->fc_in[l];
        if (L->fc_in[l] > max_width) max_width = L->fc_in[l];
        if (a->fc_out[l] > max_width) max_width = a->fc_out[l];
        size_t v = 0, p = 0;
        for (int n = L->fc_in[l]; n > 1;) {
            n = (n + 1) / 2;
            v += (size_t)n * N;
            p += n;
        }
        if (v > tree_vals) tree_vals = v;
        if (p > tree_pres) tree_pres = p;
    }
    for (int l = 0; l < a->n_conv; l++) {
        size_t s = (size_t)a->conv_c[l] * L->pool_h[l] * L->pool_w[l];
        if (s > conv_max) conv_max = s;
    }

    dev_run_t d;
    memset(&d, 0, sizeof d);
    d.ops = ops;
    float *w = malloc(sizeof(float) * L->n_params);
    d.hrow = malloc(sizeof(int) * (size_t)(max_width + 1));
    d.hidx = malloc(sizeof(int) * ((size_t)max_ni * max_width + 1));
    d.hw = malloc(sizeof(double) * ((size_t)max_ni * max_width + 1));
    int32_t *hres = malloc(sizeof(int32_t) * (MS_PDEV_BMAX + 2));
    int err = 0;
    if (!w || !d.hrow || !d.hidx || !d.hw || !hres)
        err = ms_err_set(MS_ENOMEM, "pruning: out of host memory");
    DEV_ALLOC(d.w, sizeof(float) * L->n_params);
    DEV_ALLOC(d.x, sizeof(float) * D * N);
    if (a->n_conv > 0) {
        DEV_ALLOC(d.feat[0], sizeof(double) * conv_max * N);
        DEV_ALLOC(d.feat[1], sizeof(double) * conv_max * N);
    }
    for (int l = 0; l < nf; l++) {
        const size_t nw = (size_t)a->fc_out[l] * L->fc_in[l];
        DEV_ALLOC(d.hin[l], sizeof(double) * (size_t)L->fc_in[l] * N);
        DEV_ALLOC(d.row_start[l], sizeof(int) * (size_t)(a->fc_out[l] + 1));
        DEV_ALLOC(d.idx[l], sizeof(int) * (nw + 1));
        DEV_ALLOC(d.cw[l], sizeof(double) * (nw + 1));
    }
    DEV_ALLOC(d.logits, sizeof(double) * (size_t)NC * N);
    DEV_ALLOC(d.hT, sizeof(double) * (size_t)max_ni * N);
    DEV_ALLOC(d.tval, sizeof(double) * (tree_vals + 1));
    DEV_ALLOC(d.tpres, tree_pres + 1);
    DEV_ALLOC(d.zc, sizeof(double) * N);
    DEV_ALLOC(d.zs, sizeof(double) * (size_t)MS_PDEV_BMAX * N);
    DEV_ALLOC(d.chg, (size_t)MS_PDEV_BMAX * N);
    DEV_ALLOC(d.delta, sizeof(i128) * (size_t)MS_PDEV_BMAX * N);
    DEV_ALLOC(d.q, sizeof(i128) * N);
    DEV_ALLOC(d.dq, sizeof(i128) * N);
    DEV_ALLOC(d.scal, sizeof(i128) * 4);
    DEV_ALLOC(d.res, sizeof(int32_t) * (MS_PDEV_BMAX + 2));
    if (err) {
        ms_err_wrap(err, "pruning on %s for %d images: ", ops->name, N);
        goto done;
    }
    memcpy(w, params, sizeof(float) * L->n_params);
    if ((err = ops->h2d(d.w, w, sizeof(float) * L->n_params))) goto done;
    if ((err = ops->h2d(d.x, x, sizeof(float) * D * N))) goto done;

    /* The canonical features: conv blocks in double, or the images as they are. */
    if (a->n_conv == 0) {
        err = ops->to_double(d.hin[0], d.x, D * N);
    } else {
        err = ops->to_double(d.feat[0], d.x, D * N);
        int C = a->in_c, H = a->in_h, W = a->in_w, cur = 0;
        for (int l = 0; l < a->n_conv && !err; l++) {
            double *out = l == a->n_conv - 1 ? d.hin[0] : d.feat[1 - cur];
            const float *cb = L->conv_bias_t[l] >= 0 ? d.w + L->t[L->conv_bias_t[l]].off : NULL;
            err = ops->conv_pool(out, d.feat[cur], d.w + L->t[L->conv_weight[l]].off, cb, N, C, H,
                                 W, a->conv_c[l], a->conv_k, a->conv_pad);
            cur = 1 - cur;
            C = a->conv_c[l];
            H = L->pool_h[l];
            W = L->pool_w[l];
        }
    }
    if (err) goto done;

    /* The canonical forward of every fc layer, the losses and S0. */
    ms_pdev_csr_t csr[MS_MAX_FC];
    i128 scal[3] = {0, 0, 0};
    if ((err = loss_sum(&d, L, w, N, cfg->label, csr, 1, &scal[1]))) goto done;
    const i128 s0 = scal[1];
    /* |L - L0| < 1e-9 in fixed point: 1e-9 * N * 2^53. */
    const i128 tie_tol = (i128)(1e-9 * 9007199254740992.0) * N;
    scal[0] = s0;
    scal[2] = tie_tol;
    if ((err = ops->h2d(d.scal, scal, sizeof scal))) goto done;

    memset(res->mask, 1, L->n_fc_weights);
    size_t off[MS_MAX_FC], acc = 0;
    for (int l = 0; l < nf; l++) {
        off[l] = acc;
        acc += L->t[L->fc_weight[l]].n;
        res->total[l] = (long)L->t[L->fc_weight[l]].n;
        res->layer_seconds[l] = 0;
    }
    long ties = 0, evaluated = 0, windows = 0;
    for (int l = nf - 1; l >= 0 && !err; l--) {
        if (!(cfg->layers & (1u << l))) continue;
        const double tl = MPI_Wtime();
        const int O = a->fc_out[l], NI = L->fc_in[l];
        uint8_t *mask = res->mask + off[l];
        float *wl = w + L->t[L->fc_weight[l]].off;
        const size_t wl_off = L->t[L->fc_weight[l]].off;
        const float *bl_host = L->fc_bias_t[l] >= 0 ? w + L->t[L->fc_bias_t[l]].off : NULL;
        const float *bl_dev = L->fc_bias_t[l] >= 0 ? d.w + L->t[L->fc_bias_t[l]].off : NULL;
        ms_pdev_win_t win;
        memset(&win, 0, sizeof win);
        win.l = l;
        win.nf = nf;
        win.NC = NC;
        win.N = N;
        win.label = cfg->label;
        win.max_width = NC;
        /* Layers downstream of l are final now: their sparse form, and which
         * outputs of l the next layer reads. */
        for (int dl = l + 1; dl < nf && !err; dl++) {
            err = upload_csr(&d, L, w, dl, &win.csr[dl]);
            win.hin[dl] = d.hin[dl];
            if (L->fc_in[dl] > win.max_width) win.max_width = L->fc_in[dl];
            if (a->fc_out[dl] > win.max_width) win.max_width = a->fc_out[dl];
        }
        if (!err) err = ops->transpose(d.hT, d.hin[l], N, NI);
        if (err) break;
        win.logits = d.logits;
        win.q = d.q;
        win.zc = d.zc;
        win.zs = d.zs;
        win.chg = d.chg;
        win.delta = d.delta;
        win.dq = d.dq;
        win.scal = d.scal;
        win.res = d.res;
        tree_layout(&win.tree, &d, NI, N);
        int B = cfg->window > 0 ? cfg->window : WIN_START * team_size;
        if (B > MS_PDEV_BMAX) B = MS_PDEV_BMAX;
        for (int o = 0; o < O && !err; o++) {
            uint8_t *mrow = mask + (size_t)o * NI;
            float *wrow = wl + (size_t)o * NI;
            win.o = o;
            win.bias = bl_dev ? bl_dev + o : NULL;
            win.tree.w = d.w + wl_off + (size_t)o * NI;
            int read = l == nf - 1;
            if (!read) {
                const float *wn = w + L->t[L->fc_weight[l + 1]].off;
                for (int r = 0; r < a->fc_out[l + 1] && !read; r++)
                    read = wn[(size_t)r * O + o] != 0.0f;
            }
            if (!read) {
                /* No later row reads unit o: every candidate leaves L as it is. */
                i128 s;
                if ((err = read_s(&d, &s))) break;
                i128 dd = s - s0;
                if (dd < 0) dd = -dd;
                /* Counted once for the team (every rank sees the same S). */
                if (dd < tie_tol && me == 0) ties += NI;
                for (int i = 0; i < NI; i++) {
                    mrow[i] = 0;
                    wrow[i] = 0.0f;
                }
                err = ops->zero(d.w + wl_off + (size_t)o * NI, sizeof(float) * NI);
                const double h = ms_pdev_relu(bl_host ? (double)bl_host[o] : 0.0);
                if (!err) err = ops->set_column(d.hin[l + 1], N, a->fc_out[l], o, h);
                continue;
            }
            if ((err = ops->tree_build(&win.tree, win.bias, d.zc))) break;
            int j = 0;
            while (j < NI && !err) {
                const int Bw = NI - j < B ? NI - j : B;
                /* This rank's share of the window's states b = 1..Bw: state b
                 * zeroes candidates j .. j+b-1. */
                const int b0 = 1 + (int)((long)Bw * me / team_size);
                const int b1 = (int)((long)Bw * (me + 1) / team_size);
                const int nb = b1 >= b0 ? b1 - b0 + 1 : 0;
                win.j = j;
                win.b0 = b0;
                win.b1 = b1;
                win.Bw = Bw;
                if (nb > 0) {
                    err = ops->window(&win);
                } else {
                    const int32_t none[2] = {Bw + 1, Bw + 1};
                    err = ops->h2d(d.res, none, sizeof none);
                }
                if (!err && team_size > 1) err = ops->team_min(d.res, team, cfg->comm);
                if (!err) err = ops->d2h(hres, d.res, sizeof(int32_t) * (size_t)(2 + nb));
                if (err) break;
                const int fail = hres[0], gfail = hres[1];
                windows++;
                evaluated += nb;
                /* Ties among this rank's decided states (b <= gfail); states
                 * after the first failure were speculative. */
                for (int b = b0; b <= b1 && b <= gfail && b <= fail; b++)
                    ties += (hres[2 + b - b0] & MS_PDEV_TIE) != 0;
                /* Accept candidates j .. j+gfail-2; keep j+gfail-1 if it failed. */
                const int accept = ms__window_accepted(gfail, Bw);
                for (int i = j; i < j + accept; i++) {
                    mrow[i] = 0;
                    wrow[i] = 0.0f;
                }
                int next = j + accept;
                if (gfail <= Bw) mrow[next++] = 1;
                if (accept > 0) {
                    err = ops->zero(d.w + wl_off + (size_t)o * NI + j, sizeof(float) * accept);
                    if (!err) err = ops->commit(&win, accept);
                }
                /* Window length: grow while windows pass, shrink to twice the
                 * run length after a failure. The mask does not depend on it. */
                if (cfg->window <= 0) {
                    const int lo = WIN_MIN * team_size;
                    if (gfail > Bw)
                        B = B * 2 > MS_PDEV_BMAX ? MS_PDEV_BMAX : B * 2;
                    else
                        B = 2 * gfail < lo ? lo
                                           : (2 * gfail > MS_PDEV_BMAX ? MS_PDEV_BMAX : 2 * gfail);
                    if (B > MS_PDEV_BMAX) B = MS_PDEV_BMAX;
                }
                j = next;
            }
        }
        res->layer_seconds[l] = MPI_Wtime() - tl;
        if (cfg->verbose)
            ms_message("prune label %d on %s: fc%d done in %.2f s", cfg->label, ops->name, l + 1,
                       res->layer_seconds[l]);
    }
    if (err) goto done;

    long kept_all = 0;
    for (int l = 0; l < nf; l++) {
        long k = 0;
        for (long q = 0; q < res->total[l]; q++)
            k += res->mask[off[l] + q];
        res->kept[l] = k;
        kept_all += k;
    }
    res->ecs = (double)kept_all / (double)L->n_fc_weights;
    res->loss0 = fixed_to_double(s0) / N;
    /* The final loss, recomputed from scratch with the pruned weights, and a
     * check that the incremental state is exactly the canonical evaluation. */
    i128 s_cur = 0, s_final = 0;
    if ((err = read_s(&d, &s_cur))) goto done;
    if ((err = loss_sum(&d, L, w, N, cfg->label, csr, 3, &s_final))) goto done;
    if (s_final != s_cur) {
        err = ms_err_set(MS_EINVAL,
                         "pruning on %s: the incremental state diverged from the "
                         "canonical evaluation (bug)",
                         ops->name);
        goto done;
    }
    res->loss_final = fixed_to_double(s_final) / N;
    long tot[2] = {ties, evaluated}, sum[2];
    MPI_Allreduce(tot, sum, 2, MPI_LONG, MPI_SUM, cfg->comm);
    res->ties = sum[0];
    res->evaluated = sum[1];
    res->windows = windows;
done:
    ops->free(d.w);
    ops->free(d.x);
    ops->free(d.feat[0]);
    ops->free(d.feat[1]);
    for (int l = 0; l < nf; l++) {
        ops->free(d.hin[l]);
        ops->free(d.row_start[l]);
        ops->free(d.idx[l]);
        ops->free(d.cw[l]);
    }
    ops->free(d.logits);
    ops->free(d.hT);
    ops->free(d.tval);
    ops->free(d.tpres);
    ops->free(d.zc);
    ops->free(d.zs);
    ops->free(d.chg);
    ops->free(d.delta);
    ops->free(d.q);
    ops->free(d.dq);
    ops->free(d.scal);
    ops->free(d.res);
    free(w);
    free(d.hrow);
    free(d.hidx);
    free(d.hw);
    free(hres);
    res->seconds = MPI_Wtime() - t0;
    return err;
}

/* ---- the host emulation ------------------------------------------------------------- */

static int h_alloc(void **p, size_t bytes) {
    *p = calloc(1, bytes ? bytes : 1);
    return *p ? 0 : ms_err_set(MS_ENOMEM, "cannot allocate %zu bytes", bytes);
}
static void h_free(void *p) {
    free(p);
}
static int h_copy(void *dst, const void *src, size_t bytes) {
    memcpy(dst, src, bytes);
    return 0;
}
static int h_zero(void *dst, size_t bytes) {
    memset(dst, 0, bytes);
    return 0;
}

static int h_to_double(double *out, const float *x, size_t n) {
    for (size_t e = 0; e < n; e++)
        out[e] = (double)x[e];
    return 0;
}

static int h_conv_pool(double *out, const double *in, const float *w, const float *b, int N, int C,
                       int H, int W, int F, int K, int P) {
    const int PH = (H + 2 * P - K + 1) / 2, PW = (W + 2 * P - K + 1) / 2;
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++)
            for (int py = 0; py < PH; py++)
                for (int px = 0; px < PW; px++)
                    out[(((size_t)n * F + f) * PH + py) * PW + px] = ms_pdev_conv_pool_at(
                        in + (size_t)n * C * H * W, w, b, C, H, W, K, P, f, py, px);
    return 0;
}

static int h_fc_forward(double *out, const double *in, const ms_pdev_csr_t *c, int N, int relu) {
    for (int n = 0; n < N; n++)
        for (int r = 0; r < c->O; r++) {
            const double z = ms_pdev_row(c, r, in + (size_t)n * c->NI);
            out[(size_t)n * c->O + r] = relu ? ms_pdev_relu(z) : z;
        }
    return 0;
}

static int h_transpose(double *hT, const double *h, int N, int NI) {
    for (int n = 0; n < N; n++)
        for (int i = 0; i < NI; i++)
            hT[(size_t)i * N + n] = h[(size_t)n * NI + i];
    return 0;
}

static int h_losses(i128 *q, const double *logits, int N, int NC, int label) {
    for (int n = 0; n < N; n++)
        q[n] = ms_canon_fixed_loss(ms_canon_ce(logits + (size_t)n * NC, NC, label));
    return 0;
}

static int h_sum(i128 *out, const i128 *q, int N) {
    i128 s = 0;
    for (int n = 0; n < N; n++)
        s += q[n];
    *out = s;
    return 0;
}

static int h_tree_build(const ms_pdev_tree_t *t, const float *bias, double *zc) {
    for (int k = 1; k <= t->D; k++)
        for (int u = 0; u < t->nk[k]; u++) {
            ms_pdev_update_pres(t, k, u);
            for (int n = 0; n < t->N; n++)
                ms_pdev_update_val(t, k, u, n);
        }
    for (int n = 0; n < t->N; n++)
        zc[n] = ms_pdev_root_z(t, bias, n);
    return 0;
}

static int h_set_column(double *h, int N, int NI, int col, double v) {
    for (int n = 0; n < N; n++)
        h[(size_t)n * NI + col] = v;
    return 0;
}

/* The downstream of layer l for sample n when unit o's activation is act:
 * returns the fixed-point loss; with commit, writes the new activations and
 * logits into the committed state. va, vb: max_width doubles of scratch. */
static i128 h_downstream(const ms_pdev_win_t *w, int n, double act, int commit, double *va,
                         double *vb) {
    const int l = w->l, nf = w->nf;
    double *in = va, *out = vb;
    if (l + 1 < nf) {
        const int NI = w->csr[l + 1].NI;
        memcpy(in, w->hin[l + 1] + (size_t)n * NI, sizeof(double) * NI);
        in[w->o] = act;
        if (commit) memcpy(w->hin[l + 1] + (size_t)n * NI, in, sizeof(double) * NI);
        for (int dl = l + 1; dl < nf; dl++) {
            const ms_pdev_csr_t *c = &w->csr[dl];
            const int hidden = dl + 1 < nf;
            for (int r = 0; r < c->O; r++) {
                const double z = ms_pdev_row(c, r, in);
                out[r] = hidden ? ms_pdev_relu(z) : z;
            }
            if (commit) {
                double *dst = hidden ? w->hin[dl + 1] : w->logits;
                memcpy(dst + (size_t)n * c->O, out, sizeof(double) * c->O);
            }
            double *t = in;
            in = out;
            out = t;
        }
    } else {
        memcpy(in, w->logits + (size_t)n * w->NC, sizeof(double) * w->NC);
        in[w->o] = act;
        if (commit) w->logits[(size_t)n * w->NC + w->o] = act;
    }
    return ms_canon_fixed_loss(ms_canon_ce(in, w->NC, w->label));
}

static int h_window(const ms_pdev_win_t *w) {
    const int N = w->N, nb = w->b1 - w->b0 + 1;
    double *va = malloc(sizeof(double) * w->max_width), *vb = malloc(sizeof(double) * w->max_width);
    if (!va || !vb) {
        free(va);
        free(vb);
        return ms_err_set(MS_ENOMEM, "pruning: out of memory");
    }
    for (int k = 0; k < nb; k++) {
        const int c = w->j + w->b0 + k - 1;
        for (int n = 0; n < N; n++) {
            const size_t p = (size_t)k * N + n;
            w->zs[p] = ms_pdev_state_z(&w->tree, w->bias, w->j, c, n);
            const double act = ms_pdev_unit_act(w, w->zs[p]);
            w->chg[p] = act != *ms_pdev_unit_slot(w, n);
            w->delta[p] = w->chg[p] ? h_downstream(w, n, act, 0, va, vb) - w->q[n] : 0;
        }
    }
    int32_t first = 0;
    for (int k = 0; k < nb; k++) {
        i128 s = w->scal[0];
        for (int n = 0; n < N; n++)
            s += w->delta[(size_t)k * N + n];
        w->res[2 + k] = ms_pdev_flags(s, w->scal[1], w->scal[2]);
        if (!first && (w->res[2 + k] & MS_PDEV_FAIL)) first = w->b0 + k;
    }
    /* No failure: one past the window's last state. */
    w->res[0] = first ? first : w->Bw + 1;
    w->res[1] = w->res[0];
    free(va);
    free(vb);
    return 0;
}

static int h_commit(const ms_pdev_win_t *w, int count) {
    const ms_pdev_tree_t *t = &w->tree;
    const int N = w->N, j = w->j;
    for (int k = 1; k <= t->D; k++)
        for (int u = j >> k; u <= (j + count - 1) >> k; u++)
            ms_pdev_update_pres(t, k, u);
    double *va = malloc(sizeof(double) * w->max_width), *vb = malloc(sizeof(double) * w->max_width);
    if (!va || !vb) {
        free(va);
        free(vb);
        return ms_err_set(MS_ENOMEM, "pruning: out of memory");
    }
    i128 sum = 0;
    for (int n = 0; n < N; n++) {
        for (int k = 1; k <= t->D; k++)
            for (int u = j >> k; u <= (j + count - 1) >> k; u++)
                ms_pdev_update_val(t, k, u, n);
        w->zc[n] = ms_pdev_root_z(t, w->bias, n);
        const double act = ms_pdev_unit_act(w, w->zc[n]);
        w->dq[n] = 0;
        if (act != *ms_pdev_unit_slot(w, n)) {
            const i128 qn = h_downstream(w, n, act, 1, va, vb);
            w->dq[n] = qn - w->q[n];
            w->q[n] = qn;
        }
        sum += w->dq[n];
    }
    w->scal[0] += sum;
    free(va);
    free(vb);
    return 0;
}

static int h_team_min(int32_t *res, void *team, MPI_Comm comm) {
    (void)team;
    int rc = MPI_Allreduce(&res[0], &res[1], 1, MPI_INT32_T, MPI_MIN, comm);
    return rc == MPI_SUCCESS ? 0 : ms_err_set(MS_EMPI, "pruning: window reduction failed");
}

static const ms_pdev_ops_t host_ops = {
    .name = "host emulation",
    .alloc = h_alloc,
    .free = h_free,
    .h2d = h_copy,
    .d2h = h_copy,
    .zero = h_zero,
    .to_double = h_to_double,
    .conv_pool = h_conv_pool,
    .fc_forward = h_fc_forward,
    .transpose = h_transpose,
    .losses = h_losses,
    .sum = h_sum,
    .tree_build = h_tree_build,
    .set_column = h_set_column,
    .window = h_window,
    .team_min = h_team_min,
    .commit = h_commit,
};

const ms_pdev_ops_t *ms_pdev_host_ops(void) {
    return &host_ops;
}
