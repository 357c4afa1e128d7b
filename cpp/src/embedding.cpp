// Device-neutral entry points of the embedding: validate once (including the id range), then
// dispatch on device and dtype.
#include "chronoscale/embedding.hpp"

#include "cpu/embedding.hpp"
#include "cuda_dispatch.hpp"
#include "validate.hpp"
#ifdef CHRONOSCALE_WITH_CUDA
#include "embedding.cuh"
#endif

namespace chronoscale {
inline namespace v1 {

EmbeddingDims embedding_dims(const Tensor& ids, const Tensor& table, const Tensor& lengths) {
  // Devices first: nothing below may touch a pointer that is not usable.
  check::defined(ids, "ids");
  check::defined(table, "table");
  check::cuda_usable(ids, "embedding", "ids");
  check::cuda_usable(table, "embedding", "table");
  // Host ids with a CUDA table are allowed: they are checked on the host and uploaded.
  CS_CHECK(ids.device == table.device || ids.device == Device::cpu, ValueError,
           "ids must be on the device of table (", table.device == Device::cuda ? "CUDA" : "host",
           ") or on the host");
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
  return {B, T, V, D};
}

namespace {

void check_ids_host(const EmbeddingDims& d, const Tensor& ids, const Tensor& lengths) {
  const int64_t* id = ids.ptr<int64_t>();
  for (int64_t b = 0; b < d.B; ++b) {
    const int64_t L = lengths.defined() ? lengths.ptr<int64_t>()[b] : d.T;
    for (int64_t t = 0; t < L; ++t) {
      const int64_t v = id[b * d.T + t];
      CS_CHECK(v >= 0 && v < d.V, ValueError, "ids[", b, ", ", t, "] = ", v,
               " is out of range for a table of V = ", d.V, " rows (valid ids are 0 .. ",
               d.V - 1, "; this is the first bad id at a valid position)");
    }
  }
}

[[maybe_unused]] bool on_cuda(const Tensor& t) { return t.device == Device::cuda; }

}  // namespace

EmbeddingDims embedding_check(const Tensor& ids, const Tensor& table, const Tensor& lengths,
                              void* stream) {
  const EmbeddingDims d = embedding_dims(ids, table, lengths);
#ifdef CHRONOSCALE_WITH_CUDA
  if (on_cuda(ids)) {  // (host ids are checked on the host, whatever the table's device)
    cuda::embedding_check_ids(d, ids, lengths, stream);
    return d;
  }
#endif
  (void)stream;
  check_ids_host(d, ids, lengths);
  return d;
}

namespace {

void check_arg(const Tensor& t, const Tensor& table, const char* name,
               std::initializer_list<int64_t> dims, const char* expect) {
  check::usable_like(t, table, name, "table", dims, expect, "embedding");
}

}  // namespace

// A CUDA table goes to the CUDA functions. CUDA ids are checked there, on the device (one
// synchronisation); host ids are checked here first, on the host, and the CUDA functions then
// upload them without waiting. The CPU branch checks on the host first. Without
// CHRONOSCALE_WITH_CUDA, embedding_dims has already thrown Unsupported for CUDA views.
#ifdef CHRONOSCALE_WITH_CUDA
#define CS_EMBEDDING_CUDA(...)                                  \
  if (on_cuda(table)) {                                         \
    if (!on_cuda(ids)) check_ids_host(d, ids, lengths);         \
    return __VA_ARGS__;                                         \
  }
#else
#define CS_EMBEDDING_CUDA(...) (void)stream;
#endif

void embedding_forward(const Tensor& ids, const Tensor& table, const Tensor& lengths,
                       const Tensor& y, void* stream) {
  const EmbeddingDims d = embedding_dims(ids, table, lengths);
  check_arg(y, table, "y", {d.B, d.T, d.D}, "[B, T, D]");
  CS_DISPATCH_FLOAT(table.dtype, "embedding_forward", [&] {
    CS_EMBEDDING_CUDA(cuda::embedding_forward<scalar_t>(d, ids, table, lengths, y, stream));
    check_ids_host(d, ids, lengths);
    cpu::embedding_forward<scalar_t>(d, ids, table, lengths, y);
  });
}

EmbeddingGroups embedding_groups(const Tensor& ids, const Tensor& table, const Tensor& lengths) {
  const EmbeddingDims d = embedding_check(ids, table, lengths);
  CS_CHECK(ids.device == Device::cpu, ValueError,
           "embedding_groups: ids must be a host array (CUDA ids are grouped by "
           "embedding_backward_sparse_rows)");
  return cpu::embedding_groups(d, ids, lengths);
}

void embedding_backward_sparse(const Tensor& dy, const Tensor& ids, const Tensor& table,
                               const Tensor& lengths, const EmbeddingGroups& g,
                               const Tensor& grad, void* stream) {
  (void)stream;
  const EmbeddingDims d = embedding_check(ids, table, lengths);
  CS_CHECK(ids.device == Device::cpu && table.device == Device::cpu, ValueError,
           "embedding_backward_sparse: host groups need host arrays (use "
           "embedding_backward_sparse_rows for CUDA arrays)");
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

int64_t embedding_backward_sparse_rows(const Tensor& dy, const Tensor& ids, const Tensor& table,
                                       const Tensor& lengths, const Tensor& rows,
                                       const Tensor& grad, void* stream) {
  const EmbeddingDims d = embedding_dims(ids, table, lengths);
  check_arg(dy, table, "dy", {d.B, d.T, d.D}, "[B, T, D]");
  check::int64_like(rows, table, "rows", "table", {-1}, "[N]");
  check::cuda_usable(rows, "embedding", "rows");
  const int64_t N = rows.shape[0];
  check_arg(grad, table, "grad", {N, d.D}, "[N, D]");
  return CS_DISPATCH_FLOAT(table.dtype, "embedding_backward", [&]() -> int64_t {
    CS_EMBEDDING_CUDA(
        cuda::embedding_backward_sparse<scalar_t>(d, dy, ids, lengths, rows, grad, stream));
    check_ids_host(d, ids, lengths);
    const EmbeddingGroups g = cpu::embedding_groups(d, ids, lengths);
    const auto U = static_cast<int64_t>(g.rows.size());
    CS_CHECK(U <= N, ValueError, "rows / grad hold ", N, " rows but ", U,
             " distinct ids are used");
    for (int64_t u = 0; u < U; ++u) rows.ptr<int64_t>()[u] = g.rows[u];
    const Tensor head(grad.data, grad.dtype, {U, d.D});
    cpu::embedding_backward<scalar_t>(d, dy, g, false, head);
    return U;
  });
}

void embedding_backward_dense(const Tensor& dy, const Tensor& ids, const Tensor& table,
                              const Tensor& lengths, const Tensor& dtable, void* stream) {
  const EmbeddingDims d = embedding_dims(ids, table, lengths);
  check_arg(dy, table, "dy", {d.B, d.T, d.D}, "[B, T, D]");
  check_arg(dtable, table, "dtable", {d.V, d.D}, "[V, D]");
  CS_DISPATCH_FLOAT(table.dtype, "embedding_backward", [&] {
    CS_EMBEDDING_CUDA(
        cuda::embedding_backward_dense<scalar_t>(d, dy, ids, lengths, dtable, stream));
    check_ids_host(d, ids, lengths);
    const EmbeddingGroups g = cpu::embedding_groups(d, ids, lengths);
    cpu::embedding_backward<scalar_t>(d, dy, g, true, dtable);
  });
}

#undef CS_EMBEDDING_CUDA

}  // namespace v1
}  // namespace chronoscale
