// The full softmax cross-entropy on the GPU (cpp/src/cpu/full_softmax.cpp on the CPU): the rows
// run in blocks whose [r, V] logits fit a fixed budget; per block one GEMM for the logits, the
// cross-entropy rows (softmax_xent.cuh: float64 loss per row, the gradient written in place or
// in the products' input format) and the two backward GEMMs. The loss is summed on the device
// in a fixed order and read back once at the end, or left on the device (loss_out, no wait).
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "bf16.cuh"
#include "gemm.cuh"
#include "loss.cuh"
#include "softmax_xent.cuh"
#include "tf32.cuh"
#include "train_common.cuh"

namespace chronoscale {
inline namespace v1 {
namespace cuda {

namespace {

template <class T>
__global__ void add_kernel(T* __restrict__ dst, const T* __restrict__ src, int64_t n) {
  for (int64_t i = flat_index(); i < n; i += flat_stride()) dst[i] += src[i];
}

int64_t round_up4(int64_t n) {
  return (n + 3) / 4 * 4;
}

// precision="tf32x3": float32-accurate products from TF32 tensor-core products of TF32 pairs
// (tf32.cuh), three TF32 products' work for each float32 one. With Dp, Vp = D, V rounded up to
// 4 (16-byte aligned rows for the tensor-core kernels; the padding columns are zero or unread):
//   Fs [V, 3 Dp] = [F_hi | F_lo | F_hi] (once per call), Zs [r, 3 Dp] = [z_hi | z_hi | z_lo]
//   logits [r, Vp] = Zs Fs^T                  (K = 3 Dp: z_hi F_hi + z_hi F_lo + z_lo F_hi)
//   G [r, 2 Vp] = [g_hi | g_lo]               (the cross-entropy writes the gradient as pairs)
//   O [r, 3 Dp] = [g_hi Fs[:, :2 Dp] | g_lo F_hi]          d_user = the sum of O's three parts
//   P [V, 3 Dp] = [g_hi^T Zs[:, Dp:] | g_lo^T z_hi]        d_items (+)= the sum of P's parts
class Tf32x3 {
 public:
  Tf32x3(const float* items, int64_t R, int64_t V, int64_t D, cudaStream_t s)
      : V_(V),
        D_(D),
        Dp_(round_up4(D)),
        Vp_(round_up4(V)),
        s_(s),
        fs_(V * 3 * Dp_, s),
        zs_(R * 3 * Dp_, s),
        logits_(R * Vp_, s),
        g_(R * 2 * Vp_, s),
        o_(R * 3 * Dp_, s),
        p_(V * 3 * Dp_, s) {
    tf32_split(items, V, D, Dp_, 0b010, fs_.get(), s);
  }

  // Rows [i, i + r) (z = user + i D): the loss per row, d_user's rows, d_items (+)= their part.
  void block(const float* z, int64_t r, const int64_t* dtarget, int64_t ignore_index, float inv_k,
             double* row_loss, float* d_user, float* d_items, bool accumulate) {
    const int64_t P3 = 3 * Dp_;
    float* const g = g_.get();
    tf32_split(z, r, D_, Dp_, 0b100, zs_.get(), s_);
    gemm_tf32(s_, false, true, r, V_, P3, zs_.get(), P3, fs_.get(), P3, logits_.get(), Vp_);
    xent::queue(logits_.get(), Vp_, dtarget, r, V_, ignore_index, inv_k,
                xent::GradTf32Pair{g, 2 * Vp_, Vp_}, row_loss, s_);
    gemm_tf32(s_, false, false, r, 2 * Dp_, V_, g, 2 * Vp_, fs_.get(), P3, o_.get(), P3);
    gemm_tf32(s_, false, false, r, Dp_, V_, g + Vp_, 2 * Vp_, fs_.get(), P3, o_.get() + 2 * Dp_,
              P3);
    tf32_sum3(o_.get(), r, D_, Dp_, false, d_user, s_);
    gemm_tf32(s_, true, false, V_, 2 * Dp_, r, g, 2 * Vp_, zs_.get() + Dp_, P3, p_.get(), P3);
    gemm_tf32(s_, true, false, V_, Dp_, r, g + Vp_, 2 * Vp_, zs_.get(), P3, p_.get() + 2 * Dp_, P3);
    tf32_sum3(p_.get(), V_, D_, Dp_, accumulate, d_items, s_);
  }

 private:
  int64_t V_, D_, Dp_, Vp_;
  cudaStream_t s_;
  DeviceBuffer<float> fs_, zs_, logits_, g_, o_, p_;
};

// The rows [0, N) in blocks of R: float32 / float64 products, or (float32) bfloat16 / TF32.
template <class T>
void queue_blocks(const T* user, const T* items, const int64_t* dtarget, int64_t N, int64_t V,
                  int64_t D, int64_t R, int64_t ignore_index, T inv_k, T* d_user, T* d_items,
                  double* row_loss, MatmulPrecision precision, cudaStream_t s) {
  const DeviceBuffer<T> logits(R * V, s);
  const DeviceBuffer<T> part(R < N ? V * D : 0, s);  // d_items of the blocks after the first
  // bfloat16: the three products read bfloat16 copies of their operands (tensor cores),
  // accumulate and write float32; the logits and the cross-entropy stay float32, and the
  // cross-entropy kernel writes the logits' gradient in bfloat16 for the two backward products.
  // tfloat32: the products read the float32 operands, rounded to TF32 on the tensor cores.
  constexpr bool kFloat = std::is_same_v<T, float>;
  const bool half = kFloat && precision == MatmulPrecision::bfloat16;
  const bool tf32 = kFloat && precision == MatmulPrecision::tfloat32;
  const DeviceBuffer<uint16_t> items_h(half ? V * D : 0, s), user_h(half ? R * D : 0, s),
      dl_h(half ? R * V : 0, s);
  // Operand x (n values) in bfloat16 (into `h`) when `half`.
  auto narrow = [&](const T* x, const DeviceBuffer<uint16_t>& h, int64_t n) {
    if constexpr (kFloat)
      if (half) to_bf16(x, h.get(), n, s);
  };
  // C = op(A) op(B), from the bfloat16 copies (Ah, Bh) when `half`.
  auto product = [&](bool ta, bool tb, int64_t M, int64_t Nc, int64_t Kc, const T* A,
                     const DeviceBuffer<uint16_t>& Ah, int64_t lda, const T* B,
                     const DeviceBuffer<uint16_t>& Bh, int64_t ldb, T* C, int64_t ldc) {
    if constexpr (kFloat) {
      if (half) return gemm_bf16(s, ta, tb, M, Nc, Kc, Ah.get(), lda, Bh.get(), ldb, C, ldc);
      if (tf32) return gemm_tf32(s, ta, tb, M, Nc, Kc, A, lda, B, ldb, C, ldc);
    }
    gemm<T>(s, ta, tb, M, Nc, Kc, A, lda, B, ldb, C, ldc);
  };
  narrow(items, items_h, V * D);
  for (int64_t i = 0; i < N; i += R) {
    const int64_t r = std::min(R, N - i);
    const T* u = user + i * D;
    T* di = i == 0 ? d_items : part.get();
    narrow(u, user_h, r * D);
    product(false, true, r, V, D, u, user_h, D, items, items_h, D, logits.get(), V);
    if constexpr (kFloat) {
      if (half)  // the gradient straight to bfloat16 (the logits stay as they are)
        xent::queue(logits.get(), V, dtarget + i, r, V, ignore_index, inv_k,
                    xent::GradBf16{dl_h.get(), V}, row_loss + i, s);
    }
    if (!half)
      xent::queue(logits.get(), V, dtarget + i, r, V, ignore_index, inv_k,
                  xent::GradKeep<T>{logits.get(), V}, row_loss + i, s);
    product(false, false, r, D, V, logits.get(), dl_h, V, items, items_h, D, d_user + i * D, D);
    product(true, false, V, D, r, logits.get(), dl_h, V, u, user_h, D, di, D);
    if (i > 0)
      train::launch(add_kernel<T>, dim3(train::blocks_for(V * D)), dim3(train::kThreads), s,
                    "add_kernel", d_items, part.get(), V * D);
  }
}

}  // namespace

template <class T>
double full_softmax_loss(const T* user, const T* items, const int64_t* target, int64_t N, int64_t V,
                         int64_t D, int64_t ignore_index, int64_t K, T* d_user, T* d_items,
                         void* stream, int64_t block_logits, MatmulPrecision precision,
                         double* loss_out) {
  const auto s = static_cast<cudaStream_t>(stream);
  if (K == 0) {
    CS_CUDA_CHECK(cudaMemsetAsync(d_user, 0, sizeof(T) * static_cast<size_t>(N * D), s));
    CS_CUDA_CHECK(cudaMemsetAsync(d_items, 0, sizeof(T) * static_cast<size_t>(V * D), s));
    if (loss_out) CS_CUDA_CHECK(cudaMemsetAsync(loss_out, 0, sizeof(double), s));  // 0.0
    return loss_out ? std::numeric_limits<double>::quiet_NaN() : 0.0;
  }
  const int64_t R = std::max<int64_t>(1, std::min<int64_t>(N, block_logits / V));
  const auto dtarget = train::to_device(target, N, s);
  DeviceBuffer<double> row_loss(N + 1, s);
  const T inv_k = T(1.0 / static_cast<double>(K));
  bool done = false;
  if constexpr (std::is_same_v<T, float>) {
    if (precision == MatmulPrecision::tf32x3) {
      Tf32x3 x3(items, R, V, D, s);
      for (int64_t i = 0; i < N; i += R)
        x3.block(user + i * D, std::min(R, N - i), dtarget.get() + i, ignore_index, inv_k,
                 row_loss.get() + i, d_user + i * D, d_items, i > 0);
      done = true;
    }
  }
  if (!done)
    queue_blocks(user, items, dtarget.get(), N, V, D, R, ignore_index, inv_k, d_user, d_items,
                 row_loss.get(), precision, s);
  if (loss_out) {  // the mean on the device, no wait
    train::finish_sum(row_loss.get(), N, static_cast<double>(K), loss_out, s);
    return std::numeric_limits<double>::quiet_NaN();
  }
  train::finish_sum(row_loss.get(), N, 1.0, row_loss.get() + N, s);
  return train::read_scalar(row_loss.get() + N, s) / static_cast<double>(K);
}

template double full_softmax_loss<float>(const float*, const float*, const int64_t*, int64_t,
                                         int64_t, int64_t, int64_t, int64_t, float*, float*, void*,
                                         int64_t, MatmulPrecision, double*);
template double full_softmax_loss<double>(const double*, const double*, const int64_t*, int64_t,
                                          int64_t, int64_t, int64_t, int64_t, double*, double*,
                                          void*, int64_t, MatmulPrecision, double*);

}  // namespace cuda
}  // namespace v1
}  // namespace chronoscale
