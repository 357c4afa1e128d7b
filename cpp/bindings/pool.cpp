// Bindings of windowed pooling; ops/pool.py wraps them with the documented signatures.
#include "chronoscale/pool.hpp"

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

// The integer plan arrays are host (NumPy) arrays whatever the device of x (see pool.hpp);
// argmax follows x.
Out host_i64(const std::vector<int64_t>& shape) { return out(Tensor{}, shape, DType::int64); }
Out i64(const Tensor& like, const std::vector<int64_t>& shape) {
  return out(like, shape, DType::int64);
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def(
      "count_pool_forward",
      [](int mode_id, int64_t size, int64_t stride, bool partial, py::handle x,
         py::handle lengths) {
        const PoolMode mode = static_cast<PoolMode>(mode_id);
        const CountWindow win{size, stride, partial};
        const Tensor X = view(x, "x"), L = view(lengths, "lengths", true);
        const PoolDims d = count_pool_check(mode, win, X, L);
        Out y = out(X, {d.B, d.W, d.C}), counts = host_i64({d.B, d.W}), ol = host_i64({d.B});
        Out am = mode == PoolMode::max ? i64(X, {d.B, d.W, d.C}) : Out{};
        PoolOutputs o;
        o.y = y.t, o.counts = counts.t, o.out_lengths = ol.t, o.argmax = am.t;
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          count_pool_forward(mode, win, X, L, o, stream);
        }
        return py::make_tuple(y.obj, counts.obj, ol.obj, obj_or_none(am));
      },
      "Low-level count-window pooling; use chronoscale.ops.count_pool_forward.");

  m.def(
      "count_pool_backward",
      [](int mode_id, int64_t size, int64_t stride, bool partial, py::handle dy, int64_t T,
         int64_t C, py::handle counts, py::handle out_lengths, py::handle argmax) {
        const PoolMode mode = static_cast<PoolMode>(mode_id);
        const Tensor DY = view(dy, "dy");
        PoolOutputs f;
        f.counts = view(counts, "cache.counts");
        f.out_lengths = view(out_lengths, "cache.out_lengths");
        f.argmax = view(argmax, "cache.argmax", true);
        CS_CHECK(DY.ndim == 3, ValueError, "dy must have shape [B, W, C], got ", DY.ndim,
                 " dims");
        CS_CHECK(T > 0 && C > 0, ValueError, "x shape of the cache must be positive");
        Out dx = out(DY, {DY.shape[0], T, C});
        void* stream = current_stream(DY);
        {
          py::gil_scoped_release nogil;
          count_pool_backward(mode, {size, stride, partial}, DY, f, dx.t, stream);
        }
        return dx.obj;
      },
      "Low-level count-window pooling backward; use chronoscale.ops.count_pool_backward.");

  m.def(
      "time_pool_forward",
      [](int mode_id, int64_t window, int64_t origin, int64_t max_windows, py::handle x,
         py::handle timestamps, py::handle lengths) {
        const PoolMode mode = static_cast<PoolMode>(mode_id);
        const TimeWindow win{window, origin, max_windows};
        const Tensor X = view(x, "x"), TS = view(timestamps, "timestamps"),
                     L = view(lengths, "lengths", true);
        const PoolDims d = time_pool_plan(mode, win, X, TS, L);
        Out y = out(X, {d.B, d.W, d.C}), counts = host_i64({d.B, d.W}), ol = host_i64({d.B}),
            first = host_i64({d.B}), start = host_i64({d.B, d.W}), step = host_i64({d.B, d.T});
        Out am = mode == PoolMode::max ? i64(X, {d.B, d.W, d.C}) : Out{};
        PoolOutputs o;
        o.y = y.t, o.counts = counts.t, o.out_lengths = ol.t, o.argmax = am.t;
        o.window_start = start.t, o.first_window = first.t, o.event_step = step.t;
        void* stream = current_stream(X);
        {
          py::gil_scoped_release nogil;
          time_pool_forward(mode, win, X, TS, L, o, stream);
        }
        return py::make_tuple(y.obj, counts.obj, ol.obj, start.obj, first.obj, step.obj,
                              obj_or_none(am));
      },
      "Low-level time-window pooling; use chronoscale.ops.time_pool_forward.");

  m.def(
      "time_pool_backward",
      [](int mode_id, py::handle dy, int64_t T, int64_t C, py::handle counts,
         py::handle out_lengths, py::handle event_step, py::handle argmax) {
        const PoolMode mode = static_cast<PoolMode>(mode_id);
        const Tensor DY = view(dy, "dy");
        PoolOutputs f;
        f.counts = view(counts, "cache.counts");
        f.out_lengths = view(out_lengths, "cache.out_lengths");
        f.event_step = view(event_step, "cache.event_step");
        f.argmax = view(argmax, "cache.argmax", true);
        CS_CHECK(DY.ndim == 3, ValueError, "dy must have shape [B, W, C], got ", DY.ndim,
                 " dims");
        CS_CHECK(T > 0 && C > 0, ValueError, "x shape of the cache must be positive");
        Out dx = out(DY, {DY.shape[0], T, C});
        void* stream = current_stream(DY);
        {
          py::gil_scoped_release nogil;
          time_pool_backward(mode, DY, f, dx.t, stream);
        }
        return dx.obj;
      },
      "Low-level time-window pooling backward; use chronoscale.ops.time_pool_backward.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
