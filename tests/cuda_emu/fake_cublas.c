/* A CPU stand-in for libcublas (column-major reference GEMMs with the cuBLAS v2 signatures),
   to check chronoscale's run-time cuBLAS binding (cuda/cublas.cu) without a GPU. */
typedef struct FakeCtx* Handle;
static int fake_ctx;

static int creates;
int cublasCreate_v2(Handle* h) { *h = (Handle)&fake_ctx; ++creates; return 0; }
/* Handles created so far (tests: handles of ended threads are reused, not leaked). */
int fake_cublas_creates(void) { return creates; }
int cublasSetStream_v2(Handle h, void* s) { (void)h; (void)s; return 0; }
int cublasSetMathMode(Handle h, int m) { (void)h; return m == 0 ? 0 : 7; }
const char* cublasGetStatusString(int s) { return s ? "fake failure" : "fake success"; }

#define FAKE_GEMM(NAME, T)                                                                     \
  int NAME(Handle h, int ta, int tb, int m, int n, int k, const T* alpha, const T* A, int lda, \
           const T* B, int ldb, const T* beta, T* C, int ldc) {                              \
    (void)h;                                                                                   \
    if (m < 0 || n < 0 || k < 0 || lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m)        \
      return 7; /* CUBLAS_STATUS_INVALID_VALUE */                                              \
    for (int j = 0; j < n; ++j)                                                                \
      for (int i = 0; i < m; ++i) {                                                            \
        T s = 0;                                                                               \
        for (int p = 0; p < k; ++p)                                                            \
          s += (ta ? A[p + i * lda] : A[i + p * lda]) * (tb ? B[j + p * ldb] : B[p + j * ldb]); \
        C[i + j * ldc] = *alpha * s + (*beta != 0 ? *beta * C[i + j * ldc] : 0);               \
      }                                                                                        \
    return 0;                                                                                  \
  }
FAKE_GEMM(cublasSgemm_v2, float)
FAKE_GEMM(cublasDgemm_v2, double)
