/* The dry-run plan of a grid (modsweep --dry-run): the tasks, the models
 * one per line, the settings in words and a rough estimate of the work; and
 * the training-time estimate the status ETA starts from. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "modsweep/config.h"

#include "config_int.h"
#include "tasks.h"

double ms_grid_train_estimate(const ms_grid_t *g, long n_train) {
    dims_t d;
    cfg_compute_dims(&g->base.arch, &d);
    /* As the plan: about 3 forward passes per image, 2 FLOP per multiply-add. */
    const double flop = 6.0 * d.macs * (double)n_train * g->base.epochs;
    return flop / (PLAN_GFLOPS_PER_RANK * 1e9);
}

/* Writes a float with cfg_format_float (for plan lines). */
static const char *ffmt(char *buf, size_t n, double x) {
    cfg_format_float(buf, n, x);
    return buf;
}

static void print_mask(FILE *f, uint32_t mask) {
    if (!mask) fprintf(f, "none");
    for (int l = 0, first = 1; l < MS_MAX_FC; l++)
        if (mask >> l & 1u) {
            fprintf(f, "%sfc%d", first ? "" : ", ", l + 1);
            first = 0;
        }
}

/* Writes one axis value: integers in full, floats as format_float. */
static void print_axis_value(FILE *f, int axis, double x, int width) {
    char t[64];
    if (axis == MS_AXIS_SEED || axis == MS_AXIS_K)
        snprintf(t, sizeof t, "%lld", (long long)x);
    else
        cfg_format_float(t, sizeof t, x);
    fprintf(f, " %*s", width, t);
}

static void print_model_row(FILE *f, const ms_grid_t *g, int m) {
    int idx[MS_N_AXES];
    ms_grid_model_index(g, m, idx);
    fprintf(f, "  %7d", m);
    for (int a = 0; a < MS_N_AXES; a++)
        if (g->n_values[a] > 1) print_axis_value(f, a, g->values[a][idx[a]], 12);
    fprintf(f, "\n");
}

/* The [measures] line of the plan. */
static void print_measures_plan(FILE *f, const ms_settings_t *s) {
    const ms_meas_cfg_t *me = &s->meas;
    fprintf(f, "measures:");
    int any = 0;
    if (me->info_layers) {
        fprintf(f, " information of ");
        print_mask(f, me->info_layers);
        fprintf(f, " (%d bins, %d unit sets of %d);", me->info_bins, me->unitset_draws,
                me->unitset_size);
        any = 1;
    }
    if (me->ablate_layer >= 0) {
        fprintf(f, " ablation of fc%d (%d random directions, max-KL direction from %d starts);",
                me->ablate_layer + 1, me->directions, me->maxkl_starts + 1);
        any = 1;
    }
    if (me->assoc_layers) {
        fprintf(f, " associations of ");
        print_mask(f, me->assoc_layers);
        fprintf(f, " (modularity: %d Monte-Carlo moves, %d null shuffles);", me->mc_steps,
                me->null_shuffles);
        any = 1;
    }
    if (me->hebbian) fprintf(f, " Hebbian conv strengths;"), any = 1;
    if (me->sparse_every)
        fprintf(f, " dynamic sparse conv training every %d steps (k1 %d, k2 %d);",
                me->sparse_every, me->sparse_k1, me->sparse_k2),
            any = 1;
    if (!any) fprintf(f, " none");
    else if (me->untrained) fprintf(f, " also for the untrained initialisations");
    fprintf(f, "\n");
}

void ms_grid_print_plan(const ms_grid_t *g, FILE *f) {
    const ms_settings_t *s = &g->base;
    const ms_arch_t *a = &s->arch;
    dims_t d;
    cfg_compute_dims(a, &d);
    char t1[64], t2[64], t3[64];

    fprintf(f, "grid %s: sweep '%s', settings hash %016" PRIx64 "\n", g->path, g->name, g->hash);
    fprintf(f, "output: %s%s\n", g->output, g->store_weights ? " (with trained weights)" : "");
    static const char *const dev[] = {"cpu", "cuda", "auto"};
    fprintf(f, "run: device %s, threads per rank %s, team %d, retries %d\n", dev[g->device],
            g->threads ? (snprintf(t1, sizeof t1, "%d", g->threads), t1) : "automatic", g->team,
            g->retries);

    /* Data. */
    int cifar = s->data.kind == MS_DATA_CIFAR10;
    int train_n = cifar ? CIFAR_TRAIN_N : MNIST_TRAIN_N, test_n = TEST_N;
    if (s->data.train_limit && s->data.train_limit < train_n) train_n = s->data.train_limit;
    if (s->data.test_limit && s->data.test_limit < test_n) test_n = s->data.test_limit;
    static const char *const norm[] = {"none", "unit", "meanstd"};
    fprintf(f, "data: %s in %s, layout %s, normalize %s", dataset_choices[s->data.kind],
            s->data.dir, layout_choices[s->data.layout], norm[s->data.norm]);
    if (s->data.norm == MS_NORM_MEANSTD) {
        fputs(" (mean", f);
        for (int i = 0; i < a->in_c && i < 3; i++)
            fprintf(f, " %s", ffmt(t1, sizeof t1, s->data.mean[i]));
        fputs(", std", f);
        for (int i = 0; i < a->in_c && i < 3; i++)
            fprintf(f, " %s", ffmt(t1, sizeof t1, s->data.std[i]));
        fputs(")", f);
    }
    fprintf(f, "; %d training and %d test images (at most)\n", train_n, test_n);

    /* Model. */
    fprintf(f, "model: %s, input %dx%dx%d", s->arch_is_cnn ? "cnn" : "mlp", a->in_c, a->in_h,
            a->in_w);
    for (int i = 0; i < a->n_conv; i++)
        fprintf(f, ", conv%d %d (%dx%d, padding %d%s) + maxpool 2x2", i + 1, a->conv_c[i],
                a->conv_k, a->conv_k, a->conv_pad, a->conv_bias ? "" : ", no bias");
    fprintf(f, ", fc %d", d.fc_in[0]);
    for (int l = 0; l < a->n_fc; l++)
        fprintf(f, "-%d", a->fc_out[l]);
    fprintf(f, " (%s)\n", a->fc_bias ? "with bias" : "no bias");
    fprintf(f, "  %.0f parameters, %.0f of them fc weights (the pruning candidates)\n", d.n_params,
            d.n_fc_weights);

    /* Training and analysis settings that hold for every model. */
    fprintf(f, "train: %s", s->optimizer == MS_OPT_ADAM ? "adam" : "sgd");
    if (s->optimizer == MS_OPT_ADAM)
        fprintf(f, " (betas %s, %s, eps %s)", ffmt(t1, sizeof t1, s->beta1),
                ffmt(t2, sizeof t2, s->beta2), ffmt(t3, sizeof t3, s->eps));
    else
        fprintf(f, " (momentum %s)", ffmt(t1, sizeof t1, s->momentum));
    fprintf(f, ", batch %d, %d epoch%s\n", s->batch, s->epochs, s->epochs > 1 ? "s" : "");
    fprintf(f, "cluster: regularised layers ");
    print_mask(f, s->reg_layers);
    fprintf(f, ", partition %s", partition_choices[s->partition]);
    if (s->partition == MS_PART_SPECTRAL)
        fprintf(f, " after %d warm-up epoch(s)", s->warmup_epochs);
    fprintf(f, "; gradient similarity ");
    print_mask(f, s->gradsim_layers);
    fprintf(f, "; bsgc ");
    print_mask(f, s->bsgc_layers);
    fprintf(f, ", curve k");
    if (!s->n_curve_k) fprintf(f, " none");
    for (int i = 0; i < s->n_curve_k; i++)
        fprintf(f, "%s%d", i ? ", " : " ", s->curve_k[i]);
    fprintf(f, "; %d k-means restarts; ablation %s\n", s->kmeans_restarts,
            s->ablate ? "on" : "off");
    print_measures_plan(f, s);
    if (g->chosen[0]) fprintf(f, "defaults fitted to this architecture: %s\n", g->chosen);

    /* Axes and models. */
    int swept = 0;
    fprintf(f, "axes (outermost first):\n");
    for (int ax = 0; ax < MS_N_AXES; ax++) {
        fprintf(f, "  %-8s", axis_names[ax]);
        for (int i = 0; i < g->n_values[ax]; i++) {
            if (i) fputc(',', f);
            print_axis_value(f, ax, g->values[ax][i], 0);
        }
        fprintf(f, "%s\n", g->n_values[ax] > 1 ? "  (swept)" : "");
        swept += g->n_values[ax] > 1;
    }
    fprintf(f, "models: %d\n", g->n_models);
    if (swept) {
        fprintf(f, "  %7s", "model");
        for (int ax = 0; ax < MS_N_AXES; ax++)
            if (g->n_values[ax] > 1) fprintf(f, " %12s", axis_names[ax]);
        fprintf(f, "\n");
        int rows = g->n_models <= PLAN_MAX_ROWS ? g->n_models : PLAN_MAX_ROWS - 10;
        for (int m = 0; m < rows; m++)
            print_model_row(f, g, m);
        if (rows < g->n_models) {
            fprintf(f, "  ... %d more models ...\n", g->n_models - rows - 10);
            for (int m = g->n_models - 10; m < g->n_models; m++)
                print_model_row(f, g, m);
        }
    }

    /* Labels and tasks. */
    fprintf(f, "labels:");
    for (int i = 0; i < g->n_labels; i++)
        fprintf(f, "%s%d", i ? ", " : " ", g->labels[i]);
    fprintf(f, "\n");
    long long M = g->n_models, L = g->n_labels;
    fprintf(
        f, "tasks: train %lld, analyse %lld, prune %lld (%lld models x %lld labels); %lld in all\n",
        M, M, M * L, M, L, (long long)ms_task_count(M, L));

    /* The estimate. Training costs about 3 forward passes per image
     * (forward, and a backward pass of about twice its cost), 2 FLOP per
     * multiply-add. The naive pruner runs 2 forward passes of the label's
     * images through the fc layers per candidate weight. */
    double train_imgs = (double)train_n * s->epochs;
    double train_flop = 6.0 * d.macs * train_imgs;
    double cand = 0;
    for (int l = 0; l < a->n_fc; l++)
        if (s->prune_layers >> l & 1u) cand += (double)a->fc_out[l] * d.fc_in[l];
    double per_label = test_n / (double)MS_MAX_CLASSES;
    double prune_imgs = s->prune_samples
                            ? (s->prune_samples < per_label ? s->prune_samples : per_label)
                            : per_label;
    double naive_flop = cand * 2.0 * prune_imgs * 2.0 * d.fc_macs;
    double rate = PLAN_GFLOPS_PER_RANK * 1e9;
    fprintf(f, "estimate (rough, at %.0f GFLOP/s per CPU rank):\n", PLAN_GFLOPS_PER_RANK);
    fprintf(f, "  forward pass: %.3g MFLOP per image\n", 2.0 * d.macs / 1e6);
    fprintf(f,
            "  training: %.0f images x epochs per model, %.3g GFLOP, about %.3g s per model, "
            "%.3g CPU-hours for all %lld\n",
            train_imgs, train_flop / 1e9, train_flop / rate, train_flop * M / rate / 3600, M);
    fprintf(f,
            "  pruning: %.0f candidate weights per label, about %.0f images per label; the naive "
            "method would take %.3g GFLOP (%.3g s) per label, the fast method far less\n",
            cand, prune_imgs, naive_flop / 1e9, naive_flop / rate);
}
