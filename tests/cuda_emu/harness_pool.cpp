// C entry points (for ctypes) that run the CUDA pooling and embedding code (cuda/pool.cu,
// cuda/embedding.cu: kernels AND their host side) in the CPU emulator (emu.hpp), with the host
// plans of cpp/src/pool.cpp. tests/python/test_pool_cuda_emu.py builds it with
//   g++ -std=c++20 -shared -fPIC -fopenmp -I tests/cuda_emu/include -I cuda -I cpp/include
//       -I cpp/src tests/cuda_emu/harness_pool.cpp cpp/src/pool.cpp cpp/src/cpu/pool.cpp
// and compares the results with the CPU kernels of the real module. "Device" memory is host
// memory here, so the Python side passes NumPy buffers everywhere.
#include <cuda_runtime.h>  // tests/cuda_emu/include: the emulator

#include <exception>
#include <string>
#include <vector>

// Device atomics and the stream wait, which the shared emulator headers do not provide. Threads
// are coroutines on one OS thread that only switch at barriers, so a read-modify-write is atomic.
template <class T>
inline T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
inline long long atomicMin(long long* p, long long v) {
  const long long old = *p;
  if (v < old) *p = v;
  return old;
}

#include "../../cuda/embedding.cu"
#include "../../cuda/pool.cu"
#include "pool.hpp"  // cpp/src: the host plans

using namespace chronoscale;
using namespace chronoscale::cuda;
using namespace chronoscale::cuda::embedding_impl;
using namespace chronoscale::cuda::pool_impl;

namespace {

std::string g_error;

int fail(const std::exception& e) {
  g_error = e.what();
  return 1;
}

// One invoker per kernel: unpack the argument struct and run the launch. Kernels with static
// __shared__ arrays (the scans) run one block at a time.
template <class Args>
void reg(const void* f, void (*k)(Args), unsigned blocks_at_once = 0) {
  emu::kernel_registry()[f] = [k, blocks_at_once](void** args, dim3 g, dim3 b, size_t smem,
                                                  bool coop) {
    const Args a = *static_cast<Args*>(args[0]);
    emu::launch(g, b, smem, coop, emu::device().seed++, [&] { k(a); }, blocks_at_once);
  };
}

template <class T>
void register_type() {
  reg(reinterpret_cast<const void*>(&pool_forward_kernel<T>), &pool_forward_kernel<T>);
  reg(reinterpret_cast<const void*>(&count_pool_backward_kernel<T>),
      &count_pool_backward_kernel<T>);
  reg(reinterpret_cast<const void*>(&time_pool_backward_kernel<T>),
      &time_pool_backward_kernel<T>);
  reg(reinterpret_cast<const void*>(&gather_kernel<T>), &gather_kernel<T>);
  reg(reinterpret_cast<const void*>(&scatter_add_kernel<T>), &scatter_add_kernel<T>);
}

void register_all() {
  static bool done = false;
  if (done) return;
  done = true;
  register_type<float>();
  register_type<double>();
  reg(reinterpret_cast<const void*>(&check_ids_kernel), &check_ids_kernel);
  reg(reinterpret_cast<const void*>(&tile_sum_kernel), &tile_sum_kernel, 1);
  reg(reinterpret_cast<const void*>(&tile_offset_kernel), &tile_offset_kernel, 1);
  reg(reinterpret_cast<const void*>(&tile_scan_kernel), &tile_scan_kernel, 1);
}

}  // namespace

extern "C" {

/// A pooling forward + backward. Inputs: kind (0 count, 1 time), mode, the window, x [B, T, C],
/// ts [B, T] (time), len [B] (or null), dy [B, W, C]. Outputs: y [B, W, C], counts [B, W],
/// out_len [B], argmax [B, W, C] (max), first [B], window_start [B, W], event_step [B, T]
/// (time), dx [B, T, C]. W comes from the caller (the CPU op's W). With multiscale set, the
/// launch of cuda/multiscale.cu: y / dy are [B, W, C + 1] (log1p(count) in column C) and dx
/// must hold the gradient to add to.
struct EmuPool {
  int is_double, kind, mode, partial;
  int multiscale;  // the driver's launch: y / dy rows of C + 1 (count column), dx accumulated
  int64_t B, T, C, W;
  int64_t size, stride, window, origin, max_windows;
  uint32_t seed;
  const void* x;
  const int64_t *ts, *len;
  const void* dy;
  void* y;
  int64_t *counts, *out_len, *argmax, *first, *window_start, *event_step;
  void* dx;
};

const char* emu_pool_error() { return g_error.c_str(); }

}  // extern "C"

// The multi-scale driver's launches: one upload, count column, accumulated dx.
template <class T>
static void pool_run_driver(const EmuPool& p, const PoolShape& s, const int64_t* first_event,
                            int64_t size, int64_t stride) {
  const PoolMode mode = static_cast<PoolMode>(p.mode);
  int64_t* am = mode == PoolMode::max ? p.argmax : nullptr;
  HostUpload up;
  const int64_t oc = up.add(p.counts, p.B * p.W), of = up.add(first_event, p.B * p.W),
                oe = up.add(p.event_step, p.B * p.T);
  up.upload(nullptr);
  launch_pool_forward<T>(mode, s, static_cast<const T*>(p.x), up.at(oc),
                         first_event ? up.at(of) : nullptr, stride, static_cast<T*>(p.y), am,
                         true, nullptr);
  if (p.kind == 0)
    launch_count_pool_backward<T>(mode, size, stride, s, static_cast<const T*>(p.dy), up.at(oc),
                                  am, static_cast<T*>(p.dx), true, nullptr);
  else
    launch_time_pool_backward<T>(mode, s, static_cast<const T*>(p.dy), up.at(oc), up.at(oe), am,
                                 static_cast<T*>(p.dx), true, nullptr);
}

template <class T>
static void pool_run(const EmuPool& p) {
  const PoolMode mode = static_cast<PoolMode>(p.mode);
  const PoolShape s{p.B, p.T, p.C, p.W, p.multiscale ? p.C + 1 : p.C};
  int64_t* am = mode == PoolMode::max ? p.argmax : nullptr;
  if (p.kind == 0) {
    const CountWindow win = pool_detail::normalized({p.size, p.stride, p.partial != 0});
    pool_detail::count_plan(win, p.B, p.T, p.W, p.len, p.out_len, p.counts);
    if (p.multiscale) return pool_run_driver<T>(p, s, nullptr, win.size, win.stride);
    pool_forward<T>(mode, s, static_cast<const T*>(p.x), p.counts, nullptr, win.stride,
                    static_cast<T*>(p.y), am, nullptr);
    count_pool_backward<T>(mode, win.size, win.stride, s, static_cast<const T*>(p.dy), p.counts,
                           am, static_cast<T*>(p.dx), nullptr);
  } else {
    const TimeWindow win{p.window, p.origin, p.max_windows};
    const int64_t W = pool_detail::time_plan(win, p.B, p.T, p.ts, p.len, p.out_len, p.first);
    if (W != p.W) throw std::runtime_error("time plan: W differs from the CPU op's");
    std::vector<int64_t> first_event(p.B * p.W);
    pool_detail::time_index(win, p.B, p.T, p.W, p.ts, p.len, p.out_len, p.first, p.counts,
                            p.window_start, p.event_step, first_event.data());
    if (p.multiscale) return pool_run_driver<T>(p, s, first_event.data(), 1, 1);
    pool_forward<T>(mode, s, static_cast<const T*>(p.x), p.counts, first_event.data(), 0,
                    static_cast<T*>(p.y), am, nullptr);
    time_pool_backward<T>(mode, s, static_cast<const T*>(p.dy), p.counts, p.event_step, am,
                          static_cast<T*>(p.dx), nullptr);
  }
}

extern "C" int emu_pool(EmuPool* p) {
  try {
    register_all();
    emu::device().seed = p->seed;
    if (p->is_double) pool_run<double>(*p);
    else pool_run<float>(*p);
    return 0;
  } catch (const std::exception& e) {
    return fail(e);
  }
}

/// Embedding forward, dense and sparse backward. ids [B, T], table [V, D], len [B] (or null),
/// dy [B, T, D] -> y [B, T, D], dtable [V, D], rows [N] / grad [N, D] (N >= U); *U out.
struct EmuEmbedding {
  int is_double;
  int64_t B, T, V, D, N;
  uint32_t seed;
  const int64_t *ids, *len;
  const void *table, *dy;
  void *y, *dtable;
  int64_t* rows;
  void* grad;
  int64_t U;
};

template <class T>
static void embedding_run(EmuEmbedding& e) {
  const DType dt = e.is_double ? DType::float64 : DType::float32;
  const Device cu = Device::cuda;
  const Tensor ids(const_cast<int64_t*>(e.ids), DType::int64, {e.B, e.T}, cu);
  const Tensor table(const_cast<void*>(e.table), dt, {e.V, e.D}, cu);
  const Tensor len = e.len ? Tensor(const_cast<int64_t*>(e.len), DType::int64, {e.B}) : Tensor{};
  const Tensor dy(const_cast<void*>(e.dy), dt, {e.B, e.T, e.D}, cu);
  const EmbeddingDims d{e.B, e.T, e.V, e.D};
  cuda::embedding_forward<T>(d, ids, table, len, Tensor(e.y, dt, {e.B, e.T, e.D}, cu), nullptr);
  cuda::embedding_backward_dense<T>(d, dy, ids, len, Tensor(e.dtable, dt, {e.V, e.D}, cu),
                                    nullptr);
  e.U = cuda::embedding_backward_sparse<T>(d, dy, ids, len,
                                           Tensor(e.rows, DType::int64, {e.N}, cu),
                                           Tensor(e.grad, dt, {e.N, e.D}, cu), nullptr);
}

extern "C" int emu_embedding(EmuEmbedding* e) {
  try {
    register_all();
    emu::device().seed = e->seed;
    if (e->is_double) embedding_run<double>(*e);
    else embedding_run<float>(*e);
    return 0;
  } catch (const std::exception& ex) {
    return fail(ex);
  }
}
