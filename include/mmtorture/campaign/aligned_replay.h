// Replay for shrink candidates: a recorded choice list read by labels, realigned at
// operation boundaries. A shrink candidate is a recording with pieces cut out or
// changed — an operation deleted, an operation's kind replaced, an op kind dropped from
// the mix — so the run asks for draws the list no longer lines up with. Plain replay
// (ReplayChoices) reads the list by position, and one missing argument shifts every
// later operation; this source keeps each operation's draws with its own operation:
//
//  - an Op draw skips what is left of the previous operation (arguments it no longer
//    asks for) and takes the next recorded Op;
//  - any other draw takes the next recorded choice when its kind and site match; else
//    the first choice of that kind and site before the next Op (skipping the ones in
//    between); else, without consuming anything, 0 — the simplest value.
//
// On a list that is itself a recording of this config (every kept shrink result) every
// draw matches in order, so it replays exactly as ReplayChoices does: what the shrinker
// keeps is what this source recorded, and that list replays with plain replay.
#pragma once

#include <cstddef>
#include <vector>

#include "mmtorture/core/choice.h"

namespace mmt::campaign {

class OpAlignedChoices final : public ChoiceSource {
 public:
  explicit OpAlignedChoices(std::vector<Choice> script) : script_(std::move(script)) {}
  bool exhausted() const override { return next_ >= script_.size(); }

 protected:
  uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) override;

 private:
  std::vector<Choice> script_;
  size_t next_ = 0;
};

}  // namespace mmt::campaign
