/* The grid reader's pass 2 (see config.c): each key's text, or its default
 * text, parsed into numbers (lists and inclusive ranges), a choice, a bool,
 * a string or a set of fc layers, and checked against the key's own range;
 * with the text helpers and the canonical number text these share. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modsweep/config.h"
#include "modsweep/error.h"

#include "config_int.h"

/* ---- small text helpers ------------------------------------------------- */

char *cfg_trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

void cfg_lower(char *s) {
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Copies at most n - 1 bytes and terminates. */
void cfg_copy_str(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src);
}

/* Optimal-string-alignment distance (edits, with adjacent transpositions)
 * between two short names; longer names count as far apart. */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n >= SUGGEST_MAX || m >= SUGGEST_MAX) return 1 << 20;
    int d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

/* How close `typed` is to the candidate `name`, or -1 when too far to
 * suggest: a few edits (1 for names of up to 3 letters, else 2), or one name
 * containing the other (at least 3 letters). Lower is closer. */
int cfg_closeness(const char *typed, const char *name) {
    int d = edit_distance(typed, name);
    int limit = strlen(name) <= 3 ? 1 : 2;
    if (d <= limit) return d;
    size_t lt = strlen(typed), ln = strlen(name);
    if (lt >= 3 && ln >= 3 && (strstr(name, typed) || strstr(typed, name))) return limit + 1;
    return -1;
}

/* Best suggestion among the names of a NULL-terminated list, or NULL. */
const char *cfg_nearest(const char *typed, const char *const *names) {
    const char *best = NULL;
    int best_d = 1 << 20;
    for (int i = 0; names[i]; i++) {
        int d = cfg_closeness(typed, names[i]);
        if (d >= 0 && d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

/* ---- number formatting (the canonical text) ----------------------------- */

/* The shortest "%.*g" text that reads back as the same float (9 digits
 * always suffice), so 1e-3 prints as 0.001. Numbers of 1 to 9 integer digits
 * get at least that many, so 20 prints as 20, not 2e+01. */
void cfg_format_float(char *buf, size_t n, double x) {
    float f = (float)x;
    if (!isfinite(f)) { /* no digits to count ("inf", "nan") */
        snprintf(buf, n, "%g", (double)f);
        return;
    }
    int p = 1;
    while (p < 9) {
        snprintf(buf, n, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
        p++;
    }
    double mag = fabs((double)f);
    int digits = mag >= 1 ? (int)floor(log10(mag)) + 1 : 0;
    if (digits > p && digits <= 9) p = digits;
    snprintf(buf, n, "%.*g", p, (double)f);
}

int cfg_is_int_type(int type) {
    return type == T_INT || type == T_INTS || type == T_LABELS;
}

/* A number of key k as text: integers in full, floats as format_float. */
void cfg_format_num(int k, double x, char *buf, size_t n) {
    if (cfg_is_int_type(cfg_key_table[k].type))
        snprintf(buf, n, "%lld", (long long)x);
    else
        cfg_format_float(buf, n, x);
}

/* "must be in 2..1024", "must be >= 0 and < 1", ... */
void cfg_range_text(int k, char *buf, size_t n) {
    const key_def_t *d = &cfg_key_table[k];
    /* Only finite bounds are printed (an integer conversion of an infinite
     * one would be undefined). */
    const int has_lo = isfinite(d->lo), has_hi = isfinite(d->hi);
    char lo[48] = "", hi[48] = "";
    if (has_lo) cfg_format_num(k, d->lo, lo, sizeof lo);
    if (has_hi) cfg_format_num(k, d->hi, hi, sizeof hi);
    if (cfg_is_int_type(d->type) && has_lo && has_hi)
        snprintf(buf, n, "must be in %s..%s", lo, hi);
    else if (has_lo && has_hi)
        snprintf(buf, n, "must be %s %s and %s %s", d->flags & F_LO_OPEN ? ">" : ">=", lo,
                 d->flags & F_HI_OPEN ? "<" : "<=", hi);
    else if (has_lo)
        snprintf(buf, n, "must be %s %s", d->flags & F_LO_OPEN ? ">" : ">=", lo);
    else if (has_hi)
        snprintf(buf, n, "must be %s %s", d->flags & F_HI_OPEN ? "<" : "<=", hi);
    else
        snprintf(buf, n, "must be finite");
}

/* ---- pass 2: parsing each key's text ------------------------------------ */

/* A list of the sweepable keys, for messages. */
void cfg_sweepable_keys(char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int a = 0; a < MS_N_AXES && len < n; a++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s",
                                a ? (a + 1 < MS_N_AXES ? ", " : " and ") : "", axis_names[a]);
}

/* Rejects a list written where one value is expected. */
static int check_single(ctx_t *c, int k, const char *text, int line) {
    if (!strchr(text, ',') && !strstr(text, "..")) return 0;
    char sw[128];
    cfg_sweepable_keys(sw, sizeof sw);
    return cfg_fail(c, line, "%s takes a single value, not a list (only %s can be swept)",
                cfg_key_table[k].name, sw);
}

/* The error for text that is not the expected kind of value. A '#' or ';'
 * glued to the value is most likely a comment inih did not strip. */
static int bad_value(ctx_t *c, int k, int line, const char *tok, const char *expected) {
    const char *hint = "";
    if (strchr(tok, '#') || strchr(tok, ';'))
        hint = " (a comment after a value starts with ';' after a space; '#' starts a comment only "
               "at the beginning of a line)";
    return cfg_fail(c, line, "%s: expected %s, got '%s'%s", cfg_key_table[k].name, expected, tok, hint);
}

/* Parses one number of key k. Integers may be written in any decimal form
 * whose value is whole (4, +4, 4e0); hexadecimal, nan and inf are refused. */
static int parse_number(ctx_t *c, int k, const char *tok, int line, double *out) {
    int is_int = cfg_is_int_type(cfg_key_table[k].type);
    char low[RAW_MAX];
    cfg_copy_str(low, sizeof low, tok);
    cfg_lower(low);
    const char *word = low + (*low == '+' || *low == '-');
    if (strncmp(word, "nan", 3) == 0 || strncmp(word, "inf", 3) == 0)
        return cfg_fail(c, line, "%s: '%s' is not a finite number (NaN and infinities are not allowed)",
                    cfg_key_table[k].name, tok);
    for (const char *p = tok; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return bad_value(c, k, line, tok, is_int ? "an integer" : "a number");
    char *end;
    errno = 0;
    double x = strtod(tok, &end);
    if (end == tok || *end) return bad_value(c, k, line, tok, is_int ? "an integer" : "a number");
    if (!isfinite(x)) return cfg_fail(c, line, "%s: '%s' is too large", cfg_key_table[k].name, tok);
    if (is_int && x != floor(x))
        return cfg_fail(c, line, "%s must be an integer, got '%s'", cfg_key_table[k].name, tok);
    *out = x == 0 ? 0 : x; /* no negative zero */
    return 0;
}

/* Checks one number against key k's range; floats stored as float are
 * rounded first (so 1e-50 for a positive float is refused as 0). */
static int check_value(ctx_t *c, int k, int line, const char *tok, double *x) {
    const key_def_t *d = &cfg_key_table[k];
    if (d->flags & F_FLOAT32) {
        if (fabs(*x) > FLT_MAX)
            return cfg_fail(c, line, "%s = %s is too large for a float", d->name, tok);
        *x = (double)(float)*x;
        if (*x == 0) *x = 0;
    }
    int ok = (d->flags & F_LO_OPEN) ? *x > d->lo : *x >= d->lo;
    ok = ok && ((d->flags & F_HI_OPEN) ? *x < d->hi : *x <= d->hi);
    if (!ok) {
        char r[128];
        cfg_range_text(k, r, sizeof r);
        if (d->type == T_LABELS)
            return cfg_fail(c, line, "label %s is out of range: %s (the dataset has %d classes)", tok,
                        r, MS_MAX_CLASSES);
        return cfg_fail(c, line, "%s = %s is out of range: %s", d->name, tok, r);
    }
    return 0;
}

/* Parses a comma-separated list of numbers and inclusive integer ranges
 * (a..b or a..b:step) into v->num; `list_ok` = 0 accepts one number only. */
static int parse_numbers(ctx_t *c, int k, const char *text, int line, int list_ok, val_t *v) {
    const key_def_t *d = &cfg_key_table[k];
    if (!list_ok && check_single(c, k, text, line)) return MS_ECONFIG;
    int max_n = d->max_n > 1 ? d->max_n : 1;
    char buf[RAW_MAX];
    cfg_copy_str(buf, sizeof buf, text);
    v->n = 0;
    for (char *s = buf;;) {
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        char *item = cfg_trim(s);
        if (!*item) return cfg_fail(c, line, "%s: empty item in the list '%s'", d->name, text);
        char *dots = strstr(item, "..");
        if (dots) {
            /* A range a..b[:step]: integer bounds and step (even for float
             * keys), counting up; its bounds are checked before it is
             * expanded, so a huge range costs nothing. */
            *dots = '\0';
            char *parts[3] = {cfg_trim(item), dots + 2, NULL};
            char *colon = strchr(parts[1], ':');
            if (colon) {
                *colon = '\0';
                parts[2] = cfg_trim(colon + 1);
            }
            parts[1] = cfg_trim(parts[1]);
            double num[3] = {0, 0, 1};
            for (int i = 0; i < 3; i++) {
                if (!parts[i]) continue;
                int digits = *parts[i] != '\0';
                for (const char *p = parts[i]; *p; p++)
                    if (!strchr("0123456789+-", *p)) digits = 0;
                char *end = NULL;
                double x = digits ? strtod(parts[i], &end) : 0;
                if (!digits || *end || !isfinite(x))
                    return cfg_fail(c, line,
                                "%s: a range is written a..b or a..b:step with integers, got '%s'",
                                d->name, parts[i]);
                num[i] = x == 0 ? 0 : x;
            }
            double lo = num[0], hi = num[1], step = num[2];
            if (hi < lo)
                return cfg_fail(c, line, "%s: the range %s..%s is empty (ranges count up)", d->name,
                            parts[0], parts[1]);
            if (step < 1) return cfg_fail(c, line, "%s: the step of a range must be >= 1", d->name);
            double bounds[2] = {lo, hi};
            for (int i = 0; i < 2; i++)
                if (check_value(c, k, line, parts[i], &bounds[i])) return MS_ECONFIG;
            double count = floor((hi - lo) / step) + 1;
            if (v->n + count > max_n)
                return cfg_fail(c, line, "%s: too many values (at most %d)", d->name, max_n);
            for (int i = 0; i < (int)count; i++) {
                double x = lo + i * step;
                char t[64];
                cfg_format_num(k, x, t, sizeof t);
                v->exact[v->n] = x;
                if (check_value(c, k, line, t, &x)) return MS_ECONFIG;
                v->num[v->n++] = x;
            }
        } else {
            double x = 0;
            if (parse_number(c, k, item, line, &x)) return MS_ECONFIG;
            const double as_written = x;
            if (check_value(c, k, line, item, &x)) return MS_ECONFIG;
            if (v->n >= max_n)
                return cfg_fail(c, line, "%s: too many values (at most %d)", d->name, max_n);
            v->exact[v->n] = as_written;
            v->num[v->n++] = x;
        }
        if (!comma) break;
        s = comma + 1;
    }
    if (d->flags & F_UNIQUE)
        for (int i = 0; i < v->n; i++)
            for (int j = 0; j < i; j++)
                if (v->num[i] == v->num[j]) {
                    char t[64];
                    cfg_format_num(k, v->num[i], t, sizeof t);
                    if (d->type == T_LABELS) return cfg_fail(c, line, "label %s given twice", t);
                    return cfg_fail(c, line, "%s: the value %s is given twice", d->name, t);
                }
    return 0;
}

/* Parses one choice of a T_ENUM key (case-insensitive). */
static int parse_choice(ctx_t *c, int k, const char *text, int line, val_t *v) {
    const key_def_t *d = &cfg_key_table[k];
    if (check_single(c, k, text, line)) return MS_ECONFIG;
    char low[RAW_MAX];
    cfg_copy_str(low, sizeof low, text);
    cfg_lower(low);
    for (int i = 0; d->choices[i]; i++)
        if (strcmp(low, d->choices[i]) == 0) {
            v->choice = i;
            return 0;
        }
    char list[256];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; d->choices[i]; i++)
        len +=
            (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", d->choices[i]);
    const char *hint = cfg_nearest(low, d->choices);
    if (hint)
        return cfg_fail(c, line, "%s: '%s' is not one of %s (did you mean '%s'?)", d->name, text, list,
                    hint);
    return cfg_fail(c, line, "%s: '%s' is not one of %s", d->name, text, list);
}

static int parse_bool(ctx_t *c, int k, const char *text, int line, val_t *v) {
    if (check_single(c, k, text, line)) return MS_ECONFIG;
    char low[RAW_MAX];
    cfg_copy_str(low, sizeof low, text);
    cfg_lower(low);
    static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(low, yes[i]) == 0) return v->choice = 1, 0;
        if (strcmp(low, no[i]) == 0) return v->choice = 0, 0;
    }
    return cfg_fail(c, line, "%s: expected true, false, yes, no, 1 or 0, got '%s'", cfg_key_table[k].name,
                text);
}

/* Parses key k from its written text or, when the file does not set it, from
 * the table's default text. Layer sets wait for the architecture
 * (parse_layers); computed defaults are filled in by the resolve passes. */
int cfg_parse_key(ctx_t *c, int k) {
    const key_def_t *d = &cfg_key_table[k];
    val_t *v = &c->v[k];
    if (d->type == T_LAYERS) return 0;
    if (!v->given && !d->def) return 0;
    char text[RAW_MAX];
    cfg_copy_str(text, sizeof text, v->given ? v->raw : d->def);
    char *t = cfg_trim(text);
    int line = v->line;
    char low[RAW_MAX];
    cfg_copy_str(low, sizeof low, t);
    cfg_lower(low);
    if (d->flags & F_NONE_OK && (!*t || strcmp(low, "none") == 0)) {
        v->n = 0;
        return 0;
    }
    if (!*t) return cfg_fail(c, line, "%s has no value", d->name);
    switch (d->type) {
    case T_STR: {
        size_t n = strlen(t);
        if (n >= 2 && (t[0] == '"' || t[0] == '\'') && t[n - 1] == t[0]) {
            t[n - 1] = '\0';
            t++;
        }
        if (!*t) return cfg_fail(c, line, "%s has no value", d->name);
        cfg_copy_str(v->str, sizeof v->str, t);
        return 0;
    }
    case T_ENUM:
        return parse_choice(c, k, t, line, v);
    case T_BOOL:
        return parse_bool(c, k, t, line, v);
    case T_INT:
    case T_FLOAT:
        return parse_numbers(c, k, t, line, (d->flags & F_SWEEP) != 0, v);
    case T_LABELS:
        if (strcmp(low, "all") == 0) {
            for (v->n = 0; v->n < MS_MAX_CLASSES; v->n++)
                v->num[v->n] = v->n;
            return 0;
        }
        return parse_numbers(c, k, t, line, 1, v);
    case T_INTS:
    case T_FLOATS:
        return parse_numbers(c, k, t, line, 1, v);
    }
    return 0;
}

/* The number of "fcN", or -1 when the text is not an fc layer name. */
static int fc_number(const char *name) {
    if (strncmp(name, "fc", 2) != 0 || name[2] < '1' || name[2] > '9') return -1;
    int n = 0;
    for (const char *p = name + 2; *p; p++) {
        if (!isdigit((unsigned char)*p) || n > 100000) return -1;
        n = n * 10 + (*p - '0');
    }
    return n;
}

int ms_fc_layer_index(const char *name) {
    int n = name ? fc_number(name) : -1;
    return n >= 1 && n <= MS_MAX_FC ? n - 1 : -1;
}

/* Parses a layer set (fc names, all, none) for a model with n_fc fc layers.
 * A default names layers that may not exist (fc3 of a two-layer model):
 * those are dropped; a written name that does not exist is an error. */
int cfg_parse_layers(ctx_t *c, int k, int n_fc) {
    const key_def_t *d = &cfg_key_table[k];
    val_t *v = &c->v[k];
    char buf[RAW_MAX];
    cfg_copy_str(buf, sizeof buf, v->given ? v->raw : d->def);
    cfg_lower(buf);
    char *t = cfg_trim(buf);
    int line = v->line;
    v->mask = 0;
    if (!*t || strcmp(t, "none") == 0) {
        if (!(d->flags & F_NONE_OK))
            return cfg_fail(c, line, "%s needs at least one fc layer (fc1..fc%d or all)", d->name,
                        n_fc);
        return 0;
    }
    if (strcmp(t, "all") == 0) {
        v->mask = (uint32_t)((1u << n_fc) - 1u);
        return 0;
    }
    for (char *s = t;;) {
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        char *item = cfg_trim(s);
        int n = fc_number(item);
        if (n < 0) {
            if (!strcmp(item, "all") || !strcmp(item, "none"))
                return cfg_fail(c, line, "%s: '%s' stands alone, not in a list", d->name, item);
            return cfg_fail(c, line, "%s: '%s' is not an fc layer name (fc1..fc%d, all%s)", d->name,
                        item, n_fc, d->flags & F_NONE_OK ? " or none" : "");
        }
        if (n > n_fc) {
            if (v->given)
                return cfg_fail(c, line, "%s: %s does not exist: the model has %d fc layers", d->name,
                            item, n_fc);
        } else {
            uint32_t bit = 1u << (n - 1);
            if (v->mask & bit) return cfg_fail(c, line, "%s: %s is given twice", d->name, item);
            v->mask |= bit;
        }
        if (!comma) break;
        s = comma + 1;
    }
    return 0;
}

