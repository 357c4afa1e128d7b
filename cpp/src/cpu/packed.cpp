// CPU kernel of the packed running sums: one task per sequence, walking its steps in time order
// (reverse: back from its last step) with a row add that vectorises over the columns.
#include "packed.hpp"

#include <cstring>

#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void packed_cumsum(const PackedDims& d, const T* x, const Tensor& batch_sizes, bool reverse,
                   T* out) {
  const int64_t* bs = batch_sizes.ptr<int64_t>();
  const int64_t D = d.D, rows = d.T ? bs[0] : 0;
  parallel_for(rows, d.N / (rows ? rows : 1) * D, [&](int64_t r) {
    int64_t end = 0, off = 0;  // the sequence's steps; off: past its last block
    while (end < d.T && bs[end] > r) off += bs[end++];
    if (!reverse) off = 0;
    const T* prev = nullptr;  // the previous row of the sum (in the walk's direction)
    for (int64_t i = 0; i < end; ++i) {
      const int64_t t = reverse ? end - 1 - i : i;
      if (reverse) off -= bs[t];
      const T* s = x + (off + r) * D;
      T* o = out + (off + r) * D;
      if (!prev) std::memcpy(o, s, sizeof(T) * D);
      else {
#pragma omp simd
        for (int64_t c = 0; c < D; ++c) o[c] = prev[c] + s[c];
      }
      prev = o;
      if (!reverse) off += bs[t];
    }
  });
}

template void packed_cumsum<float>(const PackedDims&, const float*, const Tensor&, bool, float*);
template void packed_cumsum<double>(const PackedDims&, const double*, const Tensor&, bool,
                                    double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
