#pragma once
// CUDA optimiser steps: the functions of cpp/src/cpu/optim.hpp (device pointers; rows stay on
// the host and are copied) with a trailing stream (cudaStream_t as void*). Plain C++ header,
// included by cpp/src/optim.cpp.
#include <cstdint>
#include <vector>

#include "../cpp/src/cpu/optim.hpp"
#include "chronoscale/optim.hpp"
#include "chronoscale/tensor.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamOptions& o, void* stream);
/// Every slice in one launch (a table of fixed-size chunks, each with its slice's step).
template <class T>
void adam_step_many(const std::vector<cpu::AdamSlice<T>>& slices, const AdamOptions& o,
                    void* stream);
/// rows: host array of U distinct row ids.
template <class T>
void adam_step_rows(T* p, const int64_t* rows, int64_t U, int64_t D, const T* g, T* m, T* v,
                    const AdamOptions& o, void* stream);
template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, const SgdOptions& o, void* stream);
template <class T>
void sgd_step_rows(T* p, const int64_t* rows, int64_t U, int64_t D, const T* g, T* buf,
                   const SgdOptions& o, void* stream);

/// clip_grad_norm on CUDA arrays (float32 and float64 may be mixed): the squares are summed in
/// float64 in a fixed order, the clip factor is applied on the device, and the norm is copied
/// back (the call waits for the stream) when `read_norm`; otherwise NaN and no wait.
double clip_grad_norm(const std::vector<Tensor>& grads, double max_norm, void* stream,
                      bool read_norm);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
