/* Double-precision references of the clusterability regulariser and of one
 * step of the streaming gradient similarity (the GPU kernels of
 * kernels_gpu.h), written out plainly for the GPU tests: test_cuda_kernels.c
 * checks the kernels against them, test_cuda_e2e.c trains with them on the
 * CPU through the trainer's hooks. */
#ifndef MS_CLUSTER_REF_H
#define MS_CLUSTER_REF_H

#include <stddef.h>
#include <stdint.h>

/* f = sum inside W^2 / sum W^2 (double) for W (O, NI) and the partition rc
 * (O), cc (NI); when lambda != 0, grad += -lambda * 2 W (m - f) / sum W^2. */
static inline double ref_clusterability(const float *w, const int32_t *rc, const int32_t *cc, int O,
                                        int NI, float lambda, float *grad) {
    double in = 0, all = 0;
    for (int i = 0; i < O; i++)
        for (int j = 0; j < NI; j++) {
            const double v = w[(size_t)i * NI + j];
            all += v * v;
            if (rc[i] == cc[j]) in += v * v;
        }
    const double f = all > 0 ? in / all : 0;
    if (all > 0 && lambda != 0)
        for (int i = 0; i < O; i++)
            for (int j = 0; j < NI; j++) {
                const double m = rc[i] == cc[j] ? 1 : 0;
                grad[(size_t)i * NI + j] +=
                    (float)(-2.0 * lambda / all * (double)w[(size_t)i * NI + j] * (m - f));
            }
    return f;
}

/* S (NI, NI) += g^T g / ||g||^2 for the gradient g (O, NI) of one step
 * (nothing for a zero gradient), in double. */
static inline void ref_gradsim_add(double *S, const float *g, int O, int NI) {
    double n2 = 0;
    for (size_t e = 0; e < (size_t)O * NI; e++)
        n2 += (double)g[e] * g[e];
    if (n2 > 0)
        for (int a = 0; a < NI; a++)
            for (int b = 0; b < NI; b++) {
                double s = 0;
                for (int o = 0; o < O; o++)
                    s += (double)g[(size_t)o * NI + a] * g[(size_t)o * NI + b];
                S[(size_t)a * NI + b] += s / n2;
            }
}

#endif
