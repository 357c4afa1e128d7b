// C entry points (for ctypes) that run the CUDA kernels of the training ops -- conv1d, linear,
// dropout, the optimisers and the losses -- in the CPU emulator (emu.hpp), host code included
// (argument wiring, scratch buffers, chunk tables, copies of host arrays, the launches and the
// reductions). tests/python/test_train_cuda_emu.py builds this file with
//   g++ -std=c++20 -shared -fPIC -I tests/cuda_emu/include -I cuda -I cpp/include -I cpp/src
// and compares every result with the CPU kernels. GEMMs and column sums are plain CPU loops here
// (their kernels are checked by harness.cpp); cuBLAS, streams and real launches need a GPU
// (tests/python/test_*_cuda.py).
#include <cuda_runtime.h>  // tests/cuda_emu/include: the emulator

#include <cmath>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

using std::log;
using std::log1p;
using std::sqrt;

#include "../../cuda/conv1d.cu"
#include "../../cuda/dropout.cu"
#include "../../cuda/full_softmax.cu"
#include "../../cuda/linear.cu"
#include "../../cuda/loss.cu"
#include "../../cuda/loss_sampled.cu"
#include "../../cuda/optim.cu"
#include "cpu_gemm.hpp"  // gemm.cuh's gemm and column_sum as CPU loops
#include "gemm.cuh"

using namespace chronoscale;

namespace {

std::string g_error;

template <class F>
int guarded(F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    g_error = e.what();
    return 1;
  }
}

Tensor dev(void* p, bool dbl, std::initializer_list<int64_t> dims) {
  return p ? Tensor(p, dbl ? DType::float64 : DType::float32, dims, Device::cuda) : Tensor{};
}

AdamOptions adam_opts(int64_t step, double lr, double b1, double b2, double eps, double wd,
                      int decoupled) {
  AdamOptions o;
  o.step = step;
  o.lr = lr;
  o.beta1 = b1;
  o.beta2 = b2;
  o.eps = eps;
  o.weight_decay = wd;
  o.decoupled = decoupled != 0;
  return o;
}

SgdOptions sgd_opts(double lr, double mom, double wd, int nesterov) {
  SgdOptions o;
  o.lr = lr;
  o.momentum = mom;
  o.weight_decay = wd;
  o.nesterov = nesterov != 0;
  return o;
}

}  // namespace

#define CS_EMU_FLOAT(dbl, ...)                  \
  do {                                          \
    if (dbl) {                                  \
      using T = double;                         \
      __VA_ARGS__;                              \
    } else {                                    \
      using T = float;                          \
      __VA_ARGS__;                              \
    }                                           \
  } while (0)

extern "C" {

const char* emu_train_error() { return g_error.c_str(); }

/// Emulator scheduling seed of the next launches.
void emu_train_seed(uint32_t seed) { emu::device().seed = seed; }

/// gemm_tf32 with emulated TF32 tensor cores (1) or as on a device without them (0, default).
void emu_tf32_cores(int on) {
  cuda::g_tf32_cores = on != 0;
}

int emu_dropout(int dbl, const void* in, int64_t n, double p, uint64_t seed, void* out) {
  return guarded([&] {
    CS_EMU_FLOAT(dbl, cuda::dropout_apply<T>(static_cast<const T*>(in), n, p, seed,
                                             static_cast<T*>(out), nullptr));
  });
}

int emu_linear_forward(int dbl, int64_t N, int64_t I, int64_t O, const void* x, const void* w,
                       const void* b, int act, void* y) {
  return guarded([&] {
    const LinearDims d{N, I, O};
    CS_EMU_FLOAT(dbl, cuda::linear_forward<T>(d, static_cast<const T*>(x),
                                              static_cast<const T*>(w), static_cast<const T*>(b),
                                              static_cast<Activation>(act),
                                              static_cast<T*>(y), nullptr));
  });
}

int emu_linear_backward(int dbl, int64_t N, int64_t I, int64_t O, const void* dy, const void* x,
                        const void* w, const void* y, int act, void* dx, void* dw, void* db) {
  return guarded([&] {
    const LinearDims d{N, I, O};
    CS_EMU_FLOAT(dbl, cuda::linear_backward<T>(
                          d, static_cast<const T*>(dy), static_cast<const T*>(x),
                          static_cast<const T*>(w), static_cast<const T*>(y),
                          static_cast<Activation>(act), static_cast<T*>(dx),
                          static_cast<T*>(dw), static_cast<T*>(db), nullptr));
  });
}

int emu_conv1d_forward(int dbl, int64_t B, int64_t T_, int64_t Cin, int64_t Cout, int64_t K,
                       void* x, void* w, void* b, int64_t* len, int relu, void* y) {
  return guarded([&] {
    const Conv1dDims d{B, T_, Cin, Cout, K, T_ - K + 1};
    Conv1dInputs in{dev(x, dbl, {B, T_, Cin}), dev(w, dbl, {Cout, Cin, K}), dev(b, dbl, {Cout}),
                    len ? Tensor(len, DType::int64, {B}) : Tensor{}, relu != 0};
    const Tensor Y = dev(y, dbl, {B, d.To, Cout});
    CS_EMU_FLOAT(dbl, cuda::conv1d_forward<T>(d, in, Y, nullptr));
  });
}

int emu_conv1d_backward(int dbl, int64_t B, int64_t T_, int64_t Cin, int64_t Cout, int64_t K,
                        void* dy, void* x, void* w, int64_t* len, int relu, void* y, void* dx,
                        void* dw, void* db) {
  return guarded([&] {
    const Conv1dDims d{B, T_, Cin, Cout, K, T_ - K + 1};
    Conv1dInputs in{dev(x, dbl, {B, T_, Cin}), dev(w, dbl, {Cout, Cin, K}), Tensor{},
                    len ? Tensor(len, DType::int64, {B}) : Tensor{}, relu != 0};
    CS_EMU_FLOAT(dbl, cuda::conv1d_backward<T>(d, dev(dy, dbl, {B, d.To, Cout}), in,
                                               dev(y, dbl, {B, d.To, Cout}),
                                               dev(dx, dbl, {B, T_, Cin}),
                                               dev(dw, dbl, {Cout, Cin, K}),
                                               dev(db, dbl, {Cout}), nullptr));
  });
}

int emu_adam(int dbl, void* p, const void* g, void* m, void* v, int64_t n, int64_t step,
             double lr, double b1, double b2, double eps, double wd, int decoupled) {
  return guarded([&] {
    const AdamOptions o = adam_opts(step, lr, b1, b2, eps, wd, decoupled);
    CS_EMU_FLOAT(dbl, cuda::adam_step<T>(static_cast<T*>(p), static_cast<const T*>(g),
                                         static_cast<T*>(m), static_cast<T*>(v), n, o, nullptr));
  });
}

int emu_adam_many(int dbl, int count, void** p, void** g, void** m, void** v, const int64_t* n,
                  const int64_t* steps, double lr, double b1, double b2, double eps, double wd,
                  int decoupled) {
  return guarded([&] {
    const AdamOptions o = adam_opts(1, lr, b1, b2, eps, wd, decoupled);
    CS_EMU_FLOAT(dbl, {
      std::vector<cpu::AdamSlice<T>> s;
      for (int i = 0; i < count; ++i)
        s.push_back({static_cast<T*>(p[i]), static_cast<const T*>(g[i]), static_cast<T*>(m[i]),
                     static_cast<T*>(v[i]), n[i], steps[i]});
      cuda::adam_step_many<T>(s, o, nullptr);
    });
  });
}

int emu_adam_rows(int dbl, void* p, const int64_t* rows, int64_t U, int64_t D, const void* g,
                  void* m, void* v, int64_t step, double lr, double b1, double b2, double eps,
                  double wd, int decoupled) {
  return guarded([&] {
    const AdamOptions o = adam_opts(step, lr, b1, b2, eps, wd, decoupled);
    CS_EMU_FLOAT(dbl, cuda::adam_step_rows<T>(static_cast<T*>(p), rows, U, D,
                                              static_cast<const T*>(g), static_cast<T*>(m),
                                              static_cast<T*>(v), o, nullptr));
  });
}

int emu_sgd(int dbl, void* p, const void* g, void* buf, int64_t n, double lr, double mom,
            double wd, int nesterov) {
  return guarded([&] {
    const SgdOptions o = sgd_opts(lr, mom, wd, nesterov);
    CS_EMU_FLOAT(dbl, cuda::sgd_step<T>(static_cast<T*>(p), static_cast<const T*>(g),
                                        static_cast<T*>(buf), n, o, nullptr));
  });
}

int emu_sgd_rows(int dbl, void* p, const int64_t* rows, int64_t U, int64_t D, const void* g,
                 void* buf, double lr, double mom, double wd, int nesterov) {
  return guarded([&] {
    const SgdOptions o = sgd_opts(lr, mom, wd, nesterov);
    CS_EMU_FLOAT(dbl, cuda::sgd_step_rows<T>(static_cast<T*>(p), rows, U, D,
                                             static_cast<const T*>(g), static_cast<T*>(buf), o,
                                             nullptr));
  });
}

/// grads[i] has n[i] elements of float64 when dbl[i], else float32.
int emu_clip(int count, void** grads, const int64_t* n, const int* dbl, double max_norm,
             double* norm) {
  return guarded([&] {
    std::vector<Tensor> gs;
    for (int i = 0; i < count; ++i) gs.push_back(dev(grads[i], dbl[i] != 0, {n[i]}));
    *norm = cuda::clip_grad_norm(gs, max_norm, nullptr, true);
  });
}

/// device_loss: the loss goes to *loss as the kernels' output (loss_out) and the call must
/// return NaN (as emu_full_softmax).
int emu_point_loss(int dbl, int kind, const void* p, const void* t, const void* w, int64_t n,
                   double delta, void* d, double* loss, int device_loss) {
  return guarded([&] {
    CS_EMU_FLOAT(dbl, {
      const double r =
          cuda::point_loss<T>(static_cast<PointLoss>(kind), static_cast<const T*>(p),
                              static_cast<const T*>(t), static_cast<const T*>(w), n, delta,
                              static_cast<T*>(d), nullptr, device_loss ? loss : nullptr);
      if (!device_loss)
        *loss = r;
      else if (!std::isnan(r))
        throw std::runtime_error("device loss: the call returned a value");
    });
  });
}

int emu_softmax_xent(int dbl, const void* logits, const int64_t* target, int64_t N, int64_t V,
                     int64_t ignore_index, int64_t K, void* d, double* loss) {
  return guarded([&] {
    CS_EMU_FLOAT(dbl, *loss = cuda::softmax_cross_entropy<T>(static_cast<const T*>(logits),
                                                             target, N, V, ignore_index, K,
                                                             static_cast<T*>(d), nullptr));
  });
}

int emu_full_softmax(int dbl, const void* user, const void* items, const int64_t* target, int64_t N,
                     int64_t V, int64_t D, int64_t ignore_index, int64_t K, void* d_user,
                     void* d_items, int64_t block_logits, int precision, double* loss,
                     int device_loss) {
  // precision: a MatmulPrecision (0 float32, 1 bfloat16, 2 tfloat32, 3 tf32x3). device_loss: the
  // loss goes to *loss as the kernels' output (loss_out; emulated device memory is host memory) and
  // the call must return NaN.
  return guarded([&] {
    CS_EMU_FLOAT(dbl, {
      const double r = cuda::full_softmax_loss<T>(
          static_cast<const T*>(user), static_cast<const T*>(items), target, N, V, D, ignore_index,
          K, static_cast<T*>(d_user), static_cast<T*>(d_items), nullptr, block_logits,
          static_cast<MatmulPrecision>(precision), device_loss ? loss : nullptr);
      if (!device_loss)
        *loss = r;
      else if (!std::isnan(r))
        throw std::runtime_error("device loss: the call returned a value");
    });
  });
}

/// The plan's arrays come from the caller (negatives [S], rows [U], offsets [U + 1], sources).
int emu_sampled_softmax(int dbl, void* user, void* items, int64_t* target, int64_t N, int64_t D,
                        int64_t V, int64_t S, void* log_q, int log_q_dbl, int hits,
                        int64_t ignore_index, const int64_t* negatives, double log_norm,
                        const int64_t* rows, int64_t U, const int64_t* offsets,
                        const int64_t* sources, void* d_user, void* d_rows, double* loss) {
  return guarded([&] {
    SampledSoftmaxInputs in;
    in.user = dev(user, dbl, {N, D});
    in.items = dev(items, dbl, {V, D});
    in.target = Tensor(target, DType::int64, {N});
    if (log_q) in.log_q = Tensor(log_q, log_q_dbl ? DType::float64 : DType::float32, {V});
    in.num_samples = S;
    in.remove_accidental_hits = hits != 0;
    in.ignore_index = ignore_index;
    SampledSoftmaxPlan plan;
    plan.negatives.assign(negatives, negatives + S);
    plan.log_norm = log_norm;
    plan.rows.assign(rows, rows + U);
    plan.offsets.assign(offsets, offsets + U + 1);
    plan.sources.assign(sources, sources + offsets[U]);
    const SampledSoftmaxDims d{N, D, V, S};
    CS_EMU_FLOAT(dbl, *loss = cuda::sampled_softmax_loss<T>(d, in, plan, static_cast<T*>(d_user),
                                                            static_cast<T*>(d_rows), nullptr));
  });
}

}  // extern "C"
