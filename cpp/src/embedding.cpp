// Device-neutral entry points of the embedding: validate once (including the id range), then
// dispatch on device and dtype.
#include "chronoscale/embedding.hpp"

#include "cpu/embedding.hpp"
#include "validate.hpp"

namespace chronoscale {
inline namespace v1 {

EmbeddingDims embedding_check(const Tensor& ids, const Tensor& table, const Tensor& lengths) {
  // Devices first: the id range check below reads ids on the host.
  check::defined(ids, "ids");
  check::defined(table, "table");
  check::cpu_only(ids, "embedding (ids)");
  check::cpu_only(table, "embedding (table)");
  check::dtype(ids, DType::int64, "ids");
  check::shape(ids, "ids", {-1, -1}, "[B, T]");
  const int64_t B = ids.shape[0], T = ids.shape[1];
  CS_CHECK(B > 0, ValueError, "ids: empty batch (B = 0)");
  CS_CHECK(T > 0, ValueError, "ids: no time steps (T = 0)");
  check::floating(table, "table");
  check::shape(table, "table", {-1, -1}, "[V, D]");
  const int64_t V = table.shape[0], D = table.shape[1];
  CS_CHECK(V > 0, ValueError, "table: no rows (V = 0)");
  CS_CHECK(D > 0, ValueError, "table: embedding size D must be > 0");
  check::lengths(lengths, B, T);
  const int64_t* id = ids.ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = lengths.defined() ? lengths.ptr<int64_t>()[b] : T;
    for (int64_t t = 0; t < L; ++t) {
      const int64_t v = id[b * T + t];
      CS_CHECK(v >= 0 && v < V, ValueError, "ids[", b, ", ", t, "] = ", v,
               " is out of range for a table of V = ", V, " rows (valid ids are 0 .. ", V - 1,
               "; this is the first bad id at a valid position)");
    }
  }
  return {B, T, V, D};
}

namespace {

void check_arg(const Tensor& t, const Tensor& table, const char* name,
               std::initializer_list<int64_t> dims, const char* expect) {
  check::like_shape(t, table, name, "table", dims, expect);
}

}  // namespace

void embedding_forward(const Tensor& ids, const Tensor& table, const Tensor& lengths,
                       const Tensor& y, void* stream) {
  (void)stream;
  const EmbeddingDims d = embedding_check(ids, table, lengths);
  check_arg(y, table, "y", {d.B, d.T, d.D}, "[B, T, D]");
  CS_DISPATCH_FLOAT(table.dtype, "embedding_forward",
                    [&] { cpu::embedding_forward<scalar_t>(d, ids, table, lengths, y); });
}

EmbeddingGroups embedding_groups(const Tensor& ids, const Tensor& table, const Tensor& lengths) {
  const EmbeddingDims d = embedding_check(ids, table, lengths);
  return cpu::embedding_groups(d, ids, lengths);
}

void embedding_backward_sparse(const Tensor& dy, const Tensor& ids, const Tensor& table,
                               const Tensor& lengths, const EmbeddingGroups& g,
                               const Tensor& grad, void* stream) {
  (void)stream;
  const EmbeddingDims d = embedding_check(ids, table, lengths);
  check_arg(dy, table, "dy", {d.B, d.T, d.D}, "[B, T, D]");
  const auto U = static_cast<int64_t>(g.rows.size());
  check_arg(grad, table, "grad", {U, d.D}, "[U, D]");
  CS_CHECK(static_cast<int64_t>(g.offsets.size()) == U + 1 && g.offsets.front() == 0 &&
               g.offsets.back() == static_cast<int64_t>(g.positions.size()),
           ValueError, "groups: inconsistent offsets (use embedding_groups on the same ids)");
  for (int64_t p : g.positions)
    CS_CHECK(p >= 0 && p < d.B * d.T, ValueError, "groups: position ", p, " outside [0, B*T)");
  CS_DISPATCH_FLOAT(table.dtype, "embedding_backward",
                    [&] { cpu::embedding_backward<scalar_t>(d, dy, g, false, grad); });
}

void embedding_backward_dense(const Tensor& dy, const Tensor& ids, const Tensor& table,
                              const Tensor& lengths, const Tensor& dtable, void* stream) {
  (void)stream;
  const EmbeddingDims d = embedding_check(ids, table, lengths);
  check_arg(dy, table, "dy", {d.B, d.T, d.D}, "[B, T, D]");
  check_arg(dtable, table, "dtable", {d.V, d.D}, "[V, D]");
  const EmbeddingGroups g = cpu::embedding_groups(d, ids, lengths);
  CS_DISPATCH_FLOAT(table.dtype, "embedding_backward",
                    [&] { cpu::embedding_backward<scalar_t>(d, dy, g, true, dtable); });
}

}  // namespace v1
}  // namespace chronoscale
