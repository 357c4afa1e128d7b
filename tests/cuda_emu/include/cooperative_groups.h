#pragma once
// Stand-in for cooperative_groups in the CPU emulation (tests/cuda_emu).
#include "../emu.hpp"

namespace cooperative_groups {
struct grid_group {
  void sync() { emu::grid_sync(); }
};
inline grid_group this_grid() { return {}; }
}  // namespace cooperative_groups
