// OpAlignedChoices (aligned_replay.h): replay by labels, realigned at each Op draw.
#include "mmtorture/campaign/aligned_replay.h"

namespace mmt::campaign {

uint64_t OpAlignedChoices::produce(ChoiceKind kind, Site site, uint64_t bound, Bias, double) {
  const auto take = [&](size_t index) -> uint64_t {
    next_ = index + 1;
    return script_[index].value < bound ? script_[index].value : 0;
  };
  if (kind == ChoiceKind::Op) {
    for (size_t i = next_; i < script_.size(); ++i)
      if (script_[i].kind == ChoiceKind::Op && script_[i].site == site) return take(i);
    next_ = script_.size();
    return 0;
  }
  for (size_t i = next_; i < script_.size() && script_[i].kind != ChoiceKind::Op; ++i)
    if (script_[i].kind == kind && script_[i].site == site) return take(i);
  return 0;
}

}  // namespace mmt::campaign
