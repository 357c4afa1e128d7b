// Count feature and causal closed-window counts of the multi-scale driver.
#include "multiscale.hpp"

#include <cmath>

#include "parallel.hpp"
#include "pool.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void append_count_feature(int64_t rows, int64_t I, const int64_t* counts, T* z) {
  for (int64_t r = 0; r < rows; ++r)
    z[r * I + I - 1] = static_cast<T>(std::log1p(static_cast<double>(counts[r])));
}

void closed_before(const ScaleSpec& scale, int64_t B, int64_t T, const int64_t* len,
                   const int64_t* ts, const int64_t* out_len, const int64_t* first, int64_t* out) {
  parallel_for(B, T, [&](int64_t b) {
    const int64_t L = len ? len[b] : T;
    int64_t* o = out + b * T;
    for (int64_t t = 0; t < T; ++t) {
      int64_t n = 0;
      if (t >= L) {
        n = 0;
      } else if (scale.kind == ScaleKind::count) {
        // window j holds events [j*stride, j*stride + size): closed before t iff its end <= t
        const int64_t size = scale.count.size,
                      stride = scale.count.stride ? scale.count.stride : size;
        n = t >= size ? (t - size) / stride + 1 : 0;
      } else {
        // window k ends at origin + (k+1)*window: closed iff k < floor((ts - origin) / window)
        const TimeWindow& w = scale.time;
        n = time_window_index(ts[b * T + t], w.origin, w.window) - first[b];
      }
      o[t] = n < 0 ? 0 : (n > out_len[b] ? out_len[b] : n);
    }
  });
}

template void append_count_feature<float>(int64_t, int64_t, const int64_t*, float*);
template void append_count_feature<double>(int64_t, int64_t, const int64_t*, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
