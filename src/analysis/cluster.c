/* Partitions, clusterability and its gradient, deterministic k-means, BSGC,
 * the streaming gradient similarity and the regulariser's trainer hooks
 * (cluster.h).
 *
 * Dimension letters: O rows (output units), NI columns (input units), K
 * clusters, N points and DK coordinates of k-means, D fan-in of a gradsim
 * layer, R = min(O, NI) singular values. */
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/rng.h"

#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KMEANS_MAX_ITER 300

/* ---- layouts ------------------------------------------------------------------ */

long ms_units_layout(const ms_layout_t *L, long in_off[MS_MAX_FC], long out_off[MS_MAX_FC]) {
    long off = 0;
    for (int l = 0; l < L->arch.n_fc; l++) {
        if (in_off) in_off[l] = off;
        off += L->fc_in[l];
        if (out_off) out_off[l] = off;
        off += L->arch.fc_out[l];
    }
    return off;
}

long ms_gradsim_layout(const ms_layout_t *L, uint32_t mask, long off[MS_MAX_FC]) {
    long n = 0;
    for (int l = 0; l < L->arch.n_fc; l++) {
        if (off) off[l] = -1;
        if (!(mask >> l & 1u)) continue;
        if (off) off[l] = n;
        n += (long)L->fc_in[l] * L->fc_in[l];
    }
    return n;
}

int ms_grid_kmax(const ms_grid_t *g) {
    int k = 1;
    for (int i = 0; i < g->n_values[MS_AXIS_K]; i++)
        if ((int)g->values[MS_AXIS_K][i] > k) k = (int)g->values[MS_AXIS_K][i];
    return k;
}

/* ---- partitions and clusterability ------------------------------------------------ */

void ms_part_blocks(int n, int k, int32_t *lab) {
    const int size = n / k;
    for (int i = 0; i < n; i++) {
        int c = size > 0 ? i / size : k - 1;
        lab[i] = c < k - 1 ? c : k - 1;
    }
}

/* Sums of W^2 inside the blocks and in all of W, in double, row by row. */
static void block_sums(const float *w, int O, int NI, const int32_t *row, const int32_t *col,
                       double *inside, double *total) {
    double in = 0.0, tot = 0.0;
    for (int o = 0; o < O; o++) {
        const float *wr = w + (size_t)o * NI;
        const int32_t r = row[o];
        double rin = 0.0, rtot = 0.0;
        for (int i = 0; i < NI; i++) {
            const double v = (double)wr[i] * wr[i];
            rtot += v;
            if (r >= 0 && col[i] == r) rin += v;
        }
        in += rin;
        tot += rtot;
    }
    *inside = in;
    *total = tot;
}

double ms_clusterability(const float *w, int O, int NI, const int32_t *row, const int32_t *col) {
    double in, tot;
    block_sums(w, O, NI, row, col, &in, &tot);
    return tot > 0.0 ? in / tot : NAN;
}

double ms_clusterability_grad(const float *w, int O, int NI, const int32_t *row, const int32_t *col,
                              double scale, float *grad) {
    double in, tot;
    block_sums(w, O, NI, row, col, &in, &tot);
    if (!(tot > 0.0)) return NAN;
    const double f = in / tot, c = 2.0 * scale / tot;
    for (int o = 0; o < O; o++) {
        const float *wr = w + (size_t)o * NI;
        float *gr = grad + (size_t)o * NI;
        const int32_t r = row[o];
        for (int i = 0; i < NI; i++) {
            const double m = (r >= 0 && col[i] == r) ? 1.0 : 0.0;
            gr[i] += (float)(c * (double)wr[i] * (m - f));
        }
    }
    return f;
}

double ms_part_size_baseline(int O, int NI, const int32_t *row, const int32_t *col) {
    /* sum_c |U_c| |V_c| = the number of (o, i) pairs inside the blocks. */
    long pairs = 0;
    for (int o = 0; o < O; o++) {
        if (row[o] < 0) continue;
        for (int i = 0; i < NI; i++)
            pairs += col[i] == row[o];
    }
    return (double)pairs / ((double)O * NI);
}

double ms_part_ari(const int32_t *a, const int32_t *b, int n) {
    int Ka = 0, Kb = 0;
    long m = 0;
    for (int i = 0; i < n; i++)
        if (a[i] >= 0 && b[i] >= 0) {
            if (a[i] + 1 > Ka) Ka = a[i] + 1;
            if (b[i] + 1 > Kb) Kb = b[i] + 1;
            m++;
        }
    if (m < 2) return NAN;
    long *ct = calloc((size_t)Ka * Kb + Ka + Kb, sizeof(long));
    if (!ct) return NAN;
    long *ra = ct + (size_t)Ka * Kb, *rb = ra + Ka;
    for (int i = 0; i < n; i++)
        if (a[i] >= 0 && b[i] >= 0) {
            ct[(size_t)a[i] * Kb + b[i]]++;
            ra[a[i]]++;
            rb[b[i]]++;
        }
    /* Pair counts C(x, 2) = x (x - 1) / 2, in double (exact below 2^53). */
    double sij = 0.0, sa = 0.0, sb = 0.0;
    for (size_t e = 0; e < (size_t)Ka * Kb; e++)
        sij += 0.5 * (double)ct[e] * (double)(ct[e] - 1);
    for (int c = 0; c < Ka; c++)
        sa += 0.5 * (double)ra[c] * (double)(ra[c] - 1);
    for (int c = 0; c < Kb; c++)
        sb += 0.5 * (double)rb[c] * (double)(rb[c] - 1);
    free(ct);
    const double expected = sa * sb / (0.5 * (double)m * (double)(m - 1));
    const double den = 0.5 * (sa + sb) - expected;
    return den != 0.0 ? (sij - expected) / den : 1.0;
}

/* ---- k-means ------------------------------------------------------------------------ */

static double sqdist(const double *a, const double *b, int d) {
    double s = 0.0;
    for (int j = 0; j < d; j++) {
        const double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* Greedy k-means++ seeding (Arthur and Vassilvitskii 2007, as sklearn's
 * _kmeans_plusplus does it): the first centre uniformly; for each next one,
 * KMEANS_TRIALS(k) = 2 + floor(ln k) candidates drawn with probability
 * proportional to the squared distance to the nearest centre so far, and
 * the candidate whose addition leaves the smallest potential (sum of those
 * distances) wins (the first drawn on ties). A draw falls on the first
 * point whose running distance sum exceeds it (never a point already on a
 * centre); when every point sits on a centre the candidates are uniform.
 * dist (N) receives each point's squared distance to its nearest centre;
 * cand (N) is scratch for one candidate's distances. */
static int kmeans_trials(int k) {
    return 2 + (int)floor(log((double)k));
}

static void kmeanspp(const double *x, int N, int DK, int k, ms_rng_t *r, double *cent, double *dist,
                     double *cand, double *best_d) {
    int first = (int)ms_rng_below(r, (uint32_t)N);
    memcpy(cent, x + (size_t)first * DK, sizeof(double) * DK);
    for (int i = 0; i < N; i++)
        dist[i] = sqdist(x + (size_t)i * DK, cent, DK);
    const int trials = kmeans_trials(k);
    for (int c = 1; c < k; c++) {
        double total = 0.0;
        for (int i = 0; i < N; i++)
            total += dist[i];
        int best = -1;
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++) {
            int pick = -1;
            if (total > 0.0) {
                const double u = ms_rng_double(r) * total;
                double acc = 0.0;
                for (int i = 0; i < N; i++) {
                    if (dist[i] <= 0.0) continue;
                    acc += dist[i];
                    pick = i;
                    if (acc > u) break;
                }
            } else {
                pick = (int)ms_rng_below(r, (uint32_t)N);
            }
            const double *xp = x + (size_t)pick * DK;
            double pot = 0.0;
            for (int i = 0; i < N; i++) {
                const double d = sqdist(x + (size_t)i * DK, xp, DK);
                cand[i] = d < dist[i] ? d : dist[i];
                pot += cand[i];
            }
            if (best < 0 || pot < best_pot) {
                best = pick;
                best_pot = pot;
                memcpy(best_d, cand, sizeof(double) * (size_t)N);
            }
        }
        memcpy(cent + (size_t)c * DK, x + (size_t)best * DK, sizeof(double) * DK);
        memcpy(dist, best_d, sizeof(double) * (size_t)N);
    }
}

/* Centres = means of their points, summed in point order; an empty cluster
 * takes the point farthest from its own centre (first on ties), which
 * leaves its old cluster. dist holds each point's squared distance to its
 * centre from the last assignment. */
static void update_centres(const double *x, int N, int DK, int k, int32_t *lab, double *cent,
                           int *count, double *dist) {
    for (int pass = 0; pass <= k; pass++) {
        memset(cent, 0, sizeof(double) * (size_t)k * DK);
        memset(count, 0, sizeof(int) * (size_t)k);
        for (int i = 0; i < N; i++) {
            double *cc = cent + (size_t)lab[i] * DK;
            const double *xi = x + (size_t)i * DK;
            for (int j = 0; j < DK; j++)
                cc[j] += xi[j];
            count[lab[i]]++;
        }
        int empty = -1;
        for (int c = 0; c < k; c++) {
            if (count[c] == 0) {
                if (empty < 0) empty = c;
                continue;
            }
            for (int j = 0; j < DK; j++)
                cent[(size_t)c * DK + j] /= count[c];
        }
        if (empty < 0) return;
        /* Move the farthest point of a cluster with more than one point. */
        int far = -1;
        for (int i = 0; i < N; i++)
            if (count[lab[i]] > 1 && (far < 0 || dist[i] > dist[far])) far = i;
        if (far < 0) return; /* fewer points than clusters */
        lab[far] = empty;
        dist[far] = 0.0;
    }
}

/* One Lloyd run from the centres in cent; returns the inertia. */
static double lloyd(const double *x, int N, int DK, int k, int32_t *lab, double *cent, int *count,
                    double *dist) {
    for (int i = 0; i < N; i++)
        lab[i] = -1;
    for (int it = 0; it < KMEANS_MAX_ITER; it++) {
        int moved = 0;
        for (int i = 0; i < N; i++) {
            const double *xi = x + (size_t)i * DK;
            int best = lab[i];
            double bd = best >= 0 ? sqdist(xi, cent + (size_t)best * DK, DK) : INFINITY;
            for (int c = 0; c < k; c++) {
                if (c == lab[i]) continue;
                const double d = sqdist(xi, cent + (size_t)c * DK, DK);
                if (d < bd) {
                    bd = d;
                    best = c;
                }
            }
            dist[i] = bd;
            if (best != lab[i]) {
                lab[i] = best;
                moved = 1;
            }
        }
        if (!moved) break;
        update_centres(x, N, DK, k, lab, cent, count, dist);
    }
    double inertia = 0.0;
    for (int i = 0; i < N; i++)
        inertia += sqdist(x + (size_t)i * DK, cent + (size_t)lab[i] * DK, DK);
    return inertia;
}

static void counts_of(const int32_t *lab, int N, int k, int *count) {
    memset(count, 0, sizeof(int) * (size_t)k);
    for (int i = 0; i < N; i++)
        count[lab[i]]++;
}

/* Hartigan's single-point moves on a Lloyd result: moving point i from
 * cluster a (n_a > 1 points, centre c_a) to b changes the inertia by
 * n_b / (n_b + 1) |x_i - c_b|^2 - n_a / (n_a - 1) |x_i - c_a|^2, so a point
 * moves to the b of the most negative change when that is below -1e-12
 * times the removal term (a margin against rounding). Points are visited in
 * order, centres updated after every move, passes repeated until none moves
 * (at most KMEANS_MAX_ITER). Returns the number of moves; cent (k x DK)
 * holds the means of the final labels, recomputed from scratch. */
static long hartigan(const double *x, int N, int DK, int k, int32_t *lab, double *cent,
                     int *count) {
    long moves = 0;
    for (int it = 0; it < KMEANS_MAX_ITER; it++) {
        int moved = 0;
        for (int i = 0; i < N; i++) {
            const double *xi = x + (size_t)i * DK;
            const int a = lab[i];
            if (count[a] < 2) continue;
            const double rem =
                (double)count[a] / (count[a] - 1) * sqdist(xi, cent + (size_t)a * DK, DK);
            int best = -1;
            double bgain = -1e-12 * rem;
            for (int b = 0; b < k; b++) {
                if (b == a) continue;
                const double add =
                    (double)count[b] / (count[b] + 1) * sqdist(xi, cent + (size_t)b * DK, DK);
                if (add - rem < bgain) bgain = add - rem, best = b;
            }
            if (best < 0) continue;
            double *ca = cent + (size_t)a * DK, *cb = cent + (size_t)best * DK;
            for (int j = 0; j < DK; j++) {
                ca[j] = (ca[j] * count[a] - xi[j]) / (count[a] - 1);
                cb[j] = (cb[j] * count[best] + xi[j]) / (count[best] + 1);
            }
            count[a]--, count[best]++;
            lab[i] = best;
            moved = 1;
            moves++;
        }
        if (!moved) break;
    }
    memset(cent, 0, sizeof(double) * (size_t)k * DK);
    memset(count, 0, sizeof(int) * (size_t)k);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < DK; j++)
            cent[(size_t)lab[i] * DK + j] += x[(size_t)i * DK + j];
        count[lab[i]]++;
    }
    for (int c = 0; c < k; c++)
        for (int j = 0; j < DK && count[c] > 0; j++)
            cent[(size_t)c * DK + j] /= count[c];
    return moves;
}

int ms_kmeans(const double *x, int N, int DK, int k, int restarts, uint64_t seed, uint32_t sub,
              int32_t *lab, double *inertia) {
    if (N < 1 || DK < 1 || k < 1 || restarts < 1)
        return ms_err_set(MS_EINVAL,
                          "k-means: %d points of %d coordinates into %d clusters, %d "
                          "restarts",
                          N, DK, k, restarts);
    double *cent = malloc(sizeof(double) * ((size_t)k * DK + 3 * (size_t)N));
    int32_t *cur = malloc(sizeof(int32_t) * (size_t)N);
    int *count = malloc(sizeof(int) * (size_t)k);
    if (!cent || !cur || !count) {
        free(cent), free(cur), free(count);
        return ms_err_set(MS_ENOMEM, "k-means: out of memory (%d points, %d clusters)", N, k);
    }
    double *dist = cent + (size_t)k * DK, *cand = dist + N, *best_d = cand + N;
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_KMEANS, sub);
    double best = INFINITY;
    for (int t = 0; t < restarts; t++) {
        kmeanspp(x, N, DK, k, &r, cent, dist, cand, best_d);
        double in = lloyd(x, N, DK, k, cur, cent, count, dist);
        /* Hartigan moves, then Lloyd again from their means, until neither
         * changes a label (each step lowers the inertia). */
        for (int round = 0; round < KMEANS_MAX_ITER; round++) {
            counts_of(cur, N, k, count);
            if (!hartigan(x, N, DK, k, cur, cent, count)) break;
            in = lloyd(x, N, DK, k, cur, cent, count, dist);
        }
        if (t == 0 || in < best) {
            best = in;
            memcpy(lab, cur, sizeof(int32_t) * (size_t)N);
        }
    }
    if (inertia) *inertia = best;
    free(cent), free(cur), free(count);
    return 0;
}

/* ---- assignment (Hungarian algorithm) ------------------------------------------------ */

/* Minimum-cost perfect assignment of the n x n matrix cost (row-major):
 * assign[r] = the column of row r. The O(n^3) shortest augmenting path form
 * with potentials; all choices are in index order, so the result is
 * deterministic. work: (4 (n + 1)) doubles and (2 (n + 1)) ints. */
static void hungarian(const double *cost, int n, int *assign, double *work, int *iwork) {
    double *u = work, *v = work + (n + 1), *minv = work + 2 * (n + 1);
    int *p = iwork, *way = iwork + (n + 1);
    char *used = (char *)(work + 3 * (n + 1));
    for (int i = 0; i <= n; i++)
        u[i] = v[i] = 0.0, p[i] = way[i] = 0;
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++)
            minv[j] = INFINITY, used[j] = 0;
        do {
            used[j0] = 1;
            const int i0 = p[j0];
            double delta = INFINITY;
            int j1 = 0;
            for (int j = 1; j <= n; j++) {
                if (used[j]) continue;
                const double cur = cost[(size_t)(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j]) minv[j] = cur, way[j] = j0;
                if (minv[j] < delta) delta = minv[j], j1 = j;
            }
            for (int j = 0; j <= n; j++) {
                if (used[j])
                    u[p[j]] += delta, v[j] -= delta;
                else
                    minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            const int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (int j = 1; j <= n; j++)
        if (p[j]) assign[p[j] - 1] = j - 1;
}

/* ---- BSGC ---------------------------------------------------------------------------- */

uint32_t ms_bsgc_sub(int basis, int layer, int k) {
    return (((uint32_t)basis * 16u + (uint32_t)layer) * 2048u + (uint32_t)k) * 2u;
}

int ms_bsgc(const double *M, int O, int NI, int k, int restarts, uint64_t seed, uint32_t sub,
            const int32_t *fixed_col, int32_t *row, int32_t *col) {
    const int R = O < NI ? O : NI;
    if (k < 1 || k > R)
        return ms_err_set(MS_EINVAL, "BSGC: %d clusters of a %d x %d matrix (at most %d)", k, O, NI,
                          R);
    const size_t nA = (size_t)O * NI;
    /* One allocation: A, At (overwritten by dgesdd), U, VT, s, du, dv, the
     * k-means points, the block masses, the Hungarian work. */
    const int NP = O > NI ? O : NI;
    size_t nd = 2 * nA + (size_t)O * R + (size_t)R * NI + R + O + NI + (size_t)NP * k +
                (size_t)k * k + 4 * (size_t)(k + 1);
    double *buf = malloc(sizeof(double) * nd);
    int32_t *raw = malloc(sizeof(int32_t) * (size_t)NP);
    int *iw = malloc(sizeof(int) * (size_t)(3 * (k + 1)));
    if (!buf || !raw || !iw) {
        free(buf), free(raw), free(iw);
        return ms_err_set(MS_ENOMEM, "BSGC: out of memory for a %d x %d matrix", O, NI);
    }
    double *A = buf, *At = A + nA, *U = At + nA, *VT = U + (size_t)O * R, *s = VT + (size_t)R * NI;
    double *du = s + R, *dv = du + O, *pts = dv + NI;
    double *mass = pts + (size_t)NP * k;
    double *hw = mass + (size_t)k * k;
    int *assign = iw + 2 * (k + 1);
    int rc = 0;

    for (size_t e = 0; e < nA; e++) {
        if (!isfinite(M[e])) {
            rc = ms_err_set(MS_ENUMERIC, "BSGC: entry (%zu, %zu) of the %d x %d matrix is %s",
                            e / (size_t)NI, e % (size_t)NI, O, NI, isnan(M[e]) ? "NaN" : "Inf");
            goto done;
        }
        A[e] = fabs(M[e]);
    }
    for (int j = 0; j < NI; j++)
        dv[j] = 0.0;
    for (int i = 0; i < O; i++) {
        double sum = 0.0;
        for (int j = 0; j < NI; j++) {
            sum += A[(size_t)i * NI + j];
            dv[j] += A[(size_t)i * NI + j];
        }
        du[i] = sum;
    }
    for (int i = 0; i < O; i++)
        du[i] = du[i] > 0.0 ? 1.0 / sqrt(du[i]) : 0.0;
    for (int j = 0; j < NI; j++)
        dv[j] = dv[j] > 0.0 ? 1.0 / sqrt(dv[j]) : 0.0;
    for (int i = 0; i < O; i++)
        for (int j = 0; j < NI; j++)
            At[(size_t)i * NI + j] = du[i] * A[(size_t)i * NI + j] * dv[j];

    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', O, NI, At, NI, s, U, R, VT, NI);
    if (info != 0) {
        rc = ms_err_set(MS_ENUMERIC, "BSGC: the SVD of a %d x %d matrix failed (LAPACK info %d)", O,
                        NI, (int)info);
        goto done;
    }
    /* The singular vectors used (the top k) must be finite: k-means of NaN
     * points would give arbitrary clusters. */
    for (int c = 0; c < k && !rc; c++) {
        int ok = isfinite(s[c]);
        for (int i = 0; i < O && ok; i++)
            ok = isfinite(U[(size_t)i * R + c]);
        for (int j = 0; j < NI && ok; j++)
            ok = isfinite(VT[(size_t)c * NI + j]);
        if (!ok)
            rc = ms_err_set(MS_ENUMERIC,
                            "BSGC: the SVD of a %d x %d matrix gave a non-finite singular value "
                            "or vector (number %d)",
                            O, NI, c + 1);
    }
    if (rc) goto done;
    /* Fix each singular pair's sign: the largest-magnitude entry of the left
     * vector positive (the first on ties). */
    for (int c = 0; c < k; c++) {
        int arg = 0;
        for (int i = 1; i < O; i++)
            if (fabs(U[(size_t)i * R + c]) > fabs(U[(size_t)arg * R + c])) arg = i;
        if (U[(size_t)arg * R + c] < 0.0) {
            for (int i = 0; i < O; i++)
                U[(size_t)i * R + c] = -U[(size_t)i * R + c];
            for (int j = 0; j < NI; j++)
                VT[(size_t)c * NI + j] = -VT[(size_t)c * NI + j];
        }
    }

    /* Column clusters. */
    if (fixed_col) {
        memcpy(col, fixed_col, sizeof(int32_t) * (size_t)NI);
    } else {
        for (int j = 0; j < NI; j++)
            for (int c = 0; c < k; c++)
                pts[(size_t)j * k + c] = VT[(size_t)c * NI + j];
        if ((rc = ms_kmeans(pts, NI, k, k, restarts, seed, sub, raw, NULL))) goto done;
        /* Renumber by first appearance. */
        int *first = iw; /* k entries */
        for (int c = 0; c < k; c++)
            first[c] = -1;
        int next = 0;
        for (int j = 0; j < NI; j++) {
            if (first[raw[j]] < 0) first[raw[j]] = next++;
            col[j] = first[raw[j]];
        }
    }

    /* A symmetric matrix (checked exactly: M_ij == M_ji for all i, j) gets
     * one clustering, used for both sides: its rows and columns are the
     * same units. Chained layers keep the chain's column clusters and
     * cluster their rows as below. */
    if (!fixed_col && O == NI) {
        int sym = 1;
        for (int i = 0; i < O && sym; i++)
            for (int j = 0; j < i && sym; j++)
                sym = M[(size_t)i * NI + j] == M[(size_t)j * NI + i];
        if (sym) {
            memcpy(row, col, sizeof(int32_t) * (size_t)O);
            goto done;
        }
    }

    /* Row clusters, matched to the column clusters by the largest block mass. */
    for (int i = 0; i < O; i++)
        for (int c = 0; c < k; c++)
            pts[(size_t)i * k + c] = U[(size_t)i * R + c];
    if ((rc = ms_kmeans(pts, O, k, k, restarts, seed, sub + 1, raw, NULL))) goto done;
    for (size_t e = 0; e < (size_t)k * k; e++)
        mass[e] = 0.0;
    for (int i = 0; i < O; i++) {
        double *mr = mass + (size_t)raw[i] * k;
        for (int j = 0; j < NI; j++)
            if (col[j] >= 0 && col[j] < k) mr[col[j]] += A[(size_t)i * NI + j];
    }
    for (size_t e = 0; e < (size_t)k * k; e++)
        mass[e] = -mass[e];
    hungarian(mass, k, assign, hw, iw);
    for (int i = 0; i < O; i++)
        row[i] = assign[raw[i]];
done:
    free(buf), free(raw), free(iw);
    return rc;
}

int ms_bsgc_layers(const ms_layout_t *L, const float *params, const double *gs, uint32_t gs_mask,
                   uint32_t layers, int k, int restarts, uint64_t seed, int basis, int32_t *units,
                   uint32_t *done) {
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC], gs_off[MS_MAX_FC];
    const long nu = ms_units_layout(L, in_off, out_off);
    ms_gradsim_layout(L, gs_mask, gs_off);
    for (long u = 0; u < nu; u++)
        units[u] = -1;
    uint32_t did = 0;
    double *M = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int l = 0; l < L->arch.n_fc && !rc; l++) {
        if (!(layers >> l & 1u)) continue;
        const int O = L->arch.fc_out[l], NI = L->fc_in[l];
        if (gs && gs_off[l] < 0) continue;
        if (k > (O < NI ? O : NI)) continue;
        const size_t n = (size_t)O * NI;
        if (n > cap) {
            free(M);
            cap = n;
            if (!(M = malloc(sizeof(double) * cap))) {
                rc = ms_err_set(MS_ENOMEM, "BSGC: out of memory for fc%d", l + 1);
                break;
            }
        }
        if (gs) {
            memcpy(M, gs + gs_off[l], sizeof(double) * n);
        } else {
            const float *w = params + L->t[L->fc_weight[l]].off;
            for (size_t e = 0; e < n; e++)
                M[e] = w[e];
        }
        /* Chained: the previous layer's output clusters are this layer's input clusters. */
        const int32_t *fixed = (l > 0 && (did >> (l - 1) & 1u)) ? units + out_off[l - 1] : NULL;
        rc = ms_bsgc(M, O, NI, k, restarts, seed, ms_bsgc_sub(basis, l, k), fixed,
                     units + out_off[l], units + in_off[l]);
        if (!rc)
            did |= 1u << l;
        else
            ms_err_wrap(rc, "fc%d %s (k = %d): ", l + 1, gs ? "gradient similarity" : "weights", k);
    }
    free(M);
    if (done) *done = did;
    return rc;
}

/* ---- streaming gradient similarity ----------------------------------------------------- */

int ms_gradsim_add(double *S, const float *g, int O, int D) {
    double n2 = 0.0;
    for (size_t e = 0; e < (size_t)O * D; e++)
        n2 += (double)g[e] * g[e];
    if (!(n2 > 0.0)) return 0;
    const double inv = 1.0 / n2; /* ghat^T ghat = g^T g / ||g||^2 */
    for (int o = 0; o < O; o++) {
        const float *gr = g + (size_t)o * D;
        for (int i = 0; i < D; i++) {
            const double a = (double)gr[i] * inv;
            double *Si = S + (size_t)i * D;
            for (int j = i; j < D; j++)
                Si[j] += a * (double)gr[j];
        }
    }
    return 1;
}

void ms_gradsim_symmetrize(double *S, int D) {
    for (int i = 0; i < D; i++)
        for (int j = 0; j < i; j++)
            S[(size_t)i * D + j] = S[(size_t)j * D + i];
}

/* ---- training hooks ---------------------------------------------------------------------- */

static int fix_spectral(ms_cluster_train_t *ct, const float *params) {
    const ms_settings_t *s = ct->s;
    int rc = ms_bsgc_layers(ct->L, params, NULL, 0, s->reg_layers, s->k, s->kmeans_restarts,
                            s->seed, MS_BASIS_TRAINING, ct->units, NULL);
    if (!rc) ct->part_ready = 1;
    return rc;
}

static int hook_epoch_start(void *vctx, ms_trainer_t *tr, int epoch) {
    ms_cluster_train_t *ct = vctx;
    if (ct->s->partition == MS_PART_SPECTRAL && ct->s->reg_layers && !ct->part_ready &&
        epoch == ct->s->warmup_epochs) {
        int rc = fix_spectral(ct, tr->params);
        if (rc) return rc;
    }
    return ct->chain.epoch_start ? ct->chain.epoch_start(ct->chain.ctx, tr, epoch) : 0;
}

static int hook_after_backward(void *vctx, ms_trainer_t *tr, long step, double *loss_term,
                               float *curve) {
    ms_cluster_train_t *ct = vctx;
    const ms_settings_t *s = ct->s;
    const ms_layout_t *L = ct->L;
    if (ct->part_ready && s->reg_layers) {
        double sum = 0.0, term = 0.0;
        int n = 0;
        for (int l = 0; l < L->arch.n_fc; l++) {
            if (!(s->reg_layers >> l & 1u)) continue;
            const int O = L->arch.fc_out[l], NI = L->fc_in[l];
            const size_t off = L->t[L->fc_weight[l]].off;
            const int32_t *row = ct->units + ct->out_off[l], *col = ct->units + ct->in_off[l];
            const double f = s->lambda > 0.0f
                                 ? ms_clusterability_grad(tr->params + off, O, NI, row, col,
                                                          -(double)s->lambda, tr->grad + off)
                                 : ms_clusterability(tr->params + off, O, NI, row, col);
            sum += f;
            term -= (double)s->lambda * f;
            n++;
        }
        *loss_term += term;
        *curve = (float)(sum / n);
    }
    for (int l = 0; l < L->arch.n_fc; l++) {
        if (ct->gs_off[l] < 0) continue;
        const size_t off = L->t[L->fc_weight[l]].off;
        ct->gs_steps[l] +=
            ms_gradsim_add(ct->gs + ct->gs_off[l], tr->grad + off, L->arch.fc_out[l], L->fc_in[l]);
    }
    return ct->chain.after_backward
               ? ct->chain.after_backward(ct->chain.ctx, tr, step, loss_term, curve)
               : 0;
}

static int hook_after_step(void *vctx, ms_trainer_t *tr, long step) {
    ms_cluster_train_t *ct = vctx;
    return ct->chain.after_step ? ct->chain.after_step(ct->chain.ctx, tr, step) : 0;
}

static int hook_on_epoch(void *vctx, ms_trainer_t *tr, const ms_epoch_report_t *rep) {
    ms_cluster_train_t *ct = vctx;
    if (rep->epoch == ct->s->epochs - 1)
        for (int l = 0; l < ct->L->arch.n_fc; l++)
            if (ct->gs_off[l] >= 0) ms_gradsim_symmetrize(ct->gs + ct->gs_off[l], ct->L->fc_in[l]);
    return ct->chain.on_epoch ? ct->chain.on_epoch(ct->chain.ctx, tr, rep) : 0;
}

int ms_cluster_train_init(ms_cluster_train_t *ct, const ms_settings_t *s, const ms_layout_t *L,
                          const ms_train_hooks_t *chain, ms_train_hooks_t *hooks) {
    memset(ct, 0, sizeof *ct);
    ct->s = s;
    ct->L = L;
    if (chain) ct->chain = *chain;
    ct->nu = ms_units_layout(L, ct->in_off, ct->out_off);
    for (int l = 0; l < L->arch.n_fc; l++)
        if (s->gradsim_layers >> l & 1u && L->arch.fc_out[l] != L->fc_in[l])
            return ms_err_set(MS_EINVAL,
                              "gradient similarity of fc%d: the layer is %d x %d; its BSGC "
                              "clusters apply to the weight matrix only when it is square",
                              l + 1, L->arch.fc_out[l], L->fc_in[l]);
    ct->ng = ms_gradsim_layout(L, s->gradsim_layers, ct->gs_off);
    ct->units = malloc(sizeof(int32_t) * (size_t)ct->nu);
    ct->gs = calloc((size_t)(ct->ng > 0 ? ct->ng : 1), sizeof(double));
    if (!ct->units || !ct->gs) {
        ms_cluster_train_free(ct);
        return ms_err_set(MS_ENOMEM, "clusterability training: out of memory");
    }
    for (long u = 0; u < ct->nu; u++)
        ct->units[u] = -1;
    if (s->partition == MS_PART_BLOCKS && s->reg_layers) {
        for (int l = 0; l < L->arch.n_fc; l++) {
            if (!(s->reg_layers >> l & 1u)) continue;
            ms_part_blocks(L->arch.fc_out[l], s->k, ct->units + ct->out_off[l]);
            ms_part_blocks(L->fc_in[l], s->k, ct->units + ct->in_off[l]);
        }
        ct->part_ready = 1;
    }
    memset(hooks, 0, sizeof *hooks);
    hooks->ctx = ct;
    hooks->epoch_start = hook_epoch_start;
    hooks->after_backward = hook_after_backward;
    hooks->after_step = hook_after_step;
    hooks->on_epoch = hook_on_epoch;
    hooks->needs_conv_act = ct->chain.needs_conv_act;
    return 0;
}

void ms_cluster_train_free(ms_cluster_train_t *ct) {
    free(ct->units);
    free(ct->gs);
    memset(ct, 0, sizeof *ct);
}
