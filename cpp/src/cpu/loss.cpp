// CPU elementwise losses and the full softmax cross-entropy. Each is one fused pass writing the
// gradient while the loss is summed; partial sums live per fixed chunk / per row and are added in
// order afterwards, so the loss does not depend on the thread count.
#include <cmath>
#include <cstring>
#include <vector>

#include "loss.hpp"
#include "mathfn.hpp"
#include "parallel.hpp"
#include "softmax_row.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

constexpr int64_t kChunk = 8192;

template <class T, class F>
double pointwise(const T* p, const T* t, const T* w, int64_t n, T* d, F f) {
  const T inv_n = T(1.0 / static_cast<double>(n));
  const int64_t nc = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(nc));
  parallel_for(nc, 8 * kChunk, [&](int64_t c) {
    const int64_t i0 = c * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    double s = 0.0;
    if (w) {
      for (int64_t i = i0; i < i1; ++i) {
        T g;
        const T l = f(p[i], t[i], g);
        s += static_cast<double>(w[i] * l);
        d[i] = w[i] * g * inv_n;
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t i = i0; i < i1; ++i) {
        T g;
        const T l = f(p[i], t[i], g);
        s += static_cast<double>(l);
        d[i] = g * inv_n;
      }
    }
    part[c] = s;
  });
  double s = 0.0;
  for (double v : part) s += v;
  return s / static_cast<double>(n);
}

}  // namespace

template <class T>
double point_loss(PointLoss kind, const T* pred, const T* target, const T* weights, int64_t n,
                  double delta_d, T* dpred) {
  switch (kind) {
    case PointLoss::mse:
      return pointwise(pred, target, weights, n, dpred, [](T p, T t, T& g) {
        const T e = p - t;
        g = T(2) * e;
        return e * e;
      });
    case PointLoss::mae:
      return pointwise(pred, target, weights, n, dpred, [](T p, T t, T& g) {
        const T e = p - t;
        g = e > T(0) ? T(1) : (e < T(0) ? T(-1) : T(0));
        return e > T(0) ? e : -e;
      });
    case PointLoss::huber: {
      const T delta = T(delta_d);
      return pointwise(pred, target, weights, n, dpred, [delta](T p, T t, T& g) {
        const T e = p - t, a = e > T(0) ? e : -e;
        const bool quad = a <= delta;
        g = quad ? e : (e > T(0) ? delta : -delta);
        return quad ? T(0.5) * e * e : delta * (a - T(0.5) * delta);
      });
    }
    case PointLoss::bce_with_logits:
      return pointwise(pred, target, weights, n, dpred, [](T x, T t, T& g) {
        const T e = std::exp(-(x > T(0) ? x : -x));  // exp(-|x|) in (0, 1]: never overflows
        const T s = x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
        g = s - t;
        return (x > T(0) ? x : T(0)) - x * t + std::log1p(e);
      });
  }
  return 0.0;
}

template <class T>
double softmax_cross_entropy(const T* logits, const int64_t* target, int64_t N, int64_t V,
                             int64_t ignore_index, int64_t K, T* dlogits) {
  if (K == 0) {
    std::memset(dlogits, 0, sizeof(T) * static_cast<size_t>(N * V));
    return 0.0;
  }
  const T inv_k = T(1.0 / static_cast<double>(K));
  std::vector<double> row_loss(static_cast<size_t>(N), 0.0);
  parallel_for(N, 4 * V, [&](int64_t n) {
    const T* x = logits + n * V;
    T* d = dlogits + n * V;
    const int64_t t = target[n];
    if (t == ignore_index) {
      std::memset(d, 0, sizeof(T) * static_cast<size_t>(V));
      return;
    }
    row_loss[n] = softmax_xent_row(x, d, V, t, inv_k);
  });
  double total = 0.0;
  for (double l : row_loss) total += l;
  return total / static_cast<double>(K);
}

template double point_loss<float>(PointLoss, const float*, const float*, const float*, int64_t,
                                  double, float*);
template double point_loss<double>(PointLoss, const double*, const double*, const double*,
                                   int64_t, double, double*);
template double softmax_cross_entropy<float>(const float*, const int64_t*, int64_t, int64_t,
                                             int64_t, int64_t, float*);
template double softmax_cross_entropy<double>(const double*, const int64_t*, int64_t, int64_t,
                                              int64_t, int64_t, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
