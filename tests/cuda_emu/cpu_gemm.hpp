#pragma once
// Plain CPU loops standing in for chronoscale::cuda::gemm and column_sum (cuda/gemm.cuh) in the
// emulator harnesses that run host code (host_glue.cpp, harness_train.cpp): "device" memory is
// host memory there, and the GEMM and column-sum kernels are checked on their own (harness.cpp).
#include <cuda_runtime.h>  // tests/cuda_emu/include: the emulator

#include <cstdint>
#include <cstring>

namespace chronoscale {
inline namespace v1 {
namespace cuda {

/// C = op(A) op(B) (row-major, op = transpose where ta / tb); the stream is ignored.
template <class T>
void gemm(cudaStream_t, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A,
          int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      T s = T(0);
      for (int64_t k = 0; k < K; ++k)
        s += (ta ? A[k * lda + m] : A[m * lda + k]) * (tb ? B[n * ldb + k] : B[k * ldb + n]);
      C[m * ldc + n] = s;
    }
}

/// gemm of bf16 storage (uint16_t: the upper half of a float32) into float32.
inline void gemm_bf16(cudaStream_t, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                      const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float* C,
                      int64_t ldc) {
  auto f = [](uint16_t h) {
    const uint32_t u = static_cast<uint32_t>(h) << 16;
    float x;
    std::memcpy(&x, &u, sizeof(x));
    return x;
  };
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float s = 0.0f;
      for (int64_t k = 0; k < K; ++k)
        s += f(ta ? A[k * lda + m] : A[m * lda + k]) * f(tb ? B[n * ldb + k] : B[k * ldb + n]);
      C[m * ldc + n] = s;
    }
}

/// Whether gemm_tf32 emulates TF32 tensor cores (set by the harness: emu_tf32_cores): each
/// operand truncated to TF32 (its low 13 mantissa bits dropped: the coarser of the two ways a
/// tensor core may read a float32), products accumulated in float32. Off: a device without
/// them, where gemm_tf32 is the float32 product.
inline bool g_tf32_cores = false;

inline float tf32_truncate(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  u &= 0xffffe000u;
  std::memcpy(&x, &u, sizeof(x));
  return x;
}

inline void gemm_tf32(cudaStream_t s, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                      const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                      int64_t ldc) {
  if (!g_tf32_cores) return gemm<float>(s, ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k)
        acc += tf32_truncate(ta ? A[k * lda + m] : A[m * lda + k]) *
               tf32_truncate(tb ? B[n * ldb + k] : B[k * ldb + n]);
      C[m * ldc + n] = acc;
    }
}

/// out[c] = sum over the rows of A[r, c] (row stride ld); the stream is ignored.
template <class T>
void column_sum(cudaStream_t, const T* A, int64_t rows, int64_t cols, int64_t ld, T* out) {
  for (int64_t c = 0; c < cols; ++c) {
    T s = T(0);
    for (int64_t r = 0; r < rows; ++r) s += A[r * ld + c];
    out[c] = s;
  }
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
