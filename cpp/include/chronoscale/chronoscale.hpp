#pragma once
/// chronoscale C++ API (umbrella header).
///
/// Conventions, stated once for every op:
/// - Arrays are dense, C-contiguous (row-major), batch-first: [B, T, C] = batch, time, channels.
/// - Data are float32 (float64 for checks); every argument of an op shares the main input's dtype
///   and device. Integer arrays (lengths, ids, timestamps) are int64.
/// - `lengths[B]` (host memory, 0 <= lengths[b] <= T) marks the valid prefix of each sequence;
///   outputs past it are zero, final states come from each sequence's last valid step.
/// - Timestamps are int64 seconds, non-decreasing within a sequence.
/// - Device::cuda views hold device pointers; GPU entry points take a cudaStream_t as `void*`.
/// - Outputs are allocated by the caller with the documented shapes; every entry point validates
///   all shapes, dtypes and values first and throws ValueError / TypeError (error.hpp) naming the
///   argument, before touching any data.
/// - Weights follow torch.nn layouts and gate orders.
#include "chronoscale/conv1d.hpp"
#include "chronoscale/cosine.hpp"
#include "chronoscale/cuda_info.hpp"
#include "chronoscale/dropout.hpp"
#include "chronoscale/embedding.hpp"
#include "chronoscale/error.hpp"
#include "chronoscale/fusion.hpp"
#include "chronoscale/linear.hpp"
#include "chronoscale/loss.hpp"
#include "chronoscale/multiscale.hpp"
#include "chronoscale/normalize.hpp"
#include "chronoscale/optim.hpp"
#include "chronoscale/packed.hpp"
#include "chronoscale/plan.hpp"
#include "chronoscale/pool.hpp"
#include "chronoscale/recurrent.hpp"
#include "chronoscale/rows.hpp"
#include "chronoscale/runtime.hpp"
#include "chronoscale/tensor.hpp"
#include "chronoscale/top_k.hpp"
#include "chronoscale/version.hpp"
