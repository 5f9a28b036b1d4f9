/* Fuzz target: the results-file reader of `modsweep status` and of resuming
 * (see results_common.h) on *damaged* files: a copy of a base file with
 * bytes overwritten, zeroed, cut off or appended, as a disk fault, an
 * interrupted copy or a stray write would leave it. Here HDF5 parses
 * malformed files, so a finding may be HDF5's own: tests/fuzz/README.md
 * says how the two are told apart (the innermost frame of the report).
 *
 * Input: byte 0 picks the base file; then edits, each an opcode byte and
 * its arguments (missing bytes read as 0). Offsets are taken modulo the
 * file's length, most of them within the first 4 KiB where HDF5 keeps the
 * superblock and the root group. */
#include "results_common.h"

enum { OP_PATCH, OP_XOR, OP_ZERO, OP_TRUNCATE, OP_APPEND, OP_COPY, N_OPS };

static size_t take_offset(const uint8_t **p, const uint8_t *end, size_t n) {
    if (n == 0) return 0;
    uint64_t sel = fz_take(p, end, 1);
    uint64_t raw = fz_take(p, end, sel & 1 ? 3 : 2); /* odd: anywhere; even: the first 64 KiB */
    return (size_t)(raw % n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    const uint8_t *p = data, *end = data + size;
    const int b = (int)(fz_take(&p, end, 1) % N_BASES);
    size_t n = base[b].n, cap = n + 4096;
    uint8_t *f = malloc(cap);
    FZ_ASSERT(f, "out of memory");
    memcpy(f, base[b].bytes, n);
    for (int k = 0; p < end && k < 64; k++) {
        int op = (int)(fz_take(&p, end, 1) % N_OPS);
        size_t at = take_offset(&p, end, n);
        size_t len = (size_t)fz_take(&p, end, 1) + 1;
        switch (op) {
        case OP_PATCH:
            for (size_t i = 0; i < len && at + i < n && p < end; i++)
                f[at + i] = (uint8_t)fz_take(&p, end, 1);
            break;
        case OP_XOR:
            if (at < n) f[at] ^= (uint8_t)(fz_take(&p, end, 1) | 1);
            break;
        case OP_ZERO:
            len *= 16;
            for (size_t i = 0; i < len && at + i < n; i++)
                f[at + i] = 0;
            break;
        case OP_TRUNCATE:
            n = at;
            break;
        case OP_APPEND:
            for (size_t i = 0; i < len && n < cap; i++)
                f[n++] = (uint8_t)fz_take(&p, end, 1);
            break;
        default: { /* copy a run of the file's own bytes elsewhere in it */
            size_t to = take_offset(&p, end, n);
            for (size_t i = 0; i < len && at + i < n && to + i < n; i++)
                f[to + i] = f[at + i];
            break;
        }
        }
    }
    char path[512];
    fz_path(path, sizeof path, "damaged.h5");
    fz_write(path, f, n);
    /* MS_FUZZ_KEEP=FILE: also keep the damaged file there (to try a
     * finding with `modsweep status` or a resume). */
    const char *keep = getenv("MS_FUZZ_KEEP");
    if (keep && *keep) fz_write(keep, f, n);
    free(f);
    read_and_remove(path, &base[b].g);
    return 0;
}
