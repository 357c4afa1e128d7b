#pragma once
// CPU entry points of the recurrent cells (one file per cell: lstm.cpp, gru.cpp, rnn.cpp).
#include "chronoscale/recurrent.hpp"

namespace chronoscale {
inline namespace v1 {
namespace cpu {

#define CS_DECLARE_CELL(name)                                                                  \
  template <class T>                                                                           \
  void name##_forward(const RecurrentDims&, const RecurrentInputs&, const RecurrentOutputs&);   \
  template <class T>                                                                           \
  void name##_backward(const RecurrentDims&, const Tensor& dy, const Tensor& dh_n,             \
                       const Tensor& dc_n, const RecurrentInputs&, const RecurrentOutputs&,    \
                       const RecurrentGrads&);

#define CS_INSTANTIATE_CELL(name)                                                              \
  template void name##_forward<float>(const RecurrentDims&, const RecurrentInputs&,            \
                                      const RecurrentOutputs&);                                \
  template void name##_forward<double>(const RecurrentDims&, const RecurrentInputs&,           \
                                       const RecurrentOutputs&);                               \
  template void name##_backward<float>(const RecurrentDims&, const Tensor&, const Tensor&,     \
                                       const Tensor&, const RecurrentInputs&,                  \
                                       const RecurrentOutputs&, const RecurrentGrads&);        \
  template void name##_backward<double>(const RecurrentDims&, const Tensor&, const Tensor&,    \
                                        const Tensor&, const RecurrentInputs&,                 \
                                        const RecurrentOutputs&, const RecurrentGrads&);

CS_DECLARE_CELL(lstm)
CS_DECLARE_CELL(gru)

template <class T>
void rnn_forward(Cell act, const RecurrentDims&, const RecurrentInputs&, const RecurrentOutputs&);
template <class T>
void rnn_backward(Cell act, const RecurrentDims&, const Tensor& dy, const Tensor& dh_n,
                  const Tensor& dc_n, const RecurrentInputs&, const RecurrentOutputs&,
                  const RecurrentGrads&);

}  // namespace cpu
}  // namespace v1
}  // namespace chronoscale
