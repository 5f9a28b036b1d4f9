/* The task value and the task numbering: ms_task_make (stages.h) gives each
 * task the kind, model, label index, label value and the model's settings
 * that the grid text says, and refuses tasks outside the grid; the numbering
 * of src/sweep/tasks.h counts train, analyse and prune tasks in that order
 * and ms_task_of inverts ms_task_id. The labels here are not 0..L-1, so a
 * label index taken for its value shows. */
#include <string.h>

#include "check.h"
#include "modsweep/error.h"
#include "modsweep/stages.h"

#include "../src/sweep/tasks.h"

/* 2 seeds x 2 lambdas (seed outermost: test_config's model order), 3 labels. */
static const char *grid_text = "[train]\nseeds = 7, 11\nepochs = 3\n[cluster]\nlambda = 0, 5\n"
                               "[prune]\nlabels = 3, 7, 9\nsamples = 12\n";
static const uint64_t seeds[2] = {7, 11};
static const float lambdas[2] = {0, 5};
static const int label_values[3] = {3, 7, 9};

static int load(ms_grid_t *g) {
    int rc = ms_grid_parse(g, "t.ini", grid_text);
    if (rc) fprintf(stderr, "unexpected error: %s\n", ms_err_msg());
    CHECK_EQ_INT(rc, 0);
    return rc == 0;
}

static void test_task_values(void) {
    ms_grid_t g;
    if (!load(&g)) return;
    CHECK_EQ_INT(g.n_models, 4);
    CHECK_EQ_INT(g.n_labels, 3);
    for (int kind = MS_TASK_TRAIN; kind <= MS_TASK_PRUNE; kind++)
        for (int m = 0; m < 4; m++)
            for (int li = 0; li < (kind == MS_TASK_PRUNE ? 3 : 1); li++) {
                ms_task_t t;
                memset(&t, 0x5a, sizeof t);
                /* li is ignored for train and analyse tasks: pass a wrong one. */
                CHECK_OK(ms_task_make(&g, kind, m, kind == MS_TASK_PRUNE ? li : 2, &t));
                CHECK_EQ_INT(t.kind, kind);
                CHECK_EQ_INT(t.model, m);
                CHECK_EQ_INT(t.label_index, kind == MS_TASK_PRUNE ? li : -1);
                CHECK_EQ_INT(t.label, kind == MS_TASK_PRUNE ? label_values[li] : -1);
                CHECK(t.s.seed == seeds[m / 2]);
                CHECK(t.s.lambda == lambdas[m % 2]);
                CHECK_EQ_INT(t.s.epochs, 3);
                CHECK_EQ_INT(t.s.prune_samples, 12);
                /* The whole settings are the model's, byte for byte. */
                ms_settings_t s;
                memset(&s, 0x5a, sizeof s);
                ms_grid_model_settings(&g, m, &s);
                CHECK(memcmp(&s, &t.s, sizeof s) == 0);
            }
    ms_grid_free(&g);
}

static void test_task_refused(void) {
    ms_grid_t g;
    if (!load(&g)) return;
    static const struct {
        int kind, m, li;
        const char *want;
    } bad[] = {
        {MS_TASK_TRAIN, -1, -1, "model -1"},
        {MS_TASK_ANALYSE, 4, -1, "model 4"},
        {MS_TASK_PRUNE, 0, 3, "label index 3"},
        {MS_TASK_PRUNE, 1, -1, "label index -1"},
        {MS_TASK_PRUNE, 4, 0, "model 4"},
        {3, 0, 0, "task kind 3"},
        {-1, 0, 0, "task kind -1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms_task_t t;
        int rc = ms_task_make(&g, bad[i].kind, bad[i].m, bad[i].li, &t);
        CHECK_MSG(rc == MS_EINVAL, "task (%d, %d, %d): rc %d", bad[i].kind, bad[i].m, bad[i].li,
                  rc);
        CHECK_MSG(strstr(ms_err_msg(), bad[i].want), "task (%d, %d, %d): message '%s' lacks '%s'",
                  bad[i].kind, bad[i].m, bad[i].li, ms_err_msg(), bad[i].want);
        ms_err_clear();
    }
    ms_grid_free(&g);
}

/* The numbering against a plain enumeration: every train task, then every
 * analyse task, then (model, label) with the label index fastest. */
static void test_numbering(void) {
    static const long sizes[][2] = {{1, 0}, {1, 1}, {4, 3}, {5, 10}, {0, 2}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        const long M = sizes[c][0], L = sizes[c][1];
        long t = 0;
        for (int kind = MS_TASK_TRAIN; kind <= MS_TASK_PRUNE; kind++) {
            CHECK_EQ_INT(ms_task_first(kind, M), t);
            long n = 0;
            for (long m = 0; m < M; m++)
                for (long li = 0; li < (kind == MS_TASK_PRUNE ? L : 1); li++, t++, n++) {
                    const long l = kind == MS_TASK_PRUNE ? li : -1;
                    CHECK_EQ_INT(ms_task_id(M, L, kind, m, l), t);
                    int k2;
                    long m2, li2;
                    ms_task_of(M, L, t, &k2, &m2, &li2);
                    CHECK_MSG(k2 == kind && m2 == m && li2 == l,
                              "M %ld L %ld task %ld: (%d, %ld, %ld), not (%d, %ld, %ld)", M, L, t,
                              k2, m2, li2, kind, m, l);
                }
            CHECK_EQ_INT(ms_task_kind_count(kind, M, L), n);
        }
        CHECK_EQ_INT(ms_task_count(M, L), t);
    }
}

int main(void) {
    RUN_TEST(test_task_values);
    RUN_TEST(test_task_refused);
    RUN_TEST(test_numbering);
    return ms_test_summary();
}
