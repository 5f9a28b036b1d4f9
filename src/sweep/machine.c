/* The machine each task ran on (machine.h): CPU model, the kernels'
 * instruction-set path and OpenBLAS's core type as columns of the results
 * file, and the status warning when they differ within one sweep. Training
 * results are bitwise equal only between tasks that ran the same path
 * (avx2 and avx512 agree; generic does not) with the same BLAS core. */
#include "modsweep/machine.h"
#include "modsweep/error.h"
#include "modsweep/isa.h"
#include "modsweep/results.h"

#include "tasks.h"

#include <stdlib.h>
#include <string.h>

/* Three columns per task kind, in ms_task_kind_t order. */
static const char *const cols[3][3] = {
    {"models/cpu_model", "models/isa", "models/blas_core"},
    {"models/cpu_model_analyse", "models/isa_analyse", "models/blas_core_analyse"},
    {"labels/cpu_model", "labels/isa", "labels/blas_core"},
};

const ms_col_t ms_machine_cols[] = {
    {"models/cpu_model", MS_ROW_MODEL, MS_DT_STR, 0, {0}, "CPU model of the node that trained"},
    {"models/isa",
     MS_ROW_MODEL,
     MS_DT_STR,
     0,
     {0},
     "training kernels' instruction-set path: generic, avx2 or avx512"},
    {"models/blas_core",
     MS_ROW_MODEL,
     MS_DT_STR,
     0,
     {0},
     "OpenBLAS core type of the node that trained (the regulariser's LAPACKE calls; the fc layers do not use it)"},
    {"models/cpu_model_analyse",
     MS_ROW_MODEL,
     MS_DT_STR,
     0,
     {0},
     "CPU model of the node that ran the analyses"},
    {"models/isa_analyse",
     MS_ROW_MODEL,
     MS_DT_STR,
     0,
     {0},
     "instruction-set path of the analyses' forward passes"},
    {"models/blas_core_analyse",
     MS_ROW_MODEL,
     MS_DT_STR,
     0,
     {0},
     "OpenBLAS core type of the node that ran the analyses"},
    {"labels/cpu_model", MS_ROW_LABEL, MS_DT_STR, 0, {0}, "CPU model of the team's leader"},
    {"labels/isa",
     MS_ROW_LABEL,
     MS_DT_STR,
     0,
     {0},
     "instruction-set path of the leader (pruned model's evaluation)"},
    {"labels/blas_core", MS_ROW_LABEL, MS_DT_STR, 0, {0}, "OpenBLAS core type of the leader"},
    {NULL, 0, 0, 0, {0}, NULL},
};

int ms_machine_write(struct ms_results *r, int kind, long m, long li) {
    if (kind < 0 || kind > 2)
        return ms_err_set(MS_EINVAL, "machine columns: no task kind %d", kind);
    char v[3][MS_STR_LEN];
    memset(v, 0, sizeof v);
    ms_cpu_model(v[0], sizeof v[0]);
    snprintf(v[1], sizeof v[1], "%s", ms_isa_name(ms_isa_current()));
    snprintf(v[2], sizeof v[2], "%s", ms_blas_core());
    int rc = 0;
    for (int c = 0; c < 3 && !rc; c++)
        rc = ms_results_write(r, cols[kind][c], m, kind == 2 ? li : -1, v[c]);
    return rc;
}

/* Distinct values of one property among the finished tasks of all kinds. */
#define MAX_VALUES 8
typedef struct {
    char v[MAX_VALUES][MS_STR_LEN];
    long n[MAX_VALUES][3];
    int count, more;
} values_t;

static void add_value(values_t *vs, const char *v, int kind) {
    if (!v[0]) return; /* not recorded (GPU tasks, older writers) */
    for (int i = 0; i < vs->count; i++)
        if (!strncmp(vs->v[i], v, MS_STR_LEN)) {
            vs->n[i][kind]++;
            return;
        }
    if (vs->count == MAX_VALUES) {
        vs->more++;
        return;
    }
    snprintf(vs->v[vs->count], MS_STR_LEN, "%.*s", MS_STR_LEN - 1, v);
    vs->n[vs->count++][kind] = 1;
}

int ms_machine_status(struct ms_results *r, const int8_t *status, FILE *out) {
    const ms_dims_t *d = ms_results_dims(r);
    long n[3], off[3];
    for (int k = 0; k < 3; k++) /* tasks.h's numbering */
        n[k] = ms_task_kind_count(k, d->M, d->L), off[k] = ms_task_first(k, d->M);
    long most = n[0] > n[2] ? n[0] : n[2];
    char *buf = malloc((size_t)(most > 0 ? most : 1) * MS_STR_LEN);
    if (!buf) return ms_err_set(MS_ENOMEM, "status: out of memory");
    static const char *what[2] = {"instruction-set paths", "OpenBLAS core types"};
    static const char *kinds[3] = {"training", "analysis", "prune"};
    int rc = 0;
    for (int p = 0; p < 2 && !rc; p++) {
        values_t vs;
        memset(&vs, 0, sizeof vs);
        for (int k = 0; k < 3 && !rc; k++) {
            if (n[k] == 0) continue;
            rc = ms_results_read_all(r, cols[k][p == 0 ? 1 : 2], buf);
            for (long i = 0; i < n[k] && !rc; i++)
                if (status[off[k] + i] == MS_ST_DONE)
                    add_value(&vs, buf + (size_t)i * MS_STR_LEN, k);
        }
        if (rc || vs.count + vs.more < 2) continue;
        fprintf(out, "  warning: this sweep's finished tasks ran on different %s:", what[p]);
        for (int i = 0; i < vs.count; i++) {
            fprintf(out, "%s %s (", i ? ";" : "", vs.v[i]);
            int first = 1;
            for (int k = 0; k < 3; k++)
                if (vs.n[i][k]) {
                    fprintf(out, "%s%ld %s", first ? "" : ", ", vs.n[i][k], kinds[k]);
                    first = 0;
                }
            fprintf(out, ")");
        }
        if (vs.more) fprintf(out, "; %d more", vs.more);
        fprintf(out, "\n  (%s)\n",
                p == 0 ? "generic rounds differently from avx2 and avx512; MODSWEEP_ISA fixes "
                         "the path on every node"
                       : "the fc layers' GEMMs round differently per core type; "
                         "OPENBLAS_CORETYPE fixes it on every node");
    }
    free(buf);
    return rc;
}
