#pragma once
// CUDA row gather / scatter: the functions of cpp/src/cpu/rows.hpp with a trailing stream
// (cudaStream_t as void*). Plain C++ header, included by cpp/src/rows.cpp.
#include "chronoscale/rows.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void gather_rows(const RowsDims& d, const T* src, const int64_t* index, T* out, void* stream);
template <class T>
void scatter_rows(const RowsDims& d, const T* g, const int64_t* index, T* out, void* stream);

void window_rows(const WindowRowsArgs& a, int64_t* rows, void* stream);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
