/* The grid reader's pass 3 (see config.c): defaults that depend on other
 * keys or on the network's shapes, and the rules between keys; with the
 * shapes of an architecture (compute_dims), which the dry-run plan also
 * uses. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "modsweep/circuit.h"
#include "modsweep/config.h"
#include "modsweep/error.h"

#include "config_int.h"

/* ---- shapes ------------------------------------------------------------- */
void cfg_compute_dims(const ms_arch_t *a, dims_t *d) {
    memset(d, 0, sizeof *d);
    d->bad_conv = -1;
    int c = a->in_c, h = a->in_h, w = a->in_w;
    for (int i = 0; i < a->n_conv; i++) {
        int ch = h + 2 * a->conv_pad - a->conv_k + 1, cw = w + 2 * a->conv_pad - a->conv_k + 1;
        d->n_params +=
            (double)a->conv_c[i] * c * a->conv_k * a->conv_k + (a->conv_bias ? a->conv_c[i] : 0);
        if (d->bad_conv < 0)
            d->macs += (double)a->conv_c[i] * c * a->conv_k * a->conv_k * (ch > 0 ? ch : 0) *
                       (cw > 0 ? cw : 0);
        if ((ch < 2 || cw < 2) && d->bad_conv < 0) {
            d->bad_conv = i;
            d->conv_h = ch;
            d->conv_w = cw;
            d->in_h = h;
            d->in_w = w;
        }
        c = a->conv_c[i];
        h = ch / 2;
        w = cw / 2;
    }
    int in = d->bad_conv >= 0 ? 0 : c * h * w;
    for (int l = 0; l < a->n_fc; l++) {
        d->fc_in[l] = in;
        double wts = (double)a->fc_out[l] * in;
        d->n_fc_weights += wts;
        d->fc_macs += wts;
        d->n_params += wts + (a->fc_bias ? a->fc_out[l] : 0);
        in = a->fc_out[l];
    }
    d->macs += d->fc_macs;
}

/* ---- pass 3: defaults that depend on other keys, and cross-key rules ---- */

/* A name made of letters, digits and ".+-_" (it goes into file names). */
static int name_char_ok(char ch) {
    return isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '-' || ch == '+';
}

int cfg_resolve_sweep(ctx_t *c) {
    val_t *name = &c->v[K_NAME], *out = &c->v[K_OUTPUT];
    if (name->given) {
        if (strlen(name->str) >= MS_NAME_MAX)
            return cfg_fail(c, name->line, "name is too long (at most %d characters)", MS_NAME_MAX - 1);
        for (const char *p = name->str; *p; p++)
            if (!name_char_ok(*p))
                return cfg_fail(c, name->line,
                            "name '%s' may hold only letters, digits, '.', '_', '-' and '+'",
                            name->str);
    } else {
        /* The file's base name without .ini; other characters become '_'. */
        const char *base = strrchr(c->file, '/');
        base = base ? base + 1 : c->file;
        char tmp[MS_NAME_MAX];
        cfg_copy_str(tmp, sizeof tmp, base);
        size_t n = strlen(tmp);
        if (n > 4 && strcmp(tmp + n - 4, ".ini") == 0) tmp[n - 4] = '\0';
        for (char *p = tmp; *p; p++)
            if (!name_char_ok(*p)) *p = '_';
        cfg_copy_str(name->str, sizeof name->str, *tmp ? tmp : "grid");
    }
    if (!out->given) snprintf(out->str, sizeof out->str, "%.*s.h5", MS_NAME_MAX, name->str);
    return 0;
}

/* dataset = planted: checks the planted_* keys, reads the set as mnist
 * from dir, by default a folder beside the grid file named by the
 * parameters (modsweep writes the files there before loading, planted.h). */
static int resolve_planted(ctx_t *c) {
    val_t *v = c->v;
    const int blocks = (int)v[K_PL_BLOCKS].num[0], sub = (int)v[K_PL_SUB].num[0];
    long classes = 1;
    for (int b = 0; b < blocks; b++)
        classes *= sub;
    if (classes > MS_N_CLASSES)
        return cfg_fail(c, cfg_pick_line(c, K_PL_BLOCKS, K_PL_SUB, K_DATASET, -1),
                        "dataset = planted: planted_sub^planted_blocks = %d^%d = %ld classes, "
                        "more than the %d a network has",
                        sub, blocks, classes, MS_N_CLASSES);
    if (v[K_MNIST_DIR].given || v[K_CIFAR_DIR].given)
        return cfg_fail(c, v[v[K_MNIST_DIR].given ? K_MNIST_DIR : K_CIFAR_DIR].line,
                        "dataset = planted takes dir (where its files are written), not %s",
                        cfg_key_table[v[K_MNIST_DIR].given ? K_MNIST_DIR : K_CIFAR_DIR].name);
    if (!v[K_DIR].given) {
        const char *slash = strrchr(c->file, '/');
        const int n = slash ? (int)(slash - c->file) : 1;
        snprintf(v[K_DIR].str, sizeof v[K_DIR].str, "%.*s/planted-%s-b%d-s%d-n%d-%d-seed%d", n,
                 slash ? c->file : ".", planted_task_choices[v[K_PL_TASK].choice], blocks, sub,
                 (int)v[K_PL_TRAIN].num[0], (int)v[K_PL_TEST].num[0], (int)v[K_PL_SEED].num[0]);
    }
    c->kind = MS_DATA_MNIST;
    return 0;
}

int cfg_resolve_data(ctx_t *c) {
    val_t *v = c->v;
    c->kind = v[K_DATASET].choice;
    const int planted = c->kind == DATASET_PLANTED;
    if (planted) {
        int rc = resolve_planted(c);
        if (rc) return rc;
    } else {
        for (int k = K_PL_BLOCKS; k <= K_PL_SEED; k++)
            if (v[k].given)
                return cfg_fail(c, v[k].line,
                                "%s applies only to dataset = planted (it is %s here)",
                                cfg_key_table[k].name, dataset_choices[c->kind]);
    }
    int cifar = c->kind == MS_DATA_CIFAR10;
    /* The dataset's own folder key (mnist_dir, cifar10_dir), used when dir is not given. */
    const int own = c->kind == MS_DATA_MNIST ? K_MNIST_DIR : cifar ? K_CIFAR_DIR : -1;
    if (v[K_DIR].given && own >= 0 && v[own].given)
        return cfg_fail(c, v[own].line, "give dir or %s for dataset = %s, not both",
                    cfg_key_table[own].name, dataset_choices[c->kind]);
    if (!v[K_DIR].given && !planted) {
        if (own >= 0 && v[own].given)
            cfg_copy_str(v[K_DIR].str, sizeof v[K_DIR].str, v[own].str);
        else if (c->kind != MS_DATA_FASHION)
            return cfg_fail(c, cfg_pick_line(c, K_DATASET, -1),
                        "dataset = %s needs dir = <the folder holding its files> or %s (only "
                        "fashion-mnist has a default)",
                        dataset_choices[c->kind], cfg_key_table[own].name);
        else
            cfg_copy_str(v[K_DIR].str, sizeof v[K_DIR].str, "/usr/share/datasets/fashion-mnist");
    }
    /* CIFAR-10 images already are 3x32x32: the paper layout is their native
     * one, so a grid file switches between cifar10 and the 28x28 sets with
     * the dataset key alone. */
    if (v[K_LAYOUT].choice == MS_LAYOUT_3X32X32 && cifar)
        v[K_LAYOUT].choice = MS_LAYOUT_NATIVE; /* the effective choice, as resolved text shows it */
    int three = cifar || v[K_LAYOUT].choice == MS_LAYOUT_3X32X32;
    c->arch.in_c = three ? 3 : 1;
    c->arch.in_h = c->arch.in_w = three ? 32 : 28;

    int norm = v[K_NORMALIZE].choice;
    if (norm == NORM_DEFAULT) norm = 1 + (cifar ? MS_NORM_UNIT : MS_NORM_MEANSTD);
    v[K_NORMALIZE].choice = norm; /* the effective choice, as resolved text shows it */
    if (norm - 1 != MS_NORM_MEANSTD) {
        for (int k = K_MEAN; k <= K_STD; k++)
            if (v[k].given)
                return cfg_fail(c, v[k].line, "%s applies only to normalize = meanstd (it is %s here)",
                            cfg_key_table[k].name, norm_choices[norm]);
        v[K_MEAN].n = v[K_STD].n = 0;
        return 0;
    }
    static const double mnist_stat[2] = {0.1307, 0.3081};
    for (int k = K_MEAN; k <= K_STD; k++) {
        val_t *s = &v[k];
        if (!s->given) {
            if (cifar)
                return cfg_fail(
                    c, cfg_pick_line(c, K_NORMALIZE, K_MEAN, K_STD, K_DATASET, -1),
                    "normalize = meanstd for cifar10 needs %s (one value, or one per channel)",
                    cfg_key_table[k].name);
            s->n = 1;
            s->num[0] = (double)(float)mnist_stat[k - K_MEAN];
        }
        if (s->n != 1 && s->n != c->arch.in_c)
            return cfg_fail(c, s->line, "%s has %d values but the input has %d channel%s: give 1 or %d",
                        cfg_key_table[k].name, s->n, c->arch.in_c, c->arch.in_c > 1 ? "s" : "",
                        c->arch.in_c);
        for (int i = s->n; i < c->arch.in_c; i++)
            s->num[i] = s->num[0];
        s->n = c->arch.in_c;
    }
    return 0;
}

int cfg_resolve_model(ctx_t *c) {
    val_t *v = c->v;
    ms_arch_t *a = &c->arch;
    c->is_cnn = v[K_ARCH].choice == 1;
    if (!c->is_cnn) {
        for (int k = K_CONV; k <= K_CONV_BIAS; k++)
            if (v[k].given && !(k == K_CONV && v[k].n == 0))
                return cfg_fail(c, v[k].line, "%s is only for arch = cnn (an mlp has no conv blocks)",
                            cfg_key_table[k].name);
    } else if (v[K_CONV].given && v[K_CONV].n == 0) {
        return cfg_fail(c, v[K_CONV].line,
                    "arch = cnn needs at least one conv block (or use arch = mlp)");
    }
    if (!v[K_CONV].given) {
        v[K_CONV].n = c->is_cnn;
        v[K_CONV].num[0] = 16;
    }
    if (!v[K_HIDDEN].given) {
        static const double cnn_hidden[] = {64, 64, 64}, mlp_hidden[] = {128, 128};
        v[K_HIDDEN].n = c->is_cnn ? 3 : 2;
        memcpy(v[K_HIDDEN].num, c->is_cnn ? cnn_hidden : mlp_hidden,
               sizeof(double) * v[K_HIDDEN].n);
    }
    a->n_conv = v[K_CONV].n;
    for (int i = 0; i < a->n_conv; i++)
        a->conv_c[i] = (int)v[K_CONV].num[i];
    a->conv_k = (int)v[K_KERNEL].num[0];
    a->conv_pad = (int)v[K_PADDING].num[0];
    a->conv_bias = v[K_CONV_BIAS].choice;
    a->n_fc = v[K_HIDDEN].n + 1;
    for (int l = 0; l + 1 < a->n_fc; l++)
        a->fc_out[l] = (int)v[K_HIDDEN].num[l];
    a->fc_out[a->n_fc - 1] = MS_MAX_CLASSES;
    a->fc_bias = v[K_BIAS].choice;
    a->dropout = (float)v[K_DROPOUT].num[0];

    if (a->n_conv > 0 && a->conv_pad >= a->conv_k)
        return cfg_fail(c, cfg_pick_line(c, K_PADDING, K_KERNEL, -1),
                    "padding %d must be smaller than the kernel (%d): wider padding only adds "
                    "outputs that see nothing but zeros",
                    a->conv_pad, a->conv_k);
    cfg_compute_dims(a, &c->dims);
    if (c->dims.bad_conv >= 0)
        return cfg_fail(c, cfg_pick_line(c, K_CONV, K_KERNEL, K_PADDING, K_LAYOUT, K_DATASET, -1),
                    "conv block %d leaves no pixel after its 2x2 pooling: its %dx%d input with "
                    "kernel %d and padding %d gives %dx%d; use fewer conv blocks, a smaller kernel "
                    "or more padding",
                    c->dims.bad_conv + 1, c->dims.in_h, c->dims.in_w, a->conv_k, a->conv_pad,
                    c->dims.conv_h, c->dims.conv_w);
    if (c->dims.n_params > MAX_PARAMS)
        return cfg_fail(c, cfg_pick_line(c, K_HIDDEN, K_CONV, K_ARCH, -1),
                    "the model has %.0f parameters; at most %.0f", c->dims.n_params, MAX_PARAMS);
    return 0;
}

int cfg_resolve_train(ctx_t *c) {
    val_t *v = c->v;
    if (v[K_OPTIMIZER].choice == MS_OPT_ADAM) {
        if (v[K_MOMENTUM].given)
            return cfg_fail(c, v[K_MOMENTUM].line, "momentum applies only to optimizer = sgd");
    } else {
        for (int k = K_BETA1; k <= K_EPS; k++)
            if (v[k].given)
                return cfg_fail(c, v[k].line, "%s applies only to optimizer = adam", cfg_key_table[k].name);
    }
    return 0;
}

/* The largest number of clusters layer l can be split into: min(O, I). */
static int layer_cap(const ctx_t *c, int l) {
    int o = c->arch.fc_out[l], i = c->dims.fc_in[l];
    return o < i ? o : i;
}

/* Records a default that was adapted to the architecture, for --dry-run. */
__attribute__((format(printf, 2, 3))) static void note_chosen(ctx_t *c, const char *fmt, ...) {
    size_t len = strlen(c->chosen);
    if (len + 3 >= sizeof c->chosen) return;
    if (len) len += (size_t)snprintf(c->chosen + len, sizeof c->chosen - len, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->chosen + len, sizeof c->chosen - len, fmt, ap);
    va_end(ap);
}

/* The fc layer of mask holding the fewest clusters (min(O, I)), or -1. */
static int smallest_layer(const ctx_t *c, uint32_t mask) {
    int best = -1;
    for (int l = 0; l < c->arch.n_fc; l++)
        if ((mask >> l & 1u) && (best < 0 || layer_cap(c, l) < layer_cap(c, best))) best = l;
    return best;
}

/* Defaults of the cluster keys that depend on the layer sizes. A key the
 * grid writes is never changed (resolve_cluster checks it strictly); a key
 * left to its default is fitted to the architecture, so a grid of any
 * network the keys allow works without naming them:
 * - k (default 4): the most clusters the smallest regularised layer holds,
 *   when that is fewer than 4 (and at least 2);
 * - bsgc_layers (default fc2, fc3) with a written curve_k: only the layers
 *   that hold the largest curve_k value;
 * - curve_k (default 2..14:2): only the values the smallest bsgc layer holds. */
static int fit_cluster_defaults(ctx_t *c) {
    val_t *v = c->v;
    if (!v[K_K].given && v[K_K].n == 1) {
        int l = smallest_layer(c, v[K_REG_LAYERS].mask);
        int cap = l >= 0 ? layer_cap(c, l) : 0;
        if (l >= 0 && cap >= 2 && cap < v[K_K].num[0]) {
            note_chosen(c, "k = %d (the default %d does not fit regularised layer fc%d, %d x %d)",
                        cap, (int)v[K_K].num[0], l + 1, c->arch.fc_out[l], c->dims.fc_in[l]);
            v[K_K].num[0] = v[K_K].exact[0] = cap;
        }
    }
    if (!v[K_BSGC].given && v[K_CURVE_K].given && v[K_CURVE_K].n > 0 && v[K_BSGC].mask) {
        int most = 0;
        for (int i = 0; i < v[K_CURVE_K].n; i++)
            if (v[K_CURVE_K].num[i] > most) most = (int)v[K_CURVE_K].num[i];
        uint32_t kept = 0;
        char dropped[128] = "";
        size_t len = 0;
        for (int l = 0; l < c->arch.n_fc; l++) {
            if (!(v[K_BSGC].mask >> l & 1u)) continue;
            if (layer_cap(c, l) >= most)
                kept |= 1u << l;
            else if (len + 32 < sizeof dropped)
                len +=
                    (size_t)snprintf(dropped + len, sizeof dropped - len, "%sfc%d (%d x %d)",
                                     len ? ", " : "", l + 1, c->arch.fc_out[l], c->dims.fc_in[l]);
        }
        if (!kept)
            return cfg_fail(c, v[K_CURVE_K].line,
                        "curve_k value %d is larger than every layer of the default bsgc_layers "
                        "(%s); lower curve_k or set bsgc_layers",
                        most, dropped);
        if (kept != v[K_BSGC].mask) {
            note_chosen(c, "bsgc_layers without %s: too small for curve_k value %d", dropped, most);
            v[K_BSGC].mask = kept;
        }
    }
    if (!v[K_CURVE_K].given && v[K_BSGC].mask) {
        int l = smallest_layer(c, v[K_BSGC].mask), cap = layer_cap(c, l), n = 0;
        for (int i = 0; i < v[K_CURVE_K].n; i++)
            if (v[K_CURVE_K].num[i] <= cap) {
                v[K_CURVE_K].exact[n] = v[K_CURVE_K].exact[i];
                v[K_CURVE_K].num[n++] = v[K_CURVE_K].num[i];
            }
        if (n < v[K_CURVE_K].n) {
            if (n)
                note_chosen(c,
                            "curve_k = 2..%d:2 (the default %s up to %d, the most clusters bsgc "
                            "layer fc%d, %d x %d, holds)",
                            (int)v[K_CURVE_K].num[n - 1], cfg_key_table[K_CURVE_K].def, cap, l + 1,
                            c->arch.fc_out[l], c->dims.fc_in[l]);
            else
                note_chosen(c,
                            "curve_k = none (bsgc layer fc%d, %d x %d, holds fewer clusters than "
                            "the default %s)",
                            l + 1, c->arch.fc_out[l], c->dims.fc_in[l], cfg_key_table[K_CURVE_K].def);
            v[K_CURVE_K].n = n;
        }
    }
    return 0;
}

int cfg_resolve_cluster(ctx_t *c) {
    val_t *v = c->v;
    int n_fc = c->arch.n_fc;
    if (cfg_parse_layers(c, K_REG_LAYERS, n_fc) || cfg_parse_layers(c, K_GRADSIM, n_fc) ||
        cfg_parse_layers(c, K_BSGC, n_fc))
        return MS_ECONFIG;
    /* Gradient similarity S_l is fan-in x fan-in; its BSGC clusters become
     * the rows and columns of W_l (seed 000), so W_l must be square. */
    for (int l = 0; l < n_fc; l++) {
        if (!(v[K_GRADSIM].mask >> l & 1u) || c->arch.fc_out[l] == c->dims.fc_in[l]) continue;
        if (!v[K_GRADSIM].given) {
            v[K_GRADSIM].mask &= ~(1u << l); /* the default keeps square layers only */
            continue;
        }
        return cfg_fail(c, v[K_GRADSIM].line,
                    "gradsim_layers: fc%d is %d x %d, not square; the gradient similarity "
                    "(fan-in x fan-in) gives clusters for a square weight matrix only",
                    l + 1, c->arch.fc_out[l], c->dims.fc_in[l]);
    }
    if (fit_cluster_defaults(c)) return MS_ECONFIG;
    int spectral = v[K_PARTITION].choice == MS_PART_SPECTRAL;
    if (!spectral && v[K_WARMUP].given)
        return cfg_fail(c, v[K_WARMUP].line, "warmup_epochs applies only to partition = spectral");
    double max_lambda = 0;
    for (int i = 0; i < v[K_LAMBDA].n; i++)
        if (v[K_LAMBDA].num[i] > max_lambda) max_lambda = v[K_LAMBDA].num[i];
    if (max_lambda > 0 && !v[K_REG_LAYERS].mask) {
        if (v[K_REG_LAYERS].given)
            return cfg_fail(c, v[K_REG_LAYERS].line,
                        "layers = none, but lambda > 0 needs at least one regularised layer");
        return cfg_fail(c, cfg_pick_line(c, K_LAMBDA, -1),
                    "lambda > 0 needs at least one regularised layer, but the default layers = fc2 "
                    "does not exist in a model with %d fc layer%s; set layers",
                    n_fc, n_fc > 1 ? "s" : "");
    }
    int warmup = (int)v[K_WARMUP].num[0], epochs = (int)v[K_EPOCHS].num[0];
    if (spectral && max_lambda > 0 && warmup >= epochs)
        return cfg_fail(
            c, cfg_pick_line(c, K_WARMUP, K_EPOCHS, K_PARTITION, -1),
            "warmup_epochs = %d must be less than epochs = %d with partition = spectral and "
            "lambda > 0 (the partition is fixed after the warm-up epochs)",
            warmup, epochs);
    for (int l = 0; l < n_fc; l++) {
        int cap = layer_cap(c, l);
        if (v[K_REG_LAYERS].mask >> l & 1u)
            for (int i = 0; i < v[K_K].n; i++)
                if (v[K_K].num[i] > cap)
                    return cfg_fail(
                        c, cfg_pick_line(c, K_K, K_REG_LAYERS, K_HIDDEN, -1),
                        "k = %d is larger than regularised layer fc%d (%d x %d): at most %d "
                        "clusters fit",
                        (int)v[K_K].num[i], l + 1, c->arch.fc_out[l], c->dims.fc_in[l], cap);
        if (v[K_BSGC].mask >> l & 1u)
            for (int i = 0; i < v[K_CURVE_K].n; i++)
                if (v[K_CURVE_K].num[i] > cap)
                    return cfg_fail(
                        c, cfg_pick_line(c, K_CURVE_K, K_BSGC, K_HIDDEN, K_ARCH, -1),
                        "curve_k value %d is larger than bsgc layer fc%d (%d x %d): at most "
                        "%d clusters fit; lower curve_k or change bsgc_layers",
                        (int)v[K_CURVE_K].num[i], l + 1, c->arch.fc_out[l], c->dims.fc_in[l], cap);
    }
    return 0;
}

/* A list of names (comma or space separated, or none) as a bit set over
 * names[] into v[k].mask. */
static int parse_name_set(ctx_t *c, int k, const char *const *names, int n) {
    val_t *v = &c->v[k];
    char buf[RAW_MAX];
    cfg_copy_str(buf, sizeof buf, v->str);
    cfg_lower(buf);
    v->mask = 0;
    if (strcmp(cfg_trim(buf), "none") == 0) return 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        int i = 0;
        while (i < n && strcmp(tok, names[i]) != 0) i++;
        if (i == n) {
            char list[256] = {0};
            for (int j = 0; j < n; j++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
                         names[j]);
            return cfg_fail(c, v->line, "%s: unknown value '%s' (choose from %s, or none)",
                        cfg_key_table[k].name, tok, list);
        }
        if (v->mask >> i & 1u)
            return cfg_fail(c, v->line, "%s: '%s' is listed twice", cfg_key_table[k].name, tok);
        v->mask |= 1u << i;
    }
    return 0;
}

int cfg_resolve_prune(ctx_t *c) {
    const char *kinds[MS_ABL_KINDS], *methods[MS_CM_METHODS];
    for (int i = 0; i < MS_ABL_KINDS; i++) kinds[i] = ms_ablation_kind_name(i);
    for (int i = 0; i < MS_CM_METHODS; i++) methods[i] = ms_circuit_method_name(i);
    if (parse_name_set(c, K_CL_ABLATION, kinds, MS_ABL_KINDS) ||
        parse_name_set(c, K_ABLATION, kinds, MS_ABL_KINDS) ||
        parse_name_set(c, K_METHODS, methods, MS_CM_METHODS))
        return MS_ECONFIG;
    if ((c->v[K_METHODS].mask || c->v[K_SIZES].n) && !c->v[K_ABLATION].mask)
        return cfg_fail(c, cfg_pick_line(c, K_ABLATION, K_METHODS, K_SIZES, -1),
                    "methods and sizes are judged on held-out images: list at least one "
                    "ablation kind (zero, mean, resample)");
    if (c->v[K_SIZES].n && !c->v[K_METHODS].mask)
        return cfg_fail(c, c->v[K_SIZES].line, "sizes needs at least one of methods");
    return cfg_parse_layers(c, K_PRUNE_LAYERS, c->arch.n_fc);
}

/* The single fc layer of a layer set (its 0-based index), or -1 for none. */
int cfg_single_layer(uint32_t mask) {
    for (int l = 0; l < MS_MAX_FC; l++)
        if (mask >> l & 1u) return l;
    return -1;
}

static int count_layers(uint32_t mask) {
    int n = 0;
    for (int l = 0; l < MS_MAX_FC; l++) n += (int)(mask >> l & 1u);
    return n;
}

int cfg_resolve_measures(ctx_t *c) {
    val_t *v = c->v;
    const ms_arch_t *a = &c->arch;
    const int n_fc = a->n_fc;
    if (cfg_parse_layers(c, K_INFO_LAYERS, n_fc) || cfg_parse_layers(c, K_ABLATE_LAYER, n_fc) ||
        cfg_parse_layers(c, K_ASSOC_LAYERS, n_fc))
        return MS_ECONFIG;
    /* Information measures: pairs of layers, and unit sets that leave units outside P. */
    uint32_t info = v[K_INFO_LAYERS].mask;
    if (info && count_layers(info) < 2)
        return cfg_fail(c, v[K_INFO_LAYERS].line,
                    "info_layers needs at least two fc layers (the measures compare pairs)");
    int last_info = -1;
    for (int l = 0; l < n_fc; l++)
        if (info >> l & 1u) last_info = l;
    int size = (int)v[K_UNITSET_SIZE].num[0];
    if (!v[K_UNITSET_SIZE].given) {
        /* The default (10) fitted to the narrowest info layer but the last. */
        int narrow = -1;
        for (int l = 0; l < last_info; l++)
            if ((info >> l & 1u) && (narrow < 0 || a->fc_out[l] < a->fc_out[narrow])) narrow = l;
        if (narrow >= 0 && size >= a->fc_out[narrow] && a->fc_out[narrow] >= 2) {
            note_chosen(c,
                        "unitset_size = %d (the default %d is not less than info layer fc%d's "
                        "width %d)",
                        a->fc_out[narrow] - 1, size, narrow + 1, a->fc_out[narrow]);
            size = a->fc_out[narrow] - 1;
            v[K_UNITSET_SIZE].num[0] = v[K_UNITSET_SIZE].exact[0] = size;
        }
    }
    for (int l = 0; l < last_info; l++)
        if ((info >> l & 1u) && size >= a->fc_out[l])
            return cfg_fail(c, cfg_pick_line(c, K_UNITSET_SIZE, K_INFO_LAYERS, K_HIDDEN, -1),
                        "unitset_size = %d must be less than the width of fc%d (%d): the module "
                        "comparisons need units outside the unit set",
                        size, l + 1, a->fc_out[l]);
    /* Ablation: one layer; the default number of directions is its width. */
    uint32_t abl = v[K_ABLATE_LAYER].mask;
    if (count_layers(abl) > 1)
        return cfg_fail(c, v[K_ABLATE_LAYER].line, "ablate_layer takes one fc layer (or none)");
    if (!v[K_DIRECTIONS].given) {
        v[K_DIRECTIONS].n = 1;
        v[K_DIRECTIONS].num[0] = abl ? a->fc_out[cfg_single_layer(abl)] : 0;
    } else if (!abl) {
        return cfg_fail(c, v[K_DIRECTIONS].line, "directions applies only with an ablate_layer");
    }
    /* Associations: hidden layers of an mlp (the input Jacobian is taken through fc layers). */
    uint32_t assoc = v[K_ASSOC_LAYERS].mask;
    if (assoc && c->is_cnn)
        return cfg_fail(c, cfg_pick_line(c, K_ASSOC_LAYERS, K_ARCH, -1),
                    "assoc_layers needs arch = mlp (forward_jac differentiates a hidden layer "
                    "with respect to the input image through fc layers only)");
    if (assoc >> (n_fc - 1) & 1u)
        return cfg_fail(c, v[K_ASSOC_LAYERS].line,
                    "assoc_layers: fc%d gives the logits; associations are of hidden layers "
                    "(fc1..fc%d)",
                    n_fc, n_fc - 1);
    /* Conv measures. */
    if (!c->is_cnn) {
        static const int conv_keys[] = {K_HEBBIAN, K_SPARSE_EVERY, K_SPARSE_K1, K_SPARSE_K2};
        for (int i = 0; i < 4; i++) {
            int k = conv_keys[i];
            if (v[k].given && !(k == K_HEBBIAN && !v[k].choice) &&
                !(k == K_SPARSE_EVERY && v[k].num[0] == 0))
                return cfg_fail(c, v[k].line, "%s is only for arch = cnn (an mlp has no conv layers)",
                            cfg_key_table[k].name);
        }
    }
    int kk = a->conv_k * a->conv_k;
    int sparse = v[K_SPARSE_EVERY].num[0] > 0;
    for (int k = K_SPARSE_K1; k <= K_SPARSE_K2; k++) {
        if (v[k].given && !sparse)
            return cfg_fail(c, v[k].line, "%s applies only with sparse_every > 0", cfg_key_table[k].name);
        if (!v[k].given) {
            int def = (int)floor((k == K_SPARSE_K1 ? 0.1 : 0.15) * kk);
            v[k].n = 1;
            v[k].num[0] = def > 1 ? def : 1;
        }
    }
    int k1 = (int)v[K_SPARSE_K1].num[0], k2 = (int)v[K_SPARSE_K2].num[0];
    if (sparse && k2 < k1)
        return cfg_fail(c, cfg_pick_line(c, K_SPARSE_K2, K_SPARSE_K1, -1),
                    "sparse_k2 = %d is less than sparse_k1 = %d (k2 counts the k1 kept "
                    "connections too)",
                    k2, k1);
    if (sparse && k2 > kk)
        return cfg_fail(c, cfg_pick_line(c, K_SPARSE_K2, K_SPARSE_K1, K_KERNEL, -1),
                    "sparse_k2 = %d is more than the %d connections of a %dx%d kernel slice", k2,
                    kk, a->conv_k, a->conv_k);
    return 0;
}

/* The number of models, refusing grids above MAX_MODELS. */
int cfg_resolve_models(ctx_t *c, int *n_models) {
    double m = 1;
    int widest = -1;
    for (int k = 0; k < N_KEYS; k++)
        if (cfg_key_table[k].flags & F_SWEEP) {
            m *= c->v[k].n;
            if (widest < 0 || c->v[k].n > c->v[widest].n) widest = k;
        }
    if (m > MAX_MODELS)
        return cfg_fail(c, cfg_pick_line(c, widest, -1),
                    "the grid has %.0f models (the product of the axes' "
                    "lengths); at most %d",
                    m, MAX_MODELS);
    *n_models = (int)m;
    return 0;
}

