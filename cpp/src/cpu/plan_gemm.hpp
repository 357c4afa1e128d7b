#pragma once
// Small-batch GEMM for inference plans: C [M, N] = init + A [M, K] @ W^T, with W [N, K] packed
// once (at plan build) into panels of NR columns, each panel [K, NR] contiguous and 64-byte
// aligned. The micro-kernels keep MR x NP panels of accumulators in registers (GCC/Clang vector
// extensions, no intrinsics) and stream the packed panels, so M = 1 (a recurrent step at B = 1)
// runs at load bandwidth with no packing or library call overhead. Every output element is
// accumulated in the same order (init, then k = 0 .. K-1, fused multiply-add where the target
// has it) whatever the blocking, so a row's result does not depend on M.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// Grow-only 64-byte aligned array (no copy on growth; contents are not preserved).
template <class T>
class AlignedBuf {
 public:
  AlignedBuf() = default;
  ~AlignedBuf() { std::free(p_); }
  AlignedBuf(AlignedBuf&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  AlignedBuf& operator=(AlignedBuf&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;

  /// Make room for at least n elements (zero-filled when it reallocates).
  void reserve(int64_t n) {
    if (n <= n_) return;
    const size_t bytes = (static_cast<size_t>(n) * sizeof(T) + 63) / 64 * 64;
    void* q = std::aligned_alloc(64, bytes);
    if (!q) throw std::bad_alloc();
    std::memset(q, 0, bytes);
    std::free(p_);
    p_ = static_cast<T*>(q);
    n_ = n;
  }
  T* get() const { return p_; }
  int64_t size() const { return n_; }
  int64_t bytes() const { return n_ * static_cast<int64_t>(sizeof(T)); }

 private:
  T* p_ = nullptr;
  int64_t n_ = 0;
};

/// Columns per panel: two 32-byte vectors (16 floats, 8 doubles).
template <class T>
constexpr int64_t kPanel = 64 / sizeof(T);

/// W [N, K] packed in panels, plus an initial row `bias` [N] (zeros when absent) padded to whole
/// panels.
template <class T>
struct PackedWeight {
  int64_t N = 0, K = 0, panels = 0;
  AlignedBuf<T> data;  // panels * K * kPanel
  AlignedBuf<T> bias;  // panels * kPanel

  /// at(n, k) gives W[n, k]; b (or nullptr) gives bias[n].
  template <class At, class Bias>
  void pack(int64_t n_rows, int64_t k_cols, At at, Bias b) {
    constexpr int64_t NR = kPanel<T>;
    N = n_rows;
    K = k_cols;
    panels = (N + NR - 1) / NR;
    data.reserve(panels * K * NR > 0 ? panels * K * NR : 1);
    bias.reserve(panels * NR > 0 ? panels * NR : 1);
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < NR; ++j) {
          const int64_t n = p * NR + j;
          data.get()[(p * K + k) * NR + j] = n < N ? at(n, k) : T(0);
        }
    for (int64_t n = 0; n < N; ++n) bias.get()[n] = b(n);
  }
  int64_t bytes() const { return data.bytes() + bias.bytes(); }
};

/// C[m, :N] = (accumulate ? C[m, :N] : W.bias) + A[m, :K] @ W^T for m < M.
/// A rows are lda apart, C rows ldc apart; C must not alias A.
template <class T>
void gemm_packed(int64_t M, const T* A, int64_t lda, const PackedWeight<T>& W, T* C, int64_t ldc,
                 bool accumulate);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
