// The host side of the CUDA recurrent cells (cuda/recurrent_forward.cu, recurrent_backward.cu)
// compiled against the emulated runtime (include/cuda_runtime.h): argument wiring, planning,
// the launch of the chosen plan (cooperative or not, with the per-step fallback), the scratch
// buffers and the GEMM calls. GEMMs and column sums are plain CPU loops here (their kernels are
// checked separately in harness.cpp). cuda/cublas.cu is compiled in too: emu_cublas_gemm runs
// its row-major -> column-major mapping against tests/cuda_emu/fake_cublas.c.
#include <cuda_runtime.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "../../cuda/cublas.cu"
#include "../../cuda/recurrent_backward.cu"
#include "../../cuda/recurrent_forward.cu"

#include "cpu_gemm.hpp"  // gemm, column_sum

using namespace chronoscale;
using namespace chronoscale::cuda;

namespace {

std::string g_glue_error;

template <class CellD, class T, int RB>
void register_rb() {
  auto& reg = emu::kernel_registry();
  reg[reinterpret_cast<const void*>(&recurrent_forward_kernel<CellD, T, RB>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto a = *static_cast<FwdArgs<T>*>(args[0]);
        const auto tl = *static_cast<RecTile*>(args[1]);
        const int t0 = *static_cast<int*>(args[2]), t1 = *static_cast<int*>(args[3]),
                  tail = *static_cast<int*>(args[4]);
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_forward_kernel<CellD, T, RB>(a, tl, t0, t1, tail); });
      };
  reg[reinterpret_cast<const void*>(&recurrent_forward_many_kernel<CellD, T, RB>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto m = *static_cast<Fused<FwdArgs<T>>*>(args[0]);
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_forward_many_kernel<CellD, T, RB>(m); });
      };
  reg[reinterpret_cast<const void*>(&recurrent_backward_many_kernel<CellD, T, RB>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto m = *static_cast<Fused<BwdArgs<T>>*>(args[0]);
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_backward_many_kernel<CellD, T, RB>(m); });
      };
  reg[reinterpret_cast<const void*>(&recurrent_backward_kernel<CellD, T, RB>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto a = *static_cast<BwdArgs<T>*>(args[0]);
        const auto tl = *static_cast<RecTile*>(args[1]);
        const int t0 = *static_cast<int*>(args[2]), t1 = *static_cast<int*>(args[3]),
                  init = *static_cast<int*>(args[4]);
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_backward_kernel<CellD, T, RB>(a, tl, t0, t1, init); });
      };
}

// The register-resident forward variants (rb == 1 only).
template <class CellD, class T>
void register_reg() {
  auto& reg = emu::kernel_registry();
  reg[reinterpret_cast<const void*>(&recurrent_forward_kernel<CellD, T, 1, true>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto a = *static_cast<FwdArgs<T>*>(args[0]);
        const auto tl = *static_cast<RecTile*>(args[1]);
        const int t0 = *static_cast<int*>(args[2]), t1 = *static_cast<int*>(args[3]),
                  tail = *static_cast<int*>(args[4]);
        ++emu::device().reg_launches;
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_forward_kernel<CellD, T, 1, true>(a, tl, t0, t1, tail); });
      };
  reg[reinterpret_cast<const void*>(&recurrent_forward_many_kernel<CellD, T, 1, true>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto m = *static_cast<Fused<FwdArgs<T>>*>(args[0]);
        ++emu::device().reg_launches;
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_forward_many_kernel<CellD, T, 1, true>(m); });
      };
}

// The GEMM mode's elementwise kernels (recurrent_gemm_mode.cuh); gemm_launches counts them.
template <class CellD, class T>
void register_gemm_mode() {
  auto& reg = emu::kernel_registry();
  reg[reinterpret_cast<const void*>(&recurrent_gemm_forward_step<CellD, T>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto a = *static_cast<FwdArgs<T>*>(args[0]);
        const T* rec = *static_cast<const T**>(args[1]);
        const int t = *static_cast<int*>(args[2]);
        ++emu::device().gemm_launches;
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_gemm_forward_step<CellD, T>(a, rec, t); });
      };
  reg[reinterpret_cast<const void*>(&recurrent_gemm_forward_tail<CellD, T>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto a = *static_cast<FwdArgs<T>*>(args[0]);
        ++emu::device().gemm_launches;
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_gemm_forward_tail<CellD, T>(a); });
      };
  reg[reinterpret_cast<const void*>(&recurrent_gemm_backward_init<CellD, T>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto a = *static_cast<BwdArgs<T>*>(args[0]);
        ++emu::device().gemm_launches;
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_gemm_backward_init<CellD, T>(a); });
      };
  reg[reinterpret_cast<const void*>(&recurrent_gemm_backward_step<CellD, T>)] =
      [](void** args, dim3 g, dim3 b, size_t smem, bool coop) {
        const auto a = *static_cast<BwdArgs<T>*>(args[0]);
        const T* rec = *static_cast<const T**>(args[1]);
        const int t = *static_cast<int*>(args[2]);
        ++emu::device().gemm_launches;
        emu::launch(g, b, smem, coop, emu::device().seed++,
                    [&] { recurrent_gemm_backward_step<CellD, T>(a, rec, t); });
      };
}

template <class CellD, class T>
void register_cell() {
  register_gemm_mode<CellD, T>();
  register_reg<CellD, T>();
  register_rb<CellD, T, 1>();
  register_rb<CellD, T, 2>();
  register_rb<CellD, T, 4>();
  register_rb<CellD, T, 8>();
}

void register_all() {
  static bool done = false;
  if (done) return;
  done = true;
  register_cell<LstmCellD, float>();
  register_cell<GruCellD, float>();
  register_cell<RnnCellD, float>();
  register_cell<LstmCellD, double>();
  register_cell<GruCellD, double>();
  register_cell<RnnCellD, double>();
}

}  // namespace

extern "C" {

/// One forward + backward through chronoscale::cuda::recurrent_{forward,backward}.
struct EmuFull {
  int cell, is_double;
  int64_t B, T, I, H;
  const int64_t* len;  // or null
  void *x, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0;
  void *y, *h_n, *c_n, *gates, *hprev, *aux;
  void *dy, *dh_n, *dc_n;
  void *dx, *dw_ih, *dw_hh, *db_ih, *db_hh, *dh0, *dc0;
  int sms, refuse_cooperative_launch;
  uint32_t seed;
  int launches, cooperative_launches;  // out
  int reg_launches;                    // out: of them, register-resident forward kernels
  int gemm_launches;                   // out: of them, the GEMM mode's elementwise kernels
};

const char* emu_glue_error() { return g_glue_error.c_str(); }

/// chronoscale::cuda_load_cublas(path); 0 on success.
int emu_cublas_load(const char* path) {
  try {
    cuda_load_cublas(path);
    return 0;
  } catch (const std::exception& e) {
    g_glue_error = e.what();
    return 1;
  }
}

/// Writes chronoscale::cuda_gemm_backend() into buf.
void emu_gemm_backend(char* buf, int n) {
  std::snprintf(buf, size_t(n), "%s", cuda_gemm_backend().c_str());
}

/// C = op(A) op(B) through cuda::cublas_gemm (row-major); returns 1 when served by cuBLAS,
/// 0 when not, -1 on an error.
int emu_cublas_gemm(int is_double, int ta, int tb, int64_t M, int64_t N, int64_t K,
                    const void* A, int64_t lda, const void* B, int64_t ldb, void* C,
                    int64_t ldc) {
  try {
    if (is_double)
      return cublas_gemm<double>(nullptr, ta, tb, M, N, K, static_cast<const double*>(A), lda,
                                 static_cast<const double*>(B), ldb, static_cast<double*>(C),
                                 ldc);
    return cublas_gemm<float>(nullptr, ta, tb, M, N, K, static_cast<const float*>(A), lda,
                              static_cast<const float*>(B), ldb, static_cast<float*>(C), ldc);
  } catch (const std::exception& e) {
    g_glue_error = e.what();
    return -1;
  }
}

}  // extern "C"

namespace {

struct FullArgs {
  Cell cell;
  RecurrentDims d;
  RecurrentInputs in;
  RecurrentOutputs out;
  RecurrentGrads g;
  Tensor dy, dh_n, dc_n;
};

FullArgs full_args(const EmuFull* f) {
  const DType dt = f->is_double ? DType::float64 : DType::float32;
  const Device cu = Device::cuda;
  auto t = [&](void* p, std::initializer_list<int64_t> dims) {
    return p ? Tensor(p, dt, dims, cu) : Tensor{};
  };
  const int64_t B = f->B, T_ = f->T, I = f->I, H = f->H;
  const Cell cell = static_cast<Cell>(f->cell);
  const int G = cell == Cell::lstm ? 4 : (cell == Cell::gru ? 3 : 1);  // gate_count()
  const int64_t GH = G * H;
  FullArgs a{cell, {B, T_, I, H, G}, {}, {}, {}, {}, {}, {}};
  a.in = {t(f->x, {B, T_, I}), t(f->w_ih, {GH, I}), t(f->w_hh, {GH, H}), t(f->b_ih, {GH}),
          t(f->b_hh, {GH}),    t(f->h0, {B, H}),    t(f->c0, {B, H}),    Tensor{}};
  if (f->len) a.in.lengths = Tensor(const_cast<int64_t*>(f->len), DType::int64, {B});
  a.out = {t(f->y, {B, T_, H}),
           t(f->h_n, {B, H}),
           t(f->c_n, {B, H}),
           {t(f->gates, {B, T_, GH}), t(f->hprev, {B, T_, H}), t(f->aux, {B, T_, H})}};
  a.g = {t(f->dx, {B, T_, I}), t(f->dw_ih, {GH, I}), t(f->dw_hh, {GH, H}), t(f->db_ih, {GH}),
         t(f->db_hh, {GH}),    t(f->dh0, {B, H}),    t(f->dc0, {B, H})};
  a.dy = t(f->dy, {B, T_, H});
  a.dh_n = t(f->dh_n, {B, H});
  a.dc_n = t(f->dc_n, {B, H});
  return a;
}

template <class T>
void backward_of(const FullArgs& a) {
  recurrent_backward<T>(a.cell, a.d, a.dy, a.dh_n, a.dc_n, a.in, a.out, a.g, nullptr);
}

void setup_device(const EmuFull* f) {
  register_all();
  emu::Device& dev = emu::device();
  dev.sms = f->sms;
  dev.refuse_cooperative_launch = f->refuse_cooperative_launch != 0;
  dev.seed = f->seed;
  dev.launches = dev.cooperative_launches = dev.reg_launches = dev.gemm_launches = 0;
}

}  // namespace

extern "C" {

int emu_full(EmuFull* f) {
  try {
    setup_device(f);
    const FullArgs a = full_args(f);
    if (f->is_double) {
      recurrent_forward<double>(a.cell, a.d, a.in, a.out, nullptr);
      backward_of<double>(a);
    } else {
      recurrent_forward<float>(a.cell, a.d, a.in, a.out, nullptr);
      backward_of<float>(a);
    }
    f->launches = emu::device().launches;
    f->cooperative_launches = emu::device().cooperative_launches;
    f->reg_launches = emu::device().reg_launches;
    f->gemm_launches = emu::device().gemm_launches;
    return 0;
  } catch (const std::exception& e) {
    g_glue_error = e.what();
    return 1;
  }
}

/// n >= 2 independent recurrences (one cell and dtype) through
/// chronoscale::cuda::recurrent_forward_many and recurrent_backward_many. The launch counts of
/// the forward go to fs[0], those of the backward to fs[1].
int emu_full_many(EmuFull* fs, int n) {
  try {
    setup_device(&fs[0]);
    std::vector<FullArgs> all;
    std::vector<RecurrentDims> d;
    std::vector<RecurrentInputs> in;
    std::vector<RecurrentOutputs> out;
    for (int i = 0; i < n; ++i) {
      all.push_back(full_args(&fs[i]));
      d.push_back(all.back().d);
      in.push_back(all.back().in);
      out.push_back(all.back().out);
    }
    if (fs[0].is_double) recurrent_forward_many<double>(all[0].cell, d, in, out, nullptr);
    else recurrent_forward_many<float>(all[0].cell, d, in, out, nullptr);
    fs[0].launches = emu::device().launches;
    fs[0].cooperative_launches = emu::device().cooperative_launches;
    fs[0].reg_launches = emu::device().reg_launches;
    fs[0].gemm_launches = emu::device().gemm_launches;
    emu::device().launches = emu::device().cooperative_launches = emu::device().gemm_launches = 0;
    RecurrentBackwardMany w;
    for (const FullArgs& a : all) {
      w.dims.push_back(a.d);
      w.dy.push_back(a.dy);
      w.dh_n.push_back(a.dh_n);
      w.dc_n.push_back(a.dc_n);
      w.in.push_back(a.in);
      w.fwd.push_back(a.out);
      w.grads.push_back(a.g);
    }
    if (fs[0].is_double) recurrent_backward_many<double>(all[0].cell, w, nullptr);
    else recurrent_backward_many<float>(all[0].cell, w, nullptr);
    fs[1].launches = emu::device().launches;
    fs[1].cooperative_launches = emu::device().cooperative_launches;
    fs[1].gemm_launches = emu::device().gemm_launches;
    return 0;
  } catch (const std::exception& e) {
    g_glue_error = e.what();
    return 1;
  }
}

}  // extern "C"
