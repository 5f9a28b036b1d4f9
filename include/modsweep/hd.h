/* MS_HD marks a function compiled for both the host and the device under
 * nvcc (__host__ __device__); a plain C compiler sees nothing. Used by the
 * headers shared between src/ and cuda/ (philox.h, canon.h, prune_dev.h,
 * kernels.h). */
#ifndef MODSWEEP_HD_H
#define MODSWEEP_HD_H

#ifdef __CUDACC__
#define MS_HD __host__ __device__
#else
#define MS_HD
#endif

#endif
