// Build facts reported by chronoscale.build_info().
#include "chronoscale/runtime.hpp"

#include <string>

#include "chronoscale/version.hpp"
#include "cpu/steps.hpp"

namespace chronoscale {
inline namespace v1 {

namespace {
const char* yes(bool b) { return b ? "true" : "false"; }
}

void release_scratch() {
  cpu::release_workspace();
}

std::string build_info_json() {
#if defined(__clang__)
  const std::string compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  const std::string compiler = std::string("gcc ") + __VERSION__;
#else
  const std::string compiler = "unknown";
#endif
#ifdef __AVX512F__
  const bool avx512 = true;
#else
  const bool avx512 = false;
#endif
#ifdef __AVX2__
  const bool avx2 = true;
#else
  const bool avx2 = false;
#endif
#ifdef __FMA__
  const bool fma = true;
#else
  const bool fma = false;
#endif
#ifdef _OPENMP
  const bool omp = true;
#else
  const bool omp = false;
#endif
#ifdef CHRONOSCALE_WITH_CUDA
  const bool cuda = true;
#else
  const bool cuda = false;
#endif
  std::string s = "{";
  s += "\"version\": \"" CHRONOSCALE_VERSION_STRING "\", ";
  s += "\"compiler\": \"" + compiler + "\", ";
  s += "\"cxx_flags\": \"" CHRONOSCALE_CXX_FLAGS "\", ";
  s += std::string("\"march_native\": ") + yes(CHRONOSCALE_NATIVE_ARCH) + ", ";
  s += std::string("\"avx2\": ") + yes(avx2) + ", ";
  s += std::string("\"fma\": ") + yes(fma) + ", ";
  s += std::string("\"avx512\": ") + yes(avx512) + ", ";
  s += std::string("\"openmp\": ") + yes(omp) + ", ";
  s += std::string("\"cuda\": ") + yes(cuda) + ", ";
  s += "\"cuda_architectures\": \"" CHRONOSCALE_CUDA_ARCHS "\"";
  return s + "}";
}

}  // namespace v1
}  // namespace chronoscale
