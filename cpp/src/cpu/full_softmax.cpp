// CPU full-softmax loss over an item table: logits = user @ items^T, cross-entropy and both
// gradients in one call, in row blocks so the [N, V] logits never exist at once.
//
// The rows are cut into blocks of `block_rows(V)` rows (a block's logits are about 2 MiB: they
// stay in the thread's cache). The team works in waves of one block per thread:
//   A. each thread: logits of its block (GEMM), softmax cross-entropy in place (the logits
//      become dlogits), d_user of its rows = dlogits @ items (GEMM);
//   B. barrier; each thread adds the whole wave's dlogits^T @ user to its own range of item rows
//      of d_items (one GEMM), so no thread-private [V, D] copies are needed; barrier.
// The loss is summed per block in double and the blocks are added in order. d_user rows do not
// depend on the thread count; d_items (a sum over all rows) is deterministic for a given thread
// count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../blas.hpp"
#include "loss.hpp"
#include "parallel.hpp"
#include "softmax_row.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

int64_t block_rows(int64_t V) {
  const int64_t rows = (int64_t(1) << 19) / std::max<int64_t>(V, 1);  // ~2 MiB of float logits
  return std::clamp<int64_t>(rows, 8, 512);
}

}  // namespace

template <class T>
double full_softmax_loss(const T* user, const T* items, const int64_t* target, int64_t N,
                         int64_t V, int64_t D, int64_t ignore_index, int64_t K, T* d_user,
                         T* d_items) {
  std::memset(d_items, 0, sizeof(T) * static_cast<size_t>(V * D));
  if (K == 0) {
    std::memset(d_user, 0, sizeof(T) * static_cast<size_t>(N * D));
    return 0.0;
  }
  const T scale = T(1.0 / static_cast<double>(K));
  const int64_t Mb = block_rows(V), nb = (N + Mb - 1) / Mb;
  int nth = max_threads();
  if (nth > nb) nth = static_cast<int>(nb);
  // One logits buffer per thread, contiguous so a wave's blocks form one [rows, V] matrix.
  std::vector<T> buf(static_cast<size_t>(nth * Mb * V));
  std::vector<double> block_loss(static_cast<size_t>(nb), 0.0);
  auto nothing = [](int) {};  // (the waves below adapt to any team size)
  parallel_team(nth, nothing, [&](int tid, int team) {
    for (int64_t w0 = 0; w0 < nb; w0 += team) {
      const int64_t b = w0 + tid;
      if (b < nb) {  // A: this thread's block
        const int64_t r0 = b * Mb, m = std::min(Mb, N - r0);
        T* L = buf.data() + static_cast<size_t>(tid) * Mb * V;
        blas::gemm<T>(false, true, m, V, D, T(1), user + r0 * D, D, items, D, T(0), L, V);
        double loss = 0.0;
        for (int64_t i = 0; i < m; ++i) {
          T* row = L + i * V;
          const int64_t t = target[r0 + i];
          if (t == ignore_index) {
            std::memset(row, 0, sizeof(T) * static_cast<size_t>(V));
            continue;
          }
          loss += softmax_xent_row(row, row, V, t, scale);
        }
        block_loss[static_cast<size_t>(b)] = loss;
        blas::gemm<T>(false, false, m, D, V, T(1), L, V, items, D, T(0), d_user + r0 * D, D);
      }
      barrier(team);
      // B: d_items[v0:v1] += dlogits[wave rows, v0:v1]^T @ user[wave rows]
      const int64_t r0 = w0 * Mb, rows = std::min(team * Mb, N - r0);
      const int64_t v0 = V * tid / team, v1 = V * (tid + 1) / team;
      if (v1 > v0)
        blas::gemm<T>(true, false, v1 - v0, D, rows, T(1), buf.data() + v0, V, user + r0 * D, D,
                      T(1), d_items + v0 * D, D);
      barrier(team);
    }
  });
  double total = 0.0;
  for (double l : block_loss) total += l;
  return total / static_cast<double>(K);
}

template double full_softmax_loss<float>(const float*, const float*, const int64_t*, int64_t,
                                         int64_t, int64_t, int64_t, int64_t, float*, float*);
template double full_softmax_loss<double>(const double*, const double*, const int64_t*, int64_t,
                                          int64_t, int64_t, int64_t, int64_t, double*, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
