#pragma once
// CPU kernels of the row gather / scatter; cuda/rows.cuh declares the same functions (plus a
// stream) in namespace cuda. Inputs are validated by cpp/src/rows.cpp.
#include "chronoscale/rows.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void gather_rows(const RowsDims& d, const T* src, const int64_t* index, T* out);
template <class T>
void scatter_rows(const RowsDims& d, const T* g, const int64_t* index, T* out);

void window_rows(const WindowRowsArgs& a, int64_t* rows);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
