/* chronoscale C API: for services that embed the native library without Python.
 *
 * Conventions (as everywhere in chronoscale): arrays are dense, C-contiguous (row-major),
 * batch-first [B, T, C]; float32 or float64 data; lengths[B] int64 host arrays; the caller
 * allocates every output with the documented shape. Pointers of CS_CUDA tensors are device
 * memory; `stream` is a cudaStream_t (NULL = default stream) and is ignored on the CPU.
 *
 * Errors: every function returns CS_OK or an error code; chronoscale_last_error() gives the
 * message of the calling thread's last error. Nothing aborts the process: shapes are checked
 * for overflowing element counts and negative dims, and an error inside a worker thread (an
 * index range, an allocation) is returned by the call. Thread-safe: no global
 * mutable state except the BLAS choice and the thread count.
 */
#ifndef CHRONOSCALE_H_
#define CHRONOSCALE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  CS_OK = 0,
  CS_ERR_VALUE = 1,       /* bad shape or value (Python: ValueError) */
  CS_ERR_TYPE = 2,        /* bad dtype (Python: TypeError) */
  CS_ERR_CUDA = 3,        /* a CUDA call failed */
  CS_ERR_UNSUPPORTED = 4, /* not available in this build / on this device */
  CS_ERR_INTERNAL = 5     /* anything else (out of memory, ...) */
} cs_status;

typedef enum { CS_FLOAT32 = 0, CS_FLOAT64 = 1, CS_INT64 = 2, CS_INT32 = 3 } cs_dtype;
typedef enum { CS_CPU = 0, CS_CUDA = 1 } cs_device;
typedef enum {
  CS_RNN_TANH = 0,
  CS_RNN_SIGMOID = 1,
  CS_RNN_RELU = 2,
  CS_LSTM = 3,
  CS_GRU = 4,
  /* not cells: they make any int a valid cs_cell value, so that an out-of-range one is
     refused (CS_ERR_VALUE) rather than undefined behaviour in C++ */
  CS_CELL_MIN_ENUM = -0x7FFFFFFF - 1,
  CS_CELL_MAX_ENUM = 0x7FFFFFFF
} cs_cell;

/* A view of an array. Pass NULL for an absent optional argument. */
typedef struct {
  void* data;
  int32_t dtype;  /* cs_dtype */
  int32_t device; /* cs_device */
  int32_t ndim;
  int64_t shape[6];
} cs_tensor;

/* "MAJOR.MINOR.PATCH" of the library. */
const char* chronoscale_version(void);
/* Message of the calling thread's last error ("" if none): valid until the thread's next call
 * (a successful call clears it). Messages name the argument ("w_ih: ..."). */
const char* chronoscale_last_error(void);
/* Build facts as a JSON object (static string). */
const char* chronoscale_build_info(void);
/* Use the CBLAS library at `path` (libscipy_openblas.so, libmkl_rt.so.2, ...). Without this call
 * the first GEMM searches $CHRONOSCALE_BLAS_LIB and common sonames, else a slow built-in GEMM.
 * Safe while other threads compute: a library once loaded stays loaded, so a GEMM running in
 * it finishes there; the GEMMs a running call makes after the switch use the new library
 * (results agree to rounding). */
cs_status chronoscale_load_blas(const char* path);
/* CPU threads for kernels (the BLAS itself stays single-threaded): process-wide, for the calls
 * of every thread (not only the calling one, as OpenMP's own setting would be). */
cs_status chronoscale_set_num_threads(int n);
/* Free the calling thread's reusable CPU scratch: each calling thread keeps the scratch of its
 * largest recurrent call (up to 1 GiB) for its next calls, until it exits or calls this. */
cs_status chronoscale_release_scratch(void);

/* Recurrent forward over a padded batch; weights in torch.nn layout (G = 1 RNN, 4 LSTM, 3 GRU).
 *   x [B,T,I]; w_ih [G*H,I]; w_hh [G*H,H]; b_ih, b_hh [G*H] or NULL; h0 [B,H] or NULL;
 *   c0 [B,H] or NULL (LSTM only); lengths [B] int64 or NULL.
 * Outputs: y [B,T,H]; h_n [B,H]; c_n [B,H] (LSTM, else NULL); the cache for the backward pass:
 *   gates [B,T,G*H]; hprev [B,T,H]; aux [B,T,H] (LSTM and GRU, else NULL).
 * Outputs share no memory with each other or with the inputs (CS_ERR_VALUE otherwise): to carry
 * the state from call to call, alternate two buffers (h0 of the next call = h_n of this one). */
cs_status chronoscale_recurrent_forward(cs_cell cell, const cs_tensor* x, const cs_tensor* w_ih,
                                        const cs_tensor* w_hh, const cs_tensor* b_ih,
                                        const cs_tensor* b_hh, const cs_tensor* h0,
                                        const cs_tensor* c0, const cs_tensor* lengths,
                                        cs_tensor* y, cs_tensor* h_n, cs_tensor* c_n,
                                        cs_tensor* gates, cs_tensor* hprev, cs_tensor* aux,
                                        void* stream);

/* Recurrent backward. dy [B,T,H], dh_n / dc_n [B,H] may be NULL. Inputs and cache as given to and
 * filled by the forward call. Outputs: dx [B,T,I]; dw_ih [G*H,I]; dw_hh [G*H,H];
 * db_ih, db_hh [G*H], dh0 [B,H], dc0 [B,H] (LSTM) may be NULL when not wanted. Outputs share no
 * memory with each other or with the inputs (CS_ERR_VALUE otherwise). */
cs_status chronoscale_recurrent_backward(
    cs_cell cell, const cs_tensor* dy, const cs_tensor* dh_n, const cs_tensor* dc_n,
    const cs_tensor* x, const cs_tensor* w_ih, const cs_tensor* w_hh, const cs_tensor* b_ih,
    const cs_tensor* b_hh, const cs_tensor* h0, const cs_tensor* c0, const cs_tensor* lengths,
    const cs_tensor* gates, const cs_tensor* hprev, const cs_tensor* aux, cs_tensor* dx,
    cs_tensor* dw_ih, cs_tensor* dw_hh, cs_tensor* db_ih, cs_tensor* db_hh, cs_tensor* dh0,
    cs_tensor* dc0, void* stream);

/* Top-k per row: ids [N,k] int64 and values [N,k] (scores' dtype) = the k best columns of each
 * row of scores [N,V], best first; equal scores by lower column, NaN below every number (-inf
 * included); 1 <= k <= V. The same order on the CPU and on CUDA. */
cs_status chronoscale_top_k(const cs_tensor* scores, int64_t k, cs_tensor* ids, cs_tensor* values,
                            void* stream);

#ifdef __cplusplus
}
#endif

#endif /* CHRONOSCALE_H_ */
