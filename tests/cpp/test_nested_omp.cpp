// The C++ core called from inside the caller's own OpenMP parallel region (a service's worker
// team): the library's parallel regions are nested there, and OpenMP runs them on one thread.
// Its barriers must stay its own: with a one-thread plan, a bare `#pragma omp barrier` bound
// to the caller's team and hung it. Each member makes different calls (different numbers of
// the library's barriers), and the results must equal those of calls outside any region.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "chronoscale/loss.hpp"
#include "chronoscale/runtime.hpp"

using namespace chronoscale;

namespace {

double softmax_call(int64_t N, int64_t V, int64_t D, std::vector<double>* d_user) {
  std::vector<double> u(N * D), items(V * D), di(V * D);
  for (int64_t i = 0; i < N * D; ++i) u[i] = std::sin(0.1 * double(i));
  for (int64_t i = 0; i < V * D; ++i) items[i] = std::cos(0.07 * double(i));
  std::vector<int64_t> target(N);
  for (int64_t i = 0; i < N; ++i) target[i] = (7 * i) % V;
  d_user->assign(N * D, 0.0);
  Tensor U(u.data(), DType::float64, {N, D}), I(items.data(), DType::float64, {V, D}),
      Tg(target.data(), DType::int64, {N}), DU(d_user->data(), DType::float64, {N, D}),
      DI(di.data(), DType::float64, {V, D});
  return full_softmax_loss(U, I, Tg, -1, DU, DI);
}

}  // namespace

int main() {
  // V = 4096: blocks of 128 rows; N = 8 is one block (a one-thread plan), N = 1024 eight.
  const int64_t V = 4096, D = 16;
  std::vector<double> want_small, want_big, got_small, got_big;
  const double ls = softmax_call(8, V, D, &want_small), lb = softmax_call(1024, V, D, &want_big);
  int bad = 0;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
#pragma omp parallel num_threads(2) reduction(+ : bad)
    {
      std::vector<double> du;
      if (omp_get_thread_num() == 0) {
        for (int r = 0; r < 3; ++r) bad += softmax_call(8, V, D, &du) != ls || du != want_small;
      } else {
        bad += softmax_call(1024, V, D, &du) != lb;
        for (size_t i = 0; i < du.size(); ++i) bad += std::fabs(du[i] - want_big[i]) > 1e-12;
      }
    }
  }
  std::printf("%s\n", bad ? "FAILED" : "ok");
  return bad ? 1 : 0;
}
