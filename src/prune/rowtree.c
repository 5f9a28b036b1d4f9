/* The pruned row's tree of the fast pruner (rowtree.h), moved out of
 * prune.c unchanged. Built with -ffp-contract=off like prune.c: a node is
 * the rounded sum of its children, as row_tree defines. */
#include "rowtree.h"

#include <stdlib.h>
#include <string.h>

#include "modsweep/error.h"

int rowtree_init(rowtree_t *t, int NI, int N) {
    memset(t, 0, sizeof *t);
    t->N = N;
    t->NI = NI;
    t->nk[0] = NI;
    while (t->nk[t->D] > 1) {
        t->nk[t->D + 1] = (t->nk[t->D] + 1) / 2;
        t->D++;
    }
    size_t doubles = 2 * (size_t)N, ints = 0;
    for (int k = 1; k <= t->D; k++) doubles += (size_t)t->nk[k] * N, ints += t->nk[k];
    for (int k = 0; k <= t->D; k++) {
        size_t span = (size_t)(BMAX >> k) + 2;
        if (k) doubles += span * N;
        ints += span;
    }
    t->mem = malloc(sizeof(double) * doubles + sizeof(int32_t) * ints);
    if (!t->mem) return ms_err_set(MS_ENOMEM, "pruning: cannot allocate a row tree");
    double *d = t->mem;
    t->leaf[0] = d, d += N;
    t->leaf[1] = d, d += N;
    for (int k = 1; k <= t->D; k++) t->val[k] = d, d += (size_t)t->nk[k] * N;
    for (int k = 1; k <= t->D; k++) t->sval[k] = d, d += ((size_t)(BMAX >> k) + 2) * N;
    int32_t *c = (int32_t *)(void *)d;
    for (int k = 1; k <= t->D; k++) t->cnt[k] = c, c += t->nk[k];
    for (int k = 0; k <= t->D; k++) t->scnt[k] = c, c += (BMAX >> k) + 2;
    return 0;
}

/* Node v of level k: whether it is present, and its N values (leaves are
 * computed into buf). Inside a window, nodes above the window's leaves come
 * from the scratch copy. */
static int rt_node(rowtree_t *t, int k, int v, const double **vals, double *buf) {
    if (v >= t->nk[k]) return 0;
    const int in_win = t->win && v >= t->lo[k] && v <= t->hi[k];
    if (k == 0) {
        const int present = in_win ? t->scnt[0][v - t->lo[0]] : t->w[v] != 0.0f;
        if (present) {
            const double wv = (double)t->w[v];
            const double *h = t->hT + (size_t)v * t->N;
            for (int n = 0; n < t->N; n++) buf[n] = wv * h[n];
            *vals = buf;
        }
        return present;
    }
    if (in_win) {
        *vals = t->sval[k] + (size_t)(v - t->lo[k]) * t->N;
        return t->scnt[k][v - t->lo[k]] > 0;
    }
    *vals = t->val[k] + (size_t)v * t->N;
    return t->cnt[k][v] > 0;
}

/* Recomputes node u of level k >= 1 from its children (row_tree's rule). */
static void rt_update(rowtree_t *t, int k, int u) {
    const double *a = NULL, *b = NULL;
    const int pa = rt_node(t, k - 1, 2 * u, &a, t->leaf[0]);
    const int pb = rt_node(t, k - 1, 2 * u + 1, &b, t->leaf[1]);
    int32_t ca, cb;
    if (k == 1) {
        ca = pa;
        cb = pb;
    } else {
        ca = pa ? 1 : 0; /* only presence matters above the leaves */
        cb = pb ? 1 : 0;
    }
    const int in_win = t->win && u >= t->lo[k] && u <= t->hi[k];
    double *out = in_win ? t->sval[k] + (size_t)(u - t->lo[k]) * t->N : t->val[k] + (size_t)u * t->N;
    int32_t *cnt = in_win ? &t->scnt[k][u - t->lo[k]] : &t->cnt[k][u];
    const int N = t->N;
    if (pa && pb)
        for (int n = 0; n < N; n++) out[n] = a[n] + b[n];
    else if (pa)
        memcpy(out, a, sizeof(double) * N);
    else if (pb)
        memcpy(out, b, sizeof(double) * N);
    *cnt = ca + cb;
}

/* Builds the committed tree of a row from its weights. */
void rt_build(rowtree_t *t, const float *w, const double *hT) {
    t->w = w;
    t->hT = hT;
    t->win = 0;
    for (int k = 1; k <= t->D; k++)
        for (int u = 0; u < t->nk[k]; u++) rt_update(t, k, u);
}

/* The row's pre-activations z (N) from the root (window scratch if active). */
void rt_z(rowtree_t *t, const float *bias, double *z) {
    const double *root = NULL;
    const int present = rt_node(t, t->D, 0, &root, t->leaf[0]);
    const int N = t->N;
    if (bias) {
        const double b = (double)*bias;
        for (int n = 0; n < N; n++) z[n] = present ? b + root[n] : b;
    } else {
        for (int n = 0; n < N; n++) z[n] = present ? root[n] : 0.0;
    }
}

/* Opens a window over leaves j .. j+Bw-1: copies the committed nodes above them. */
void rt_window_begin(rowtree_t *t, int j, int Bw) {
    for (int k = 0; k <= t->D; k++) {
        t->lo[k] = j >> k;
        t->hi[k] = (j + Bw - 1) >> k;
    }
    for (int v = t->lo[0]; v <= t->hi[0]; v++) t->scnt[0][v - t->lo[0]] = t->w[v] != 0.0f;
    for (int k = 1; k <= t->D; k++) {
        const int span = t->hi[k] - t->lo[k] + 1;
        memcpy(t->sval[k], t->val[k] + (size_t)t->lo[k] * t->N, sizeof(double) * span * t->N);
        memcpy(t->scnt[k], t->cnt[k] + t->lo[k], sizeof(int32_t) * span);
    }
    t->win = 1;
}

/* Inside the window: zeroes leaf c and updates the nodes above it. Returns
 * 0 if the leaf was already absent (nothing changes). */
int rt_window_zero(rowtree_t *t, int c) {
    int32_t *p = &t->scnt[0][c - t->lo[0]];
    if (!*p) return 0;
    *p = 0;
    for (int k = 1; k <= t->D; k++) rt_update(t, k, c >> k);
    return 1;
}

/* Closes the window and commits the zeroing of leaves j .. j+count-1, whose
 * weights the caller has set to zero. */
void rt_commit(rowtree_t *t, int j, int count) {
    t->win = 0;
    if (count <= 0) return;
    for (int k = 1; k <= t->D; k++)
        for (int u = j >> k; u <= (j + count - 1) >> k; u++) rt_update(t, k, u);
}

/* The canonical forward of every fc layer for all samples, vectorised over
 * samples with the row tree: from hT[0] (NI_0, N), fills hT[l] (NI_l, N) for
 * l >= 1 and logits (NC, N). The same doubles as canonical_tail per sample. */
int forward_T(const ms_layout_t *L, const float *w, int N, double **hT, double *logits) {
    const ms_arch_t *a = &L->arch;
    for (int l = 0; l < a->n_fc; l++) {
        rowtree_t t;
        const int rc = rowtree_init(&t, L->fc_in[l], N);
        if (rc) return rc;
        const float *wl = w + L->t[L->fc_weight[l]].off;
        const float *bl = fc_bias(L, w, l);
        const int last = l == a->n_fc - 1;
        for (int o = 0; o < a->fc_out[l]; o++) {
            double *out = last ? logits + (size_t)o * N : hT[l + 1] + (size_t)o * N;
            rt_build(&t, wl + (size_t)o * L->fc_in[l], hT[l]);
            rt_z(&t, bl ? bl + o : NULL, out);
            if (!last)
                for (int n = 0; n < N; n++) out[n] = relu_d(out[n]);
        }
        free(t.mem);
    }
    return 0;
}
