/* What every file of the CUDA backend shares: the C headers with C linkage,
 * the checked-call macros, and the process's GPU context (one device, one
 * stream, one cuBLAS handle, a small scratch buffer), set by ms_gpu_init.
 *
 * cudaCheck / cublasCheck / ncclCheck wrap calls whose failure the backend
 * cannot recover from (a kernel launch, a copy inside a training step): they
 * print the rank, time, file:line and the decoded error and end the run
 * (ms_fatal_at, which calls MPI_Abort once MPI is up). Calls that can fail
 * for a reason the user must hear about (no device, out of memory at init)
 * return an ms_err_t instead. */
#ifndef MODSWEEP_CUDA_COMMON_CUH
#define MODSWEEP_CUDA_COMMON_CUH

#include <mpi.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#if MODSWEEP_HAVE_NCCL
#include <nccl.h>
#endif

/* log.h is C11: its _Noreturn is C++'s [[noreturn]]. */
#define _Noreturn [[noreturn]]
extern "C" {
#include "modsweep/error.h"
#include "modsweep/gpu.h"
#include "modsweep/kernels_gpu.h"
#include "modsweep/log.h"
}

#define cudaCheck(call) ms__cuda_check((call), #call, __FILE__, __func__, __LINE__)
#define cublasCheck(call) ms__cublas_check((call), #call, __FILE__, __func__, __LINE__)
#if MODSWEEP_HAVE_NCCL
#define ncclCheck(call) ms__nccl_check((call), #call, __FILE__, __func__, __LINE__)
#endif

static inline void ms__cuda_check(cudaError_t e, const char *what, const char *file,
                                  const char *func, int line) {
    if (e != cudaSuccess)
        ms_fatal_at(file, func, line, "CUDA error %s (%s) in %s", cudaGetErrorName(e),
                    cudaGetErrorString(e), what);
}

static inline void ms__cublas_check(cublasStatus_t s, const char *what, const char *file,
                                    const char *func, int line) {
    if (s != CUBLAS_STATUS_SUCCESS)
        ms_fatal_at(file, func, line, "cuBLAS error %d (%s) in %s", (int)s,
                    cublasGetStatusString(s), what);
}

#if MODSWEEP_HAVE_NCCL
static inline void ms__nccl_check(ncclResult_t r, const char *what, const char *file,
                                  const char *func, int line) {
    if (r != ncclSuccess)
        ms_fatal_at(file, func, line, "NCCL error %d (%s) in %s", (int)r, ncclGetErrorString(r),
                    what);
}
#endif

/* The GPU context of this process. */
typedef struct ms_gpu_ctx {
    int device;             /* -1: none bound */
    cudaStream_t stream;
    cublasHandle_t cublas;
    void *scratch;          /* MS_GPU_SCRATCH bytes of device memory for reductions */
    int sm_count;
} ms_gpu_ctx_t;

#define MS_GPU_SCRATCH (1 << 20)

extern ms_gpu_ctx_t ms__gpu;

/* Aborts with a message when no GPU is bound (a programming error). */
#define MS_GPU_NEED_CTX()                                                                          \
    do {                                                                                           \
        if (ms__gpu.device < 0) ms_fatal("GPU kernel called before ms_gpu_init");                 \
    } while (0)

/* Checks the launch of the kernel just queued. */
#define MS_GPU_LAUNCHED() cudaCheck(cudaGetLastError())

/* Threads of the blocks that reduce (the trees below assume it). */
#define MS_GPU_THREADS 256

/* The sum of one value per thread of a block of MS_GPU_THREADS threads, in a
 * fixed tree, so the same inputs give the same bits; every thread gets it.
 * sh: MS_GPU_THREADS elements of shared memory. */
template <typename T> __device__ static inline T ms__block_sum(T v, T *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = MS_GPU_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] = sh[threadIdx.x] + sh[threadIdx.x + s];
        __syncthreads();
    }
    const T r = sh[0];
    __syncthreads();
    return r;
}

/* Blocks of `threads` covering n items, capped for grid-stride loops. */
static inline unsigned ms__blocks(size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    if (b < 1) b = 1;
    if (b > 65535u * 16u) b = 65535u * 16u;
    return (unsigned)b;
}

#endif
