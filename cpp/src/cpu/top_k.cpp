// CPU kernel of the top-k op: one task per row, a threshold from the blocks' maxima that few
// scores reach (see select_row), then a selection and a sort of the k, in the order of
// top_k_math.hpp.
#include "top_k.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "../top_k_math.hpp"
#include "parallel.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

namespace {

template <class T>
struct Entry {
  top_k_math::Key<T> key;
  int64_t col;
};

// a ranks before b; as a "less than" it puts the best first.
template <class T>
bool better(const Entry<T>& a, const Entry<T>& b) {
  return top_k_math::before(a.key, a.col, b.key, b.col);
}

// Per-thread buffers of select_row.
template <class T>
struct Scratch {
  std::vector<top_k_math::Key<T>> maxima, sel;
  std::vector<Entry<T>> e;
};

constexpr int64_t kBlock = 16;  // scores per block maximum

// The k-th highest of the n keys m [n] (n >= k); `sel` is scratch. When n >= 16 k, the k-th
// highest maximum of groups of 16 keys first bounds it from below (k groups reach it), so only
// the keys at or above that bound are selected from.
template <class K>
K kth_highest(const K* m, int64_t n, int64_t k, std::vector<K>& sel) {
  sel.clear();
  if (n >= kBlock * k) {
    const int64_t ng = n / kBlock;
    for (int64_t g = 0; g < ng; ++g) {
      K x = 0;
#pragma omp simd reduction(max : x)
      for (int64_t j = 0; j < kBlock; ++j) x = m[g * kBlock + j] > x ? m[g * kBlock + j] : x;
      sel.push_back(x);
    }
    std::nth_element(sel.begin(), sel.begin() + (k - 1), sel.end(), std::greater<K>());
    const K bound = sel[k - 1];
    sel.clear();
    for (int64_t i = 0; i < n; ++i)
      if (m[i] >= bound) sel.push_back(m[i]);
  } else {
    sel.assign(m, m + n);
  }
  std::nth_element(sel.begin(), sel.begin() + (k - 1), sel.end(), std::greater<K>());
  return sel[k - 1];
}

// The k best of row s [V] into w.e [k], best first. The row is cut into groups of
// kLanes * kBlock scores, and each group into kLanes blocks of kBlock: block l of a group holds
// its scores l, l + kLanes, l + 2 kLanes, ..., so the blocks' maximum keys are kLanes-wide
// vector maxima over the group (no reduction across lanes). With at least k blocks, the k-th
// highest block maximum is a threshold that k real scores reach, so the k best all have a key
// at or above it: only the blocks whose maximum reaches it are read again, and only their keys
// at or above it (and those past the last whole group) become candidates. A selection of the
// candidates (nth_element) and a sort of the k finish the row.
template <class T>
void select_row(const T* s, int64_t V, int64_t k, Scratch<T>& w) {
  using K = top_k_math::Key<T>;
  constexpr int64_t kLanes = 8, kGroup = kLanes * kBlock;
  auto& e = w.e;
  e.clear();
  const int64_t ng = V / kGroup, nb = ng * kLanes;
  K thr = 0;  // every key is >= 0
  if (nb >= k) {
    w.maxima.resize(static_cast<size_t>(nb));
    for (int64_t g = 0; g < ng; ++g) {
      const T* sg = s + g * kGroup;
      K m[kLanes] = {};
      for (int64_t v = 0; v < kBlock; ++v) {
#pragma omp simd
        for (int64_t l = 0; l < kLanes; ++l) {
          const K x = top_k_math::key(sg[v * kLanes + l]);
          m[l] = x > m[l] ? x : m[l];
        }
      }
      for (int64_t l = 0; l < kLanes; ++l) w.maxima[g * kLanes + l] = m[l];
    }
    thr = kth_highest(w.maxima.data(), nb, k, w.sel);
    for (int64_t b = 0; b < nb; ++b) {
      if (w.maxima[b] < thr) continue;
      const int64_t i0 = (b / kLanes) * kGroup + b % kLanes;
      for (int64_t v = 0; v < kBlock; ++v) {
        const int64_t i = i0 + v * kLanes;
        const K x = top_k_math::key(s[i]);
        if (x >= thr) e.push_back({x, i});
      }
    }
  }
  for (int64_t i = nb >= k ? ng * kGroup : 0; i < V; ++i) {
    const K x = top_k_math::key(s[i]);
    if (x >= thr) e.push_back({x, i});
  }
  if (static_cast<int64_t>(e.size()) > k) {
    std::nth_element(e.begin(), e.begin() + (k - 1), e.end(), better<T>);
    e.resize(static_cast<size_t>(k));
  }
  std::sort(e.begin(), e.end(), better<T>);
}

}  // namespace

template <class T>
void top_k(const TopKDims& d, const T* scores, int64_t* ids, T* values) {
  const int64_t V = d.V, k = d.k;
  parallel_for(d.N, V, [&](int64_t n) {
    thread_local Scratch<T> w;
    const T* s = scores + n * V;
    select_row(s, V, k, w);
    const auto& e = w.e;
    for (int64_t j = 0; j < k; ++j) {
      ids[n * k + j] = e[j].col;
      values[n * k + j] = s[e[j].col];
    }
  });
}

template void top_k<float>(const TopKDims&, const float*, int64_t*, float*);
template void top_k<double>(const TopKDims&, const double*, int64_t*, double*);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
