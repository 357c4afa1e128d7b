// CPU kernels of the row gather / scatter. The gather runs one task per output row; the scatter
// splits the columns into cache-line blocks, one task per block, each adding every row in index
// order, so repeated indices sum in the same order for any thread count and no two threads
// write the same element.
#include "rows.hpp"

#include <algorithm>
#include <cstring>

#include "../window_rows_math.hpp"
#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void gather_rows(const RowsDims& d, const T* src, const int64_t* index, T* out) {
  const int64_t H = d.H;
  parallel_for(d.N, H, [&](int64_t n) {
    T* o = out + n * d.W + d.col;
    const int64_t v = index[n];
    if (v >= 0 && v < d.M) std::memcpy(o, src + v * H, sizeof(T) * H);
    else std::memset(o, 0, sizeof(T) * H);
  });
}

template <class T>
void scatter_rows(const RowsDims& d, const T* g, const int64_t* index, T* out) {
  constexpr int64_t kBlock = 64 / sizeof(T);  // columns per task: one cache line of out
  const int64_t H = d.H, blocks = (H + kBlock - 1) / kBlock;
  parallel_for(blocks, d.N * kBlock, [&](int64_t blk) {
    const int64_t k0 = blk * kBlock, k1 = std::min(H, k0 + kBlock);
    for (int64_t n = 0; n < d.N; ++n) {
      const int64_t v = index[n];
      if (v < 0 || v >= d.M) continue;
      T* o = out + v * H;
      const T* s = g + n * d.W + d.col;
#pragma omp simd
      for (int64_t k = k0; k < k1; ++k) o[k] += s[k];
    }
  });
}

void window_rows(const WindowRowsArgs& a, int64_t* rows) {
  const int64_t* b = a.b.ptr<int64_t>();
  const int64_t* t = a.t.ptr<int64_t>();
  const int64_t* len = a.lengths.defined() ? a.lengths.ptr<int64_t>() : nullptr;
  const int64_t* out_len = a.out_lengths.defined() ? a.out_lengths.ptr<int64_t>() : nullptr;
  const int64_t* closed = a.closed.defined() ? a.closed.ptr<int64_t>() : nullptr;
  parallel_for(a.b.shape[0], 8, [&](int64_t n) {
    rows[n] = window_rows_math::row_of(b[n], t[n], a.B, a.T, a.W, a.size, a.stride, len,
                                       out_len, closed);
  });
}

template void gather_rows<float>(const RowsDims&, const float*, const int64_t*, float*);
template void gather_rows<double>(const RowsDims&, const double*, const int64_t*, double*);
template void scatter_rows<float>(const RowsDims&, const float*, const int64_t*, float*);
template void scatter_rows<double>(const RowsDims&, const double*, const int64_t*, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
