/* Reader of the test fixture files written by tests/fixtures_lib.py.
 *
 * Format "MSFX" version 1, little-endian: 8-byte magic "MSFX0001", uint32
 * tensor count, then per tensor: uint16 name length, name bytes, uint8 dtype
 * (0 f32, 1 f64, 2 i32, 3 u8, 4 i64), uint8 ndim, int64 shape[ndim], data. */
#ifndef MS_FIXTURE_H
#define MS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

enum { MS_FX_F32 = 0, MS_FX_F64 = 1, MS_FX_I32 = 2, MS_FX_U8 = 3, MS_FX_I64 = 4 };

typedef struct ms_fx_tensor {
    char name[128];
    int dtype, ndim;
    int64_t shape[8];
    size_t n;     /* elements */
    void *data;
} ms_fx_tensor_t;

typedef struct ms_fixture {
    int n;
    ms_fx_tensor_t *t;
} ms_fixture_t;

/* Loads a fixture; on failure prints why (naming the file and the script that
 * regenerates it) and returns -1. */
int ms_fixture_load(ms_fixture_t *fx, const char *path);
void ms_fixture_free(ms_fixture_t *fx);
/* The tensor called name (NULL if absent; prints a hint when absent). */
const ms_fx_tensor_t *ms_fixture_get(const ms_fixture_t *fx, const char *name);
const float *ms_fixture_f32(const ms_fixture_t *fx, const char *name, size_t expect_n);
const double *ms_fixture_f64(const ms_fixture_t *fx, const char *name, size_t expect_n);

#endif
