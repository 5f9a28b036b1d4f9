/* The grid file: parsing, validation and documentation of a sweep (see
 * include/modsweep/config.h and docs/design.md sections 2 and 4). Its parts:
 * config_keys.def (the keys), config_int.h (the declarations the parts
 * share), this file (the key table, pass 1, filling the grid, the entry
 * points, --keys), config_values.c (pass 2), config_check.c (pass 3) and
 * plan.c (the dry-run plan).
 *
 * One static table of keys (cfg_key_table below, made from the entries of
 * config_keys.def) drives everything: which keys exist, their types,
 * defaults, ranges and meanings; the settings field each one fills; the
 * canonical `resolved` text; and `modsweep --keys`. A grid is read in three
 * passes:
 *
 *   1. libinih splits the text into (section, key, value) triples. A line
 *      reader of ours (read_line) hands inih one line at a time, so the
 *      handler always knows the line it is looking at, and it rejects what
 *      inih would otherwise accept silently: over-long lines (inih splits
 *      them), values continued on indented lines (inih glues them), text
 *      after a section header, lines that are neither key, header nor
 *      comment, and unknown sections. Leading whitespace is stripped before
 *      inih sees a line, so an indented key is simply a key.
 *   2. Every key's text (or its default text from the table) is parsed into
 *      numbers, a choice, a string or a set of fc layers and checked against
 *      its own range (parse_key).
 *   3. Cross-key rules (defaults that depend on other keys, the network's
 *      shapes, k against layer sizes, ...) run in the resolve_* functions;
 *      then the grid, its resolved text and its hash are filled in, each
 *      key into the field its entry names (store_key).
 *
 * Every error is recorded once, as "file:line: message", with the line of
 * the key at fault; parsing stops at the first one. Nothing is allocated
 * but the working context (one calloc), the file's text and the resolved
 * text, so every error path frees exactly those.
 *
 * Vocabulary: M models (combinations of the axes), L labels (prune tasks per
 * model), O / I output / input width of an fc layer. */
#include "modsweep/config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "modsweep/error.h"
#include "modsweep/gpu_support.h"

#include "config_int.h"

/* ---- the key table ------------------------------------------------------ */

/* NULL-terminated, so cfg_nearest() can search it. */
static const char *const section_names[N_SECTIONS + 1] = {
    "sweep", "data", "model", "train", "cluster", "prune", "measures", "null", NULL};

static const char *const type_names[] = {"string",   "choice",     "bool",      "integer", "float",
                                         "int list", "float list", "fc layers", "labels"};

/* The key table (config_keys.def). */
const key_def_t cfg_key_table[N_KEYS] = {
#define MS_KEY(id, ...) [id] = {__VA_ARGS__},
#include "config_keys.def"
#undef MS_KEY
};
const char *ms_axis_name(int axis) {
    return axis >= 0 && axis < MS_N_AXES ? axis_names[axis] : "?";
}

/* ---- the working context ------------------------------------------------ */

/* Records the first error; every later one is dropped (the first is what the
 * user fixes first, and the rest may be its consequences). */
__attribute__((format(printf, 3, 4))) int cfg_fail(ctx_t *c, int line, const char *fmt, ...) {
    if (c->failed) return MS_ECONFIG;
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(c->msg, sizeof c->msg, "%s:%d: %s", c->file, line, body);
    else
        snprintf(c->msg, sizeof c->msg, "%s: %s", c->file, body);
    c->failed = 1;
    return MS_ECONFIG;
}

/* The line to blame for a fault involving keys that may not have been
 * written: the first of the keys (a list ending in -1) that the file sets,
 * else the header of the first key's section, else line 1. */
int cfg_pick_line(const ctx_t *c, int first, ...) {
    va_list ap;
    va_start(ap, first);
    int line = 0;
    for (int k = first; k >= 0 && !line; k = va_arg(ap, int))
        if (c->v[k].given) line = c->v[k].line;
    va_end(ap);
    if (!line) line = c->sec_line[cfg_key_table[first].section];
    return line ? line : 1;
}

/* ---- pass 1: reading lines with inih ------------------------------------ */

static int section_find(const char *name) {
    for (int s = 0; s < N_SECTIONS; s++)
        if (strcmp(name, section_names[s]) == 0) return s;
    return -1;
}

static int key_find(int section, const char *name) {
    for (int k = 0; k < N_KEYS; k++)
        if (cfg_key_table[k].section == section &&
            (strcmp(name, cfg_key_table[k].name) == 0 ||
             (cfg_key_table[k].alias && strcmp(name, cfg_key_table[k].alias) == 0)))
            return k;
    return -1;
}

/* A comma-separated list of the keys of a section, for messages. */
static void section_keys(int section, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < N_KEYS && len < n; k++)
        if (cfg_key_table[k].section == section)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", cfg_key_table[k].name);
}

/* Checks a section header line ("[name]" plus an optional comment) and
 * returns its section, or records an error and returns -1. */
static int check_header(ctx_t *c, char *line) {
    char *close = strchr(line, ']');
    if (!close) return cfg_fail(c, c->lineno, "section header '%s' has no closing ']'", line), -1;
    char *rest = cfg_trim(close + 1);
    if (*rest && *rest != ';' && *rest != '#')
        return cfg_fail(c, c->lineno, "unexpected text '%s' after the section header", rest), -1;
    *close = '\0';
    char *name = cfg_trim(line + 1);
    int s = section_find(name);
    if (s < 0) {
        const char *hint = cfg_nearest(name, section_names);
        if (hint)
            cfg_fail(c, c->lineno, "unknown section [%s] (did you mean [%s]?)", name, hint);
        else
            cfg_fail(c, c->lineno,
                 "unknown section [%s] (sections: [sweep], [data], [model], [train], [cluster], "
                 "[prune], [measures])",
                 name);
        return -1;
    }
    if (!c->sec_line[s]) c->sec_line[s] = c->lineno;
    return s;
}

/* Where inih would split "key = value" (the first '=' or ':' before an
 * inline comment, which is ';' after whitespace), or NULL. */
static const char *find_separator(const char *s) {
    int was_space = 0;
    for (; *s; s++) {
        if (*s == '=' || *s == ':') return s;
        if (was_space && *s == ';') return NULL;
        was_space = isspace((unsigned char)*s);
    }
    return NULL;
}

/* inih's line reader: hands inih the next line of the text, without its
 * leading whitespace, and rejects lines inih would misread. A rejected line
 * records an error and reading stops (NULL ends inih's loop). */
static char *read_line(char *buf, int num, void *stream) {
    ctx_t *c = stream;
    if (c->failed || c->pos >= c->end) return NULL;
    const char *s = c->pos;
    const char *nl = memchr(s, '\n', (size_t)(c->end - s));
    const char *e = nl ? nl : c->end;
    c->pos = nl ? nl + 1 : c->end;
    c->lineno++;
    if (c->lineno == 1 && e - s >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3; /* UTF-8 BOM */
    if (e > s && e[-1] == '\r') e--;
    int indented = 0;
    while (s < e && isspace((unsigned char)*s)) {
        s++;
        indented = 1;
    }
    size_t len = (size_t)(e - s);
    /* inih needs room for the text, a newline and the terminator. */
    if (num < 3 || len > (size_t)num - 2) {
        cfg_fail(c, c->lineno, "line is too long (%zu characters; at most %d)", len, num - 2);
        return NULL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (len == 0 || buf[0] == ';' || buf[0] == '#') {
        /* A blank line or a comment. */
    } else if (buf[0] == '[') {
        char tmp[RAW_MAX * 2];
        cfg_copy_str(tmp, sizeof tmp, buf);
        if (check_header(c, tmp) < 0) return NULL;
    } else if (!find_separator(buf)) {
        if (indented)
            cfg_fail(c, c->lineno,
                 "multi-line values are not allowed: this indented line has no '=' and would "
                 "continue the previous value; write the whole value on one line");
        else
            cfg_fail(c, c->lineno, "expected 'key = value', a [section] header or a comment, got '%s'",
                 buf);
        return NULL;
    }
    buf[len] = '\n';
    buf[len + 1] = '\0';
    return buf;
}

/* inih's handler: one (section, key, value) of the line read last. Stores the
 * value's text for pass 2. Returns 1 (errors are recorded in the context, and
 * read_line stops the parse). */
static int on_pair(void *user, const char *section, const char *name, const char *value) {
    ctx_t *c = user;
    int line = c->lineno;
    if (c->failed) return 1;
    char sec[RAW_MAX];
    cfg_copy_str(sec, sizeof sec, section);
    int s = section_find(cfg_trim(sec));
    if (!*name) return cfg_fail(c, line, "a line with '=' but no key name"), 1;
    if (s < 0) {
        /* Headers are checked by read_line, so only "before any header" is left. */
        for (int k = 0; k < N_KEYS; k++)
            if (strcmp(name, cfg_key_table[k].name) == 0)
                return cfg_fail(c, line,
                            "key '%s' comes before any [section] header (it belongs in [%s])", name,
                            section_names[cfg_key_table[k].section]),
                       1;
        return cfg_fail(c, line, "key '%s' comes before any [section] header", name), 1;
    }
    int k = key_find(s, name);
    if (k < 0) {
        const char *names[N_KEYS + 1];
        int n = 0;
        for (int j = 0; j < N_KEYS; j++)
            if (cfg_key_table[j].section == s) names[n++] = cfg_key_table[j].name;
        names[n] = NULL;
        const char *hint = cfg_nearest(name, names);
        if (hint)
            return cfg_fail(c, line, "unknown key '%s' in [%s] (did you mean '%s'?)", name,
                        section_names[s], hint),
                   1;
        /* The right key in the wrong section, or a close one elsewhere. */
        int other = -1, other_d = 1 << 20;
        for (int j = 0; j < N_KEYS; j++) {
            int d = cfg_closeness(name, cfg_key_table[j].name);
            if (d >= 0 && d < other_d) {
                other_d = d;
                other = j;
            }
        }
        if (other >= 0)
            return cfg_fail(c, line, "unknown key '%s' in [%s] (did you mean '%s' in [%s]?)", name,
                        section_names[s], cfg_key_table[other].name,
                        section_names[cfg_key_table[other].section]),
                   1;
        char list[512];
        section_keys(s, list, sizeof list);
        return cfg_fail(c, line, "unknown key '%s' in [%s] (its keys: %s)", name, section_names[s],
                    list),
               1;
    }
    val_t *v = &c->v[k];
    if (v->given) {
        if (strcmp(name, v->spelt) != 0)
            return cfg_fail(c, line, "key '%s' given twice, first at line %d (as '%s', the same key)",
                        name, v->line, v->spelt),
                   1;
        return cfg_fail(c, line, "key '%s' given twice, first at line %d", name, v->line), 1;
    }
    if (strlen(value) >= sizeof v->raw)
        return cfg_fail(c, line, "the value of '%s' is too long", name), 1;
    v->given = 1;
    v->line = line;
    v->spelt = strcmp(name, cfg_key_table[k].name) == 0 ? cfg_key_table[k].name : cfg_key_table[k].alias;
    cfg_copy_str(v->raw, sizeof v->raw, value);
    return 1;
}

/* ---- filling the grid --------------------------------------------------- */

/* A growing string for the resolved text. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int oom;
} strbuf_t;

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf_t *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
}

/* Writes the canonical value of key k. */
static void format_key(const ctx_t *c, int k, strbuf_t *b) {
    const key_def_t *d = &cfg_key_table[k];
    const val_t *v = &c->v[k];
    char t[64];
    switch (d->type) {
    case T_STR:
        sb_printf(b, "%s", v->str);
        break;
    case T_ENUM:
        sb_printf(b, "%s", d->choices[v->choice]);
        break;
    case T_BOOL:
        sb_printf(b, "%s", v->choice ? "true" : "false");
        break;
    case T_LAYERS:
        if (!v->mask) sb_printf(b, "none");
        for (int l = 0, first = 1; l < MS_MAX_FC; l++)
            if (v->mask >> l & 1u) {
                sb_printf(b, "%sfc%d", first ? "" : ", ", l + 1);
                first = 0;
            }
        break;
    default:
        if (!v->n) sb_printf(b, "none");
        for (int i = 0; i < v->n; i++) {
            cfg_format_num(k, v->num[i], t, sizeof t);
            sb_printf(b, "%s%s", i ? ", " : "", t);
        }
        break;
    }
}

static uint64_t fnv1a64(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Writes an int into a field of size `size` (an int or a C enum). */
static int put_int(void *field, size_t size, int x) {
    if (size != sizeof x) return -1;
    memcpy(field, &x, sizeof x);
    return 0;
}

/* Stores the value of key k into the field its table entry names (dst);
 * -1 when the field's size does not match its kind. */
static int store_key(int k, const val_t *v, ms_grid_t *g) {
    const key_dst_t *d = &cfg_key_table[k].dst;
    if (d->in == DST_NONE) return 0;
    char *base = d->in == DST_GRID ? (char *)g : (char *)&g->base;
    void *field = base + d->off;
    switch (d->how) {
    case ST_INT:
        return put_int(field, d->size, (int)v->num[0]);
    case ST_CHOICE:
        return put_int(field, d->size, v->choice);
    case ST_CHOICE_LESS1:
        return put_int(field, d->size, v->choice - 1);
    case ST_LAYER:
        return put_int(field, d->size, cfg_single_layer(v->mask));
    case ST_U64: {
        uint64_t x = (uint64_t)v->num[0];
        if (d->size != sizeof x) return -1;
        memcpy(field, &x, sizeof x);
        return 0;
    }
    case ST_F32: {
        float x = (float)v->num[0];
        if (d->size != sizeof x) return -1;
        memcpy(field, &x, sizeof x);
        return 0;
    }
    case ST_MASK:
        if (d->size != sizeof v->mask) return -1;
        memcpy(field, &v->mask, sizeof v->mask);
        return 0;
    case ST_STR:
        cfg_copy_str(field, d->size, v->str);
        return 0;
    case ST_INTS:
    case ST_DOUBLES: {
        const size_t elem = d->how == ST_INTS ? sizeof(int) : sizeof(double);
        if ((size_t)v->n * elem > d->size) return -1;
        for (int i = 0; i < v->n; i++) {
            if (d->how == ST_INTS)
                ((int *)field)[i] = (int)v->num[i];
            else
                ((double *)field)[i] = v->num[i];
        }
        return put_int(base + d->count_off, sizeof(int), v->n);
    }
    case ST_CHANNELS0:
    case ST_CHANNELS1: {
        /* Unused statistics are the identity (mean 0, std 1). */
        const float none = d->how == ST_CHANNELS1 ? 1.0f : 0.0f;
        if (d->size != 3 * sizeof(float)) return -1;
        for (int i = 0; i < 3; i++)
            ((float *)field)[i] = v->n ? (float)v->num[i < v->n ? i : 0] : none;
        return 0;
    }
    }
    return -1;
}

static int fill_grid(ctx_t *c, ms_grid_t *g, int n_models) {
    const val_t *v = c->v;
    ms_settings_t *s = &g->base;
    /* The architecture (the hidden widths and the output layer, the input
     * shape of the dataset and layout) as resolve_model built it; then every
     * key into the field its table entry names. */
    s->arch = c->arch;
    for (int k = 0; k < N_KEYS; k++)
        if (store_key(k, &v[k], g)) {
            return ms_err_set(MS_EINVAL, "%s: key %s does not fit its field (a key table fault)",
                              c->file, cfg_key_table[k].name);
        }
    /* dataset = planted: read as mnist from the generated files (resolve_data),
     * and the generator's set-up. */
    s->data.kind = (ms_dataset_kind_t)c->kind;
    if (v[K_DATASET].choice == DATASET_PLANTED) {
        g->planted.blocks = (int)v[K_PL_BLOCKS].num[0];
        g->planted.sub = (int)v[K_PL_SUB].num[0];
        g->planted.task = v[K_PL_TASK].choice;
        g->planted.n_train = (int)v[K_PL_TRAIN].num[0];
        g->planted.n_test = (int)v[K_PL_TEST].num[0];
        g->planted.seed = (uint64_t)v[K_PL_SEED].num[0];
    }
    /* Axes, labels and [sweep]. */
    for (int k = 0; k < N_KEYS; k++) {
        if (!(cfg_key_table[k].flags & F_SWEEP)) continue;
        int a = cfg_key_table[k].axis;
        g->n_values[a] = v[k].n;
        memcpy(g->values[a], v[k].num, sizeof(double) * v[k].n);
        memcpy(g->written[a], v[k].exact, sizeof(double) * v[k].n);
    }
    g->n_models = n_models;
    cfg_copy_str(g->chosen, sizeof g->chosen, c->chosen);
    /* The resolved text and its hash. */
    strbuf_t b = {0};
    /* results_hash covers the same lines without the F_RUN keys. */
    uint64_t rh = 0xcbf29ce484222325ull;
    for (int k = 0; k < N_KEYS; k++) {
        /* The planted_* keys only for dataset = planted: other grids keep their hashes. */
        if (k >= K_PL_BLOCKS && k <= K_PL_SEED && v[K_DATASET].choice != DATASET_PLANTED)
            continue;
        size_t start = b.len;
        sb_printf(&b, "%s.%s = ", section_names[cfg_key_table[k].section], cfg_key_table[k].name);
        const size_t value = b.len;
        format_key(c, k, &b);
        if (!b.oom && (cfg_key_table[k].flags & F_OMIT_DEFAULT) &&
            strcmp(b.s + value, cfg_key_table[k].def) == 0) {
            b.len = start; /* at its default: left out */
            b.s[start] = 0;
            continue;
        }
        sb_printf(&b, "\n");
        if (b.oom || (cfg_key_table[k].flags & F_RUN)) continue;
        for (size_t i = start; i < b.len; i++) {
            rh ^= (unsigned char)b.s[i];
            rh *= 0x100000001b3ull;
        }
    }
    if (b.oom) {
        free(b.s);
        return ms_err_set(MS_ENOMEM, "%s: out of memory for the resolved settings", c->file);
    }
    g->resolved = b.s;
    g->hash = fnv1a64(b.s, b.len);
    g->results_hash = rh;
    return 0;
}

/* The line of a key named by section and name, for gpu_support.c. */
static int key_line_of(const void *vc, const char *section, const char *name) {
    const int k = key_find(section_find(section), name);
    return k < 0 ? 1 : cfg_pick_line(vc, k, -1);
}

/* ---- the public entry points -------------------------------------------- */

/* Parses text (owned: stored in g->text on success, freed on failure). */
static int parse_owned(ms_grid_t *g, const char *file, char *text) {
    memset(g, 0, sizeof *g);
    if (strlen(file) >= sizeof g->path) {
        free(text);
        return ms_err_set(MS_ECONFIG, "%.64s...: the grid file's path is too long", file);
    }
    ctx_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(text);
        return ms_err_set(MS_ENOMEM, "%s: out of memory", file);
    }
    c->file = file;
    c->pos = text;
    c->end = text + strlen(text);
    int rc = ini_parse_stream(read_line, c, on_pair, c);
    if (rc != 0 && !c->failed) {
        /* read_line lets only comments, headers and key lines through, so
         * inih should find nothing more; report whatever it did find. */
        if (rc > 0)
            cfg_fail(c, rc, "cannot parse this line");
        else
            cfg_fail(c, 0, "the INI parser failed (%d)", rc);
    }
    if (!c->failed) {
        /* A grid that sets nothing would run the whole default sweep (a CNN
         * on every training image, ten labels): almost surely a wrong or
         * empty file, so it is refused. */
        int any = 0;
        for (int k = 0; k < N_KEYS; k++)
            any |= c->v[k].given;
        if (!any)
            cfg_fail(c, 0,
                 "the grid sets no key (the file is empty or holds only comments and section "
                 "headers); write the settings of the sweep (modsweep --keys lists them)");
    }
    for (int k = 0; k < N_KEYS && !c->failed; k++)
        cfg_parse_key(c, k);
    int n_models = 0;
    if (!c->failed) cfg_resolve_sweep(c);
    if (!c->failed) cfg_resolve_data(c);
    if (!c->failed) cfg_resolve_model(c);
    if (!c->failed) cfg_resolve_train(c);
    if (!c->failed) cfg_resolve_cluster(c);
    if (!c->failed) cfg_resolve_prune(c);
    if (!c->failed) cfg_resolve_measures(c);
    if (!c->failed) cfg_resolve_models(c, &n_models);
    int err = 0;
    if (c->failed) {
        err = ms_err_set(MS_ECONFIG, "%s", c->msg);
    } else {
        cfg_copy_str(g->path, sizeof g->path, file);
        err = fill_grid(c, g, n_models);
        if (!err) err = ms_grid_gpu_check(g, file, key_line_of, c); /* gpu_support.h */
    }
    free(c);
    if (err) {
        free(text);
        ms_grid_free(g);
        return err;
    }
    g->text = text;
    return 0;
}

int ms_grid_parse(ms_grid_t *g, const char *name, const char *text) {
    if (!g) return ms_err_set(MS_EINVAL, "ms_grid_parse: no grid");
    memset(g, 0, sizeof *g);
    if (!name) name = "<grid>";
    if (!text) return ms_err_set(MS_EINVAL, "%s: no text", name);
    char *copy = strdup(text);
    if (!copy) return ms_err_set(MS_ENOMEM, "%s: out of memory", name);
    return parse_owned(g, name, copy);
}

int ms_grid_load(ms_grid_t *g, const char *path) {
    if (!g) return ms_err_set(MS_EINVAL, "ms_grid_load: no grid");
    memset(g, 0, sizeof *g);
    if (!path) return ms_err_set(MS_EINVAL, "ms_grid_load: no path");
    FILE *f = fopen(path, "rb");
    if (!f) return ms_err_set(MS_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *text = malloc(MAX_FILE_BYTES + 1);
    if (!text) {
        fclose(f);
        return ms_err_set(MS_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(text, 1, MAX_FILE_BYTES + 1, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        free(text);
        return ms_err_set(MS_EIO, "%s: read error", path);
    }
    if (n > MAX_FILE_BYTES) {
        free(text);
        return ms_err_set(MS_ECONFIG, "%s: file too large for a grid (more than %d bytes)", path,
                          MAX_FILE_BYTES);
    }
    text[n] = '\0';
    const char *nul = memchr(text, '\0', n);
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        free(text);
        return ms_err_set(MS_ECONFIG, "%s:%d: NUL byte in the file (not a text file?)", path, line);
    }
    char *fit = realloc(text, n + 1); /* give back the unused part of the buffer */
    return parse_owned(g, path, fit ? fit : text);
}

void ms_grid_free(ms_grid_t *g) {
    if (!g) return;
    free(g->text);
    free(g->resolved);
    memset(g, 0, sizeof *g);
}

void ms_grid_model_index(const ms_grid_t *g, int m, int idx[MS_N_AXES]) {
    /* Mixed radix, the last axis fastest. */
    for (int a = MS_N_AXES - 1; a >= 0; a--) {
        int n = g->n_values[a] > 0 ? g->n_values[a] : 1;
        idx[a] = m % n;
        m /= n;
    }
}

void ms_grid_model_settings(const ms_grid_t *g, int m, ms_settings_t *out) {
    int idx[MS_N_AXES];
    ms_grid_model_index(g, m, idx);
    *out = g->base;
    out->seed = (uint64_t)g->values[MS_AXIS_SEED][idx[MS_AXIS_SEED]];
    out->lambda = (float)g->values[MS_AXIS_LAMBDA][idx[MS_AXIS_LAMBDA]];
    out->k = (int)g->values[MS_AXIS_K][idx[MS_AXIS_K]];
    out->lr = (float)g->values[MS_AXIS_LR][idx[MS_AXIS_LR]];
    out->l1 = (float)g->values[MS_AXIS_L1][idx[MS_AXIS_L1]];
    out->l2 = (float)g->values[MS_AXIS_L2][idx[MS_AXIS_L2]];
    out->arch.dropout = (float)g->values[MS_AXIS_DROPOUT][idx[MS_AXIS_DROPOUT]];
}

void ms_grid_model_written(const ms_grid_t *g, int m, double out[MS_N_AXES]) {
    int idx[MS_N_AXES];
    ms_grid_model_index(g, m, idx);
    for (int a = 0; a < MS_N_AXES; a++)
        out[a] = g->written[a][idx[a]];
}

int ms_grid_key_line(const ms_grid_t *g, const char *section, const char *key) {
    if (!g || !g->text || !section || !key) return 0;
    int s = section_find(section), k = s < 0 ? -1 : key_find(s, key);
    if (k < 0) return 0;
    ctx_t *c = calloc(1, sizeof *c);
    if (!c) return 0;
    c->file = g->path;
    c->pos = g->text;
    c->end = g->text + strlen(g->text);
    ini_parse_stream(read_line, c, on_pair, c);
    int line = c->v[k].given ? c->v[k].line : 0;
    free(c);
    return line;
}

int ms_grid_key_range(const char *section, const char *key, long *lo, long *hi) {
    int s = section ? section_find(section) : -1, k = s < 0 || !key ? -1 : key_find(s, key);
    if (k < 0 || cfg_key_table[k].type != T_INT)
        return ms_err_set(MS_EINVAL, "no integer key [%s] %s", section ? section : "?",
                          key ? key : "?");
    *lo = (long)cfg_key_table[k].lo;
    *hi = (long)cfg_key_table[k].hi;
    return 0;
}

/* ---- documentation ------------------------------------------------------ */

void ms_grid_print_keys(FILE *f) {
    char sw[128];
    cfg_sweepable_keys(sw, sizeof sw);
    fprintf(f,
            "Grid file keys (INI: [section] headers, 'key = value' lines, comments start a line "
            "with ';' or '#', or follow a value after ' ;').\n"
            "Lists: '0, 5, 20'; inclusive integer ranges: '0..9', '2..14:2' (step 2).\n"
            "Sweepable keys (%s) given several values become axes; every combination is one "
            "model, nested in that order (the first outermost).\n",
            sw);
    for (int s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", section_names[s]);
        for (int k = 0; k < N_KEYS; k++) {
            const key_def_t *d = &cfg_key_table[k];
            if (d->section != s) continue;
            char type[256], r[128];
            size_t len = (size_t)snprintf(type, sizeof type, "%s", type_names[d->type]);
            if (d->type == T_ENUM) {
                len += (size_t)snprintf(type + len, sizeof type - len, ":");
                for (int i = 0; d->choices[i]; i++)
                    len += (size_t)snprintf(type + len, sizeof type - len, "%s%s", i ? " | " : " ",
                                            d->choices[i]);
            }
            if (d->type == T_INT || d->type == T_FLOAT || d->type == T_INTS ||
                d->type == T_FLOATS || d->type == T_LABELS) {
                cfg_range_text(k, r, sizeof r);
                if (strcmp(r, "must be finite") != 0)
                    len += (size_t)snprintf(type + len, sizeof type - len, ", %s",
                                            r + strlen("must be "));
            }
            if (d->flags & F_SWEEP)
                len += (size_t)snprintf(type + len, sizeof type - len, ", sweepable");
            if (d->flags & F_RUN)
                len += (size_t)snprintf(type + len, sizeof type - len, ", may change on resume");
            if (d->max_n > 1 && !(d->flags & F_SWEEP))
                snprintf(type + len, sizeof type - len, ", at most %d values", d->max_n);
            fprintf(f, "  %-15s %s\n", d->name, type);
            fprintf(f, "  %-15s default: %s\n", "", d->def ? d->def : d->def_doc);
            fprintf(f, "  %-15s %s\n", "", d->doc);
        }
    }
}

