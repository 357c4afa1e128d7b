#pragma once
// CS_HOST_DEVICE: inline on the host, __host__ __device__ __forceinline__ under nvcc, for the
// scalar maths that the CPU kernels and the CUDA kernels share (cosine_math.hpp,
// window_rows_math.hpp, fusion_math.hpp).
#if defined(__CUDACC__)
#define CS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define CS_HOST_DEVICE inline
#endif
