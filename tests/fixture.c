/* Reader of MSFX test fixtures (fixture.h). */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const size_t dtype_size[] = {4, 8, 4, 1, 8};

int ms_fixture_load(ms_fixture_t *fx, const char *path) {
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open fixture (regenerate with the scripts in tests/)\n", path);
        return -1;
    }
    char magic[8];
    uint32_t count;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "MSFX0001", 8) != 0 ||
        fread(&count, 4, 1, f) != 1 || count > 100000) {
        fprintf(stderr, "%s: not an MSFX0001 fixture (stale? regenerate it)\n", path);
        fclose(f);
        return -1;
    }
    fx->t = calloc(count ? count : 1, sizeof *fx->t);
    fx->n = (int)count;
    for (uint32_t i = 0; i < count; i++) {
        ms_fx_tensor_t *t = &fx->t[i];
        uint16_t len;
        uint8_t dt, nd;
        if (fread(&len, 2, 1, f) != 1 || len >= sizeof t->name || fread(t->name, 1, len, f) != len ||
            fread(&dt, 1, 1, f) != 1 || fread(&nd, 1, 1, f) != 1 || dt > 4 || nd > 8)
            goto bad;
        t->name[len] = 0;
        t->dtype = dt;
        t->ndim = nd;
        t->n = 1;
        for (int d = 0; d < nd; d++) {
            if (fread(&t->shape[d], 8, 1, f) != 1 || t->shape[d] < 0) goto bad;
            t->n *= (size_t)t->shape[d];
        }
        t->data = malloc(t->n * dtype_size[dt] + 1);
        if (fread(t->data, dtype_size[dt], t->n, f) != t->n) goto bad;
    }
    fclose(f);
    return 0;
bad:
    fprintf(stderr, "%s: truncated or malformed fixture (regenerate it)\n", path);
    fclose(f);
    ms_fixture_free(fx);
    return -1;
}

void ms_fixture_free(ms_fixture_t *fx) {
    for (int i = 0; i < fx->n; i++) free(fx->t[i].data);
    free(fx->t);
    memset(fx, 0, sizeof *fx);
}

const ms_fx_tensor_t *ms_fixture_get(const ms_fixture_t *fx, const char *name) {
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->t[i].name, name) == 0) return &fx->t[i];
    fprintf(stderr, "fixture has no tensor '%s' (stale fixture? regenerate it)\n", name);
    return NULL;
}

static const void *typed(const ms_fixture_t *fx, const char *name, size_t expect_n, int dtype) {
    const ms_fx_tensor_t *t = ms_fixture_get(fx, name);
    if (!t) return NULL;
    if (t->dtype != dtype || (expect_n && t->n != expect_n)) {
        fprintf(stderr, "fixture tensor '%s': dtype %d with %zu elements, expected dtype %d with %zu\n",
                name, t->dtype, t->n, dtype, expect_n);
        return NULL;
    }
    return t->data;
}

const float *ms_fixture_f32(const ms_fixture_t *fx, const char *name, size_t expect_n) {
    return typed(fx, name, expect_n, MS_FX_F32);
}

const double *ms_fixture_f64(const ms_fixture_t *fx, const char *name, size_t expect_n) {
    return typed(fx, name, expect_n, MS_FX_F64);
}
