#pragma once
// Per-call scratch arrays of the CPU kernels (uninitialised; at least one element, so that a
// zero-size case still gets a valid pointer).
#include <cstdint>
#include <memory>

namespace chronoscale {
inline namespace v1 {
namespace cpu {

template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[n > 0 ? n : 1]);
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
