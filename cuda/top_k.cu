// CUDA top-k (same order as cpp/src/cpu/top_k.cpp, from cpp/src/top_k_math.hpp): one block per
// row, in three phases that each read the row from global memory (L2-resident at catalogue
// sizes):
//  1. radix select of the k-th best key, 8 bits per pass from the top (4 passes for float32, 8
//     for float64): a shared-memory histogram of the next digit among the keys that match the
//     digits chosen so far, then one warp finds the digit where the count of better keys
//     reaches k;
//  2. the k winners gathered in column order: the keys above the k-th, and the first columns
//     with exactly the k-th key (warp ballots and a block prefix give each its slot);
//  3. a bitonic sort of the k slots (padded to a power of two), best first.
// The slots live in shared memory up to kSharedSlots (k <= 2048), else in global scratch. A row
// is one block: a few rows of a huge catalogue use few SMs (see compare_top_k.py's last size).
#include <cuda_runtime.h>

#include <cstdint>

#include "../cpp/src/top_k_math.hpp"
#include "device_buffer.cuh"
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
constexpr int64_t kScratchBytes = int64_t(256) << 20;  // global slots of all blocks (at least 1)
constexpr int64_t kMaxBlocks = 65535;
constexpr unsigned kFull = 0xffffffffu;
constexpr int32_t kPadColumn = 0x7fffffff;  // past every column (V < 2^31): pads sort last

using top_k_math::Key;

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

/// Rows blockIdx.x, + gridDim.x, ...: ids / values [N, k]. The P slots of a block are in
/// dynamic shared memory (keys, then columns), or (kGlobal) at block * P of the global scratch
/// arrays: a template argument, so that the shared-memory kernel's slot accesses compile to
/// shared-memory instructions.
template <class T, bool kGlobal>
__global__ void __launch_bounds__(kThreads)
    top_k_kernel(const TopKDims d, const T* __restrict__ scores, int64_t P, Key<T>* scratch_keys,
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
  for (int64_t n = blockIdx.x; n < d.N; n += gridDim.x) {
    const T* s = scores + n * d.V;
    K kth;
    int ties;
    select_kth(s, d.V, k, kth, ties, hist, sel);
    gather(s, d.V, k, kth, ties, ck, ci, wcount);
    for (int64_t j = k + threadIdx.x; j < P; j += kThreads) {
      ck[j] = K(0);
      ci[j] = kPadColumn;
    }
    __syncthreads();
    sort_slots(ck, ci, P);
    for (int64_t j = threadIdx.x; j < k; j += kThreads) {
      const int32_t c = ci[j];
      ids[n * d.k + j] = c;
      values[n * d.k + j] = s[c];
    }
    __syncthreads();  // the slots (and sel) are reused by the next row
  }
}

}  // namespace top_k_impl

template <class T>
void top_k(const TopKDims& d, const T* scores, int64_t* ids, T* values, void* stream) {
  using namespace top_k_impl;
  using K = Key<T>;
  if (d.N == 0) return;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  int64_t P = 1;
  while (P < d.k) P <<= 1;
  const int64_t slot_bytes = int64_t(sizeof(K) + sizeof(int32_t));
  if (P <= kSharedSlots) {
    const int64_t grid = d.N < kMaxBlocks ? d.N : kMaxBlocks;
    train::launch_smem(top_k_kernel<T, false>, dim3(unsigned(grid)), dim3(kThreads),
                       size_t(P * slot_bytes), s, "top_k_kernel", d, scores, P,
                       static_cast<K*>(nullptr), static_cast<int32_t*>(nullptr), ids, values);
    return;
  }
  // As many blocks as kScratchBytes of slots allow (one block's slots may exceed it: k near V of
  // a huge row).
  int64_t grid = kScratchBytes / (P * slot_bytes);
  grid = grid < 1 ? 1 : (grid > d.N ? d.N : (grid > kMaxBlocks ? kMaxBlocks : grid));
  DeviceBuffer<K> keys(grid * P, s);
  DeviceBuffer<int32_t> cols(grid * P, s);
  train::launch_smem(top_k_kernel<T, true>, dim3(unsigned(grid)), dim3(kThreads), 0, s,
                     "top_k_kernel", d, scores, P, keys.get(), cols.get(), ids, values);
}

template void top_k<float>(const TopKDims&, const float*, int64_t*, float*, void*);
template void top_k<double>(const TopKDims&, const double*, int64_t*, double*, void*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
