/* The pruned row's tree of the fast pruner (rowtree.h), and the canonical
 * forward pass of the fc layers. Built with -ffp-contract=off like prune.c:
 * a node is the rounded sum of its children, as row_tree defines. */
#include "rowtree.h"

#include "clones.h"

#include <stdlib.h>
#include <string.h>

#include "modsweep/canon.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"

/* The lowest stored level (if the tree has it): below it, nodes are
 * computed from their leaves where a path needs them (rt_update_value). */
#define RT_K0 3

int rowtree_init(rowtree_t *t, int NI, int N) {
    memset(t, 0, sizeof *t);
    t->N = N;
    t->S = (N + 7) / 8 * 8; /* whole cache lines per node: threads' parts never share one */
    t->NI = NI;
    t->nk[0] = NI;
    while (t->nk[t->D] > 1) {
        t->nk[t->D + 1] = (t->nk[t->D] + 1) / 2;
        t->D++;
    }
    /* Levels 1 and 2 are not stored: a node of level 3 computes its children
     * from their eight leaves (rt_update_value), which the paths of a window
     * read anyway, instead of levels as large as three quarters of the
     * leaves' input being written at each row's build (a memory-bound pass
     * that two threads did not make faster) and read back once or twice. */
    t->k0 = t->D < RT_K0 ? t->D : RT_K0;
    size_t doubles = 0, ints = 0;
    const size_t S = (size_t)t->S;
    for (int k = 1; k <= t->D; k++) {
        if (k >= t->k0) doubles += ((size_t)t->nk[k] + (BMAX >> k) + 2) * S;
        ints += t->nk[k];
    }
    t->mem = aligned_alloc(64, (sizeof(double) * doubles + sizeof(int32_t) * ints + 63) / 64 * 64);
    if (!t->mem) return ms_err_set(MS_ENOMEM, "pruning: cannot allocate a row tree");
    double *d = t->mem;
    for (int k = t->k0; k <= t->D; k++)
        t->val[k] = d, d += (size_t)t->nk[k] * S;
    for (int k = t->k0; k <= t->D; k++)
        t->sval[k] = d, d += ((size_t)(BMAX >> k) + 2) * S;
    int32_t *c = (int32_t *)(void *)d;
    for (int k = 1; k <= t->D; k++)
        t->cnt[k] = c, c += t->nk[k];
    return 0;
}

size_t rt_view_ints(const rowtree_t *t) {
    size_t n = 0, c = 0;
    for (int k = 0; k <= t->D; k++)
        n += (size_t)(BMAX >> k) + 2;
    for (int k = 1; k <= t->D; k++)
        c += (size_t)t->nk[k];
    /* The window's counts, then its flags (one int's room per flag), the
     * committed counts, the leaves' presence (a byte each), in whole cache
     * lines: the views of two threads, side by side, share no line. */
    return (2 * n + c + ((size_t)t->NI + 3) / 4 + 15) / 16 * 16;
}

void rt_view(const rowtree_t *t, rowtree_t *v, int32_t *mem) {
    *v = *t;
    for (int k = 0; k <= t->D; k++)
        v->scnt[k] = mem, mem += (BMAX >> k) + 2;
    for (int k = 0; k <= t->D; k++)
        v->smod[k] = (uint8_t *)mem, mem += (BMAX >> k) + 2;
    for (int k = 1; k <= t->D; k++) {
        memcpy(mem, t->cnt[k], sizeof(int32_t) * (size_t)t->nk[k]);
        v->cnt[k] = mem, mem += t->nk[k];
    }
    v->p0 = (uint8_t *)mem;
    for (int i = 0; i < t->NI; i++)
        v->p0[i] = t->w[i] != 0.0f;
}

/* Whether node v of level k is present (inside a window, the view's counts
 * for the nodes above the window's leaves). */
static int rt_present(const rowtree_t *t, int k, int v) {
    if (v >= t->nk[k]) return 0;
    const int in_win = t->win && v >= t->lo[k] && v <= t->hi[k];
    if (k == 0)
        return in_win ? t->scnt[0][v - t->lo[0]] != 0 : t->p0 ? t->p0[v] : t->w[v] != 0.0f;
    return in_win ? t->scnt[k][v - t->lo[k]] > 0 : t->cnt[k][v] > 0;
}

/* The values of node v of level k >= 1: inside a window, the scratch once a
 * zeroing has recomputed it, the committed tree before. */
static const double *rt_vals(const rowtree_t *t, int k, int v) {
    const int in_win = t->win && v >= t->lo[k] && v <= t->hi[k];
    if (in_win && t->smod[k][v - t->lo[k]]) return t->sval[k] + (size_t)(v - t->lo[k]) * t->S;
    return t->val[k] + (size_t)v * t->S;
}

/* Where node v of level k >= 1 is written: the scratch inside a window (now
 * holding its value), the committed tree outside. */
static double *rt_out(rowtree_t *t, int k, int v) {
    const int in_win = t->win && v >= t->lo[k] && v <= t->hi[k];
    if (!in_win) return t->val[k] + (size_t)v * t->S;
    t->smod[k][v - t->lo[k]] = 1;
    return t->sval[k] + (size_t)(v - t->lo[k]) * t->S;
}

/* The presence count of node u of level k >= 1 from its children. */
static void rt_update_count(rowtree_t *t, int k, int u) {
    const int32_t c = rt_present(t, k - 1, 2 * u) + rt_present(t, k - 1, 2 * u + 1);
    const int in_win = t->win && u >= t->lo[k] && u <= t->hi[k];
    *(in_win ? &t->scnt[k][u - t->lo[k]] : &t->cnt[k][u]) = c;
}

/* The values of node u of level 1 for samples n0 .. n1-1 into out[0 ..
 * n1-n0-1]: its present leaves' products, added when both are (row_tree's
 * rule). */
static inline __attribute__((always_inline)) void rt_level1(const rowtree_t *t, int u, int n0,
                                                            int n1, double *out) {
    const int va = 2 * u, vb = 2 * u + 1, n = n1 - n0;
    const int pa = rt_present(t, 0, va), pb = rt_present(t, 0, vb);
    const double wa = pa ? (double)t->w[va] : 0.0, wb = pb ? (double)t->w[vb] : 0.0;
    const double *ha = t->hT + (size_t)va * t->N + n0, *hb = t->hT + (size_t)vb * t->N + n0;
    if (pa && pb)
        for (int i = 0; i < n; i++)
            out[i] = wa * ha[i] + wb * hb[i];
    else if (pa)
        for (int i = 0; i < n; i++)
            out[i] = wa * ha[i];
    else if (pb)
        for (int i = 0; i < n; i++)
            out[i] = wb * hb[i];
}

/* Samples per pass when a node computes its unstored children. */
#define RT_CHUNK 256

/* Node u of level K (2 or 3) from its leaves, through its children of
 * level K - 1 (CHILD, computed the same way), for samples n0 .. n1-1 (at
 * most RT_CHUNK) into out[0 ..]; the node must be present. */
#define RT_LEVEL_ABOVE(NAME, K, CHILD)                                                             \
    static inline __attribute__((always_inline)) void NAME(const rowtree_t *t, int u, int n0,    \
                                                           int n1, double *out) {                  \
        const int pa = rt_present(t, K - 1, 2 * u), pb = rt_present(t, K - 1, 2 * u + 1);          \
        if (pa != pb) {                                                                            \
            CHILD(t, pa ? 2 * u : 2 * u + 1, n0, n1, out);                                         \
            return;                                                                                \
        }                                                                                          \
        double B[RT_CHUNK];                                                                        \
        CHILD(t, 2 * u, n0, n1, out);                                                              \
        CHILD(t, 2 * u + 1, n0, n1, B);                                                            \
        for (int n = 0; n < n1 - n0; n++)                                                          \
            out[n] = out[n] + B[n];                                                                \
    }
RT_LEVEL_ABOVE(rt_level2, 2, rt_level1)
RT_LEVEL_ABOVE(rt_level3, 3, rt_level2)

/* The values of node u of level k >= k0 for samples n0 .. n1-1 from its
 * children (row_tree's rule); the presence counts must be up to date.
 * Levels below k0 are not stored: nothing to do. Cloned per instruction
 * set (clones.h: the same bits on each). */
MS_PRUNE_CLONES
static void rt_update_value(rowtree_t *t, int k, int u, int n0, int n1) {
    if (k < t->k0) return;
    const int va = 2 * u, vb = 2 * u + 1;
    const int pa = rt_present(t, k - 1, va), pb = rt_present(t, k - 1, vb);
    double *out = rt_out(t, k, u);
    if (k == 1) {
        rt_level1(t, u, n0, n1, out + n0);
        return;
    }
    if (k - 1 < t->k0) {
        /* The children from their leaves, a chunk of samples at a time (an
         * absent node is left as it is, as below). */
        if (!pa && !pb) return;
        for (int c0 = n0; c0 < n1; c0 += RT_CHUNK) {
            const int c1 = n1 - c0 < RT_CHUNK ? n1 : c0 + RT_CHUNK;
            if (k == 2)
                rt_level2(t, u, c0, c1, out + c0);
            else
                rt_level3(t, u, c0, c1, out + c0);
        }
        return;
    }
    const double *a = pa ? rt_vals(t, k - 1, va) : NULL, *b = pb ? rt_vals(t, k - 1, vb) : NULL;
    if (pa && pb)
        for (int n = n0; n < n1; n++)
            out[n] = a[n] + b[n];
    else if (pa)
        memcpy(out + n0, a + n0, sizeof(double) * (size_t)(n1 - n0));
    else if (pb)
        memcpy(out + n0, b + n0, sizeof(double) * (size_t)(n1 - n0));
}

void rt_build_counts(rowtree_t *t, const float *w, const double *hT) {
    t->w = w;
    t->hT = hT;
    t->win = 0;
    for (int k = 1; k <= t->D; k++)
        for (int u = 0; u < t->nk[k]; u++)
            rt_update_count(t, k, u);
}

void rt_build_values(rowtree_t *t, int n0, int n1) {
    /* Depth first: a node right after its last child, which is still in
     * the cache, instead of level by level (each level of an fc1 row is
     * megabytes: it would be written out and read back). */
    for (int u = 0; u < (t->D ? t->nk[1] : 0); u++) {
        rt_update_value(t, 1, u, n0, n1);
        for (int k = 1, v = u; k < t->D && ((v & 1) || v == t->nk[k] - 1); k++) {
            v >>= 1;
            rt_update_value(t, k + 1, v, n0, n1);
        }
    }
}

void rt_z(const rowtree_t *t, const float *bias, double *z, int n0, int n1) {
    const int present = t->D == 0 ? rt_present(t, 0, 0) : rt_present(t, t->D, 0);
    if (t->D == 0) {
        /* One input: the root is the leaf. */
        const double wv = present ? (double)t->w[0] : 0.0;
        for (int n = n0; n < n1; n++) {
            const double v = wv * t->hT[n];
            z[n] = bias ? (present ? (double)*bias + v : (double)*bias) : (present ? v : 0.0);
        }
        return;
    }
    const double *root = rt_vals(t, t->D, 0);
    if (bias) {
        const double b = (double)*bias;
        for (int n = n0; n < n1; n++)
            z[n] = present ? b + root[n] : b;
    } else {
        for (int n = n0; n < n1; n++)
            z[n] = present ? root[n] : 0.0;
    }
}

void rt_window_begin(rowtree_t *t, int j, int Bw) {
    t->win = 0;
    for (int k = 0; k <= t->D; k++) {
        t->lo[k] = j >> k;
        t->hi[k] = (j + Bw - 1) >> k;
    }
    for (int v = t->lo[0]; v <= t->hi[0]; v++)
        t->scnt[0][v - t->lo[0]] = t->p0 ? t->p0[v] : t->w[v] != 0.0f;
    for (int k = 1; k <= t->D; k++) {
        memcpy(t->scnt[k], t->cnt[k] + t->lo[k], sizeof(int32_t) * (t->hi[k] - t->lo[k] + 1));
        memset(t->smod[k], 0, (size_t)(t->hi[k] - t->lo[k] + 1));
    }
    t->win = 1;
}

int rt_window_zero_counts(rowtree_t *t, int c) {
    int32_t *p = &t->scnt[0][c - t->lo[0]];
    if (!*p) return 0;
    *p = 0;
    for (int k = 1; k <= t->D; k++)
        rt_update_count(t, k, c >> k);
    return 1;
}

void rt_path_values(rowtree_t *t, int c, int n0, int n1) {
    for (int k = 1; k <= t->D; k++)
        rt_update_value(t, k, c >> k, n0, n1);
}

void rt_commit_counts(rowtree_t *t, int j, int count) {
    t->win = 0;
    if (count <= 0) return;
    if (t->p0) memset(t->p0 + j, 0, (size_t)count);
    for (int k = 1; k <= t->D; k++)
        for (int u = j >> k; u <= (j + count - 1) >> k; u++)
            rt_update_count(t, k, u);
}

void rt_commit_values(rowtree_t *t, int j, int count, int n0, int n1) {
    t->win = 0;
    if (count <= 0) return;
    for (int k = 1; k <= t->D; k++)
        for (int u = j >> k; u <= (j + count - 1) >> k; u++)
            rt_update_value(t, k, u, n0, n1);
}

/* The canonical forward of every fc layer for all samples: tiles of FT
 * samples (one vector lane each) split among the threads, every layer of a
 * tile in turn, each row's tree summed from its non-zero weights in
 * ascending input order with ms_canon_tree_sparse's stack (the same
 * additions, operands and order as row_tree). From hT[0] (NI_0, N), fills
 * hT[l] (NI_l, N) for l >= 1 and logits (NC, N). */
#define FT 16

typedef struct sparse_rows {
    int *start, *idx;
    double *w;
} sparse_rows_t;

static void tile_row(const sparse_rows_t *s, int o, const double *hT, size_t N, int n0, int bs,
                     double *stack, const float *bias, double *out) {
    int gap[40], top = -1;
    for (int k = s->start[o]; k < s->start[o + 1]; k++) {
        const int i = s->idx[k];
        const double *src = hT + (size_t)i * N + n0;
        if (top >= 0) {
            const int g = ms_canon_tree_gap(s->idx[k - 1], i);
            while (top >= 1 && gap[top - 1] < g) {
                double *x = stack + (size_t)(top - 1) * FT, *y = x + FT;
                for (int e = 0; e < FT; e++)
                    x[e] = x[e] + y[e];
                top--;
            }
            gap[top] = g;
        }
        top++;
        double *v = stack + (size_t)top * FT;
        const double wv = s->w[k];
        for (int e = 0; e < bs; e++)
            v[e] = wv * src[e];
        for (int e = bs; e < FT; e++)
            v[e] = 0.0;
    }
    while (top >= 1) {
        double *x = stack + (size_t)(top - 1) * FT, *y = x + FT;
        for (int e = 0; e < FT; e++)
            x[e] = x[e] + y[e];
        top--;
    }
    for (int e = 0; e < bs; e++) {
        if (bias)
            out[e] = top == 0 ? (double)*bias + stack[e] : (double)*bias;
        else
            out[e] = top == 0 ? stack[e] : 0.0;
    }
}

int forward_T(const ms_layout_t *L, const float *w, int N, double **hT, double *logits) {
    const ms_arch_t *a = &L->arch;
    sparse_rows_t s[MS_MAX_FC];
    memset(s, 0, sizeof s);
    int err = 0;
    for (int l = 0; l < a->n_fc && !err; l++) {
        const int O = a->fc_out[l], NI = L->fc_in[l];
        const float *wl = w + L->t[L->fc_weight[l]].off;
        size_t nnz = 0;
        for (size_t j = 0; j < (size_t)O * NI; j++)
            nnz += wl[j] != 0.0f;
        s[l].start = malloc(sizeof(int) * (size_t)(O + 1));
        s[l].idx = malloc(sizeof(int) * (nnz + 1));
        s[l].w = malloc(sizeof(double) * (nnz + 1));
        if (!s[l].start || !s[l].idx || !s[l].w) {
            err = ms_err_set(MS_ENOMEM, "pruning: out of memory");
            break;
        }
        size_t k = 0;
        for (int o = 0; o < O; o++) {
            s[l].start[o] = (int)k;
            for (int i = 0; i < NI; i++)
                if (wl[(size_t)o * NI + i] != 0.0f) {
                    s[l].idx[k] = i;
                    s[l].w[k++] = (double)wl[(size_t)o * NI + i];
                }
        }
        s[l].start[O] = (int)k;
    }
    const int nt = (N + FT - 1) / FT;
    if (!err) {
#pragma omp parallel num_threads(ms_kernels_threads()) if (ms_kernels_threads() > 1 && nt > 1)
        {
            double stack[34 * FT];
#pragma omp for schedule(static)
            for (int t = 0; t < nt; t++) {
                const int n0 = t * FT, bs = N - n0 < FT ? N - n0 : FT;
                for (int l = 0; l < a->n_fc; l++) {
                    const float *bl = fc_bias(L, w, l);
                    const int last = l == a->n_fc - 1;
                    for (int o = 0; o < a->fc_out[l]; o++) {
                        double *out = (last ? logits : hT[l + 1]) + (size_t)o * N + n0;
                        tile_row(&s[l], o, hT[l], (size_t)N, n0, bs, stack, bl ? bl + o : NULL,
                                 out);
                        if (!last)
                            for (int e = 0; e < bs; e++)
                                out[e] = relu_d(out[e]);
                    }
                }
            }
        }
    }
    for (int l = 0; l < MS_MAX_FC; l++) {
        free(s[l].start);
        free(s[l].idx);
        free(s[l].w);
    }
    return err;
}
