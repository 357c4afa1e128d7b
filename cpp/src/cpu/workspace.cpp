// The calling thread's reusable scratch (see workspace_bytes in steps.hpp).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "steps.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {
namespace {

struct Scratch {
  std::unique_ptr<std::byte[]> kept;  // reused: the largest request up to kCap
  int64_t cap = 0;
  std::unique_ptr<std::byte[]> big;  // a request above kCap, until the next call
};
thread_local Scratch t_scratch;
constexpr int64_t kCap = int64_t(1) << 30;

}  // namespace

void* workspace_bytes(int64_t bytes) {
  Scratch& s = t_scratch;
  const int64_t n = bytes > 0 ? bytes : 1;
  s.big.reset();
  if (n > kCap) {
    s.big.reset(new std::byte[n]);
    return s.big.get();
  }
  if (n > s.cap) {
    s.kept.reset();  // (freed before the larger one is taken)
    s.kept.reset(new std::byte[n]);
    s.cap = n;
  }
  return s.kept.get();
}

void release_workspace() noexcept {
  Scratch& s = t_scratch;
  s.kept.reset();
  s.big.reset();
  s.cap = 0;
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
