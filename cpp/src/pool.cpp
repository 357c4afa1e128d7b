// Device-neutral entry points of windowed pooling: validate once, then dispatch on device and
// dtype. The time-window plan (W depends on the data) also lives here.
#include "pool.hpp"

#include <limits>
#include <vector>

#include "cpu/pool.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "pool.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

const char* pool_mode_name(PoolMode mode) {
  switch (mode) {
    case PoolMode::max: return "max";
    case PoolMode::mean: return "mean";
    case PoolMode::sum: return "sum";
  }
  return "?";
}

namespace pool_detail {

namespace {

void check_i64(const Tensor& t, const char* name, std::initializer_list<int64_t> dims,
               const char* expect) {
  check::dtype(t, DType::int64, name);
  check::shape(t, name, dims, expect);
  CS_CHECK(t.device == Device::cpu, ValueError, name, " must be a host (NumPy) array");
}

// floor((ts - origin) / window) without overflow; ValueError when it does not fit int64.
__int128 window_index(const TimeWindow& win, int64_t ts, int64_t b, int64_t t) {
  const __int128 d = static_cast<__int128>(ts) - win.origin;
  __int128 q = d / win.window;
  if (d % win.window != 0 && d < 0) --q;
  constexpr int64_t lo = std::numeric_limits<int64_t>::min();
  constexpr int64_t hi = std::numeric_limits<int64_t>::max();
  CS_CHECK(q >= lo && q <= hi && q * win.window + win.origin >= lo, ValueError, "timestamps[",
           b, ", ", t, "] = ", ts, " is too far from origin = ", win.origin,
           " for a window of ", win.window, " s");
  return q;
}

}  // namespace

void check_mode(PoolMode mode) {
  CS_CHECK(mode == PoolMode::max || mode == PoolMode::mean || mode == PoolMode::sum, ValueError,
           "mode must be max, mean or sum, got ", static_cast<int>(mode));
}

CountWindow normalized(const CountWindow& win) {
  CS_CHECK(win.size >= 1, ValueError, "size must be >= 1, got ", win.size);
  CS_CHECK(win.stride >= 0, ValueError, "stride must be >= 1, got ", win.stride);
  return {win.size, win.stride ? win.stride : win.size, win.partial};
}

void check_time_window(const TimeWindow& win) {
  CS_CHECK(win.window > 0, ValueError, "window must be > 0 seconds, got ", win.window);
  CS_CHECK(win.max_windows >= 0, ValueError, "max_windows must be >= 1 (or absent), got ",
           win.max_windows);
}

void check_timestamps(const Tensor& ts, int64_t B, int64_t T) {
  check_i64(ts, "timestamps", {B, T}, "[B, T]");
}

int64_t time_plan(const TimeWindow& win, int64_t B, int64_t T, const int64_t* ts,
                  const int64_t* len, int64_t* out_len, int64_t* first) {
  int64_t W = 1;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = len ? len[b] : T;
    const int64_t* tb = ts + b * T;
    for (int64_t t = 1; t < L; ++t)
      CS_CHECK(tb[t] >= tb[t - 1], ValueError,
               "timestamps must be non-decreasing within each sequence: timestamps[", b, ", ", t,
               "] = ", tb[t], " < timestamps[", b, ", ", t - 1, "] = ", tb[t - 1], " (b = ", b,
               ", t = ", t, ")");
    if (L == 0) {
      out_len[b] = first[b] = 0;
      continue;
    }
    __int128 k0 = window_index(win, tb[0], b, 0);
    const __int128 k1 = window_index(win, tb[L - 1], b, L - 1);
    __int128 n = k1 - k0 + 1;
    if (win.max_windows > 0 && n > win.max_windows) {
      k0 = k1 - win.max_windows + 1;
      n = win.max_windows;
    }
    CS_CHECK(n <= kMaxTimeWindows, ValueError, "time pooling of sequence b = ", b,
             " spans more than ", kMaxTimeWindows, " windows of ", win.window,
             " s (timestamps ", tb[0], " to ", tb[L - 1],
             "): pass max_windows or use a larger window");
    out_len[b] = static_cast<int64_t>(n);
    first[b] = static_cast<int64_t>(k0);
    W = out_len[b] > W ? out_len[b] : W;
  }
  return W;
}

void count_plan(const CountWindow& win, int64_t B, int64_t T, int64_t W, const int64_t* len,
                int64_t* out_len, int64_t* counts) {
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = len ? len[b] : T;
    if (win.partial) out_len[b] = L / win.stride + (L % win.stride != 0);
    else out_len[b] = L >= win.size ? (L - win.size) / win.stride + 1 : 0;
    for (int64_t j = 0; j < W; ++j) {
      const int64_t left = L - j * win.stride;
      counts[b * W + j] = j < out_len[b] ? (left < win.size ? left : win.size) : 0;
    }
  }
}

void time_index(const TimeWindow& win, int64_t B, int64_t T, int64_t W, const int64_t* ts,
                const int64_t* len, const int64_t* out_len, const int64_t* first,
                int64_t* counts, int64_t* window_start, int64_t* event_step,
                int64_t* first_event) {
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = len ? len[b] : T;
    int64_t *cnt = counts + b * W, *fe = first_event + b * W, *es = event_step + b * T;
    for (int64_t j = 0; j < W; ++j) {
      cnt[j] = fe[j] = 0;
      window_start[b * W + j] =
          j < out_len[b]
              ? static_cast<int64_t>(win.origin + static_cast<__int128>(first[b] + j) * win.window)
              : 0;
    }
    for (int64_t t = 0; t < T; ++t) {
      const int64_t j =
          t < L ? cpu::time_window_index(ts[b * T + t], win.origin, win.window) - first[b] : -1;
      es[t] = j < 0 ? -1 : j;
      if (j < 0) continue;  // past the length, or before the last max_windows windows
      if (cnt[j]++ == 0) fe[j] = t;  // sorted timestamps: a window's events are contiguous
    }
  }
}

void check_argmax(const Tensor& argmax, const Tensor& x, const char* name, int64_t B, int64_t W,
                  int64_t C) {
  check::int64_like(argmax, x, name, "x", {B, W, C}, "[B, W, C]");
}

void check_count_cache(PoolMode mode, const CountWindow& win, int64_t B, int64_t T, int64_t C,
                       int64_t W, const PoolOutputs& f) {
  check_i64(f.counts, "cache.counts", {B, W}, "[B, W]");
  check_i64(f.out_lengths, "cache.out_lengths", {B}, "[B]");
  if (mode == PoolMode::max) {
    check::dtype(f.argmax, DType::int64, "cache.argmax");
    check::shape(f.argmax, "cache.argmax", {B, W, C}, "[B, W, C]");
  }
  const int64_t* ol = f.out_lengths.ptr<int64_t>();
  const int64_t* cnt = f.counts.ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    CS_CHECK(ol[b] >= 0 && ol[b] <= W, ValueError, "cache.out_lengths[", b, "] = ", ol[b],
             " is outside [0, W] with W = ", W);
    for (int64_t j = 0; j < ol[b]; ++j) {
      const int64_t n = cnt[b * W + j];
      CS_CHECK(n >= 1 && n <= win.size && j * win.stride + n <= T, ValueError, "cache.counts[",
               b, ", ", j, "] = ", n, " does not fit the window (cache from another call?)");
    }
  }
  if (mode != PoolMode::max || f.argmax.device != Device::cpu) return;
  const int64_t* am = f.argmax.ptr<int64_t>();
  for (int64_t i = 0; i < B * W * C; ++i)
    CS_CHECK(am[i] >= -1 && am[i] < T, ValueError, "cache.argmax holds ", am[i],
             ", outside [-1, T) with T = ", T);
}

void check_time_cache(PoolMode mode, int64_t B, int64_t T, int64_t C, int64_t W,
                      const PoolOutputs& f) {
  check_i64(f.counts, "cache.counts", {B, W}, "[B, W]");
  check_i64(f.out_lengths, "cache.out_lengths", {B}, "[B]");
  check_i64(f.event_step, "cache.event_step", {B, T}, "[B, T]");
  if (mode == PoolMode::max) {
    check::dtype(f.argmax, DType::int64, "cache.argmax");
    check::shape(f.argmax, "cache.argmax", {B, W, C}, "[B, W, C]");
  }
  const int64_t *ol = f.out_lengths.ptr<int64_t>(), *cnt = f.counts.ptr<int64_t>(),
                *es = f.event_step.ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    CS_CHECK(ol[b] >= 0 && ol[b] <= W, ValueError, "cache.out_lengths[", b, "] = ", ol[b],
             " is outside [0, W] with W = ", W);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t j = es[b * T + t];
      CS_CHECK(j >= -1 && j < ol[b] && (j < 0 || cnt[b * W + j] >= 1), ValueError,
               "cache.event_step[", b, ", ", t, "] = ", j,
               " does not fit the windows (cache from another call?)");
    }
  }
  if (mode != PoolMode::max || f.argmax.device != Device::cpu) return;
  const int64_t* am = f.argmax.ptr<int64_t>();
  for (int64_t i = 0; i < B * W * C; ++i)
    CS_CHECK(am[i] >= -1 && am[i] < T, ValueError, "cache.argmax holds ", am[i],
             ", outside [-1, T) with T = ", T);
}

}  // namespace pool_detail

using namespace pool_detail;

namespace {

struct XDims {
  int64_t B, T, C;
};

XDims check_x(const Tensor& x) {
  const auto [B, T, C] = check::sequence(x, "x", "[B, T, C]");
  return {B, T, C};
}

void check_like(const Tensor& t, const Tensor& ref, const char* name, const char* ref_name,
                std::initializer_list<int64_t> dims, const char* expect) {
  check::like_shape(t, ref, name, ref_name, dims, expect);
}

// dy [B, W, C] with B, W from the cache's counts and T, C from dx [B, T, C].
PoolDims check_grads(const Tensor& dy, const PoolOutputs& fwd, const Tensor& dx) {
  check_i64(fwd.counts, "cache.counts", {-1, -1}, "[B, W]");
  const int64_t B = fwd.counts.shape[0], W = fwd.counts.shape[1];
  check::shape(dy, "dy", {B, W, -1}, "[B, W, C]");  // first: dx is allocated from dy's shape
  check::floating(dx, "dx");
  check::shape(dx, "dx", {B, -1, -1}, "[B, T, C]");
  const int64_t T = dx.shape[1], C = dx.shape[2];
  check_like(dy, dx, "dy", "x", {B, W, C}, "[B, W, C]");
  return {B, T, C, W};
}

const int64_t* ptr_or_null(const Tensor& t) { return t.defined() ? t.ptr<int64_t>() : nullptr; }
int64_t* out_or_null(const Tensor& t) { return t.defined() ? t.ptr<int64_t>() : nullptr; }

}  // namespace

int64_t count_pool_windows(const CountWindow& w, int64_t T) {
  const CountWindow win = normalized(w);
  if (win.partial) return T / win.stride + (T % win.stride != 0);
  CS_CHECK(T >= win.size, ValueError, "size = ", win.size,
           " is larger than the number of events T = ", T,
           " (pass partial=True to keep incomplete windows)");
  return (T - win.size) / win.stride + 1;
}

PoolDims count_pool_check(PoolMode mode, const CountWindow& w, const Tensor& x,
                          const Tensor& lengths) {
  check_mode(mode);
  const auto [B, T, C] = check_x(x);
  const int64_t W = count_pool_windows(w, T);
  check::lengths(lengths, B, T);
  check::cuda_usable(x, "count_pool", "x");
  return {B, T, C, W};
}

[[maybe_unused]] bool on_cuda(const Tensor& x) { return x.device == Device::cuda; }

// The CUDA branch is compiled only with CHRONOSCALE_WITH_CUDA; without it, check::cuda_usable
// has already thrown Unsupported for CUDA views.
#ifdef CHRONOSCALE_WITH_CUDA
#define CS_POOL_CUDA(cond, ...) \
  if (cond) return __VA_ARGS__;
#else
#define CS_POOL_CUDA(cond, ...) (void)stream;
#endif

void count_pool_forward(PoolMode mode, const CountWindow& w, const Tensor& x,
                        const Tensor& lengths, const PoolOutputs& out, void* stream) {
  const PoolDims dims = count_pool_check(mode, w, x, lengths);
  const int64_t B = dims.B, T = dims.T, C = dims.C, W = dims.W;
  check_like(out.y, x, "y", "x", {B, W, C}, "[B, W, C]");
  check_i64(out.counts, "counts", {B, W}, "[B, W]");
  check_i64(out.out_lengths, "out_lengths", {B}, "[B]");
  if (mode == PoolMode::max) check_argmax(out.argmax, x, "argmax", B, W, C);
  check::cuda_usable({{&x, "x"}, {&out.y, "y"}, {&out.argmax, "argmax"}}, "count_pool");
  const CountWindow win = normalized(w);
  int64_t* am = mode == PoolMode::max ? out.argmax.ptr<int64_t>() : nullptr;
  CS_DISPATCH_FLOAT(x.dtype, "count_pool", [&] {
    CS_POOL_CUDA(on_cuda(x), [&] {
      int64_t* counts = out.counts.ptr<int64_t>();
      count_plan(win, B, T, W, ptr_or_null(lengths), out.out_lengths.ptr<int64_t>(), counts);
      cuda::pool_forward<scalar_t>(mode, {B, T, C, W, C}, x.ptr<scalar_t>(), counts, nullptr,
                                   win.stride, out.y.ptr<scalar_t>(), am, stream);
    }());
    cpu::count_pool_forward<scalar_t>(mode, win, {B, T, C, W, C}, x.ptr<scalar_t>(),
                                      ptr_or_null(lengths), out.y.ptr<scalar_t>(),
                                      out.counts.ptr<int64_t>(), out.out_lengths.ptr<int64_t>(),
                                      am);
  });
}

void count_pool_backward(PoolMode mode, const CountWindow& w, const Tensor& dy,
                         const PoolOutputs& fwd, const Tensor& dx, void* stream) {
  check_mode(mode);
  const CountWindow win = normalized(w);
  const PoolDims dims = check_grads(dy, fwd, dx);
  const int64_t B = dims.B, T = dims.T, C = dims.C, W = dims.W;
  check_count_cache(mode, win, B, T, C, W, fwd);
  if (mode == PoolMode::max) check_argmax(fwd.argmax, dy, "cache.argmax", B, W, C);
  check::cuda_usable({{&dy, "dy"}, {&dx, "dx"}, {&fwd.argmax, "cache.argmax"}}, "count_pool");
  const int64_t* am = mode == PoolMode::max ? fwd.argmax.ptr<int64_t>() : nullptr;
  CS_DISPATCH_FLOAT(dy.dtype, "count_pool", [&] {
    CS_POOL_CUDA(on_cuda(dy), cuda::count_pool_backward<scalar_t>(
                                  mode, win.size, win.stride, {B, T, C, W, C},
                                  dy.ptr<scalar_t>(), fwd.counts.ptr<int64_t>(), am,
                                  dx.ptr<scalar_t>(), stream));
    cpu::count_pool_backward<scalar_t>(mode, win, {B, T, C, W, C}, dy.ptr<scalar_t>(),
                                       fwd.counts.ptr<int64_t>(), fwd.out_lengths.ptr<int64_t>(),
                                       am, dx.ptr<scalar_t>(), false);
  });
}

PoolDims time_pool_plan(PoolMode mode, const TimeWindow& win, const Tensor& x,
                        const Tensor& timestamps, const Tensor& lengths,
                        const Tensor& out_lengths, const Tensor& first_window) {
  check_mode(mode);
  check_time_window(win);
  const auto [B, T, C] = check_x(x);
  check_timestamps(timestamps, B, T);
  check::lengths(lengths, B, T);
  check::cuda_usable(x, "time_pool", "x");
  std::vector<int64_t> ol_tmp, first_tmp;
  int64_t *ol, *first;
  if (out_lengths.defined()) {
    check_i64(out_lengths, "out_lengths", {B}, "[B]");
    ol = out_lengths.ptr<int64_t>();
  } else {
    ol_tmp.resize(B);
    ol = ol_tmp.data();
  }
  if (first_window.defined()) {
    check_i64(first_window, "first_window", {B}, "[B]");
    first = first_window.ptr<int64_t>();
  } else {
    first_tmp.resize(B);
    first = first_tmp.data();
  }
  const int64_t W = time_plan(win, B, T, timestamps.ptr<int64_t>(), ptr_or_null(lengths), ol,
                              first);
  return {B, T, C, W};
}

void time_pool_forward(PoolMode mode, const TimeWindow& win, const Tensor& x,
                       const Tensor& timestamps, const Tensor& lengths, const PoolOutputs& out,
                       void* stream) {
  check::defined(out.out_lengths, "out_lengths");
  check::defined(out.first_window, "first_window");
  const PoolDims dims =
      time_pool_plan(mode, win, x, timestamps, lengths, out.out_lengths, out.first_window);
  const int64_t B = dims.B, T = dims.T, C = dims.C, W = dims.W;
  check_like(out.y, x, "y", "x", {B, W, C}, "[B, W, C]");
  check_i64(out.counts, "counts", {B, W}, "[B, W]");
  check_i64(out.window_start, "window_start", {B, W}, "[B, W]");
  check_i64(out.event_step, "event_step", {B, T}, "[B, T]");
  if (mode == PoolMode::max) check_argmax(out.argmax, x, "argmax", B, W, C);
  check::cuda_usable({{&x, "x"}, {&out.y, "y"}, {&out.argmax, "argmax"}}, "time_pool");
  int64_t* am = mode == PoolMode::max ? out_or_null(out.argmax) : nullptr;
  const int64_t *ol = out.out_lengths.ptr<int64_t>(), *first = out.first_window.ptr<int64_t>();
  CS_DISPATCH_FLOAT(x.dtype, "time_pool", [&] {
    CS_POOL_CUDA(on_cuda(x), [&] {
      std::vector<int64_t> first_event(B * W);
      int64_t* counts = out.counts.ptr<int64_t>();
      time_index(win, B, T, W, timestamps.ptr<int64_t>(), ptr_or_null(lengths), ol, first,
                 counts, out.window_start.ptr<int64_t>(), out.event_step.ptr<int64_t>(),
                 first_event.data());
      cuda::pool_forward<scalar_t>(mode, {B, T, C, W, C}, x.ptr<scalar_t>(), counts,
                                   first_event.data(), 0, out.y.ptr<scalar_t>(), am, stream);
    }());
    cpu::time_pool_forward<scalar_t>(mode, win, {B, T, C, W, C}, x.ptr<scalar_t>(),
                                     timestamps.ptr<int64_t>(), ptr_or_null(lengths), ol, first,
                                     out.y.ptr<scalar_t>(), out.counts.ptr<int64_t>(),
                                     out.window_start.ptr<int64_t>(),
                                     out.event_step.ptr<int64_t>(), am);
  });
}

void time_pool_backward(PoolMode mode, const Tensor& dy, const PoolOutputs& fwd, const Tensor& dx,
                        void* stream) {
  check_mode(mode);
  const PoolDims dims = check_grads(dy, fwd, dx);
  const int64_t B = dims.B, T = dims.T, C = dims.C, W = dims.W;
  check_time_cache(mode, B, T, C, W, fwd);
  if (mode == PoolMode::max) check_argmax(fwd.argmax, dy, "cache.argmax", B, W, C);
  check::cuda_usable({{&dy, "dy"}, {&dx, "dx"}, {&fwd.argmax, "cache.argmax"}}, "time_pool");
  const int64_t* am = mode == PoolMode::max ? fwd.argmax.ptr<int64_t>() : nullptr;
  CS_DISPATCH_FLOAT(dy.dtype, "time_pool", [&] {
    CS_POOL_CUDA(on_cuda(dy), cuda::time_pool_backward<scalar_t>(
                                  mode, {B, T, C, W, C}, dy.ptr<scalar_t>(),
                                  fwd.counts.ptr<int64_t>(), fwd.event_step.ptr<int64_t>(), am,
                                  dx.ptr<scalar_t>(), stream));
    cpu::time_pool_backward<scalar_t>(mode, {B, T, C, W, C}, dy.ptr<scalar_t>(),
                                      fwd.counts.ptr<int64_t>(), fwd.out_lengths.ptr<int64_t>(),
                                      fwd.event_step.ptr<int64_t>(), am, dx.ptr<scalar_t>(),
                                      false);
  });
}

#undef CS_POOL_CUDA

}  // namespace v1
}  // namespace chronoscale
