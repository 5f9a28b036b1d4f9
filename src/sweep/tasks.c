/* The task value of a sweep (stages.h): one task's kind, model, label and
 * the model's resolved settings, built in one place so that no stage derives
 * them itself. The task numbering is tasks.h's. */
#include "modsweep/error.h"
#include "modsweep/stages.h"

int ms_task_make(const ms_grid_t *g, int kind, int m, int li, ms_task_t *t) {
    if (kind != MS_TASK_TRAIN && kind != MS_TASK_ANALYSE && kind != MS_TASK_PRUNE)
        return ms_err_set(MS_EINVAL, "task kind %d is none of train, analyse, prune", kind);
    if (m < 0 || m >= g->n_models)
        return ms_err_set(MS_EINVAL, "task of model %d: the grid has models 0..%d", m,
                          g->n_models - 1);
    const int prune = kind == MS_TASK_PRUNE;
    if (prune && (li < 0 || li >= g->n_labels))
        return ms_err_set(MS_EINVAL,
                          "prune task of model %d: label index %d, the grid has %d labels", m, li,
                          g->n_labels);
    t->kind = kind;
    t->model = m;
    t->label_index = prune ? li : -1;
    t->label = prune ? g->labels[li] : -1;
    ms_grid_model_settings(g, m, &t->s);
    return 0;
}
