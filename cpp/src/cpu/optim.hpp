#pragma once
// CPU kernels of the optimisers; inputs are validated by cpp/src/optim.cpp.
#include <cstdint>
#include <vector>

#include "chronoscale/optim.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, const AdamOptions& o);
/// One dense Adam update per slice (p, g, m, v of n elements, its own step); one parallel
/// region over all of them when the total is large, else serial.
template <class T>
struct AdamSlice {
  T* p;
  const T* g;
  T* m;
  T* v;
  int64_t n;
  int64_t step;
};
template <class T>
void adam_step_many(const std::vector<AdamSlice<T>>& slices, const AdamOptions& o);
template <class T>
void adam_step_rows(T* p, const int64_t* rows, int64_t U, int64_t D, const T* g, T* m, T* v,
                    const AdamOptions& o);
template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, const SgdOptions& o);
template <class T>
void sgd_step_rows(T* p, const int64_t* rows, int64_t U, int64_t D, const T* g, T* buf,
                   const SgdOptions& o);

/// sum of x[i]^2 in float64, from fixed-size chunks added in order (independent of threads).
template <class T>
double sum_squares(const T* x, int64_t n);
/// x *= s.
template <class T>
void scale(T* x, int64_t n, double s);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
