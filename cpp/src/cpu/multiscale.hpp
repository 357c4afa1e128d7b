#pragma once
// CPU pieces of the multi-scale driver that are neither pooling nor a cell: the count feature and
// the causal "windows closed before event t" counts.
#include <cstdint>

#include "chronoscale/multiscale.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

/// z[r, I - 1] = log1p(counts[r]) for the rows r < rows of z [rows, I].
template <class T>
void append_count_feature(int64_t rows, int64_t I, const int64_t* counts, T* z);

/// out [B, T]: scale steps closed strictly before each event (0 past the length). Count scales
/// read out_len; time scales also ts [B, T] and first [B] (the plan's first window).
void closed_before(const ScaleSpec& scale, int64_t B, int64_t T, const int64_t* len,
                   const int64_t* ts, const int64_t* out_len, const int64_t* first, int64_t* out);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
