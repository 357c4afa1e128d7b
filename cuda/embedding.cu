// CUDA embedding (see embedding.cuh). Gather / scatter kernels run one thread per (position,
// column) with consecutive threads on consecutive columns (coalesced rows). The sparse gradient
// groups ids without sorting: a [V] mark table, a three-kernel exclusive scan over it (tile
// sums, scan of the tile sums, tile scans that also write the sorted rows), then atomicAdd into
// the compacted rows. Kernels take one argument struct and are launched with cudaLaunchKernel so
// that tests/cuda_emu can run them.
#include <cuda_runtime.h>

#include "cuda_check.hpp"
#include "cuda_lengths.cuh"
#include "device_buffer.cuh"
#include "embedding.cuh"
#include "grid_stride.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

// Named (not anonymous) so that the emulator harness can include pool.cu and this file together.
namespace embedding_impl {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535LL * 8;  // grid-stride loops cover the rest
constexpr int kScanThreads = 256;             // block size of the scan kernels
constexpr int64_t kScanTile = kScanThreads * 8;

struct IdsArgs {
  const int64_t* ids;
  const int64_t* len;  // null: all T
  int64_t B, T, V;
  long long* bad;  // first bad position (atomicMin); stays > B*T when none
  int64_t* mark;   // null, or [V] set to 1 at every used id
};

template <class T>
struct RowArgs {
  const int64_t* ids;
  const int64_t* len;
  const int64_t* slot;  // scatter: null (dense: row = id) or the compacted row of each id
  const T* src;         // gather: table [V, D]; scatter: dy [B, T, D]
  T* dst;               // gather: y [B, T, D]; scatter: out [rows, D]
  int64_t B, T_, D, V;
};

struct ScanArgs {
  int64_t* slot;           // [V] marks in, exclusive prefix sums out (in place)
  int64_t* tile_sum;       // [n_tiles]: sums, then exclusive offsets
  int64_t* total;          // [1] number of marked ids
  int64_t* rows;           // [>= total] the marked ids in increasing order
  int64_t V, n_tiles;
};

__device__ __forceinline__ int64_t length_at(const int64_t* len, int64_t b, int64_t T) {
  return len ? len[b] : T;
}

__global__ void check_ids_kernel(const IdsArgs a) {
  for (int64_t p = flat_index(); p < a.B * a.T; p += flat_stride()) {
    if (p % a.T >= length_at(a.len, p / a.T, a.T)) continue;  // padding: never an index
    const int64_t v = a.ids[p];
    if (v < 0 || v >= a.V) atomicMin(a.bad, static_cast<long long>(p));
    else if (a.mark) a.mark[v] = 1;  // benign race: every writer stores 1
  }
}

template <class T>
__global__ void gather_kernel(const RowArgs<T> a) {
  for (int64_t i = flat_index(); i < a.B * a.T_ * a.D; i += flat_stride()) {
    const int64_t r = i / a.D, k = i % a.D;
    const int64_t v = r % a.T_ < length_at(a.len, r / a.T_, a.T_) ? a.ids[r] : -1;
    a.dst[i] = v >= 0 && v < a.V ? a.src[v * a.D + k] : T(0);
  }
}

template <class T>
__global__ void scatter_add_kernel(const RowArgs<T> a) {
  for (int64_t i = flat_index(); i < a.B * a.T_ * a.D; i += flat_stride()) {
    const int64_t r = i / a.D, k = i % a.D;
    if (r % a.T_ >= length_at(a.len, r / a.T_, a.T_)) continue;
    const int64_t v = a.ids[r];
    if (v < 0 || v >= a.V) continue;  // checked before the launch; never write out of range
    const int64_t row = a.slot ? a.slot[v] : v;
    atomicAdd(a.dst + row * a.D + k, a.src[i]);
  }
}

// Exclusive scan of v over the block (kScanThreads threads, all of them call it); *sum gets
// the block's total. sh: kScanThreads shared elements, free again on return.
__device__ int64_t block_exclusive_scan(int64_t v, int64_t* sh, int64_t* sum) {
  const int tid = static_cast<int>(threadIdx.x);
  sh[tid] = v;
  __syncthreads();
  for (int off = 1; off < kScanThreads; off <<= 1) {
    const int64_t add = tid >= off ? sh[tid - off] : 0;
    __syncthreads();
    sh[tid] += add;
    __syncthreads();
  }
  const int64_t inclusive = sh[tid];
  *sum = sh[kScanThreads - 1];
  __syncthreads();
  return inclusive - v;
}

// Kernel 1: tile_sum[b] = marks in tile b.
__global__ void tile_sum_kernel(const ScanArgs a) {
  __shared__ int64_t sh[kScanThreads];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * kScanTile;
  int64_t s = 0;
  for (int64_t e = base + threadIdx.x; e < min(base + kScanTile, a.V); e += kScanThreads)
    s += a.slot[e];
  int64_t total = 0;
  (void)block_exclusive_scan(s, sh, &total);
  if (threadIdx.x == 0) a.tile_sum[blockIdx.x] = total;
}

// Kernel 2 (one block): tile sums -> exclusive tile offsets; *total = number of marks.
__global__ void tile_offset_kernel(const ScanArgs a) {
  __shared__ int64_t sh[kScanThreads];
  int64_t carry = 0;
  for (int64_t base = 0; base < a.n_tiles; base += kScanThreads) {
    const int64_t e = base + threadIdx.x;
    const int64_t v = e < a.n_tiles ? a.tile_sum[e] : 0;
    int64_t sum = 0;
    const int64_t excl = block_exclusive_scan(v, sh, &sum);
    if (e < a.n_tiles) a.tile_sum[e] = carry + excl;
    carry += sum;
  }
  if (threadIdx.x == 0) *a.total = carry;
}

// Kernel 3: marks of tile b -> slots (in place) and the sorted rows.
__global__ void tile_scan_kernel(const ScanArgs a) {
  __shared__ int64_t sh[kScanThreads];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * kScanTile;
  int64_t carry = a.tile_sum[blockIdx.x];
  for (int64_t e0 = base; e0 < base + kScanTile && e0 < a.V; e0 += kScanThreads) {
    const int64_t e = e0 + threadIdx.x;
    const int64_t m = e < a.V ? a.slot[e] : 0;
    int64_t sum = 0;
    const int64_t excl = block_exclusive_scan(m, sh, &sum);
    if (e < a.V) {
      a.slot[e] = carry + excl;
      if (m) a.rows[carry + excl] = e;
    }
    carry += sum;
  }
}

unsigned blocks_for(int64_t items) { return grid_blocks(items, kThreads, kMaxBlocks); }

template <class Args>
void launch(const void* kernel, dim3 grid, int threads, const Args& a, cudaStream_t s,
            const char* what) {
  void* args[] = {const_cast<Args*>(&a)};
  check(cudaLaunchKernel(kernel, grid, dim3(threads), args, 0, s), what);
}

// Queues the range check (and, with mark, the marking) of the ids; `bad` must hold a value
// > B*T before it runs.
void queue_check(const EmbeddingDims& d, const Tensor& ids, const int64_t* len, long long* bad,
                 int64_t* mark, cudaStream_t s) {
  const IdsArgs a{ids.ptr<int64_t>(), len, d.B, d.T, d.V, bad, mark};
  launch(reinterpret_cast<const void*>(&check_ids_kernel), dim3(blocks_for(d.B * d.T)), kThreads,
         a, s, "cudaLaunchKernel(check_ids_kernel)");
}

// After the synchronisation: ValueError with the CPU path's message when `bad` names a position.
void raise_if_bad(const EmbeddingDims& d, const Tensor& ids, long long bad, cudaStream_t s) {
  if (bad < 0 || bad >= d.B * d.T) return;
  int64_t v = 0;  // error path only: one more small copy and wait
  CS_CUDA_CHECK(cudaMemcpyAsync(&v, ids.ptr<int64_t>() + bad, sizeof(v), cudaMemcpyDeviceToHost,
                                s));
  CS_CUDA_CHECK(cudaStreamSynchronize(s));
  throw ValueError(detail::cat("ids[", bad / d.T, ", ", bad % d.T, "] = ", v,
                               " is out of range for a table of V = ", d.V,
                               " rows (valid ids are 0 .. ", d.V - 1,
                               "; this is the first bad id at a valid position)"));
}

constexpr int kNoBad = 0x7f;  // memset byte: 0x7f7f... > any B*T

template <class T>
RowArgs<T> row_args(const EmbeddingDims& d, const Tensor& ids, const int64_t* len,
                    const int64_t* slot, const T* src, T* dst) {
  return {ids.ptr<int64_t>(), len, slot, src, dst, d.B, d.T, d.D, d.V};
}

// The range check of embedding_check_ids with the lengths already on the device.
void check_ids(const EmbeddingDims& d, const Tensor& ids, const int64_t* len, cudaStream_t s) {
  const DeviceBuffer<long long> bad(1, s);
  CS_CUDA_CHECK(cudaMemsetAsync(bad.get(), kNoBad, sizeof(long long), s));
  queue_check(d, ids, len, bad.get(), nullptr, s);
  // The one synchronisation of the op: the CPU path raises before writing anything, and only
  // the device knows whether an id is out of range.
  long long host_bad = 0;
  CS_CUDA_CHECK(cudaMemcpyAsync(&host_bad, bad.get(), sizeof(host_bad), cudaMemcpyDeviceToHost, s));
  CS_CUDA_CHECK(cudaStreamSynchronize(s));
  raise_if_bad(d, ids, host_bad, s);
}

}  // namespace embedding_impl

using namespace embedding_impl;

// The lengths and ids of an op on the device. CUDA ids as they are, range-checked here when
// `check` (the op's one wait); host ids, already checked on the host by
// cpp/src/embedding.cpp, uploaded through the pinned staging without waiting.
struct DeviceInputs {
  DeviceLengths len;
  DeviceBuffer<int64_t> copy;  // the uploaded host ids
  Tensor ids;                  // device ids
};
DeviceInputs device_inputs(const EmbeddingDims& d, const Tensor& ids, const Tensor& lengths,
                           cudaStream_t s, bool check) {
  DeviceInputs r{DeviceLengths(lengths, d.B, s), {}, ids};
  if (ids.device == Device::cuda) {
    if (check) check_ids(d, ids, r.len.get(), s);
    return r;
  }
  r.copy = to_device(ids.ptr<int64_t>(), d.B * d.T, s);
  r.ids.data = r.copy.get();
  r.ids.device = Device::cuda;
  return r;
}

void embedding_check_ids(const EmbeddingDims& d, const Tensor& ids, const Tensor& lengths,
                         void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const DeviceLengths len(lengths, d.B, s);
  check_ids(d, ids, len.get(), s);
}

template <class T>
void embedding_forward(const EmbeddingDims& d, const Tensor& ids, const Tensor& table,
                       const Tensor& lengths, const Tensor& y, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const DeviceInputs in = device_inputs(d, ids, lengths, s, true);
  launch(reinterpret_cast<const void*>(&gather_kernel<T>), dim3(blocks_for(d.B * d.T * d.D)),
         kThreads, row_args<T>(d, in.ids, in.len.get(), nullptr, table.ptr<T>(), y.ptr<T>()), s,
         "cudaLaunchKernel(embedding gather_kernel)");
}

template <class T>
void embedding_backward_dense(const EmbeddingDims& d, const Tensor& dy, const Tensor& ids,
                              const Tensor& lengths, const Tensor& dtable, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const DeviceInputs in = device_inputs(d, ids, lengths, s, true);
  CS_CUDA_CHECK(cudaMemsetAsync(dtable.data, 0, sizeof(T) * d.V * d.D, s));
  launch(reinterpret_cast<const void*>(&scatter_add_kernel<T>),
         dim3(blocks_for(d.B * d.T * d.D)), kThreads,
         row_args<T>(d, in.ids, in.len.get(), nullptr, dy.ptr<T>(), dtable.ptr<T>()), s,
         "cudaLaunchKernel(embedding scatter_add_kernel)");
}

template <class T>
int64_t embedding_backward_sparse(const EmbeddingDims& d, const Tensor& dy, const Tensor& ids,
                                  const Tensor& lengths, const Tensor& rows, const Tensor& grad,
                                  void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  // The range check runs below, with the marking of the used ids.
  const DeviceInputs in = device_inputs(d, ids, lengths, s, false);
  const Tensor& ids_d = in.ids;
  const int64_t* len = in.len.get();
  const int64_t n_tiles = (d.V + kScanTile - 1) / kScanTile;
  const DeviceBuffer<int64_t> slot(d.V, s), tiles(n_tiles, s);
  const DeviceBuffer<long long> flags(2, s);  // [first bad position, number of used ids]
  CS_CUDA_CHECK(cudaMemsetAsync(slot.get(), 0, sizeof(int64_t) * d.V, s));
  CS_CUDA_CHECK(cudaMemsetAsync(flags.get(), kNoBad, sizeof(long long), s));
  queue_check(d, ids_d, len, flags.get(), slot.get(), s);
  const ScanArgs a{slot.get(), tiles.get(), reinterpret_cast<int64_t*>(flags.get() + 1),
                   rows.ptr<int64_t>(), d.V, n_tiles};
  launch(reinterpret_cast<const void*>(&tile_sum_kernel), dim3(static_cast<unsigned>(n_tiles)),
         kScanThreads, a, s, "cudaLaunchKernel(embedding tile_sum_kernel)");
  launch(reinterpret_cast<const void*>(&tile_offset_kernel), dim3(1), kScanThreads, a, s,
         "cudaLaunchKernel(embedding tile_offset_kernel)");
  launch(reinterpret_cast<const void*>(&tile_scan_kernel), dim3(static_cast<unsigned>(n_tiles)),
         kScanThreads, a, s, "cudaLaunchKernel(embedding tile_scan_kernel)");
  // The one synchronisation of the op: the range flag and U (the caller sizes the result by it)
  // come back together.
  long long host[2] = {0, 0};
  CS_CUDA_CHECK(cudaMemcpyAsync(host, flags.get(), sizeof(host), cudaMemcpyDeviceToHost, s));
  CS_CUDA_CHECK(cudaStreamSynchronize(s));
  raise_if_bad(d, ids_d, host[0], s);
  const int64_t U = host[1];
  CS_CHECK(U >= 0 && U <= rows.numel() && U <= grad.shape[0], ValueError, "rows / grad hold ",
           rows.numel(), " rows but ", U, " distinct ids are used");
  if (U == 0) return 0;
  CS_CUDA_CHECK(cudaMemsetAsync(grad.data, 0, sizeof(T) * U * d.D, s));
  launch(reinterpret_cast<const void*>(&scatter_add_kernel<T>),
         dim3(blocks_for(d.B * d.T * d.D)), kThreads,
         row_args<T>(d, ids_d, len, slot.get(), dy.ptr<T>(), grad.ptr<T>()), s,
         "cudaLaunchKernel(embedding scatter_add_kernel)");
  return U;
}

#define CS_INSTANTIATE_CUDA_EMBEDDING(T)                                                      \
  template void embedding_forward<T>(const EmbeddingDims&, const Tensor&, const Tensor&,      \
                                     const Tensor&, const Tensor&, void*);                    \
  template void embedding_backward_dense<T>(const EmbeddingDims&, const Tensor&,              \
                                            const Tensor&, const Tensor&, const Tensor&,      \
                                            void*);                                           \
  template int64_t embedding_backward_sparse<T>(const EmbeddingDims&, const Tensor&,          \
                                                const Tensor&, const Tensor&, const Tensor&,  \
                                                const Tensor&, void*);
CS_INSTANTIATE_CUDA_EMBEDDING(float)
CS_INSTANTIATE_CUDA_EMBEDDING(double)
#undef CS_INSTANTIATE_CUDA_EMBEDDING

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
