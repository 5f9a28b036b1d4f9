/* The downstream cone of the fast pruner (cone.h). Built with
 * -ffp-contract=off like prune.c: every a * b + c is a rounded product then
 * a rounded sum. IEEE addition is commutative, so adding a constant subtree
 * to a changing one in either order gives the node of row_tree bit for bit. */
#include "cone.h"

#include "clones.h"
#include "rowtree.h"

#include "modsweep/error.h"

#include <emmintrin.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

typedef ms_i128 i128;

enum { OP_LEAF, OP_ADD, OP_ADDK, OP_BIAS, OP_RELU, OP_CHAIN };

#define BS CONE_BS
/* Packed lanes of a part: a full batch and the lanes of one more block. */
#define CE_LANES (2 * BS)

/* The moved samples of a part, packed across its blocks: their logits (one
 * row per group of equal logits, cone_t.grp), and where each sits in the
 * permuted sample order. */
typedef struct ce_pack {
    double z[MS_MAX_CLASSES][CE_LANES];
    size_t pos[CE_LANES];
    int n;
} ce_pack_t;

/* ---- the sparse later layers --------------------------------------------------------- */

static void readers_free(cone_readers_t *s) {
    free(s->start);
    free(s->row);
    free(s->row_start);
    free(s->row_idx);
    free(s->row_w);
    memset(s, 0, sizeof *s);
}

static int readers_build(cone_readers_t *s, const ms_layout_t *L, const float *w, int l) {
    const int O = L->arch.fc_out[l], NI = L->fc_in[l];
    const float *wl = w + L->t[L->fc_weight[l]].off;
    long nnz = 0;
    for (size_t j = 0; j < (size_t)O * NI; j++)
        nnz += wl[j] != 0.0f;
    s->start = calloc((size_t)NI + 1, sizeof(int));
    s->row = malloc(sizeof(int) * (size_t)(nnz + 1));
    s->row_start = malloc(sizeof(int) * (size_t)(O + 1));
    s->row_idx = malloc(sizeof(int) * (size_t)(nnz + 1));
    s->row_w = malloc(sizeof(double) * (size_t)(nnz + 1));
    int *fill = calloc((size_t)NI + 1, sizeof(int));
    if (!s->start || !s->row || !s->row_start || !s->row_idx || !s->row_w || !fill) {
        free(fill);
        readers_free(s);
        return ms_err_set(MS_ENOMEM, "pruning: out of memory");
    }
    long k = 0;
    for (int o = 0; o < O; o++) {
        s->row_start[o] = (int)k;
        for (int i = 0; i < NI; i++) {
            const float v = wl[(size_t)o * NI + i];
            if (v == 0.0f) continue;
            s->row_idx[k] = i;
            s->row_w[k++] = (double)v;
            s->start[i + 1]++;
        }
    }
    s->row_start[O] = (int)k;
    for (int i = 0; i < NI; i++)
        s->start[i + 1] += s->start[i];
    for (int o = 0; o < O; o++)
        for (int q = s->row_start[o]; q < s->row_start[o + 1]; q++) {
            const int i = s->row_idx[q];
            s->row[s->start[i] + fill[i]++] = o;
        }
    free(fill);
    return 0;
}

/* Levels of row_tree above the leaves for NI inputs: the root covers [0, 2^K). */
static int tree_levels(int NI) {
    int k = 0;
    while ((1 << k) < NI)
        k++;
    return k;
}

int cone_init(cone_t *c, const ms_layout_t *L, const float *w, int l, int N, int label, int nth) {
    memset(c, 0, sizeof *c);
    c->L = L;
    c->w = w;
    c->l = l;
    c->nf = L->arch.n_fc;
    c->N = N;
    c->NC = L->arch.fc_out[c->nf - 1];
    c->y = label;
    c->nth = nth < 1 ? 1 : nth > CONE_MAX_THREADS ? CONE_MAX_THREADS : nth;
    /* Equal parts to start with; room for the blocks of any split. */
    int n0[CONE_MAX_THREADS + 1];
    for (int t = 0; t <= c->nth; t++)
        n0[t] = t == c->nth ? N : (int)((long)N * t / c->nth) / 8 * 8;
    cone_split(c, n0);
    const size_t P = (size_t)((N + BS - 1) / BS + c->nth) * BS;
    int maxw = c->NC, levels = 1;
    for (int d = l + 1; d < c->nf; d++) {
        int rc = readers_build(&c->rd[d], L, w, d);
        if (rc) return rc;
        c->rows[d] = malloc(sizeof(int) * (size_t)L->arch.fc_out[d]);
        c->row_reg[d] = malloc(sizeof(int) * (size_t)L->arch.fc_out[d]);
        c->chg[d] = malloc(sizeof(int) * (size_t)L->fc_in[d]);
        if (!c->rows[d] || !c->row_reg[d] || !c->chg[d]) goto oom;
        if (L->fc_in[d] > maxw) maxw = L->fc_in[d];
        if (tree_levels(L->fc_in[d]) + 1 > levels) levels = tree_levels(L->fc_in[d]) + 1;
    }
    c->perm = malloc(sizeof(int) * P);
    c->hin = aligned_alloc(64, sizeof(double) * P);
    c->hcur = aligned_alloc(64, sizeof(double) * P);
    c->hmemo = aligned_alloc(64, sizeof(double) * P);
    for (int h = 0; h < 2; h++) {
        c->qcur[h] = aligned_alloc(64, sizeof(int64_t) * P);
        c->qmemo[h] = aligned_alloc(64, sizeof(int64_t) * P);
    }
    for (int t = 0; t < c->nth; t++)
        if (!(c->pack[t] = aligned_alloc(64, (sizeof(ce_pack_t) + 63) / 64 * 64))) goto oom;
    c->free_regs = malloc(sizeof(int) * (size_t)(maxw + 1) * (size_t)(c->nf + 1));
    c->tmp = malloc(sizeof(double) * (size_t)(levels + 1) * N);
    if (c->perm && c->hin && c->hcur && c->hmemo && c->qcur[0] && c->qcur[1] && c->qmemo[0] &&
        c->qmemo[1] && c->free_regs && c->tmp)
        return 0;
oom:
    cone_free(c);
    return ms_err_set(MS_ENOMEM, "pruning: cannot allocate the downstream of fc%d", l + 1);
}

void cone_free(cone_t *c) {
    for (int d = 0; d < MS_MAX_FC; d++) {
        readers_free(&c->rd[d]);
        free(c->rows[d]);
        free(c->row_reg[d]);
        free(c->chg[d]);
    }
    for (int t = 0; t < CONE_MAX_THREADS; t++) {
        free(c->regs[t]);
        free(c->pack[t]);
    }
    free(c->ops);
    free(c->fixed);
    free(c->free_regs);
    free(c->perm);
    free(c->K);
    free(c->hin);
    free(c->hcur);
    free(c->hmemo);
    for (int h = 0; h < 2; h++) {
        free(c->qcur[h]);
        free(c->qmemo[h]);
    }
    free(c->tmp);
    memset(c, 0, sizeof *c);
}

void cone_split(cone_t *c, const int *n0) {
    c->b0[0] = 0;
    for (int t = 0; t <= c->nth; t++)
        c->n0[t] = n0[t];
    for (int t = 0; t < c->nth; t++)
        c->b0[t + 1] = c->b0[t] + (c->n0[t + 1] - c->n0[t] + BS - 1) / BS;
    c->nb = c->b0[c->nth];
}

int cone_output_is_read(const cone_t *c, int o) {
    if (c->l == c->nf - 1) return 1;
    const cone_readers_t *rd = &c->rd[c->l + 1];
    return rd->start[o + 1] > rd->start[o];
}

/* ---- compiling row o's program --------------------------------------------------------- */

enum { N_ABSENT, N_FIXED, N_REG };
typedef struct cnode {
    int kind, reg;
    cone_fixed_t f;
} cnode_t;

static int new_reg(cone_t *c) {
    return c->n_free ? c->free_regs[--c->n_free] : c->nregs++;
}

static int emit(cone_t *c, int kind, int dst, int src, double w) {
    if (c->nops == c->cap_ops) {
        const int cap = c->cap_ops ? 2 * c->cap_ops : 256;
        cone_op_t *p = realloc(c->ops, sizeof *p * (size_t)cap);
        if (!p) return ms_err_set(MS_ENOMEM, "pruning: out of memory");
        c->ops = p;
        c->cap_ops = cap;
    }
    c->ops[c->nops++] = (cone_op_t){.kind = kind, .dst = dst, .src = src, .w = w};
    return 0;
}

static int add_fixed(cone_t *c, cone_fixed_t f, int *k) {
    if (c->nconst == c->cap_const) {
        const int cap = c->cap_const ? 2 * c->cap_const : 64;
        cone_fixed_t *p = realloc(c->fixed, sizeof *p * (size_t)cap);
        if (!p) return ms_err_set(MS_ENOMEM, "pruning: out of memory");
        c->fixed = p;
        c->cap_const = cap;
    }
    *k = c->nconst;
    c->fixed[c->nconst++] = f;
    return 0;
}

/* Node (k, t) of row `row` of layer d, whose present leaves are the row's
 * non-zeros qa .. qb-1: absent, fixed (no changing input below it), or
 * computed into a register by the emitted operations. */
static int compile_node(cone_t *c, int d, int row, int qa, int qb, int k, int t, cnode_t *out) {
    const cone_readers_t *rd = &c->rd[d];
    if (qa == qb) {
        out->kind = N_ABSENT;
        return 0;
    }
    int changing = 0;
    for (int q = qa; q < qb && !changing; q++)
        changing = c->chg[d][rd->row_idx[q]] >= 0;
    if (!changing) {
        *out = (cnode_t){.kind = N_FIXED,
                         .f = {.d = d, .row = row, .qa = qa, .qb = qb, .k = k, .t = t}};
        return 0;
    }
    if (k == 0) {
        out->kind = N_REG;
        out->reg = new_reg(c);
        return emit(c, OP_LEAF, out->reg, c->chg[d][rd->row_idx[qa]], rd->row_w[qa]);
    }
    const int mid = (2 * t + 1) << (k - 1);
    int qm = qa;
    while (qm < qb && rd->row_idx[qm] < mid)
        qm++;
    cnode_t a, b;
    int rc = compile_node(c, d, row, qa, qm, k - 1, 2 * t, &a);
    if (!rc) rc = compile_node(c, d, row, qm, qb, k - 1, 2 * t + 1, &b);
    if (rc) return rc;
    if (a.kind == N_ABSENT) {
        *out = b;
        return 0;
    }
    if (b.kind == N_ABSENT) {
        *out = a;
        return 0;
    }
    out->kind = N_REG;
    if (a.kind == N_REG && b.kind == N_REG) {
        out->reg = a.reg;
        c->free_regs[c->n_free++] = b.reg;
        return emit(c, OP_ADD, a.reg, b.reg, 0.0);
    }
    const cnode_t *r = a.kind == N_REG ? &a : &b, *f = a.kind == N_REG ? &b : &a;
    int kc = 0;
    out->reg = r->reg;
    rc = add_fixed(c, f->f, &kc);
    return rc ? rc : emit(c, OP_ADDK, r->reg, kc, 0.0);
}

/* The rows that can change and their program, layer by layer; the logits
 * that cannot, grouped by value (logT: the committed logits, (NC, N)). */
static int compile_row(cone_t *c, int o, const double *logT) {
    const ms_layout_t *L = c->L;
    const int l = c->l, nf = c->nf;
    c->o = o;
    c->nops = c->nconst = c->n_free = 0;
    c->nregs = 1; /* register 0: the input, row o's output */
    for (int cl = 0; cl < c->NC; cl++)
        c->logit_reg[cl] = c->logit_const[cl] = -1;
    if (l == nf - 1) {
        c->logit_reg[o] = 0;
    } else {
        for (int d = l + 1; d < nf; d++) {
            const int NI = L->fc_in[d], O = L->arch.fc_out[d], last = d == nf - 1;
            const cone_readers_t *rd = &c->rd[d];
            for (int i = 0; i < NI; i++)
                c->chg[d][i] = -1;
            if (d == l + 1)
                c->chg[d][o] = 0;
            else
                for (int k = 0; k < c->n_rows[d - 1]; k++)
                    c->chg[d][c->rows[d - 1][k]] = c->row_reg[d - 1][k];
            const float *bias = fc_bias(L, c->w, d);
            const int K = tree_levels(NI);
            int n = 0;
            for (int row = 0; row < O; row++) {
                int reads = 0;
                for (int q = rd->row_start[row]; q < rd->row_start[row + 1] && !reads; q++)
                    reads = c->chg[d][rd->row_idx[q]] >= 0;
                if (!reads) continue;
                cnode_t root;
                int rc = compile_node(c, d, row, rd->row_start[row], rd->row_start[row + 1], K, 0,
                                      &root);
                if (!rc && bias) rc = emit(c, OP_BIAS, root.reg, 0, (double)bias[row]);
                if (!rc && !last) rc = emit(c, OP_RELU, root.reg, 0, 0.0);
                if (rc) return rc;
                c->rows[d][n] = row;
                c->row_reg[d][n++] = root.reg;
                if (last) c->logit_reg[row] = root.reg;
            }
            c->n_rows[d] = n;
        }
    }
    /* The groups of equal logits: a logit that cannot change joins the
     * first earlier one with the same bits in every sample (logT); the first
     * of each such group is a constant of the program. */
    c->ng = 0;
    for (int cl = 0; cl < c->NC; cl++) {
        int g = c->ng;
        for (int e = 0; e < c->ng && c->logit_reg[cl] < 0; e++) {
            const int r = c->grp_class[e];
            if (c->logit_reg[r] < 0 && !memcmp(logT + (size_t)r * c->N, logT + (size_t)cl * c->N,
                                               sizeof(double) * c->N)) {
                g = e;
                break;
            }
        }
        c->grp[cl] = g;
        if (g < c->ng) continue;
        c->grp_class[c->ng++] = cl;
        if (c->logit_reg[cl] >= 0) continue;
        int rc = add_fixed(c, (cone_fixed_t){.d = -1, .row = cl}, &c->logit_const[cl]);
        if (rc) return rc;
    }
    return 0;
}

/* Fuses each run of a leaf (or any operation's result), the additions of
 * consecutive constants to it and its ReLU into one OP_CHAIN: the same
 * operations in the same order, one pass over the block instead of one per
 * operation (the rows of a cone are mostly such runs: a changing leaf, the
 * fixed subtrees on its path to the root, the ReLU). */
static void fuse_chains(cone_t *c) {
    int n = 0;
    for (int i = 0; i < c->nops;) {
        const cone_op_t *op = &c->ops[i];
        cone_op_t f = {.kind = OP_CHAIN, .dst = op->dst, .src = op->src, .w = op->w};
        int e = i;
        if (op->kind == OP_LEAF || op->kind == OP_ADD) {
            f.leaf = op->kind == OP_LEAF ? 1 : 2;
            e++;
        } else if (op->kind != OP_ADDK) {
            c->ops[n++] = c->ops[i++];
            continue;
        }
        if (e < c->nops && c->ops[e].kind == OP_ADDK && c->ops[e].dst == f.dst) {
            f.k0 = c->ops[e].src;
            while (e < c->nops && c->ops[e].kind == OP_ADDK && c->ops[e].dst == f.dst &&
                   c->ops[e].src == f.k0 + f.nk) {
                f.nk++;
                e++;
            }
        }
        if (e < c->nops && c->ops[e].kind == OP_RELU && c->ops[e].dst == f.dst) {
            f.relu = 1;
            e++;
        }
        if (e - i < 2) {
            c->ops[n++] = c->ops[i++];
            continue;
        }
        c->ops[n++] = f;
        i = e;
    }
    c->nops = n;
}

/* ---- the constants ------------------------------------------------------------------- */

/* The values (N) of a fixed node, from the layer's committed input hT (NI, N);
 * scratch: one N-vector per level below. Returns whether it is present. */
static int node_values(const cone_readers_t *rd, int qa, int qb, int k, int t, const double *hT,
                       int N, double *out, double *scratch) {
    if (qa == qb) return 0;
    if (k == 0) {
        const double wv = rd->row_w[qa];
        const double *h = hT + (size_t)rd->row_idx[qa] * N;
        for (int n = 0; n < N; n++)
            out[n] = wv * h[n];
        return 1;
    }
    const int mid = (2 * t + 1) << (k - 1);
    int qm = qa;
    while (qm < qb && rd->row_idx[qm] < mid)
        qm++;
    const int pa = node_values(rd, qa, qm, k - 1, 2 * t, hT, N, out, scratch);
    if (!pa) return node_values(rd, qm, qb, k - 1, 2 * t + 1, hT, N, out, scratch);
    if (node_values(rd, qm, qb, k - 1, 2 * t + 1, hT, N, scratch, scratch + N))
        for (int n = 0; n < N; n++)
            out[n] = out[n] + scratch[n];
    return 1;
}

int cone_set_row(cone_t *c, int o, double *const *hT, const double *logT, const i128 *q) {
    const int N = c->N, nb = c->nb, hidden = c->l < c->nf - 1;
    int rc = compile_row(c, o, logT);
    if (rc) return rc;
    fuse_chains(c);
    /* Registers: (nregs, BS) per thread. */
    if (c->nregs > c->cap_regs) {
        for (int t = 0; t < c->nth; t++) {
            free(c->regs[t]);
            c->regs[t] = aligned_alloc(64, sizeof(double) * BS * (size_t)c->nregs);
            if (!c->regs[t]) return ms_err_set(MS_ENOMEM, "pruning: out of memory");
        }
        c->cap_regs = c->nregs;
    }
    const size_t nK = (size_t)nb * c->nconst * BS;
    if (nK > c->cap_K) {
        free(c->K);
        c->K = aligned_alloc(64, sizeof(double) * nK);
        if (!c->K) {
            c->cap_K = 0;
            return ms_err_set(MS_ENOMEM,
                              "pruning: cannot allocate %zu constants of the downstream of fc%d",
                              nK, c->l + 1);
        }
        c->cap_K = nK;
    }
    /* In each part, the samples whose input is non-zero first, each group in
     * sample order, then padding. */
    const double *h = hidden ? hT[c->l + 1] + (size_t)o * N : logT + (size_t)o * N;
    int p = 0;
    for (int t = 0; t < c->nth; t++) {
        p = c->b0[t] * BS;
        for (int n = c->n0[t]; n < c->n0[t + 1]; n++)
            if (!hidden || h[n] != 0.0) c->perm[p++] = n;
        for (int n = c->n0[t]; n < c->n0[t + 1] && hidden; n++)
            if (h[n] == 0.0) c->perm[p++] = n;
        for (; p < c->b0[t + 1] * BS; p++)
            c->perm[p] = N;
    }
    for (p = 0; p < nb * BS; p++) {
        const int n = c->perm[p];
        c->hcur[p] = n < N ? h[n] : 0.0;
        /* q = hi * 2^53 + lo, 0 <= lo < 2^53 (ms_canon_fixed_parts). */
        c->qcur[0][p] = n < N ? (int64_t)(q[n] >> 53) : 0;
        c->qcur[1][p] = n < N ? (int64_t)(q[n] & (((i128)1 << 53) - 1)) : 0;
    }
    for (int k = 0; k < c->nconst; k++) {
        const cone_fixed_t *f = &c->fixed[k];
        const double *v = c->tmp;
        if (f->d < 0)
            v = logT + (size_t)f->row * N;
        else
            node_values(&c->rd[f->d], f->qa, f->qb, f->k, f->t, hT[f->d], N, c->tmp, c->tmp + N);
        for (p = 0; p < nb * BS; p++) {
            const int n = c->perm[p];
            c->K[((size_t)(p / BS) * c->nconst + k) * BS + p % BS] = n < N ? v[n] : 0.0;
        }
    }
    return 0;
}

void cone_memo_reset_part(cone_t *c, int t) {
    const size_t p0 = (size_t)c->b0[t] * BS, n = (size_t)(c->b0[t + 1] - c->b0[t]) * BS;
    memcpy(c->hmemo + p0, c->hcur + p0, sizeof(double) * n);
    for (int h = 0; h < 2; h++)
        memcpy(c->qmemo[h] + p0, c->qcur[h] + p0, sizeof(int64_t) * n);
}

/* ---- evaluation ------------------------------------------------------------------------ */

/* The downstream rows of block blk (all its lanes) into the registers R
 * (nregs, BS), from its input in c->hin: the operations stream the block's
 * constants in order. Cloned per instruction set (clones.h); every clone
 * gives the same bits (test_prune*). */
MS_PRUNE_CLONES
static void cone_ops(const cone_t *c, int blk, double *R) {
    const double *K = c->K + (size_t)blk * c->nconst * BS;
    memcpy(R, c->hin + (size_t)blk * BS, sizeof(double) * BS);
    for (int i = 0; i < c->nops; i++) {
        const cone_op_t *op = &c->ops[i];
        double *x = R + (size_t)op->dst * BS;
        const double wv = op->w;
        switch (op->kind) {
        case OP_LEAF: {
            const double *s = R + (size_t)op->src * BS;
            for (int e = 0; e < BS; e++)
                x[e] = wv * s[e];
            break;
        }
        case OP_ADD: {
            const double *s = R + (size_t)op->src * BS;
            for (int e = 0; e < BS; e++)
                x[e] = x[e] + s[e];
            break;
        }
        case OP_ADDK: {
            const double *s = K + (size_t)op->src * BS;
            for (int e = 0; e < BS; e++)
                x[e] = x[e] + s[e];
            break;
        }
        case OP_BIAS:
            for (int e = 0; e < BS; e++)
                x[e] = wv + x[e];
            break;
        case OP_CHAIN: {
            /* Held in registers through the run: one load of each operand. */
            double acc[BS];
            const double *s = R + (size_t)op->src * BS;
            if (op->leaf == 1)
                for (int e = 0; e < BS; e++)
                    acc[e] = wv * s[e];
            else if (op->leaf == 2)
                for (int e = 0; e < BS; e++)
                    acc[e] = x[e] + s[e];
            else
                for (int e = 0; e < BS; e++)
                    acc[e] = x[e];
            for (int t = 0; t < op->nk; t++) {
                const double *k = K + (size_t)(op->k0 + t) * BS;
                for (int e = 0; e < BS; e++)
                    acc[e] = acc[e] + k[e];
            }
            if (op->relu)
                for (int e = 0; e < BS; e++)
                    x[e] = relu_d(acc[e]);
            else
                for (int e = 0; e < BS; e++)
                    x[e] = acc[e];
            break;
        }
        default: /* OP_RELU */
            for (int e = 0; e < BS; e++)
                x[e] = relu_d(x[e]);
            break;
        }
    }
}

/* The cross-entropy (canonical_ce: the maximum, the exp terms in class
 * order, log) and the loss q = qh * 2^53 + ql of nv packed lanes (a multiple
 * of 8), logits z[grp[class]][lane]: the exp of each group of equal logits
 * once (the same input, the same exp), the sum over the classes in order.
 * Cloned per instruction set; the full batch of BS lanes is its own
 * function so that its loops have a constant length. */
static inline __attribute__((always_inline)) void
ce_lanes(const double (*z)[CE_LANES], int NC, const int *grp, int ng, int y, int nv, int64_t *qh,
         int64_t *ql) {
    double m[BS], s[BS], ex[MS_MAX_CLASSES][BS];
    /* The maximum over the groups in the order of their first classes: the
     * classes' loop keeps the first class of greatest value, which is its
     * group's first (the same bits). */
    for (int e = 0; e < nv; e++)
        m[e] = -DBL_MAX;
    for (int g = 0; g < ng; g++) {
        const double *zc = z[g];
        for (int e = 0; e < nv; e++)
            m[e] = zc[e] > m[e] ? zc[e] : m[e];
    }
    for (int g = 0; g < ng; g++) {
        const double *zc = z[g];
        double *xg = ex[g];
        /* exp_core where it is ms_exact_exp, the full function elsewhere. */
        int in_core = 1;
        for (int e = 0; e < nv; e++) {
            const double x = zc[e] - m[e];
            in_core &= x >= -700.0;
            xg[e] = ms_canon_exp_core(x > -700.0 ? x : -700.0);
        }
        if (!in_core)
            for (int e = 0; e < nv; e++)
                if (!(zc[e] - m[e] >= -700.0)) xg[e] = ms_canon_exp(zc[e] - m[e]);
    }
    for (int e = 0; e < nv; e++)
        s[e] = 0.0;
    for (int cl = 0; cl < NC; cl++) {
        const double *xg = ex[grp[cl]];
        for (int e = 0; e < nv; e++)
            s[e] = s[e] + xg[e];
    }
    const double *zy = z[grp[y]];
    /* s is in [1, NC]: a positive normal double, where ms_canon_log is log_core. */
    int small = 1;
    for (int e = 0; e < nv; e++) {
        s[e] = (m[e] + ms_canon_log_core(s[e])) - zy[e];
        small &= (s[e] > -0x1p50) & (s[e] < 0x1p50);
    }
    if (small) {
        /* Into local arrays first: through qh and ql (which the compiler
         * must assume may overlap) the loop would not vectorise. */
        int64_t hq[BS], lq[BS];
        for (int e = 0; e < nv; e++)
            ms_canon_fixed_parts_small(s[e], &hq[e], &lq[e]);
        memcpy(qh, hq, sizeof(int64_t) * (size_t)nv);
        memcpy(ql, lq, sizeof(int64_t) * (size_t)nv);
    } else
        for (int e = 0; e < nv; e++)
            ms_canon_fixed_parts(s[e], &qh[e], &ql[e]);
}

MS_PRUNE_CLONES
static void ce_full(const double (*z)[CE_LANES], int NC, const int *grp, int ng, int y,
                    int64_t *qh, int64_t *ql) {
    ce_lanes(z, NC, grp, ng, y, BS, qh, ql);
}

MS_PRUNE_CLONES
static void ce_some(const double (*z)[CE_LANES], int NC, const int *grp, int ng, int y, int nv,
                    int64_t *qh, int64_t *ql) {
    ce_lanes(z, NC, grp, ng, y, nv, qh, ql);
}

/* Appends lanes lane[0 .. nl-1] of block blk (its registers R): one logit
 * per group. */
static void pack_lanes(const cone_t *c, ce_pack_t *pk, int blk, const double *R,
                       const uint8_t *lane, int nl) {
    const double *K = c->K + (size_t)blk * c->nconst * BS;
    for (int g = 0; g < c->ng; g++) {
        const int cl = c->grp_class[g];
        const double *src = c->logit_reg[cl] >= 0 ? R + (size_t)c->logit_reg[cl] * BS
                                                  : K + (size_t)c->logit_const[cl] * BS;
        double *dst = pk->z[g] + pk->n;
        for (int i = 0; i < nl; i++)
            dst[i] = src[lane[i]];
    }
    for (int i = 0; i < nl; i++)
        pk->pos[pk->n + i] = (size_t)blk * BS + lane[i];
    pk->n += nl;
}

/* The losses of the first nv packed lanes (BS, or all that are left padded
 * to whole vectors); their change against rh/rl, which then hold them, is
 * added to *acc. The packed lanes after them move to the front. */
static void pack_flush(const cone_t *c, ce_pack_t *pk, int nv, int64_t *rh, int64_t *rl,
                       i128 *acc) {
    int64_t qh[BS], ql[BS];
    const int n = nv < pk->n ? nv : pk->n;
    if (n <= 0) return;
    if (nv == BS) {
        ce_full((const double(*)[CE_LANES])pk->z, c->NC, c->grp, c->ng, c->y, qh, ql);
    } else {
        for (int g = 0; g < c->ng; g++)
            for (int i = n; i < nv; i++)
                pk->z[g][i] = pk->z[g][0];
        ce_some((const double(*)[CE_LANES])pk->z, c->NC, c->grp, c->ng, c->y, nv, qh, ql);
    }
    /* At most BS lanes: the change fits in 64 bits (|hi| is small,
     * 0 <= lo < 2^53). */
    int64_t dh = 0, dl = 0;
    for (int i = 0; i < n; i++) {
        const size_t p = pk->pos[i];
        dh += qh[i] - rh[p];
        dl += ql[i] - rl[p];
        rh[p] = qh[i];
        rl[p] = ql[i];
    }
    *acc += ms_canon_fixed_join(dh, dl);
    const int rest = pk->n - n;
    for (int g = 0; g < c->ng; g++)
        memmove(pk->z[g], pk->z[g] + n, sizeof(double) * (size_t)rest);
    memmove(pk->pos, pk->pos + n, sizeof(size_t) * (size_t)rest);
    pk->n = rest;
}

/* A block's new inputs into hb (after the ReLU where the row is hidden),
 * gathered from z through the permutation (the padding reads z[N] = +0);
 * returns the lanes that moved against rb (bit e: lane e), and where any
 * did, rb becomes hb. Through the padded permutation, without a branch, so
 * that the loops vectorise; the bytes of the comparisons become the mask
 * 16 at a time (SSE2's movemask, which every x86-64 CPU has). */
_Static_assert(BS == 64, "scan_block's mask holds a block's lanes");
MS_PRUNE_CLONES
static uint64_t scan_block(const double *restrict z, const int *restrict pm, int hidden,
                           double *restrict hb, double *restrict rb) {
    uint8_t mv[BS];
    for (int e = 0; e < BS; e++) {
        const double v = hidden ? relu_d(z[pm[e]]) : z[pm[e]];
        hb[e] = v;
        mv[e] = (uint8_t)-(v != rb[e]);
    }
    uint64_t m = 0;
    for (int e = 0; e < BS; e += 16)
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(mv + e)))
             << e;
    if (m)
        for (int e = 0; e < BS; e++)
            rb[e] = hb[e];
    return m;
}

ms_i128 cone_eval_part(cone_t *c, const double *z, int commit, int t, int me) {
    const int hidden = c->l < c->nf - 1;
    double *ref = commit ? c->hcur : c->hmemo;
    int64_t *rh = commit ? c->qcur[0] : c->qmemo[0], *rl = commit ? c->qcur[1] : c->qmemo[1];
    double *R = c->regs[me];
    ce_pack_t *pk = c->pack[me];
    uint8_t lane[BS];
    i128 acc = 0;
    pk->n = 0;
    for (int b = c->b0[t]; b < c->b0[t + 1]; b++) {
        const size_t p0 = (size_t)b * BS;
        const int *pm = c->perm + p0;
        double *hb = c->hin + p0;
        /* The block's new input, and the lanes that moved (never padding:
         * its input stays 0): only their losses can change. */
        uint64_t moved = scan_block(z, pm, hidden, hb, ref + p0);
        if (!moved) continue;
        int nl = 0;
        for (; moved; moved &= moved - 1)
            lane[nl++] = (uint8_t)__builtin_ctzll(moved);
        cone_ops(c, b, R);
        pack_lanes(c, pk, b, R, lane, nl);
        if (pk->n >= BS) pack_flush(c, pk, BS, rh, rl, &acc);
    }
    pack_flush(c, pk, (pk->n + 7) & ~7, rh, rl, &acc);
    return acc;
}

int cone_write_back(cone_t *c, double *const *hT, double *logT, i128 *q) {
    const int N = c->N, nb = c->nb, nf = c->nf, l = c->l;
    double *R = c->regs[0];
    int64_t qh[BS], ql[BS];
    uint8_t all[BS];
    for (int e = 0; e < BS; e++)
        all[e] = (uint8_t)e;
    memcpy(c->hin, c->hcur, sizeof(double) * (size_t)nb * BS);
    double *own = l < nf - 1 ? hT[l + 1] + (size_t)c->o * N : logT + (size_t)c->o * N;
    ce_pack_t *pk = c->pack[0];
    for (int b = 0; b < nb; b++) {
        cone_ops(c, b, R);
        pk->n = 0;
        pack_lanes(c, pk, b, R, all, BS);
        ce_full((const double(*)[CE_LANES])pk->z, c->NC, c->grp, c->ng, c->y, qh, ql);
        for (int e = 0; e < BS; e++) {
            const size_t p = (size_t)b * BS + e;
            const int n = c->perm[p];
            if (n == N) continue;
            if (qh[e] != c->qcur[0][p] || ql[e] != c->qcur[1][p])
                return ms_err_set(MS_EINVAL,
                                  "pruning: the downstream of fc%d row %d diverged (bug)", l + 1,
                                  c->o);
            q[n] = ms_canon_fixed_join(qh[e], ql[e]);
            own[n] = c->hcur[p];
            for (int d = l + 1; d < nf; d++) {
                double *dst = d < nf - 1 ? hT[d + 1] : logT;
                for (int k = 0; k < c->n_rows[d]; k++)
                    dst[(size_t)c->rows[d][k] * N + n] = R[(size_t)c->row_reg[d][k] * BS + e];
            }
        }
    }
    return 0;
}
