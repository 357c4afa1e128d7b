// CUDA top-k (same order as cpp/src/cpu/top_k.cpp, from cpp/src/top_k_math.hpp): one block per
// row (or row segment, below), in three phases that each read the row from global memory
// (L2-resident at catalogue sizes):
//  1. radix select of the k-th best key, 8 bits per pass from the top (4 passes for float32, 8
//     for float64): a shared-memory histogram of the next digit among the keys that match the
//     digits chosen so far, then one warp finds the digit where the count of better keys
//     reaches k;
//  2. the k winners gathered in column order: the keys above the k-th, and the first columns
//     with exactly the k-th key (warp ballots and a block prefix give each its slot);
//  3. a bitonic sort of the k slots (padded to a power of two), best first.
// The slots live in shared memory up to kSharedSlots (k <= 2048), else in global scratch. When
// the rows are too few to fill the device, each is split into segments (a block each), and a
// second launch takes the k best of the segments' k best.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "../cpp/src/top_k_math.hpp"
#include "device_buffer.cuh"
#include "device_props.cuh"
#include "dynamic_smem.cuh"
#include "top_k.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

// Named (not anonymous) so that the emulator harness can reach the kernel.
namespace top_k_impl {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int kWarps = kThreads / kWarp;
constexpr int kDigitBits = 8;
constexpr int kBins = 1 << kDigitBits;
constexpr int kBinsPerLane = kBins / kWarp;
constexpr int kGatherSteps = 4;  // chunks of kThreads columns per gather step (loads in flight)
constexpr int64_t kSharedSlots = 2048;                 // slots in shared memory (power of two)
constexpr int64_t kScratchBytes = int64_t(256) << 20;  // global slots, all blocks (or 1 block's)
constexpr int64_t kMaxBlocks = 65535;
constexpr int64_t kMinSegment = 4096;  // columns of a row's segment, at least (split rows)
constexpr unsigned kFull = 0xffffffffu;
constexpr int32_t kPadColumn = 0x7fffffff;  // past every column (V < 2^31): pads sort last

using top_k_math::Key;
template <class T>
constexpr int64_t kSlotBytes = sizeof(Key<T>) + sizeof(int32_t);  // a slot: key and column

/// The k-th best key of row s [V] and how many columns with exactly that key belong to the k
/// best (`ties`), the same in every thread. hist [kBins] and sel [2] are shared memory.
template <class T>
__device__ void select_kth(const T* __restrict__ s, int64_t V, int k, Key<T>& kth, int& ties,
                           int* hist, int* sel) {
  using K = Key<T>;
  const int lane = threadIdx.x % kWarp;
  K prefix = 0, mask = 0;
  int remaining = k;  // of the k best, those not yet above the digits chosen so far
  for (int shift = 8 * int(sizeof(K)) - kDigitBits; shift >= 0; shift -= kDigitBits) {
    for (int b = threadIdx.x; b < kBins; b += kThreads) hist[b] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < V; i += kThreads) {
      const K key = top_k_math::key(s[i]);
      if ((key & mask) == prefix) atomicAdd(&hist[int(key >> shift) & (kBins - 1)], 1);
    }
    __syncthreads();
    if (threadIdx.x < kWarp) {
      // Lane l counts digits kBins - 1 - (l * kBinsPerLane + j), best digit first.
      int c[kBinsPerLane], sum = 0;
#pragma unroll
      for (int j = 0; j < kBinsPerLane; ++j) {
        c[j] = hist[kBins - 1 - (lane * kBinsPerLane + j)];
        sum += c[j];
      }
      int incl = sum;
#pragma unroll
      for (int o = 1; o < kWarp; o <<= 1) {
        const int u = __shfl_up_sync(kFull, incl, o);
        if (lane >= o) incl += u;
      }
      int acc = incl - sum;
      if (acc < remaining && remaining <= incl) {
#pragma unroll
        for (int j = 0; j < kBinsPerLane; ++j) {
          if (acc + c[j] >= remaining) {
            sel[0] = kBins - 1 - (lane * kBinsPerLane + j);
            sel[1] = remaining - acc;
            break;
          }
          acc += c[j];
        }
      }
    }
    __syncthreads();
    prefix |= K(sel[0]) << shift;
    mask |= K(kBins - 1) << shift;
    remaining = sel[1];
  }
  kth = prefix;
  ties = remaining;
}

/// Slots [0, k) of (ck, ci) = the k best columns of row s [V], unsorted: the keys above kth in
/// [0, k - ties), the first `ties` columns with key kth after them. The row goes in steps of
/// kGatherSteps * kThreads columns: each thread loads its kGatherSteps keys at once, the warps'
/// counts of each sub-step go to wcount (shared), and one barrier later every thread has its
/// slots in (sub-step, warp, lane) = column order.
template <class T>
__device__ void gather(const T* __restrict__ s, int64_t V, int k, Key<T> kth, int ties, Key<T>* ck,
                       int32_t* ci, int (*wcount)[2][kWarps]) {
  using K = Key<T>;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const unsigned lower = (1u << lane) - 1u;
  const int above = k - ties;
  int base_gt = 0, base_eq = 0;
  for (int64_t c0 = 0; c0 < V; c0 += int64_t(kGatherSteps) * kThreads) {
    K key[kGatherSteps];
#pragma unroll
    for (int u = 0; u < kGatherSteps; ++u) {
      const int64_t i = c0 + u * kThreads + threadIdx.x;
      key[u] = i < V ? top_k_math::key(s[i]) : K(0);
    }
    unsigned bg[kGatherSteps], be[kGatherSteps];
#pragma unroll
    for (int u = 0; u < kGatherSteps; ++u) {
      const bool in = c0 + u * kThreads + threadIdx.x < V;
      bg[u] = __ballot_sync(kFull, in && key[u] > kth);
      be[u] = __ballot_sync(kFull, in && key[u] == kth);
      if (lane == 0) {
        wcount[u][0][warp] = __popc(bg[u]);
        wcount[u][1][warp] = __popc(be[u]);
      }
    }
    __syncthreads();
#pragma unroll
    for (int u = 0; u < kGatherSteps; ++u) {
      int og = base_gt, oe = base_eq;  // this warp's first slots in sub-step u
      for (int w = 0; w < kWarps; ++w) {
        if (w < warp) {
          og += wcount[u][0][w];
          oe += wcount[u][1][w];
        }
        base_gt += wcount[u][0][w];
        base_eq += wcount[u][1][w];
      }
      const int32_t col = int32_t(c0 + u * kThreads + threadIdx.x);
      if (bg[u] >> lane & 1u) {
        const int slot = og + __popc(bg[u] & lower);
        ck[slot] = key[u];
        ci[slot] = col;
      }
      if (be[u] >> lane & 1u) {
        const int r = oe + __popc(be[u] & lower);
        if (r < ties) {
          ck[above + r] = key[u];
          ci[above + r] = col;
        }
      }
    }
    __syncthreads();                                 // wcount is rewritten by the next step
    if (base_gt >= above && base_eq >= ties) break;  // the same in every thread
  }
}

/// Bitonic sort of the P (a power of two) slots (ck, ci), best first.
template <class K>
__device__ void sort_slots(K* ck, int32_t* ci, int64_t P) {
  for (int64_t size = 2; size <= P; size <<= 1) {
    for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
      for (int64_t t = threadIdx.x; t < P / 2; t += kThreads) {
        const int64_t a = 2 * t - (t & (stride - 1)), b = a + stride;
        const bool best_first = (a & size) == 0;
        const K ka = ck[a], kb = ck[b];
        const int32_t ia = ci[a], ib = ci[b];
        if (top_k_math::before(kb, ib, ka, ia) == best_first) {
          ck[a] = kb;
          ck[b] = ka;
          ci[a] = ib;
          ci[b] = ia;
        }
      }
      __syncthreads();
    }
  }
}

/// Rows r = blockIdx.x, + gridDim.x, ... of N * segs: segment j = r % segs of row n = r / segs,
/// columns [j V / segs, (j + 1) V / segs) of scores [N, V], gives its k best (each segment has
/// at least k columns) in row r of ids / values [N * segs, k]: the column, or col_map's entry
/// at [n, column] when col_map is given (the second stage of a split row). The P slots of a
/// block are in dynamic shared memory (keys, then columns), or (kGlobal) at block * P of the
/// global scratch arrays: a template argument, so that the shared-memory kernel's slot accesses
/// compile to shared-memory instructions.
template <class T, bool kGlobal>
__global__ void __launch_bounds__(kThreads)
    top_k_kernel(const TopKDims d, const T* __restrict__ scores, int64_t segs,
                 const int64_t* __restrict__ col_map, int64_t P, Key<T>* scratch_keys,
                 int32_t* scratch_cols, int64_t* __restrict__ ids, T* __restrict__ values) {
  using K = Key<T>;
  __shared__ int hist[kBins];
  __shared__ int wcount[kGatherSteps][2][kWarps];
  __shared__ int sel[2];
  K* ck;
  int32_t* ci;
  if constexpr (kGlobal) {
    ck = scratch_keys + int64_t(blockIdx.x) * P;
    ci = scratch_cols + int64_t(blockIdx.x) * P;
  } else {
    ck = dynamic_smem<K>();
    ci = reinterpret_cast<int32_t*>(ck + P);
  }
  const int k = int(d.k);
  for (int64_t r = blockIdx.x; r < d.N * segs; r += gridDim.x) {
    const int64_t n = r / segs, j = r % segs;
    const int64_t lo = j * d.V / segs, len = (j + 1) * d.V / segs - lo;
    const T* s = scores + n * d.V + lo;
    K kth;
    int ties;
    select_kth(s, len, k, kth, ties, hist, sel);
    gather(s, len, k, kth, ties, ck, ci, wcount);
    for (int64_t i = k + threadIdx.x; i < P; i += kThreads) {
      ck[i] = K(0);
      ci[i] = kPadColumn;
    }
    __syncthreads();
    sort_slots(ck, ci, P);
    for (int64_t i = threadIdx.x; i < k; i += kThreads) {
      const int64_t c = lo + ci[i];
      ids[r * d.k + i] = col_map ? col_map[n * d.V + c] : c;
      values[r * d.k + i] = s[ci[i]];
    }
    __syncthreads();  // the slots (and sel) are reused by the next row
  }
}

/// Segments per row: when the rows are too few to give every SM 4 blocks, each row is split so
/// that they do, into segments of at least max(min_segment, 4 k) columns (1: no split). The k
/// best of the row are among its segments' k best: a second pass over those (at most a quarter
/// of the row) picks them.
inline int64_t segments_per_row(int64_t N, int64_t V, int64_t k, int sms, int64_t min_segment) {
  const int64_t want = (4 * int64_t(sms) + N - 1) / N;
  const int64_t most = V / std::max(min_segment, 4 * k);
  const int64_t segs = std::min(want, most);
  return segs >= 2 ? segs : 1;
}

/// top_k with slots in shared memory (P <= kSharedSlots); segs / col_map as in top_k_kernel.
template <class T>
void launch_shared(const TopKDims& d, const T* scores, int64_t segs, const int64_t* col_map,
                   int64_t P, int64_t* ids, T* values, cudaStream_t s) {
  using K = Key<T>;
  const int64_t rows = d.N * segs, grid = rows < kMaxBlocks ? rows : kMaxBlocks;
  train::launch_smem(top_k_kernel<T, false>, dim3(unsigned(grid)), dim3(kThreads),
                     size_t(P * kSlotBytes<T>), s, "top_k_kernel", d, scores, segs, col_map, P,
                     static_cast<K*>(nullptr), static_cast<int32_t*>(nullptr), ids, values);
}

/// cuda::top_k; rows are split into segments of at least min_segment columns (the emulator
/// tests choose small ones).
template <class T>
void run(const TopKDims& d, const T* scores, int64_t* ids, T* values, cudaStream_t s,
         int64_t min_segment) {
  using K = Key<T>;
  if (d.N == 0) return;
  int64_t P = 1;
  while (P < d.k) P <<= 1;
  if (P <= kSharedSlots) {
    const int64_t segs = segments_per_row(d.N, d.V, d.k, current_device_props().sms, min_segment);
    if (segs == 1) return launch_shared(d, scores, 1, nullptr, P, ids, values, s);
    const int64_t m = d.N * segs * d.k;  // the segments' k best: [N, segs * k]
    DeviceBuffer<int64_t> ids1(m, s);
    DeviceBuffer<T> values1(m, s);
    launch_shared(d, scores, segs, nullptr, P, ids1.get(), values1.get(), s);
    return launch_shared(TopKDims{d.N, segs * d.k, d.k}, values1.get(), 1, ids1.get(), P, ids,
                         values, s);
  }
  // Global slots: as many blocks as kScratchBytes of them allow (one block's slots may exceed
  // it: k near V of a huge row).
  int64_t grid = kScratchBytes / (P * kSlotBytes<T>);
  grid = grid < 1 ? 1 : (grid > d.N ? d.N : (grid > kMaxBlocks ? kMaxBlocks : grid));
  DeviceBuffer<K> keys(grid * P, s);
  DeviceBuffer<int32_t> cols(grid * P, s);
  train::launch_smem(top_k_kernel<T, true>, dim3(unsigned(grid)), dim3(kThreads), 0, s,
                     "top_k_kernel", d, scores, int64_t(1), static_cast<const int64_t*>(nullptr), P,
                     keys.get(), cols.get(), ids, values);
}

}  // namespace top_k_impl

template <class T>
void top_k(const TopKDims& d, const T* scores, int64_t* ids, T* values, void* stream) {
  top_k_impl::run(d, scores, ids, values, static_cast<cudaStream_t>(stream),
                  top_k_impl::kMinSegment);
}

template void top_k<float>(const TopKDims&, const float*, int64_t*, float*, void*);
template void top_k<double>(const TopKDims&, const double*, int64_t*, double*, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
