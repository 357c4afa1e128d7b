// Plan selection for the persistent recurrent kernels (see recurrent_plan.cuh). The cost model
// counts, per step and per block, shared-memory and FMA issue cycles (the dot products), the
// loads of the tile's state vectors, a latency floor and the barrier, and picks the cheapest
// candidate. It is a starting point for tuning on a GPU (CHRONOSCALE_CUDA_RNN_PLAN).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "cuda_check.hpp"
#include "gemm.cuh"
#include "recurrent_plan.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

constexpr int kMaxGridY = 65535;

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int ilog2(int v) {
  int r = 0;
  while ((1 << (r + 1)) <= v) ++r;
  return r;
}
bool pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

enum class Pref { automatic, step, grid };

struct Forced {
  int nj = 0, ks = 0, rb = 0;
  int64_t gy = 0;
};

Forced parse_forced(const std::string& s) {
  Forced f;
  if (s.empty()) return f;
  long long v[4] = {0, 0, 0, 0};
  const int n = std::sscanf(s.c_str(), "%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3]);
  CS_CHECK(n >= 3 && pow2(int(v[0])) && v[0] <= kRecThreads && pow2(int(v[1])) && v[1] <= 32 &&
               (v[2] == 1 || v[2] == 2 || v[2] == 4 || v[2] == 8) && v[0] * v[1] <= kRecThreads &&
               (n < 4 || v[3] >= 1),
           ValueError, "CHRONOSCALE_CUDA_RNN_PLAN must be 'nj,ks,rb[,gy]' with nj, ks powers of two, ",
           "nj * ks <= ", kRecThreads, ", ks <= 32, rb in {1, 2, 4, 8}, gy >= 1; got '", s, "'");
  f.nj = int(v[0]);
  f.ks = int(v[1]);
  f.rb = int(v[2]);
  f.gy = n >= 4 ? v[3] : 0;
  return f;
}

struct Candidate {
  RecPlan plan;
  double cost;
};

// Evaluates one tile (reg: the forward's W_hh in registers, resident tiles with rb == 1 whose
// dot-product slice fits reg_slice); returns false when it does not fit.
bool evaluate(const RecProblem& p, const DeviceProps& d, const BlocksPerSm& occupancy, int nj,
              int ks, int rb, bool reg, Pref pref, int64_t forced_gy, Candidate* out) {
  const int K = p.backward ? p.G * p.H : p.H;
  const int cpt = p.backward ? 1 : p.G;
  const int nbg = kRecThreads / (nj * ks);
  const int64_t nb = int64_t(nbg) * rb, tiles = cdiv(p.B, nb), NU = cdiv(p.H, nj);
  const int ld = rec_ld(K, ks, reg ? reg_slice(p.G, p.elem) : 0);
  bool resident = pref == Pref::automatic && NU == 1 && tiles <= kMaxGridY &&
                  (forced_gy == 0 || forced_gy >= tiles);
  auto smem_of = [&](bool res) {
    return size_t(rec_smem_elems(cpt, nj, nbg, rb, ld, res ? kModeResident : kModeGrid, reg)) *
           size_t(p.elem);
  };
  if (resident && smem_of(true) > d.smem_optin) resident = false;  // its second state buffer
  if (reg && (p.backward || !resident || rb != 1 || cdiv(K, ks) > reg_slice(p.G, p.elem)))
    return false;
  const size_t smem = smem_of(resident);
  if (smem > d.smem_optin) return false;
  const int bps = occupancy(rb, reg, smem);
  if (bps <= 0) return false;
  const int64_t capacity = int64_t(bps) * d.sms;
  // The register-resident forward is for small batches: all its blocks at once (its blocks hold
  // more registers; a second wave would wait for the first's whole sequence).
  if (reg && tiles > capacity) return false;

  int mode;
  int64_t gy;
  if (resident) {
    mode = kModeResident;
    gy = tiles;
  } else if (pref != Pref::step && d.cooperative && NU <= capacity) {
    mode = kModeGrid;
    gy = std::min<int64_t>(tiles, capacity / NU);
  } else {
    mode = kModeStep;
    gy = std::min<int64_t>(tiles, kMaxGridY);
  }
  if (forced_gy > 0) gy = std::min(gy, forced_gy);
  gy = std::max<int64_t>(1, std::min<int64_t>(gy, kMaxGridY));

  // Cycles per step (see the file comment). Warps per block: kRecThreads / 32.
  const double warps = kRecThreads / 32.0, iters = double(cdiv(K, ks));
  const double lds = warps * iters * ((reg ? 0 : cpt) + rb) + warps * cpt * rb * ilog2(ks);
  const double fill = mode == kModeResident ? 0.0 : warps * double(cdiv(nb * K, kRecThreads));
  const double fma = warps * iters * cpt * rb / 4.0;
  const double thr = std::max(lds + fill, fma);
  const int64_t blocks = NU * gy;
  const double per_sm = double(cdiv(std::min(blocks, capacity), d.sms));
  const double lat = iters * 6.0 + 400.0 + (mode == kModeResident ? 0.0 : 800.0) + rb * 40.0;
  const double waves = mode == kModeGrid ? 1.0 : double(cdiv(blocks, capacity));
  const double sync = mode == kModeGrid ? 1500.0 + 2.0 * double(blocks)
                                        : (mode == kModeStep ? 4000.0 : 0.0);
  const double cost = waves * double(cdiv(tiles, gy)) * (thr * per_sm + lat) + sync;

  out->plan = RecPlan{RecTile{nj, ks, nbg, ld, mode, reg ? 1 : 0}, rb, unsigned(NU), unsigned(gy),
                      smem, tiles};
  out->cost = cost;
  return true;
}

// (family, device, B, H, mode / plan / reg overrides, only_rb, no_reg, cuBLAS serves)
using Key = std::tuple<const void*, int, int64_t, int, std::string, std::string, std::string, int,
                       bool, bool>;

}  // namespace

RecPlan plan_recurrent(const RecProblem& p, const DeviceProps& d, const BlocksPerSm& occupancy,
                       const void* family, int only_rb, bool no_reg) {
  const std::string mode_env = env("CHRONOSCALE_CUDA_RNN_MODE");
  const std::string plan_env = env("CHRONOSCALE_CUDA_RNN_PLAN");
  const std::string reg_env = env("CHRONOSCALE_CUDA_RNN_REG");
  CS_CHECK(reg_env.empty() || reg_env == "0" || reg_env == "1", ValueError,
           "CHRONOSCALE_CUDA_RNN_REG must be '0', '1' or unset, got '", reg_env, "'");
  CS_CHECK(mode_env.empty() || mode_env == "step" || mode_env == "grid" || mode_env == "gemm" ||
               mode_env == "persistent",
           ValueError,
           "CHRONOSCALE_CUDA_RNN_MODE must be 'step', 'grid', 'gemm', 'persistent' or unset, got '",
           mode_env, "'");
  const bool cublas = cublas_serves();
  const Key key{family, d.device, p.B, p.H, mode_env, plan_env, reg_env, only_rb, no_reg, cublas};
  static std::mutex mu;
  static std::map<Key, RecPlan> cache;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto remember = [&](const RecPlan& plan) {
    std::lock_guard<std::mutex> lock(mu);
    if (cache.size() > 512) cache.clear();  // many distinct batch sizes: start over
    cache[key] = plan;
    return plan;
  };
  const Forced f = parse_forced(plan_env);
  // The GEMM mode: forced, or automatic for large steps when cuBLAS serves the GEMMs (the
  // built-in kernel is far from peak), or when no persistent tile fits (below). Never when a
  // persistent tile is asked for.
  const RecPlan gemm_plan{RecTile{0, 0, 0, 0, kModeGemm, 0}, 1, 0, 0, 0, 0};
  const bool tile_wanted = only_rb != 0 || !plan_env.empty() || mode_env == "persistent";
  const bool big = int64_t(p.B) * p.G * p.H * p.H >= kGemmModeMinWork;
  if (!tile_wanted && (mode_env == "gemm" || (mode_env.empty() && big && cublas)))
    return remember(gemm_plan);
  const Pref pref = mode_env == "step" ? Pref::step : (mode_env == "grid" ? Pref::grid : Pref::automatic);
  const int K = p.backward ? p.G * p.H : p.H;
  int nj_max = 1;
  while (nj_max < p.H && nj_max < kRecThreads) nj_max *= 2;

  Candidate best{};
  bool found = false;
  for (int rb : {1, 2, 4, 8}) {
    if ((f.rb && rb != f.rb) || (only_rb && rb != only_rb)) continue;
    for (int nj = 1; nj <= nj_max; nj *= 2) {
      if (f.nj && nj != f.nj) continue;
      for (int ks = 1; ks <= 32 && nj * ks <= kRecThreads; ks *= 2) {
        if (f.ks && ks != f.ks) continue;
        if (!f.ks && ks > 1 && ks > K) continue;  // idle lanes
        for (bool reg : {false, true}) {
          if (reg && (p.backward || no_reg || reg_env == "0")) continue;
          Candidate c;
          if (!evaluate(p, d, occupancy, nj, ks, rb, reg, pref, f.gy, &c)) continue;
          if (!found || c.cost < best.cost) {
            best = c;
            found = true;
          }
        }
      }
    }
  }
  // H too large for shared memory: the GEMM mode has no such limit.
  if (!found && !tile_wanted && mode_env.empty()) return remember(gemm_plan);
  CS_CHECK(found, Unsupported, "recurrent CUDA kernel: hidden size H = ", p.H,
           " needs more shared memory than the device offers (", d.smem_optin,
           " bytes per block)", plan_env.empty() ? "" : " with CHRONOSCALE_CUDA_RNN_PLAN");
  return remember(best.plan);
}

bool fuse_recurrences() {
  const std::string v = env("CHRONOSCALE_CUDA_RNN_FUSE");
  return v != "0";
}

bool backward_state_in_registers() {
  const std::string v = env("CHRONOSCALE_CUDA_RNN_STATE_REGS");
  CS_CHECK(v.empty() || v == "0" || v == "1", ValueError,
           "CHRONOSCALE_CUDA_RNN_STATE_REGS must be '0', '1' or unset, got '", v, "'");
  return v != "0";
}

RecPlan stepwise_plan(const RecPlan& plan) {
  RecPlan s = plan;
  s.tile.mode = kModeStep;
  s.gy = unsigned(std::min<int64_t>(plan.tiles, kMaxGridY));
  return s;
}

void allow_max_smem(const void* func, const DeviceProps& d) {
  static std::mutex mu;
  static std::set<std::pair<const void*, int>> done;
  std::lock_guard<std::mutex> lock(mu);
  if (!done.insert({func, d.device}).second) return;
  cudaError_t err = cudaFuncSetAttribute(func, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(d.smem_optin));
  // All of the unified L1 / shared storage as shared memory, so that the blocks per
  // multiprocessor the occupancy query reports (and the cooperative grid relies on) are there.
  if (err == cudaSuccess)
    err = cudaFuncSetAttribute(func, cudaFuncAttributePreferredSharedMemoryCarveout,
                               cudaSharedmemCarveoutMaxShared);
  if (err != cudaSuccess) done.erase({func, d.device});
  check(err, "cudaFuncSetAttribute(MaxDynamicSharedMemorySize / PreferredSharedMemoryCarveout)");
}

bool launch_recurrent(const void* func, const RecPlan& plan, void** args, cudaStream_t stream) {
  const dim3 grid(plan.gx, plan.gy), block(kRecThreads);
  if (plan.tile.mode == kModeGrid) {
    const cudaError_t err = cudaLaunchCooperativeKernel(func, grid, block, args, plan.smem, stream);
    if (err == cudaErrorCooperativeLaunchTooLarge || err == cudaErrorNotSupported) {
      (void)cudaGetLastError();
      return false;
    }
    check(err, "cudaLaunchCooperativeKernel(recurrent kernel)");
    return true;
  }
  check(cudaLaunchKernel(func, grid, block, args, plan.smem, stream),
        "cudaLaunchKernel(recurrent kernel)");
  return true;
}

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
