/* The GPU of a process (gpu.h): counting devices without aborting when there
 * is none, binding one by node-local rank, device memory, device splits, and
 * NCCL teams. */
#include "common.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ms_gpu_ctx_t ms__gpu = {-1, 0, 0, 0, 0};

extern "C" int ms_gpu_built(void) { return 1; }

extern "C" int ms_gpu_count(char *why) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (why)
            snprintf(why, 256, "the CUDA runtime reports %s (%s)", cudaGetErrorName(e),
                     cudaGetErrorString(e));
        (void)cudaGetLastError(); /* not sticky, but leave no error behind */
        return 0;
    }
    if (n == 0 && why) snprintf(why, 256, "no CUDA device is visible");
    return n;
}

extern "C" void ms_gpu_release(void) {
    if (ms__gpu.device < 0) return;
    cudaStreamSynchronize(ms__gpu.stream);
    cudaFree(ms__gpu.scratch);
    cublasDestroy(ms__gpu.cublas);
    cudaStreamDestroy(ms__gpu.stream);
    memset(&ms__gpu, 0, sizeof ms__gpu);
    ms__gpu.device = -1;
}

extern "C" int ms_gpu_init(int device) {
    if (ms__gpu.device == device) return 0;
    ms_gpu_release();
    char why[256] = "";
    const int n = ms_gpu_count(why);
    if (device < 0 || device >= n)
        return ms_err_set(MS_ENOGPU, "GPU %d is not usable (%d visible%s%s)", device, n,
                          why[0] ? ": " : "", why);
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaStreamCreate(&ms__gpu.stream);
    if (e != cudaSuccess)
        return ms_err_set(MS_ENOGPU, "cannot use GPU %d: %s (%s)", device, cudaGetErrorName(e),
                          cudaGetErrorString(e));
    cublasStatus_t s = cublasCreate(&ms__gpu.cublas);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(ms__gpu.cublas, ms__gpu.stream);
    /* FP32 arithmetic (no TF32), no atomics: deterministic results. */
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetMathMode(ms__gpu.cublas, CUBLAS_DEFAULT_MATH);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasSetAtomicsMode(ms__gpu.cublas, CUBLAS_ATOMICS_NOT_ALLOWED);
    if (s != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(ms__gpu.stream);
        return ms_err_set(MS_ENOGPU, "cannot start cuBLAS on GPU %d: %s", device,
                          cublasGetStatusString(s));
    }
    e = cudaMalloc(&ms__gpu.scratch, MS_GPU_SCRATCH);
    if (e != cudaSuccess) {
        cublasDestroy(ms__gpu.cublas);
        cudaStreamDestroy(ms__gpu.stream);
        return ms_err_set(MS_ENOGPU, "cannot allocate scratch on GPU %d: %s", device,
                          cudaGetErrorString(e));
    }
    cudaDeviceGetAttribute(&ms__gpu.sm_count, cudaDevAttrMultiProcessorCount, device);
    ms__gpu.device = device;
    return 0;
}

extern "C" int ms_gpu_bind(MPI_Comm comm, int *device) {
    MPI_Comm node;
    int local = 0, rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return ms_err_set(MS_EMPI, "rank %d: cannot find the ranks of its node", rank);
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    char why[256] = "", host[64] = "";
    gethostname(host, sizeof host - 1);
    const int n = ms_gpu_count(why);
    if (n < 1) return ms_err_set(MS_ENOGPU, "rank %d on %s: no usable GPU: %s", rank, host, why);
    const int dev = local % n;
    const int rc = ms_gpu_init(dev);
    if (rc) return ms_err_wrap(rc, "rank %d on %s: ", rank, host);
    if (device) *device = dev;
    return 0;
}

extern "C" int ms_gpu_device(void) { return ms__gpu.device; }

extern "C" void ms_gpu_describe(char *name, size_t n, double *peak_gflops) {
    if (name && n) name[0] = 0;
    if (peak_gflops) *peak_gflops = 0;
    if (ms__gpu.device < 0) return;
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, ms__gpu.device) != cudaSuccess) return;
    if (name && n) snprintf(name, n, "%s", p.name);
    int khz = 0;
    cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, ms__gpu.device);
    /* FP32 lanes per SM: 64 on sm_60/70/75/80, 128 on sm_86/89/90 and later. */
    const int lanes = p.major >= 9 || (p.major == 8 && p.minor >= 6) ? 128 : 64;
    if (peak_gflops) *peak_gflops = 2.0 * lanes * p.multiProcessorCount * (khz * 1e-6);
}

/* ---- device memory ---------------------------------------------------------------------- */

extern "C" int ms_gpu_alloc(void **p, size_t bytes) {
    *p = NULL;
    MS_GPU_NEED_CTX();
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e == cudaSuccess) e = cudaMemsetAsync(*p, 0, bytes ? bytes : 1, ms__gpu.stream);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        if (*p) cudaFree(*p);
        *p = NULL;
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return ms_err_set(MS_ENOMEM, "cannot allocate %zu bytes on GPU %d (%zu of %zu free): %s",
                          bytes, ms__gpu.device, free_b, total_b, cudaGetErrorString(e));
    }
    return 0;
}

extern "C" void ms_gpu_free(void *p) {
    if (!p) return;
    /* cudaFree waits for the device, so queued work reading p is done. */
    cudaCheck(cudaFree(p));
}

extern "C" int ms_gpu_h2d(void *dst, const void *src, size_t bytes) {
    if (!bytes) return 0;
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ms__gpu.stream));
    return 0;
}

extern "C" int ms_gpu_d2h(void *dst, const void *src, size_t bytes) {
    if (bytes) cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ms__gpu.stream));
    cudaCheck(cudaStreamSynchronize(ms__gpu.stream));
    return 0;
}

extern "C" int ms_gpu_zero(void *dst, size_t bytes) {
    if (bytes) cudaCheck(cudaMemsetAsync(dst, 0, bytes, ms__gpu.stream));
    return 0;
}

extern "C" int ms_gpu_sync(void) {
    cudaCheck(cudaStreamSynchronize(ms__gpu.stream));
    return 0;
}

/* ---- splits ---------------------------------------------------------------------------------- */

extern "C" int ms_gpu_split_upload(ms_gpu_split_t *d, const ms_split_t *s) {
    memset(d, 0, sizeof *d);
    d->n = s->n;
    d->D = (size_t)s->c * s->h * s->w;
    int32_t *order = (int32_t *)malloc(sizeof(int32_t) * (size_t)(s->n ? s->n : 1));
    if (!order) return ms_err_set(MS_ENOMEM, "cannot upload a split: out of host memory");
    /* Image indices grouped by class, ascending within each class. */
    int count[MS_MAX_CLASSES + 1] = {0};
    for (int i = 0; i < s->n; i++) count[s->y[i] + 1]++;
    for (int c = 0; c < MS_MAX_CLASSES; c++) count[c + 1] += count[c];
    memcpy(d->class_off, count, sizeof d->class_off);
    for (int i = 0; i < s->n; i++) order[count[s->y[i]]++] = i;
    int rc = ms_gpu_alloc((void **)&d->x, sizeof(float) * d->D * s->n);
    if (!rc) rc = ms_gpu_alloc((void **)&d->y, (size_t)s->n);
    if (!rc) rc = ms_gpu_alloc((void **)&d->by_class, sizeof(int32_t) * s->n);
    if (!rc) rc = ms_gpu_h2d(d->x, s->x, sizeof(float) * d->D * s->n);
    if (!rc) rc = ms_gpu_h2d(d->y, s->y, (size_t)s->n);
    if (!rc) rc = ms_gpu_h2d(d->by_class, order, sizeof(int32_t) * s->n);
    if (!rc) rc = ms_gpu_sync();
    free(order);
    if (rc) ms_gpu_split_free(d);
    return rc;
}

extern "C" void ms_gpu_split_free(ms_gpu_split_t *d) {
    ms_gpu_free(d->x);
    ms_gpu_free(d->y);
    ms_gpu_free(d->by_class);
    memset(d, 0, sizeof *d);
}

/* ---- teams of GPU ranks ---------------------------------------------------------------------- */

struct ms_gpu_team {
#if MODSWEEP_HAVE_NCCL
    ncclComm_t comm;
#endif
    int size;
};

extern "C" int ms_gpu_team_init(ms_gpu_team_t **team, MPI_Comm comm) {
    *team = NULL;
    int size = 1, rank = 0;
    MPI_Comm_size(comm, &size);
    MPI_Comm_rank(comm, &rank);
    if (size < 2) return 0;
#if MODSWEEP_HAVE_NCCL
    /* NCCL needs one GPU per rank: when two ranks of the team share a GPU
     * (same host and device), the team uses MPI instead. */
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    unsigned long long key = 1469598103934665603ull;
    for (const char *c = host; *c; c++) key = (key ^ (unsigned char)*c) * 1099511628211ull;
    key = key * 131 + (unsigned long long)(ms__gpu.device + 1);
    unsigned long long *keys = (unsigned long long *)malloc(sizeof(unsigned long long) * size);
    if (!keys) return ms_err_set(MS_ENOMEM, "team of %d GPU ranks: out of memory", size);
    MPI_Allgather(&key, 1, MPI_UNSIGNED_LONG_LONG, keys, 1, MPI_UNSIGNED_LONG_LONG, comm);
    int shared = ms__gpu.device < 0;
    for (int a = 0; a < size; a++)
        for (int b = a + 1; b < size; b++) shared |= keys[a] == keys[b];
    free(keys);
    int any = 0;
    MPI_Allreduce(&shared, &any, 1, MPI_INT, MPI_MAX, comm);
    if (any) return 0;
    ncclUniqueId id;
    if (rank == 0) ncclCheck(ncclGetUniqueId(&id));
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm);
    ms_gpu_team_t *t = (ms_gpu_team_t *)calloc(1, sizeof *t);
    if (!t) return ms_err_set(MS_ENOMEM, "team of %d GPU ranks: out of memory", size);
    const ncclResult_t r = ncclCommInitRank(&t->comm, size, id, rank);
    if (r != ncclSuccess) {
        free(t);
        return ms_err_set(MS_ENOGPU, "team of %d GPU ranks: ncclCommInitRank failed: %s", size,
                          ncclGetErrorString(r));
    }
    t->size = size;
    *team = t;
#endif
    return 0;
}

extern "C" void ms_gpu_team_free(ms_gpu_team_t *team) {
    if (!team) return;
#if MODSWEEP_HAVE_NCCL
    ncclCommDestroy(team->comm);
#endif
    free(team);
}

extern "C" int ms_gpu_team_bcast(ms_gpu_team_t *team, float *buf, size_t n, int root) {
    if (!team) return ms_err_set(MS_EINVAL, "no NCCL team: broadcast through MPI");
#if MODSWEEP_HAVE_NCCL
    ncclCheck(ncclBroadcast(buf, buf, n, ncclFloat32, root, team->comm, ms__gpu.stream));
#endif
    return 0;
}

extern "C" int ms_gpu_team_min_i32(ms_gpu_team_t *team, const int32_t *src, int32_t *dst) {
    if (!team) return ms_err_set(MS_EINVAL, "no NCCL team: reduce through MPI");
#if MODSWEEP_HAVE_NCCL
    ncclCheck(ncclAllReduce(src, dst, 1, ncclInt32, ncclMin, team->comm, ms__gpu.stream));
#endif
    return 0;
}
