#pragma once
// A small CUDA execution emulator for checking kernel logic on a machine without a GPU.
//
// Every CUDA thread of a launch is a ucontext coroutine on one OS thread. A coroutine runs until
// it reaches a barrier (__syncthreads*, a warp shuffle, a grid sync) and then yields; the
// scheduler resumes the threads whose barrier has opened, in a freshly shuffled order each round.
// So: barriers are exact, a barrier that not every participant reaches is reported as a
// deadlock, and a missing barrier (a read of data another thread writes in the same barrier
// interval) changes results from one seed to the next. Memory is sequentially consistent, so
// this cannot find memory-model bugs (missing fences, L1 staleness): __ldcg is a plain load.
//
// Used by tests/cuda_emu/harness.cpp only; never part of the library.
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static  // static __shared__ arrays: blocks of such kernels run one by one

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3() = default;
  dim3(unsigned a, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

using std::exp;
using std::fma;
using std::max;
using std::min;
using std::tanh;

namespace emu {

struct Barrier {
  int expected = 0, arrived = 0;
  uint64_t gen = 0;
};

struct Warp {
  Barrier bar;
  unsigned char slot[32][16];
};

struct Block {
  std::vector<unsigned char> smem;
  Barrier bar;
  int or_acc[2] = {0, 0};
  std::vector<Warp> warps;
};

struct Thread {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;
  dim3 tid, bid;
  Block* block = nullptr;
  int lane = 0, warp = 0;
  bool done = false;
  Barrier* waiting = nullptr;
  uint64_t wait_gen = 0;
};

struct Launch {
  dim3 grid, block;
  bool cooperative = false;
  Barrier grid_bar;
  std::function<void()> body;
  ucontext_t sched;
  Thread* cur = nullptr;
  std::string error;
};

inline Launch*& current() {
  static Launch* l = nullptr;
  return l;
}
inline Thread& me() { return *current()->cur; }

// Arrive at `b`; yield to the scheduler until the barrier opens (the last arrival opens it).
inline void wait(Barrier& b) {
  const uint64_t g = b.gen;
  if (++b.arrived == b.expected) {
    b.arrived = 0;
    ++b.gen;
    return;
  }
  Thread& t = me();
  t.waiting = &b;
  t.wait_gen = g;
  swapcontext(&t.ctx, &current()->sched);
}

inline void entry() {
  Launch& L = *current();
  L.body();
  L.cur->done = true;  // uc_link returns to the scheduler
}

inline constexpr size_t kStack = 32 << 10;

// Runs `body` as every thread of blocks [b0, b1) (linear block ids), interleaved.
inline void run_blocks(Launch& L, unsigned b0, unsigned b1, std::vector<Block>& blocks,
                       std::mt19937& rng) {
  const unsigned nthr = L.block.x * L.block.y * L.block.z;
  std::vector<Thread> ts((b1 - b0) * nthr);
  size_t n = 0;
  for (unsigned lb = b0; lb < b1; ++lb) {
    Block& blk = blocks[lb];
    for (unsigned i = 0; i < nthr; ++i, ++n) {
      Thread& t = ts[n];
      t.block = &blk;
      t.bid = dim3(lb % L.grid.x, (lb / L.grid.x) % L.grid.y, lb / (L.grid.x * L.grid.y));
      t.tid = dim3(i % L.block.x, (i / L.block.x) % L.block.y, i / (L.block.x * L.block.y));
      t.lane = int(i % 32);
      t.warp = int(i / 32);
      t.stack.reset(new char[kStack]);
      getcontext(&t.ctx);
      t.ctx.uc_stack.ss_sp = t.stack.get();
      t.ctx.uc_stack.ss_size = kStack;
      t.ctx.uc_link = &L.sched;
      makecontext(&t.ctx, entry, 0);
    }
  }
  std::vector<size_t> order(ts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Scheduling, in rounds: a round resumes the runnable threads of the awake warps and blocks,
  // in a fresh random order, pass after pass, until every awake thread is blocked or done.
  // Between rounds warps and blocks fall asleep for a random number of rounds, so they stay
  // whole barrier phases behind the others: a read that no barrier orders after another warp's
  // (block's) write then sees the old value in some runs, and the results change.
  const unsigned nwarps = nthr / 32, nblocks = b1 - b0;
  std::vector<int> warp_sleep(size_t(nblocks) * nwarps, 0), block_sleep(nblocks, 0);
  std::uniform_int_distribution<int> rounds(1, 4);
  std::bernoulli_distribution nap_warp(0.2), nap_block(0.1);
  for (;;) {
    for (int& w : warp_sleep) w = w > 0 ? w - 1 : (nap_warp(rng) ? rounds(rng) : 0);
    for (int& b : block_sleep) b = b > 0 ? b - 1 : (nap_block(rng) ? rounds(rng) : 0);
    bool alive = false, runnable = false;
    for (bool resumed = true; resumed;) {
      resumed = false;
      alive = runnable = false;
      std::shuffle(order.begin(), order.end(), rng);
      for (size_t i : order) {
        Thread& t = ts[i];
        if (t.done) continue;
        alive = true;
        if (t.waiting && t.waiting->gen == t.wait_gen) continue;
        runnable = true;
        const size_t lb = i / nthr;
        if (block_sleep[lb] > 0 || warp_sleep[lb * nwarps + size_t(t.warp)] > 0) continue;
        t.waiting = nullptr;
        L.cur = &t;
        swapcontext(&L.sched, &t.ctx);
        L.cur = nullptr;
        resumed = true;
        if (!L.error.empty()) throw std::runtime_error(L.error);
      }
    }
    if (!alive) break;
    if (!runnable) throw std::runtime_error("deadlock: a barrier that not every thread reaches");
  }
}

/// Emulates kernel<<<grid, block, smem>>>(...) (cooperative: all blocks at once, grid sync
/// allowed). Non-cooperative launches run `blocks_at_once` blocks at a time (1 for kernels with
/// static __shared__ arrays).
inline void launch(dim3 grid, dim3 block, size_t smem, bool cooperative, uint32_t seed,
                   std::function<void()> body, unsigned blocks_at_once = 0) {
  Launch L;
  L.grid = grid;
  L.block = block;
  L.cooperative = cooperative;
  L.body = std::move(body);
  const unsigned nblk = grid.x * grid.y * grid.z, nthr = block.x * block.y * block.z;
  if (nthr % 32 != 0) throw std::runtime_error("emu: block size must be a multiple of 32");
  std::vector<Block> blocks(nblk);
  for (Block& b : blocks) {
    b.smem.assign(smem + 16, 0xA5);  // poison: reads of unwritten shared memory look wrong
    b.bar.expected = int(nthr);
    b.warps.resize(nthr / 32);
    for (Warp& w : b.warps) w.bar.expected = 32;
  }
  L.grid_bar.expected = int(nblk * nthr);
  Launch* prev = current();
  current() = &L;
  std::mt19937 rng(seed);
  try {
    const unsigned step = cooperative || blocks_at_once == 0 ? nblk : blocks_at_once;
    for (unsigned b0 = 0; b0 < nblk; b0 += step)
      run_blocks(L, b0, std::min(nblk, b0 + step), blocks, rng);
  } catch (...) {
    current() = prev;
    throw;
  }
  current() = prev;
}

}  // namespace emu

// ---- the CUDA device API used by the kernels ----------------------------------------------
#define threadIdx (emu::me().tid)
#define blockIdx (emu::me().bid)
#define blockDim (emu::current()->block)
#define gridDim (emu::current()->grid)

// Block barrier; returns the OR of `pred` over the block. Round g uses or_acc[g % 2]; its last
// arrival clears the slot of round g + 1 (every thread has read round g - 1's result by then).
inline int __syncthreads_or(int pred) {
  emu::Block& b = *emu::me().block;
  const uint64_t g = b.bar.gen;
  if (pred) b.or_acc[g & 1] = 1;
  if (b.bar.arrived + 1 == b.bar.expected) b.or_acc[(g + 1) & 1] = 0;
  emu::wait(b.bar);
  return b.or_acc[g & 1];
}
inline void __syncthreads() { (void)__syncthreads_or(0); }

/// Warp barrier (full warps only, like the shuffles).
inline void __syncwarp(unsigned = 0xffffffffu) {
  emu::Thread& t = emu::me();
  emu::wait(t.block->warps[t.warp].bar);
}
namespace emu {
// Full warps only (like the hardware's full-mask calls): anything else is reported.
inline void full_warp(unsigned mask, const char* what) {
  if (mask != 0xffffffffu) {
    current()->error = std::string("emu: only full-warp ") + what + " are emulated";
    swapcontext(&me().ctx, &current()->sched);
  }
}
// Every lane of the warp publishes v; then read(at, lane) gives this lane's result, at(l) being
// the value lane l published.
template <class T, class Read>
inline auto exchange(T v, Read read) {
  static_assert(sizeof(T) <= 16, "shuffle of a large type");
  Thread& t = me();
  Warp& w = t.block->warps[t.warp];
  std::memcpy(w.slot[t.lane], &v, sizeof(T));
  wait(w.bar);
  auto at = [&w](int l) {
    T x;
    std::memcpy(&x, w.slot[l], sizeof(T));
    return x;
  };
  const auto r = read(at, t.lane);
  wait(w.bar);
  return r;
}
}  // namespace emu

template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int off) {
  emu::full_warp(mask, "shuffles");
  return emu::exchange(v, [&](auto at, int lane) { return at(lane ^ off); });
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned off) {
  emu::full_warp(mask, "shuffles");
  return emu::exchange(
      v, [&](auto at, int lane) { return at(lane >= int(off) ? lane - int(off) : lane); });
}
/// Bit l set when lane l's predicate is true (full warps only).
inline unsigned __ballot_sync(unsigned mask, int pred) {
  emu::full_warp(mask, "ballots");
  return emu::exchange(pred ? 1 : 0, [](auto at, int) {
    unsigned r = 0;
    for (int l = 0; l < 32; ++l) r |= unsigned(at(l)) << l;
    return r;
  });
}
inline int __popc(unsigned x) {
  return __builtin_popcount(x);
}

template <class T>
inline T __ldcg(const T* p) {
  return *p;
}

/// The device's fast division (reciprocal and multiply, about 2 ulp); exact here.
inline float __fdividef(float x, float y) { return x / y; }
/// The device's fast exponential (ex2.approx of x * log2(e)); exact here.
inline float __expf(float x) {
  return std::exp(x);
}

namespace emu {
inline void grid_sync() {
  Launch& L = *current();
  if (!L.cooperative) {
    L.error = "emu: grid sync in a kernel that was not launched cooperatively";
    swapcontext(&me().ctx, &L.sched);
  }
  wait(L.grid_bar);
}
}  // namespace emu

#define CS_CUDA_EMU 1
template <class T>
inline T* dynamic_smem() {
  return reinterpret_cast<T*>(emu::me().block->smem.data());
}
