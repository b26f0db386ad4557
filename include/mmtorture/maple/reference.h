// The kernel version the model maple tree follows where kernels differ: the number of
// nodes mas_preallocate asks for per store type (1 + 2 x height for a split, as
// 6.12's mas_prealloc_calc), where splits cut and push (mab_calc_split, mas_push_data),
// and so the store types chosen and the points where a GFP_NOWAIT failure can strike.
// Known differences from that version are listed in the README; `mmtorture --version`
// and `mmtorture list` print it.
#pragma once

namespace mmt::maple {

inline constexpr const char* kReferenceKernel = "6.12";

}  // namespace mmt::maple
