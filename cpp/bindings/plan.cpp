// Binding of inference plans (chronoscale._core.Plan); chronoscale.nn.plan builds the layer specs
// from a Sequential and wraps it. The per-call path is kept short: NumPy arrays are viewed
// directly, the output is allocated with a cached dtype, and the GIL is released for the run.
#include "chronoscale/plan.hpp"

#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"

namespace chronoscale {
inline namespace v1 {
namespace py_bind {

namespace {

template <class E>
E parse(const std::string& value, const char* what, std::initializer_list<const char*> names) {
  int i = 0;
  for (const char* n : names) {
    if (value == n) return static_cast<E>(i);
    ++i;
  }
  std::ostringstream all;
  int k = 0;
  for (const char* n : names) all << (k++ ? ", " : "") << n;
  throw ValueError(detail::cat(what, " must be one of ", all.str(), ", got '", value, "'"));
}

template <class V>
V get(const py::dict& d, const char* key, size_t i, V fallback) {
  if (!d.contains(key) || d[key].is_none()) return fallback;
  try {
    return d[key].cast<V>();
  } catch (const py::cast_error&) {
    throw TypeError(detail::cat("layers[", i, "].", key, " has the wrong type"));
  }
}

std::vector<LayerSpec> specs(const py::list& layers) {
  std::vector<LayerSpec> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!py::isinstance<py::dict>(layers[i]))
      throw TypeError(detail::cat("layers[", i, "] must be a dict"));
    const py::dict d = layers[i];
    const std::string kind = get<std::string>(d, "kind", i, "");
    const std::string at = detail::cat("layers[", i, "].");
    auto t = [&](const char* key, bool optional) {
      const std::string n = detail::cat(at, key);
      return view(d.contains(key) ? py::handle(d[key]) : py::handle(py::none()), n.c_str(),
                       optional);
    };
    if (kind == "conv1d") {
      out.push_back(LayerSpec::conv1d(t("weight", false), t("bias", true),
                                      get<bool>(d, "relu", i, false)));
    } else if (kind == "pool") {
      CountWindow w;
      w.size = get<int64_t>(d, "size", i, 0);
      w.stride = get<int64_t>(d, "stride", i, 0);
      w.partial = get<bool>(d, "partial", i, false);
      const auto mode = parse<PoolMode>(get<std::string>(d, "mode", i, "max"),
                                        detail::cat(at, "mode").c_str(), {"max", "mean", "sum"});
      out.push_back(LayerSpec::pool(mode, w));
    } else if (kind == "recurrent") {
      const auto cell = parse<Cell>(get<std::string>(d, "cell", i, ""), detail::cat(at, "cell").c_str(),
                                    {"rnn_tanh", "rnn_sigmoid", "rnn_relu", "lstm", "gru"});
      out.push_back(LayerSpec::recurrent(cell, t("w_ih", false), t("w_hh", false),
                                         t("b_ih", true), t("b_hh", true),
                                         get<bool>(d, "return_sequences", i, false)));
    } else if (kind == "dense") {
      const auto act = parse<Activation>(get<std::string>(d, "activation", i, "none"),
                                         detail::cat(at, "activation").c_str(),
                                         {"none", "relu", "sigmoid", "tanh"});
      out.push_back(LayerSpec::dense(t("weight", false), t("bias", true), act));
    } else {
      throw ValueError(detail::cat(at, "kind must be 'conv1d', 'pool', 'recurrent' or 'dense', ",
                                   "got '", kind, "'"));
    }
  }
  return out;
}

DType parse_dtype(const std::string& s) {
  if (s == "float32") return DType::float32;
  if (s == "float64") return DType::float64;
  throw TypeError(detail::cat("dtype must be 'float32' or 'float64', got '", s, "'"));
}

py::array empty_like_plan(DType dt, const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  if (dt == DType::float32) return py::array_t<float>(s);
  return py::array_t<double>(s);
}

}  // namespace

void bind_plan(py::module_& m) {
  py::class_<Plan>(m, "Plan",
                   "A compiled inference stack (see chronoscale.nn.plan.compile). run() is "
                   "serialised per plan; use one plan per thread for concurrent inference.")
      .def(py::init([](const std::string& dtype, int64_t in_features, const py::list& layers) {
             return Plan(parse_dtype(dtype), in_features, specs(layers));
           }),
           py::arg("dtype"), py::arg("in_features"), py::arg("layers"))
      .def_property_readonly("dtype", [](const Plan& p) { return dtype_name(p.dtype()); })
      .def_property_readonly("in_features", &Plan::in_features)
      .def_property_readonly("out_features", &Plan::out_features)
      .def_property_readonly("num_layers", &Plan::num_layers)
      .def_property_readonly("sequence_output", &Plan::sequence_output)
      .def_property_readonly("min_steps", &Plan::min_steps)
      .def_property_readonly("weight_bytes", &Plan::weight_bytes)
      .def_property_readonly("scratch_bytes", &Plan::scratch_bytes)
      .def("output_shape",
           [](const Plan& p, int64_t B, int64_t T) {
             const auto s = p.output_shape(B, T);
             py::tuple t(s.size());
             for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
             return t;
           })
      .def(
          "run",
          [](Plan& p, py::handle x, py::handle lengths, bool check_finite) {
            const Tensor X = view(x, "x");
            const Tensor L = view(lengths, "lengths", true);
            CS_CHECK(X.ndim == 3, ValueError, "x must have shape [B, T, F], got ", X.shape_str());
            CS_CHECK(X.dtype == p.dtype(), TypeError, "x must be ", dtype_name(p.dtype()),
                     " (the plan's dtype), got ", dtype_name(X.dtype));
            py::array y = empty_like_plan(p.dtype(), p.output_shape(X.shape[0], X.shape[1]));
            Tensor Y = view(y, "y");
            {
              py::gil_scoped_release nogil;
              p.run(X, L, Y, check_finite);
            }
            return y;
          },
          py::arg("x"), py::arg("lengths") = py::none(), py::arg("check_finite") = false,
          "Forward pass of x [B, T, F]; use chronoscale.nn.plan.Plan.predict.");
}

}  // namespace py_bind
}  // namespace v1
}  // namespace chronoscale
