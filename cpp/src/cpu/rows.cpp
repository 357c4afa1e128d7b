// CPU kernels of the row gather / scatter. The gather runs one task per output row. The scatter
// adds whole rows: with sorted indices each thread takes a range of runs of equal indices (no
// two threads write the same row), otherwise each thread takes a span of columns and adds every
// row. Either way every element sums its rows in index order, so the result is the same for any
// thread count.
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
    if (v >= 0 && v < d.M)
      std::memcpy(o, src + v * H, sizeof(T) * H);
    else
      std::memset(o, 0, sizeof(T) * H);
  });
}

namespace {

// Whether the valid indices (those in [0, M)) never decrease: the rows of one key then form one
// run (invalid entries may sit inside it), so a split between runs gives threads disjoint rows.
bool valid_sorted(const RowsDims& d, const int64_t* index) {
  int64_t last = -1;
  for (int64_t n = 0; n < d.N; ++n) {
    const int64_t v = index[n];
    if (v < 0 || v >= d.M) continue;
    if (v < last) return false;
    last = v;
  }
  return true;
}

// The first n >= p that starts a new run: past the invalid entries and the entries equal to the
// last valid index before p. Every thread computes its bounds with it, so the ranges tile [0, N).
int64_t run_start(const RowsDims& d, const int64_t* index, int64_t p) {
  if (p <= 0 || p >= d.N) return p;
  const auto valid = [&](int64_t v) { return v >= 0 && v < d.M; };
  int64_t q = p - 1;
  while (q >= 0 && !valid(index[q])) --q;
  if (q < 0) return p;
  const int64_t key = index[q];
  while (p < d.N && (!valid(index[p]) || index[p] == key)) ++p;
  return p;
}

}  // namespace

template <class T>
void scatter_rows(const RowsDims& d, const T* g, const int64_t* index, T* out) {
  const int64_t H = d.H;
  const auto add_rows = [&](int64_t n0, int64_t n1, int64_t k0, int64_t k1) {
    for (int64_t n = n0; n < n1; ++n) {
      const int64_t v = index[n];
      if (v < 0 || v >= d.M) continue;
      T* o = out + v * H;
      const T* s = g + n * d.W + d.col;
#pragma omp simd
      for (int64_t k = k0; k < k1; ++k) o[k] += s[k];
    }
  };
  if (valid_sorted(d, index)) {  // (the layers' window rows) whole rows, threads over runs
    parallel_blocks(d.N, d.N * H, [&](int64_t b0, int64_t b1) {
      add_rows(run_start(d, index, b0), run_start(d, index, b1), 0, H);
    });
    return;
  }
  // Any order: threads over column spans (whole cache lines), each adding every row in order.
  constexpr int64_t kLine = 64 / sizeof(T);
  const int64_t lines = (H + kLine - 1) / kLine;
  const int64_t spans = std::max<int64_t>(1, std::min<int64_t>(max_threads(), lines));
  const int64_t per = (lines + spans - 1) / spans * kLine;
  parallel_for(spans, d.N * per, [&](int64_t sp) {
    add_rows(0, d.N, std::min(H, sp * per), std::min(H, (sp + 1) * per));
  });
}

void window_rows(const WindowRowsArgs& a, int64_t* rows) {
  const int64_t* b = a.b.ptr<int64_t>();
  const int64_t* t = a.t.ptr<int64_t>();
  const int64_t* len = a.lengths.defined() ? a.lengths.ptr<int64_t>() : nullptr;
  const int64_t* out_len = a.out_lengths.defined() ? a.out_lengths.ptr<int64_t>() : nullptr;
  const int64_t* closed = a.closed.defined() ? a.closed.ptr<int64_t>() : nullptr;
  parallel_for(a.b.shape[0], 8, [&](int64_t n) {
    rows[n] =
        window_rows_math::row_of(b[n], t[n], a.B, a.T, a.W, a.size, a.stride, len, out_len, closed);
  });
}

template void gather_rows<float>(const RowsDims&, const float*, const int64_t*, float*);
template void gather_rows<double>(const RowsDims&, const double*, const int64_t*, double*);
template void scatter_rows<float>(const RowsDims&, const float*, const int64_t*, float*);
template void scatter_rows<double>(const RowsDims&, const double*, const int64_t*, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
