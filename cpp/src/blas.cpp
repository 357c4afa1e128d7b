// Runtime-loaded CBLAS. One build serves OpenBLAS (scipy-openblas32) and MKL (libmkl_rt), picked
// by the Python package or by the embedding program; a portable GEMM is the last resort.
#include "blas.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "chronoscale/error.hpp"
#include "chronoscale/runtime.hpp"
#include "cpu/parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace chronoscale {
inline namespace v1 {
namespace {

enum Order { kRowMajor = 101 };
enum Trans { kNoTrans = 111, kTrans = 112 };
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using DgemmFn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*,
                         int, double, double*, int);
using SetThreadsFn = void (*)(int);

struct Blas {
  std::mutex mu;
  std::atomic<bool> ready{false};
  void* handle = nullptr;
  // (atomic: load_blas may switch them while other threads call them)
  std::atomic<SgemmFn> sgemm{nullptr};
  std::atomic<DgemmFn> dgemm{nullptr};
  SetThreadsFn set_threads = nullptr;
  std::string name = "builtin";
  std::string path;
};

Blas& state() {
  static Blas b;
  return b;
}

bool try_open(Blas& b, const std::string& path, std::string* why) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    if (why) *why = dlerror();
    return false;
  }
  for (const char* prefix : {"scipy_cblas_", "cblas_"}) {
    auto s = reinterpret_cast<SgemmFn>(dlsym(h, (std::string(prefix) + "sgemm").c_str()));
    auto d = reinterpret_cast<DgemmFn>(dlsym(h, (std::string(prefix) + "dgemm").c_str()));
    if (!s || !d) continue;
    auto set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "scipy_openblas_set_num_threads"));
    if (!set_threads)
      set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    const bool mkl = dlsym(h, "MKL_Set_Num_Threads") != nullptr;
    if (mkl) set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "MKL_Set_Num_Threads"));
    // chronoscale owns the threading (OpenMP): the BLAS always runs single-threaded inside it,
    // so the two thread pools never compete for cores; set before any call can reach it.
    if (set_threads) set_threads(1);
    // The previous library stays loaded: another thread may be inside its GEMM right now
    // (closing it under that call crashed the process); a switch is rare, the leak small.
    b.handle = h;
    b.set_threads = set_threads;
    b.name = mkl ? "mkl" : (set_threads ? "openblas" : "cblas");
    b.path = path;
    b.sgemm.store(s, std::memory_order_release);
    b.dgemm.store(d, std::memory_order_release);
    return true;
  }
  dlclose(h);
  if (why) *why = "no CBLAS sgemm/dgemm symbols";
  return false;
}

Blas& ensure() {
  Blas& b = state();
  if (b.ready.load(std::memory_order_acquire)) return b;
  std::lock_guard<std::mutex> lock(b.mu);
  if (b.ready.load()) return b;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("CHRONOSCALE_BLAS_LIB")) candidates.emplace_back(env);
  for (const char* so : {"libscipy_openblas.so", "libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so",
                         "libopenblas.so.0", "libopenblas.so", "libcblas.so.3"})
    candidates.emplace_back(so);
  for (const auto& c : candidates)
    if (try_open(b, c, nullptr)) break;
  b.ready.store(true, std::memory_order_release);
  return b;
}

// Portable fallback: blocked i-k-j loops; only used when no BLAS library can be found.
template <class T>
void builtin_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
#pragma omp parallel for schedule(static) if (M * N * K > 65536) num_threads(cpu::max_threads())
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (int64_t k = 0; k < K; ++k) {
      const T a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
      if (a == T(0)) continue;
      if (!tb) {
        const T* b = B + k * ldb;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      } else {
        for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
      }
    }
  }
}

void check_int32(int64_t v, const char* what) {
  CS_CHECK(v <= 2147483647LL, ValueError, "GEMM ", what, " = ", v,
           " exceeds the 32-bit BLAS index range; use smaller batches");
}

}  // namespace

void load_blas(const std::string& path) {
  Blas& b = state();
  std::lock_guard<std::mutex> lock(b.mu);
  std::string why;
  CS_CHECK(try_open(b, path, &why), ValueError, "cannot load BLAS from '", path, "': ", why);
  b.ready.store(true, std::memory_order_release);
}

// (under the lock: load_blas may be rewriting them)
std::string blas_name() {
  Blas& b = ensure();
  std::lock_guard<std::mutex> lock(b.mu);
  return b.name;
}
std::string blas_path() {
  Blas& b = ensure();
  std::lock_guard<std::mutex> lock(b.mu);
  return b.path;
}

void set_num_threads(int n) {
  CS_CHECK(n >= 1, ValueError, "set_num_threads: n must be >= 1, got ", n);
  // More threads than this never helps, and thousands make the OpenMP runtime fail to create
  // them (it aborts the process) or exhaust the process's thread limit.
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  const int most = std::max(64, 4 * hw);
  CS_CHECK(n <= most, ValueError, "set_num_threads: n must be <= ", most, " (4 x the ", hw,
           " hardware threads, at least 64), got ", n);
  cpu::num_threads_setting.store(n, std::memory_order_relaxed);  // (every thread's regions)
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int get_num_threads() {
  const int n = cpu::num_threads_setting.load(std::memory_order_relaxed);
  return n > 0 ? n : cpu::max_threads();  // (without OpenMP: what was set, else 1)
}

namespace blas {

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  Blas& b = ensure();
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  check_int32(M, "M");
  check_int32(N, "N");
  check_int32(K, "K");
  check_int32(lda, "lda");
  check_int32(ldb, "ldb");
  check_int32(ldc, "ldc");
  const int oa = ta ? kTrans : kNoTrans, ob = tb ? kTrans : kNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    if (const SgemmFn f = b.sgemm.load(std::memory_order_acquire))
      return f(kRowMajor, oa, ob, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C,
               int(ldc));
  } else {
    if (const DgemmFn f = b.dgemm.load(std::memory_order_acquire))
      return f(kRowMajor, oa, ob, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C,
               int(ldc));
  }
  builtin_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void gemm_parallel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  int nth = 1;
#ifdef _OPENMP
  nth = cpu::max_threads();
  const int64_t min_rows = 16;
  if (M * N * K < (int64_t(1) << 21)) nth = 1;  // fork / join costs more than it saves
  if (M / min_rows < nth) nth = static_cast<int>(M / min_rows > 1 ? M / min_rows : 1);
#endif
  if (nth <= 1) return gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  cpu::RegionError err;  // (a worker's index-range check must not terminate the process)
#pragma omp parallel num_threads(nth)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), n = omp_get_num_threads();
#else
    const int tid = 0, n = 1;
#endif
    const int64_t m0 = M * tid / n, m1 = M * (tid + 1) / n;
    if (m1 > m0)
      err.run([&] {
        gemm(ta, tb, m1 - m0, N, K, alpha, ta ? A + m0 : A + m0 * lda, lda, B, ldb, beta,
             C + m0 * ldc, ldc);
      });
  }
  err.rethrow();
}

template void gemm_parallel<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*,
                                   int64_t, const float*, int64_t, float, float*, int64_t);
template void gemm_parallel<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                                    int64_t, const double*, int64_t, double, double*, int64_t);
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace blas
}  // namespace v1
}  // namespace chronoscale
