/* Newman's modularity, its maximisation by spectral bisection and Monte-Carlo
 * refinement, and the alignment of clusterings (modularity.h, seed 003).
 *
 * Vocabulary: n units, A the association matrix (n x n), m2 the sum of its
 * off-diagonal entries, a_i = k_i / m2 the normalised degree, K clusters, nl
 * live units. */
#include "modsweep/modularity.h"
#include "modsweep/error.h"
#include "modsweep/rng.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Degrees k_i (diagonal ignored) and their sum m2. */
static double degrees(const double *A, int n, double *k) {
    double m2 = 0.0;
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < n; j++)
            if (j != i) s += A[(size_t)i * n + j];
        k[i] = s;
        m2 += s;
    }
    return m2;
}

int ms_mod_live(const double *A, int n, uint8_t *live) {
    double *k = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!k) return ms_err_set(MS_ENOMEM, "modularity: out of memory");
    double m2 = degrees(A, n, k);
    int nl = 0;
    for (int i = 0; i < n; i++) {
        live[i] = m2 > 0.0 && k[i] > MS_MOD_DEAD_EPS * m2;
        nl += live[i];
    }
    free(k);
    return nl;
}

double ms_mod_q(const double *A, int n, const int *labels) {
    double *k = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!k) return NAN;
    double m2 = degrees(A, n, k);
    if (!(m2 > 0.0)) {
        free(k);
        return NAN;
    }
    int K = 0;
    for (int i = 0; i < n; i++)
        if (labels[i] + 1 > K) K = labels[i] + 1;
    double *deg = calloc((size_t)K + 1, sizeof(double));
    double inside = 0.0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0) continue;
        deg[labels[i]] += k[i];
        for (int j = 0; j < n; j++)
            if (j != i && labels[j] == labels[i]) inside += A[(size_t)i * n + j];
    }
    double expected = 0.0;
    for (int c = 0; c < K; c++)
        expected += (deg[c] / m2) * (deg[c] / m2);
    free(deg);
    free(k);
    return inside / m2 - expected;
}

int ms_mod_canonical(int *labels, int n) {
    int *map = malloc(sizeof(int) * (size_t)(n + 1));
    if (!map) return -1;
    for (int i = 0; i <= n; i++)
        map[i] = -1;
    int K = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0) continue;
        if (map[labels[i]] < 0) map[labels[i]] = K++;
        labels[i] = map[labels[i]];
    }
    free(map);
    return K;
}

double ms_mod_effective(const int *labels, int n) {
    int K = 0, tot = 0;
    for (int i = 0; i < n; i++)
        if (labels[i] + 1 > K) K = labels[i] + 1;
    if (K == 0) return NAN;
    int *sz = calloc((size_t)K, sizeof(int));
    for (int i = 0; i < n; i++)
        if (labels[i] >= 0) sz[labels[i]]++, tot++;
    double h = 0.0;
    for (int c = 0; c < K; c++)
        if (sz[c]) {
            double p = (double)sz[c] / tot;
            h -= p * log(p);
        }
    free(sz);
    return exp(h);
}

/* ---- spectral bisection ------------------------------------------------------ */

double ms_mod_spectral(const double *A, int n, int *labels) {
    double *k = malloc(sizeof(double) * (size_t)n);
    int *lv = malloc(sizeof(int) * (size_t)n), *queue = malloc(sizeof(int) * (size_t)(n + 1));
    int *members = malloc(sizeof(int) * (size_t)n);
    double *Bg = malloc(sizeof(double) * (size_t)n * n), *z = malloc(sizeof(double) * (size_t)n);
    lapack_int *isuppz = malloc(sizeof(lapack_int) * 2 * (size_t)n);
    double q = NAN;
    if (!k || !lv || !queue || !members || !Bg || !z || !isuppz) goto done;
    double m2 = degrees(A, n, k);
    int nl = 0;
    for (int i = 0; i < n; i++) {
        int live = m2 > 0.0 && k[i] > MS_MOD_DEAD_EPS * m2;
        labels[i] = live ? 0 : -1;
        if (live) lv[nl++] = i;
    }
    if (nl == 0) goto done;
    q = ms_mod_q(A, n, labels);
    int qh = 0, qt = 0, next = 1;
    queue[qt++] = 0;
    while (qh < qt) {
        const int c = queue[qh++];
        int ng = 0;
        for (int t = 0; t < nl; t++)
            if (labels[lv[t]] == c) members[ng++] = lv[t];
        if (ng < 2) continue;
        /* B(g) = B restricted to g, minus its row sums on the diagonal. */
        for (int r = 0; r < ng; r++) {
            const int i = members[r];
            double rs = 0.0;
            for (int s = 0; s < ng; s++) {
                const int j = members[s];
                double b = (i == j ? 0.0 : A[(size_t)i * n + j] / m2) - (k[i] / m2) * (k[j] / m2);
                Bg[(size_t)r * ng + s] = b;
                rs += b;
            }
            Bg[(size_t)r * ng + r] -= rs;
        }
        lapack_int found = 0;
        double w[1];
        lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', ng, Bg, ng, 0.0, 0.0, ng,
                                         ng, 0.0, &found, w, z, 1, isuppz);
        if (info != 0 || found != 1 || !(w[0] > 0.0)) continue;
        int pos = 0;
        for (int r = 0; r < ng; r++)
            pos += z[r] >= 0.0;
        if (pos == 0 || pos == ng) continue;
        for (int r = 0; r < ng; r++)
            if (z[r] < 0.0) labels[members[r]] = next;
        double qn = ms_mod_q(A, n, labels);
        if (qn > q) {
            q = qn;
            queue[qt++] = c;
            queue[qt++] = next;
            next++;
        } else {
            for (int r = 0; r < ng; r++)
                labels[members[r]] = c;
        }
    }
    ms_mod_canonical(labels, n);
done:
    free(k);
    free(lv);
    free(queue);
    free(members);
    free(Bg);
    free(z);
    free(isuppz);
    return q;
}

/* ---- Monte-Carlo refinement --------------------------------------------------- */

/* The state of the moves: labels of all units, cluster sizes and degree sums. */
typedef struct mc_state {
    const double *A;
    int n, nl, cap; /* cap: cluster ids available (nl + 1) */
    double m2;
    const int *lv;
    const double *a; /* normalised degrees */
    int *labels, *size;
    double *D, *S; /* per cluster: sum of a_j; scratch: sum of A_ij / m2 */
} mc_state_t;

/* Fills dq[0..cap) with the change of Q when unit i moves to each cluster
 * (-INFINITY for clusters that are not candidates) and returns the id of the
 * new (empty) cluster offered, or -1. */
static int move_gains(mc_state_t *st, int i, double *dq) {
    const int a = st->labels[i];
    const double ai = st->a[i];
    for (int c = 0; c < st->cap; c++)
        st->S[c] = 0.0;
    const double *row = st->A + (size_t)i * st->n;
    for (int t = 0; t < st->nl; t++) {
        const int j = st->lv[t];
        if (j != i) st->S[st->labels[j]] += row[j] / st->m2;
    }
    const double stay = st->S[a] - ai * (st->D[a] - ai);
    int fresh = -1;
    for (int c = 0; c < st->cap; c++) {
        if (c == a) {
            dq[c] = 0.0;
        } else if (st->size[c] > 0) {
            dq[c] = 2.0 * ((st->S[c] - ai * st->D[c]) - stay);
        } else if (fresh < 0 && st->size[a] > 1) {
            fresh = c;
            dq[c] = -2.0 * stay;
        } else {
            dq[c] = -INFINITY;
        }
    }
    return fresh;
}

/* Entropy (nats) of the distribution proportional to exp(dq / T) over the
 * finite entries of dq[0..m). */
static double gibbs_entropy(const double *dq, int m, double T) {
    double mx = -INFINITY;
    for (int c = 0; c < m; c++)
        if (dq[c] > mx) mx = dq[c];
    double z = 0.0, s = 0.0;
    for (int c = 0; c < m; c++) {
        if (dq[c] == -INFINITY) continue;
        double x = (dq[c] - mx) / T, w = exp(x);
        z += w;
        s += w * x;
    }
    return log(z) - s / z;
}

/* The mean over live units of their move entropies at temperature T (gains
 * in G, nl rows of cap). */
static double mean_entropy(const double *G, int nl, int cap, double T) {
    double s = 0.0;
    for (int t = 0; t < nl; t++)
        s += gibbs_entropy(G + (size_t)t * cap, cap, T);
    return s / nl;
}

/* The temperature at which the mean entropy of the move distributions of
 * all live units equals target (bisection on log T). */
static double calibrate(const double *G, int nl, int cap, double target) {
    double big = 0.0;
    for (size_t e = 0; e < (size_t)nl * cap; e++)
        if (G[e] != -INFINITY && fabs(G[e]) > big) big = fabs(G[e]);
    if (!(big > 0.0)) return 1.0;
    double lo = log(big * 1e-12), hi = log(big * 1e3);
    if (mean_entropy(G, nl, cap, exp(hi)) <= target) return exp(hi);
    if (mean_entropy(G, nl, cap, exp(lo)) >= target) return exp(lo);
    for (int it = 0; it < 100; it++) {
        double mid = 0.5 * (lo + hi);
        if (mean_entropy(G, nl, cap, exp(mid)) < target)
            lo = mid;
        else
            hi = mid;
    }
    return exp(0.5 * (lo + hi));
}

/* ---- greedy refinement (Louvain-style) -------------------------------------------- */

/* The smallest gain in Q a greedy move must bring; it keeps rounding from
 * cycling moves back and forth. */
#define GREEDY_EPS 1e-14

/* The working state of greedy moves on a graph W (nn x nn, row-major, its
 * diagonal ignored) of nodes with normalised degrees a: labels in 0..cap-1,
 * per cluster its node count and degree sum. */
typedef struct greedy {
    const double *W;
    int nn, cap;
    double m2;
    const double *a;
    int *lab, *size;
    double *D, *S; /* per cluster: sum of a; scratch: sum of W_ij / m2 */
} greedy_t;

/* Greedy zero-temperature sweeps: nodes[0..m) visited in that order, each
 * moved to the cluster of the largest gain in Q (an empty one too when
 * allow_new and the node is not alone; the lowest cluster id on ties) when
 * that gain exceeds GREEDY_EPS; sweeps repeated until none moves (at most
 * 1000). Returns the number of moves. */
static long greedy_moves(greedy_t *g, const int *nodes, int m, int allow_new) {
    long moves = 0;
    for (int pass = 0; pass < 1000; pass++) {
        int moved = 0;
        for (int t = 0; t < m; t++) {
            const int i = nodes[t], from = g->lab[i];
            const double ai = g->a[i];
            for (int c = 0; c < g->cap; c++)
                g->S[c] = 0.0;
            const double *row = g->W + (size_t)i * g->nn;
            for (int u = 0; u < m; u++) {
                const int j = nodes[u];
                if (j != i) g->S[g->lab[j]] += row[j] / g->m2;
            }
            const double stay = g->S[from] - ai * (g->D[from] - ai);
            int best = -1, fresh = 0;
            double bg = GREEDY_EPS;
            for (int c = 0; c < g->cap; c++) {
                if (c == from) continue;
                double gain;
                if (g->size[c] > 0) {
                    gain = 2.0 * ((g->S[c] - ai * g->D[c]) - stay);
                } else if (allow_new && !fresh && g->size[from] > 1) {
                    fresh = 1;
                    gain = -2.0 * stay;
                } else {
                    continue;
                }
                if (gain > bg) bg = gain, best = c;
            }
            if (best < 0) continue;
            g->lab[i] = best;
            g->size[from]--, g->size[best]++;
            g->D[from] -= ai, g->D[best] += ai;
            moved = 1;
            moves++;
        }
        if (!moved) break;
    }
    return moves;
}

/* Scratch of the refinement, allocated once by ms_mod_maximise. */
typedef struct refine_work {
    int *order, *lab2, *size2, *nodes2;
    double *W2, *D2, *a2, *S;
} refine_work_t;

/* Louvain-style refinement of the clustering labels of the nl live units
 * lv (labels of live units in 0..nl-1, -1 for dead ones), with size and D
 * the clusters' unit counts and degree sums on entry (cap = nl + 1 ids):
 *  1. greedy single-unit moves (to any cluster or a new one), the units
 *     visited in the order `order`;
 *  2. the clusters become the nodes of an aggregated graph (W2_cd = sum of
 *     A_ij over i in c, j in d, i != j), each node its own cluster, and
 *     greedy moves of whole clusters into others (merges and
 *     reassignments of merged groups) in cluster-id order;
 * repeated until neither step moves anything. The result is a local
 * optimum under single-unit moves, and no merge of two clusters raises Q
 * by more than GREEDY_EPS. Labels are left canonical. */
static void refine(const double *A, int n, const int *lv, int nl, const double *a, double m2,
                   int *labels, int *size, double *D, refine_work_t *w) {
    greedy_t g1 = {.W = A,
                   .nn = n,
                   .cap = nl + 1,
                   .m2 = m2,
                   .a = a,
                   .lab = labels,
                   .size = size,
                   .D = D,
                   .S = w->S};
    for (int round = 0; round < 1000; round++) {
        const long m1 = greedy_moves(&g1, w->order, nl, 1);
        /* Aggregate: canonical cluster ids 0..K-1 over the live units. */
        const int K = ms_mod_canonical(labels, n);
        for (int c = 0; c <= nl; c++)
            size[c] = 0, D[c] = 0.0;
        for (int t = 0; t < nl; t++)
            size[labels[lv[t]]]++, D[labels[lv[t]]] += a[lv[t]];
        for (size_t e = 0; e < (size_t)K * K; e++)
            w->W2[e] = 0.0;
        for (int t = 0; t < nl; t++) {
            const int i = lv[t];
            double *wr = w->W2 + (size_t)labels[i] * K;
            const double *ar = A + (size_t)i * n;
            for (int u = 0; u < nl; u++) {
                const int j = lv[u];
                if (j != i) wr[labels[j]] += ar[j];
            }
        }
        for (int c = 0; c < K; c++) {
            w->lab2[c] = c;
            w->size2[c] = 1;
            w->a2[c] = w->D2[c] = D[c];
            w->nodes2[c] = c;
        }
        greedy_t g2 = {.W = w->W2,
                       .nn = K,
                       .cap = K,
                       .m2 = m2,
                       .a = w->a2,
                       .lab = w->lab2,
                       .size = w->size2,
                       .D = w->D2,
                       .S = w->S};
        const long m2moves = greedy_moves(&g2, w->nodes2, K, 0);
        if (m2moves > 0) {
            for (int t = 0; t < nl; t++)
                labels[lv[t]] = w->lab2[labels[lv[t]]];
            ms_mod_canonical(labels, n);
            for (int c = 0; c <= nl; c++)
                size[c] = 0, D[c] = 0.0;
            for (int t = 0; t < nl; t++)
                size[labels[lv[t]]]++, D[labels[lv[t]]] += a[lv[t]];
        }
        if (m1 == 0 && m2moves == 0) break;
    }
}

/* Cluster sizes and degree sums of labels over the live units. */
static void cluster_sums(const int *labels, const int *lv, int nl, const double *a, int *size,
                         double *D) {
    for (int c = 0; c <= nl; c++)
        size[c] = 0, D[c] = 0.0;
    for (int t = 0; t < nl; t++)
        size[labels[lv[t]]]++, D[labels[lv[t]]] += a[lv[t]];
}

/* The greedy stage of ms_mod_maximise: refine() from labels (the spectral
 * and Monte-Carlo result) and from MS_MOD_STARTS - 1 starts with every
 * live unit alone (Louvain), each visiting the units in its own random
 * order (stream MS_RNG_MODULARITY, sub cfg->sub ^ 2^31); labels receives the
 * result of the highest Q (the first on ties, so the refined spectral
 * start wins ties). trial (n) is scratch. */
static int refine_starts(const double *A, int n, const int *lv, int nl, const double *a, double m2,
                         const ms_mod_cfg_t *cfg, int *labels, int *trial, int *size, double *D) {
    refine_work_t w;
    int *ib = malloc(sizeof(int) * (4 * (size_t)nl + 1));
    double *db = malloc(sizeof(double) * ((size_t)nl * nl + 4 * (size_t)nl + 1));
    int *best = malloc(sizeof(int) * (size_t)n);
    if (!ib || !db || !best) {
        free(ib), free(db), free(best);
        return ms_err_set(MS_ENOMEM, "modularity: out of memory for %d units", n);
    }
    w.order = ib, w.lab2 = ib + nl, w.size2 = ib + 2 * nl, w.nodes2 = ib + 3 * nl;
    w.W2 = db, w.D2 = db + (size_t)nl * nl, w.a2 = w.D2 + nl, w.S = w.a2 + nl;
    ms_rng_t r;
    ms_rng_init(&r, cfg->seed, MS_RNG_MODULARITY, cfg->sub ^ 0x80000000u);
    double q_best = -INFINITY;
    for (int start = 0; start < MS_MOD_STARTS; start++) {
        for (int i = 0; i < n; i++)
            trial[i] = start == 0 ? labels[i] : -1;
        if (start > 0)
            for (int t = 0; t < nl; t++)
                trial[lv[t]] = t;
        cluster_sums(trial, lv, nl, a, size, D);
        memcpy(w.order, lv, sizeof(int) * (size_t)nl);
        ms_rng_shuffle(&r, (int32_t *)w.order, nl);
        refine(A, n, lv, nl, a, m2, trial, size, D, &w);
        const double q = ms_mod_q(A, n, trial);
        if (q > q_best) {
            q_best = q;
            memcpy(best, trial, sizeof(int) * (size_t)n);
        }
    }
    memcpy(labels, best, sizeof(int) * (size_t)n);
    free(ib), free(db), free(best);
    return 0;
}

int ms_mod_maximise(const double *A, int n, const ms_mod_cfg_t *cfg, int *labels,
                    ms_mod_result_t *res) {
    memset(res, 0, sizeof *res);
    res->temperature = NAN;
    const size_t N1 = (size_t)(n > 0 ? n : 1);
    double *k = malloc(sizeof(double) * N1), *a = malloc(sizeof(double) * N1);
    int *lv = malloc(sizeof(int) * N1), *best = malloc(sizeof(int) * N1);
    int *size = calloc(N1 + 1, sizeof(int));
    double *D = calloc(N1 + 1, sizeof(double)), *S = calloc(N1 + 1, sizeof(double));
    double *dq = malloc(sizeof(double) * (N1 + 1));
    double *G = NULL;
    int rc = 0;
    if (!k || !a || !lv || !best || !size || !D || !S || !dq) {
        rc = ms_err_set(MS_ENOMEM, "modularity: out of memory for %d units", n);
        goto done;
    }
    res->q_spectral = ms_mod_spectral(A, n, labels);
    res->q = res->q_spectral;
    double m2 = degrees(A, n, k);
    int nl = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] >= 0) lv[nl++] = i;
        a[i] = m2 > 0.0 ? k[i] / m2 : 0.0;
    }
    res->dead = n - nl;
    if (nl == 0) goto finish;
    const int cap = nl + 1;
    for (int t = 0; t < nl; t++) {
        size[labels[lv[t]]]++;
        D[labels[lv[t]]] += a[lv[t]];
    }
    mc_state_t st = {.A = A,
                     .n = n,
                     .nl = nl,
                     .cap = cap,
                     .m2 = m2,
                     .lv = lv,
                     .a = a,
                     .labels = labels,
                     .size = size,
                     .D = D,
                     .S = S};
    if (cfg->steps > 0 && nl > 1) {
        G = malloc(sizeof(double) * (size_t)nl * cap);
        if (!G) {
            rc = ms_err_set(MS_ENOMEM, "modularity: out of memory for %d units", n);
            goto done;
        }
        for (int t = 0; t < nl; t++)
            move_gains(&st, lv[t], G + (size_t)t * cap);
        const double T = calibrate(G, nl, cap, cfg->entropy);
        res->temperature = T;
        memcpy(best, labels, sizeof(int) * (size_t)n);
        double q = res->q_spectral, q_best = q;
        ms_rng_t r;
        ms_rng_init(&r, cfg->seed, MS_RNG_MODULARITY, cfg->sub);
        for (int step = 0; step < cfg->steps; step++) {
            const int i = lv[ms_rng_below(&r, (uint32_t)nl)];
            move_gains(&st, i, dq);
            double mx = -INFINITY;
            for (int c = 0; c < cap; c++)
                if (dq[c] > mx) mx = dq[c];
            double z = 0.0;
            for (int c = 0; c < cap; c++)
                if (dq[c] != -INFINITY) z += exp((dq[c] - mx) / T);
            double u = ms_rng_double(&r) * z, acc = 0.0;
            int to = -1;
            for (int c = 0; c < cap; c++) {
                if (dq[c] == -INFINITY) continue;
                acc += exp((dq[c] - mx) / T);
                to = c;
                if (u < acc) break;
            }
            const int from = labels[i];
            if (to < 0 || to == from) continue;
            labels[i] = to;
            size[from]--;
            size[to]++;
            D[from] -= a[i];
            D[to] += a[i];
            q += dq[to];
            res->accepted++;
            if (q > q_best) {
                q_best = q;
                memcpy(best, labels, sizeof(int) * (size_t)n);
            }
        }
        memcpy(labels, best, sizeof(int) * (size_t)n);
    }
    if (nl > 1 && (rc = refine_starts(A, n, lv, nl, a, m2, cfg, labels, best, size, D))) goto done;
finish:
    res->k = ms_mod_canonical(labels, n);
    if (nl > 0) res->q = ms_mod_q(A, n, labels);
    res->effective = ms_mod_effective(labels, n);
done:
    free(k);
    free(a);
    free(lv);
    free(best);
    free(size);
    free(D);
    free(S);
    free(dq);
    free(G);
    return rc;
}

/* ---- alignment ------------------------------------------------------------------ */

/* The greedy-matching score with overlap scratch ov (K1 * K2 ints). */
static double align_with(const int *la, const int *lb, int n, int K1, int K2, int n1, int n2,
                         int *ov) {
    memset(ov, 0, sizeof(int) * (size_t)K1 * K2);
    for (int i = 0; i < n; i++)
        if (la[i] >= 0 && lb[i] >= 0) ov[(size_t)la[i] * K2 + lb[i]]++;
    const int rounds = K1 < K2 ? K1 : K2;
    long total = 0;
    for (int t = 0; t < rounds; t++) {
        int br = -1, bc = -1, bv = -1;
        for (int r = 0; r < K1; r++)
            for (int c = 0; c < K2; c++)
                if (ov[(size_t)r * K2 + c] > bv) {
                    bv = ov[(size_t)r * K2 + c];
                    br = r;
                    bc = c;
                }
        if (bv < 0) break;
        total += bv;
        for (int c = 0; c < K2; c++)
            ov[(size_t)br * K2 + c] = -1;
        for (int r = 0; r < K1; r++)
            ov[(size_t)r * K2 + bc] = -1;
    }
    const int m = n1 < n2 ? n1 : n2;
    return m > 0 ? (double)total / m : NAN;
}

static void count_clusters(const int *l, int n, int *K, int *live) {
    *K = 0;
    *live = 0;
    for (int i = 0; i < n; i++) {
        if (l[i] + 1 > *K) *K = l[i] + 1;
        *live += l[i] >= 0;
    }
}

double ms_mod_align(const int *la, const int *lb, int n) {
    int K1, K2, n1, n2;
    count_clusters(la, n, &K1, &n1);
    count_clusters(lb, n, &K2, &n2);
    if (!K1 || !K2) return NAN;
    int *ov = malloc(sizeof(int) * (size_t)K1 * K2);
    if (!ov) return NAN;
    double s = align_with(la, lb, n, K1, K2, n1, n2, ov);
    free(ov);
    return s;
}

int ms_mod_align_null(const int *la, const int *lb, int n, int shuffles, uint64_t seed,
                      uint32_t sub, double *score, double *p) {
    int K1, K2, n1, n2;
    count_clusters(la, n, &K1, &n1);
    count_clusters(lb, n, &K2, &n2);
    *score = *p = NAN;
    if (!K1 || !K2) return 0;
    int *ov = malloc(sizeof(int) * (size_t)K1 * K2), *perm = malloc(sizeof(int) * (size_t)n);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
    if (!ov || !perm || !idx) {
        free(ov), free(perm), free(idx);
        return ms_err_set(MS_ENOMEM, "alignment: out of memory");
    }
    const double obs = align_with(la, lb, n, K1, K2, n1, n2, ov);
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_NULL, sub);
    long ge = 0;
    for (int s = 0; s < shuffles; s++) {
        for (int i = 0; i < n; i++)
            idx[i] = i;
        ms_rng_shuffle(&r, idx, n);
        for (int i = 0; i < n; i++)
            perm[i] = la[idx[i]];
        if (align_with(perm, lb, n, K1, K2, n1, n2, ov) >= obs - 1e-12) ge++;
    }
    *score = obs;
    *p = (1.0 + ge) / (1.0 + shuffles);
    free(ov);
    free(perm);
    free(idx);
    return 0;
}

/* ---- Spearman correlation -------------------------------------------------------- */

typedef struct ranked {
    double v;
    int i;
} ranked_t;

static int cmp_ranked(const void *x, const void *y) {
    const ranked_t *a = x, *b = y;
    if (a->v < b->v) return -1;
    if (a->v > b->v) return 1;
    return a->i - b->i;
}

/* Average ranks (1-based) of v[0..m) into rk, using scratch r (m). */
static void ranks(const double *v, int m, ranked_t *r, double *rk) {
    for (int e = 0; e < m; e++)
        r[e] = (ranked_t){v[e], e};
    qsort(r, (size_t)m, sizeof *r, cmp_ranked);
    for (int e = 0; e < m;) {
        int f = e;
        while (f + 1 < m && r[f + 1].v == r[e].v)
            f++;
        double avg = 0.5 * (e + f) + 1.0;
        for (int t = e; t <= f; t++)
            rk[r[t].i] = avg;
        e = f + 1;
    }
}

double ms_mod_spearman(const double *A, const double *B, int n, const uint8_t *live) {
    long m = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            m += !live || (live[i] && live[j]);
    if (m < 2) return NAN;
    double *va = malloc(sizeof(double) * (size_t)m), *vb = malloc(sizeof(double) * (size_t)m);
    double *ra = malloc(sizeof(double) * (size_t)m), *rb = malloc(sizeof(double) * (size_t)m);
    ranked_t *r = malloc(sizeof(ranked_t) * (size_t)m);
    double out = NAN;
    if (va && vb && ra && rb && r) {
        long e = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (!live || (live[i] && live[j])) {
                    va[e] = A[(size_t)i * n + j];
                    vb[e] = B[(size_t)i * n + j];
                    e++;
                }
        ranks(va, (int)m, r, ra);
        ranks(vb, (int)m, r, rb);
        const double mean = 0.5 * (m + 1);
        double sab = 0.0, saa = 0.0, sbb = 0.0;
        for (long t = 0; t < m; t++) {
            double x = ra[t] - mean, y = rb[t] - mean;
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        if (saa > 0.0 && sbb > 0.0) out = sab / sqrt(saa * sbb);
    }
    free(va);
    free(vb);
    free(ra);
    free(rb);
    free(r);
    return out;
}
