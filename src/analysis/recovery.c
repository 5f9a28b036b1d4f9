/* Recovery of planted modules: the circuit's module share (recovery.h). */
#include "modsweep/recovery.h"

#include <math.h>

double ms_circuit_module_share(const uint8_t *mask, int n_out, int n_in, const int32_t *module,
                               int n_modules) {
    if (n_modules < 1 || n_modules > 64) return NAN;
    long total = 0, inside = 0;
    for (int j = 0; j < n_out; j++) {
        long cnt[64] = {0};
        const uint8_t *row = mask + (long)j * n_in;
        for (int i = 0; i < n_in; i++) {
            if (!row[i]) continue;
            total++;
            if (module[i] >= 0 && module[i] < n_modules) cnt[module[i]]++;
        }
        long best = 0;
        for (int b = 0; b < n_modules; b++)
            best = cnt[b] > best ? cnt[b] : best;
        inside += best;
    }
    return total ? (double)inside / (double)total : NAN;
}
