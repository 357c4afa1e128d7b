// cuBLAS loaded at run time (dlopen): the library links only the CUDA runtime and imports on
// machines without cuBLAS; the GEMMs then run on the built-in kernel (gemm.cu).
//
// Search order: CHRONOSCALE_CUBLAS_LIB (python/chronoscale/_cuda.py sets it to the copy inside
// the nvidia-cublas / CuPy wheels when it finds one), libcublas.so.13, libcublas.so.12,
// libcublas.so. CHRONOSCALE_CUDA_GEMM=builtin skips cuBLAS (read at every call, for tests).
//
// Handles: one per (thread, device), created on first use and never destroyed (destroying them
// from static destructors at process exit races the CUDA driver's own teardown). cuBLAS handles
// are not safe to share between threads that set different streams, hence one per thread.
#include <dlfcn.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "chronoscale/cuda_info.hpp"
#include "cuda_check.hpp"
#include "gemm.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

// The few cuBLAS v2 entry points we use, declared here so that no cuBLAS header is needed.
// Enums are passed as int (C ABI); CUBLAS_OP_N = 0, CUBLAS_OP_T = 1; CUBLAS_DEFAULT_MATH = 0
// (no TF32: float32 products stay IEEE float32, as on the CPU); CUBLAS_STATUS_SUCCESS = 0.
struct CublasContext;
using Handle = CublasContext*;
using Status = int;
using CreateFn = Status (*)(Handle*);
using SetStreamFn = Status (*)(Handle, cudaStream_t);
using SetMathFn = Status (*)(Handle, int);
using SgemmFn = Status (*)(Handle, int, int, int, int, int, const float*, const float*, int,
                           const float*, int, const float*, float*, int);
using DgemmFn = Status (*)(Handle, int, int, int, int, int, const double*, const double*, int,
                           const double*, int, const double*, double*, int);
using StatusStringFn = const char* (*)(Status);
// cublasGemmEx: data types as cudaDataType_t (CUDA_R_32F = 0, CUDA_R_16BF = 14), compute types
// CUBLAS_COMPUTE_32F = 68 and CUBLAS_COMPUTE_32F_FAST_TF32 = 77, algorithm
// CUBLAS_GEMM_DEFAULT = -1.
using GemmExFn = Status (*)(Handle, int, int, int, int, int, const void*, const void*, int, int,
                            const void*, int, int, const void*, void*, int, int, int, int);

struct CublasLib {
  std::string path;
  CreateFn create = nullptr;
  SetStreamFn set_stream = nullptr;
  SetMathFn set_math = nullptr;
  SgemmFn sgemm = nullptr;
  DgemmFn dgemm = nullptr;
  GemmExFn gemm_ex = nullptr;  // optional
  StatusStringFn status_string = nullptr;
};

struct Loader {
  std::mutex mu;
  bool tried = false;
  std::atomic<const CublasLib*> lib{nullptr};  // never freed once published
  std::string why = "not loaded yet";
};

Loader& loader() {
  static Loader l;
  return l;
}

// Opens `path`; on success returns a new CublasLib (the handle is kept open for good).
const CublasLib* try_open(const std::string& path, std::string* why) {
  void* so = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!so) {
    const char* e = dlerror();
    *why = e ? e : "dlopen failed";
    return nullptr;
  }
  auto* L = new CublasLib;
  L->path = path;
  L->create = reinterpret_cast<CreateFn>(dlsym(so, "cublasCreate_v2"));
  L->set_stream = reinterpret_cast<SetStreamFn>(dlsym(so, "cublasSetStream_v2"));
  L->set_math = reinterpret_cast<SetMathFn>(dlsym(so, "cublasSetMathMode"));
  L->sgemm = reinterpret_cast<SgemmFn>(dlsym(so, "cublasSgemm_v2"));
  L->dgemm = reinterpret_cast<DgemmFn>(dlsym(so, "cublasDgemm_v2"));
  L->gemm_ex = reinterpret_cast<GemmExFn>(dlsym(so, "cublasGemmEx"));
  L->status_string = reinterpret_cast<StatusStringFn>(dlsym(so, "cublasGetStatusString"));
  if (!L->create || !L->set_stream || !L->sgemm || !L->dgemm) {
    *why = path + " lacks cublasCreate_v2 / cublasSetStream_v2 / cublasSgemm_v2 / cublasDgemm_v2";
    delete L;
    dlclose(so);
    return nullptr;
  }
  return L;
}

bool forced_builtin() {
  const char* e = std::getenv("CHRONOSCALE_CUDA_GEMM");
  return e && std::strcmp(e, "builtin") == 0;
}

const CublasLib* library() {
  Loader& l = loader();
  if (const CublasLib* L = l.lib.load(std::memory_order_acquire)) return L;
  std::lock_guard<std::mutex> lock(l.mu);
  if (l.tried) return l.lib.load();
  l.tried = true;
  std::string reasons;
  std::string candidates[4];
  int n = 0;
  if (const char* env = std::getenv("CHRONOSCALE_CUBLAS_LIB"); env && *env) candidates[n++] = env;
  for (const char* so : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"})
    if (n < 4) candidates[n++] = so;
  for (int i = 0; i < n; ++i) {
    std::string why;
    if (const CublasLib* L = try_open(candidates[i], &why)) {
      l.lib.store(L, std::memory_order_release);
      return L;
    }
    reasons += (reasons.empty() ? "" : "; ") + why;
  }
  l.why = "cuBLAS not found: " + reasons;
  return nullptr;
}

std::string status_text(const CublasLib& L, Status s) {
  const char* t = L.status_string ? L.status_string(s) : nullptr;
  return t ? std::string(t) : "cuBLAS status " + std::to_string(s);
}

using HandleKey = std::pair<const CublasLib*, int>;  // (library, device)

// Handles of threads that have ended, for the next threads to take (a cuBLAS handle may move
// between threads; it is only never used by two at once). Never destroyed: it outlives every
// thread, the main thread's exit included, and holds no CUDA call for exit time.
struct SpareHandles {
  std::mutex mu;
  std::map<HandleKey, std::vector<Handle>> free;
};
SpareHandles& spare_handles() {
  static auto* s = new SpareHandles;
  return *s;
}

// A thread's handles; at thread exit they go to the spares instead of leaking.
struct ThreadHandles {
  std::map<HandleKey, Handle> h;
  ~ThreadHandles() {
    SpareHandles& sp = spare_handles();
    std::lock_guard<std::mutex> lock(sp.mu);
    for (const auto& [key, handle] : h)
      if (handle) sp.free[key].push_back(handle);
  }
};

// This thread's handle for (library, current device): a spare one or a new one; nullptr when
// cublasCreate fails (the reason is recorded and the built-in GEMM is used instead).
Handle handle_for(const CublasLib& L) {
  thread_local ThreadHandles mine;
  auto& handles = mine.h;
  const HandleKey key{&L, current_device()};
  if (auto it = handles.find(key); it != handles.end()) return it->second;
  {
    SpareHandles& sp = spare_handles();
    std::lock_guard<std::mutex> lock(sp.mu);
    if (auto it = sp.free.find(key); it != sp.free.end() && !it->second.empty()) {
      const Handle h = it->second.back();
      it->second.pop_back();
      return handles[key] = h;
    }
  }
  Handle h = nullptr;
  const Status s = L.create(&h);
  if (s != 0 || !h) {
    Loader& l = loader();
    std::lock_guard<std::mutex> lock(l.mu);
    l.why = "cublasCreate failed: " + status_text(L, s);
    return handles[key] = nullptr;
  }
  if (L.set_math) (void)L.set_math(h, 0);  // CUBLAS_DEFAULT_MATH: IEEE float32, no TF32
  return handles[key] = h;
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

// The library and this thread's handle, set to `stream`, when cuBLAS may serve a product of
// these sizes (not forced off, loaded, 32-bit sizes); else {nullptr, nullptr}.
std::pair<const CublasLib*, Handle> ready(cudaStream_t stream,
                                          std::initializer_list<int64_t> sizes) {
  if (forced_builtin()) return {nullptr, nullptr};
  for (int64_t v : sizes)
    if (!fits_int(v)) return {nullptr, nullptr};
  const CublasLib* L = library();
  Handle h = L ? handle_for(*L) : nullptr;
  if (!h) return {nullptr, nullptr};
  const Status s = L->set_stream(h, stream);
  if (s != 0) throw CudaError("cublasSetStream failed: " + status_text(*L, s));
  return {L, h};
}

}  // namespace

bool cublas_serves() { return !forced_builtin() && library() != nullptr; }

template <class T>
bool cublas_gemm(cudaStream_t stream, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                 const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc) {
  const auto [L, h] = ready(stream, {M, N, K, lda, ldb, ldc});
  if (!h) return false;
  Status s;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands; a
  // row-major matrix read column-major is its transpose, so each op flag carries over as is.
  const T one = T(1), zero = T(0);
  const int opb = tb ? 1 : 0, opa = ta ? 1 : 0;
  if constexpr (sizeof(T) == 4)
    s = L->sgemm(h, opb, opa, int(N), int(M), int(K), &one, B, int(ldb), A, int(lda), &zero, C,
                 int(ldc));
  else
    s = L->dgemm(h, opb, opa, int(N), int(M), int(K), &one, B, int(ldb), A, int(lda), &zero, C,
                 int(ldc));
  if (s != 0)
    throw CudaError(detail::cat(sizeof(T) == 4 ? "cublasSgemm" : "cublasDgemm", " failed: ",
                                status_text(*L, s)));
  return true;
}

bool cublas_gemm_ex(cudaStream_t stream, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                    const void* A, int64_t lda, const void* B, int64_t ldb, float* C, int64_t ldc,
                    int in_type, int compute, const char* what) {
  const auto [L, h] = ready(stream, {M, N, K, lda, ldb, ldc});
  if (!h || !L->gemm_ex) return false;
  constexpr int kR32F = 0, kGemmDefault = -1;
  const float one = 1.0f, zero = 0.0f;
  // Row-major -> column-major as in cublas_gemm: swap the operands, keep the op flags.
  const Status s =
      L->gemm_ex(h, tb ? 1 : 0, ta ? 1 : 0, int(N), int(M), int(K), &one, B, in_type, int(ldb), A,
                 in_type, int(lda), &zero, C, kR32F, int(ldc), compute, kGemmDefault);
  constexpr Status kArchMismatch = 8, kNotSupported = 15;      // e.g. bf16 / TF32 before sm_80
  if (s == kArchMismatch || s == kNotSupported) return false;  // the caller's fallback
  if (s != 0)
    throw CudaError(detail::cat("cublasGemmEx (", what, ") failed: ", status_text(*L, s)));
  return true;
}

template bool cublas_gemm<float>(cudaStream_t, bool, bool, int64_t, int64_t, int64_t,
                                 const float*, int64_t, const float*, int64_t, float*, int64_t);
template bool cublas_gemm<double>(cudaStream_t, bool, bool, int64_t, int64_t, int64_t,
                                  const double*, int64_t, const double*, int64_t, double*,
                                  int64_t);

}  // namespace cuda

std::string cuda_gemm_backend() {
  if (cuda::forced_builtin()) return "builtin (CHRONOSCALE_CUDA_GEMM=builtin)";
  const cuda::CublasLib* L = cuda::library();
  cuda::Loader& l = cuda::loader();
  std::lock_guard<std::mutex> lock(l.mu);
  if (L && l.why.rfind("cublasCreate failed", 0) != 0) return "cublas:" + L->path;
  return "builtin (" + l.why + ")";
}

void cuda_load_cublas(const std::string& path) {
  std::string why;
  const cuda::CublasLib* L = cuda::try_open(path, &why);
  CS_CHECK(L != nullptr, ValueError, "cannot load cuBLAS from '", path, "': ", why);
  cuda::Loader& l = cuda::loader();
  std::lock_guard<std::mutex> lock(l.mu);
  l.tried = true;
  l.why = "loaded";
  l.lib.store(L, std::memory_order_release);  // an earlier library stays mapped (leaked)
}

}  // namespace v1
}  // namespace chronoscale
