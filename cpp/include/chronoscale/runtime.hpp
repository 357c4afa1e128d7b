#pragma once
/// Process-wide runtime settings: which BLAS serves the GEMMs and how many CPU threads run.
#include <string>

namespace chronoscale {
inline namespace v1 {

/// Load a CBLAS shared library (OpenBLAS from scipy-openblas32, MKL's libmkl_rt, any libcblas).
/// Symbols are looked up as `scipy_cblas_sgemm` or `cblas_sgemm`. Throws ValueError when the file
/// cannot be opened or holds no CBLAS. Without a call, the first GEMM tries $CHRONOSCALE_BLAS_LIB,
/// then common sonames, then falls back to a portable built-in GEMM (slow; build_info says so).
void load_blas(const std::string& path);
/// Name of the BLAS in use: "openblas", "mkl", "cblas" or "builtin".
std::string blas_name();
/// Path of the loaded BLAS library ("" for the built-in GEMM).
std::string blas_path();
/// Threads used by chronoscale's kernels and by the BLAS (>= 1).
void set_num_threads(int n);
int get_num_threads();
/// Free the calling thread's reusable CPU scratch: each thread keeps the scratch of its largest
/// recurrent call (up to 1 GiB) for its next calls until it exits.
void release_scratch();
/// Compile-time facts: compiler, SIMD flags, OpenMP, CUDA (JSON object text).
std::string build_info_json();

}  // namespace v1
}  // namespace chronoscale
