#pragma once
// Threading helpers: OpenMP when built with it, serial otherwise. Small work stays serial so the
// B = 1 path pays no fork/join.
#include <atomic>
#include <cstdint>
#include <exception>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace chronoscale {
inline namespace v1 {
namespace cpu {

constexpr int64_t kParallelGrain = 32768;  // elements of work below which loops stay serial

/// The first exception thrown by the threads of a parallel region, rethrown after the region:
/// one escaping an OpenMP region would terminate the process (a size check or an allocation
/// failing in a worker). Not for regions with barriers (see parallel_team).
class RegionError {
 public:
  /// Runs f, keeping its exception (the first of the region's); false when it threw.
  template <class F>
  bool run(F&& f) noexcept {
    try {
      f();
      return true;
    } catch (...) {
#ifdef _OPENMP
#pragma omp critical(chronoscale_region_error)
#endif
      if (!error_) error_ = std::current_exception();
      return false;
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
};

/// chronoscale's thread count, 0 while not set (set_num_threads stores it). Process-wide,
/// unlike omp_set_num_threads, which sets it for the calling thread only: a service's worker
/// threads and Python threads calling in get the same count.
inline std::atomic<int> num_threads_setting{0};

/// Threads a parallel region would get: the setting above, else OpenMP's default (1 without
/// OpenMP).
inline int max_threads() {
#ifdef _OPENMP
  const int n = num_threads_setting.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;
#endif
}

template <class F>
inline void parallel_for(int64_t n, int64_t work_per_item, F&& f) {
#ifdef _OPENMP
  if (n > 1 && n * work_per_item >= kParallelGrain) {
    RegionError err;
#pragma omp parallel for schedule(static) num_threads(max_threads())
    for (int64_t i = 0; i < n; ++i) err.run([&] { f(i); });
    err.rethrow();
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) f(i);
}

/// Split [0, n) into one contiguous block per thread and run f(begin, end) on each, in parallel
/// when `work` (total scalar operations) is large enough. Threads never synchronise inside.
template <class F>
inline void parallel_blocks(int64_t n, int64_t work, F&& f) {
#ifdef _OPENMP
  int nth = max_threads();
  if (nth > n) nth = static_cast<int>(n);
  if (nth > 1 && work >= 4 * kParallelGrain) {
    RegionError err;
#pragma omp parallel num_threads(nth)
    {
      const int64_t tid = omp_get_thread_num(), k = omp_get_num_threads();
      const int64_t b0 = n * tid / k, b1 = n * (tid + 1) / k;
      if (b1 > b0) err.run([&] { f(b0, b1); });
    }
    err.rethrow();
    return;
  }
#endif
  f(int64_t(0), n);
}

/// Run a team of up to `nth` threads whose members may call barrier(): first setup(team) once,
/// on one member, with the size of the team OpenMP actually gave (it may give fewer threads than
/// asked: a thread limit, a call from inside another parallel region, dynamic adjustment), so
/// that the work is planned for the members that exist; then body(tid, team) on every member.
/// setup may throw (allocations belong there): its exception is rethrown after the region and
/// no member runs body. body must not throw: a member leaving early would leave the others
/// waiting at a barrier. Serial (setup(1), body(0, 1)) when nth <= 1.
template <class S, class F>
inline void parallel_team(int nth, S&& setup, F&& body) {
#ifdef _OPENMP
  if (nth > 1) {
    RegionError err;
    bool ready = false;
#pragma omp parallel num_threads(nth)
    {
      const int tid = omp_get_thread_num(), team = omp_get_num_threads();
#pragma omp single
      ready = err.run([&] { setup(team); });
      // (the single's implicit barrier publishes `ready` and what setup made)
      if (ready) body(tid, team);
    }
    err.rethrow();
    return;
  }
#endif
  (void)nth;
  setup(1);
  body(0, 1);
}

/// Wait for the other members of a parallel_team body's team of `team` threads. A no-op for a
/// team of one: the serial path opens no region of its own, and a bare barrier there would join
/// the caller's team (a call from inside the caller's own parallel region would then hang).
inline void barrier([[maybe_unused]] int team) {
#ifdef _OPENMP
  if (team > 1) {
#pragma omp barrier
  }
#endif
}

/// acc[j] += x[j], j < n.
template <class T>
inline void add_to(T* __restrict acc, const T* __restrict x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] += x[j];
}

/// out[j] = sum_i a[i * cols + j], i < rows (parallel over column blocks; deterministic).
template <class T>
inline void column_sum(const T* a, int64_t rows, int64_t cols, T* out) {
  constexpr int64_t kBlock = 64;
  const int64_t nblocks = (cols + kBlock - 1) / kBlock;
  parallel_for(nblocks, rows * kBlock, [&](int64_t blk) {
    const int64_t j0 = blk * kBlock, j1 = j0 + kBlock < cols ? j0 + kBlock : cols;
    T acc[kBlock] = {};
    for (int64_t i = 0; i < rows; ++i) {
      const T* r = a + i * cols;
      for (int64_t j = j0; j < j1; ++j) acc[j - j0] += r[j];
    }
    for (int64_t j = j0; j < j1; ++j) out[j] = acc[j - j0];
  });
}

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
