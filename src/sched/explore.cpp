// Iterative context bounding over the uniform strategy's decisions (explore.h).
#include "mmtorture/sched/explore.h"

#include <fmt/format.h>

#include <stdexcept>

#include "mmtorture/core/rng.h"

namespace mmt::sched {

namespace {

// One scheduling decision of a run: how many values it had, which one was taken, and
// whether it was made at a yield point (where every value but 0 is a preemption).
struct Decision {
  uint64_t bound;
  uint64_t value;
  bool at_yield;
};

// The ChoiceSource of one explored run: scheduling decisions from the prefix, then 0;
// data draws from per-thread seeded streams.
class ExploringChoices final : public ChoiceSource {
 public:
  ExploringChoices(const std::vector<uint64_t>& prefix, uint64_t data_seed) : prefix_(prefix), data_seed_(data_seed) {}

  const std::vector<Decision>& decisions() const { return decisions_; }
  // A prefix value that did not fit its decision: the program is not a function of its
  // choices (reported by the explorer; throwing here would end inside a green thread).
  const std::optional<std::string>& mismatch() const { return mismatch_; }

 protected:
  uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) override {
    Scheduler* scheduler = Scheduler::running();
    Thread* current = scheduler ? scheduler->current() : nullptr;
    if (kind == ChoiceKind::Pick && scheduler && bias == Bias::Uniform) {
      const size_t index = decisions_.size();
      uint64_t value = index < prefix_.size() ? prefix_[index] : 0;
      if (value >= bound) {
        if (!mismatch_)
          mismatch_ = fmt::format("decision {} at {} has {} values now, and the prefix asks for value {}", index,
                                  site.name, bound, value);
        value = 0;
      }
      // The running thread still runnable: a yield point (the uniform strategy's value 0
      // keeps it). Blocked, exited or none (the scheduler's loop): a free pick.
      const bool at_yield = current && current->state() == ThreadState::Runnable;
      decisions_.push_back(Decision{bound, value, at_yield});
      return value;
    }
    Rng& rng = stream(current ? current->id() : 0);
    if (bias == Bias::Probability) return rng.chance(p) ? 1 : 0;
    return rng.below(bound);
  }

 private:
  Rng& stream(uint32_t thread_id) {
    while (streams_.size() <= thread_id) {
      SplitMix64 mix(data_seed_ ^ (0x9e3779b97f4a7c15ULL * (streams_.size() + 1)));
      streams_.emplace_back(mix.next());
    }
    return streams_[thread_id];
  }

  const std::vector<uint64_t>& prefix_;
  uint64_t data_seed_;
  std::vector<Decision> decisions_;
  std::vector<Rng> streams_;
  std::optional<std::string> mismatch_;
};

// Outcome of exploring one bound.
enum class Level { Exhausted, Failed, Limited };

class Explorer {
 public:
  Explorer(const ExploredProgram& program, const ExploreOptions& options, ExploreResult& result)
      : program_(program), options_(options), result_(result) {}

  // Depth-first over every schedule with ≤ bound preemptions. Sets cut_ when some
  // decision had a value the bound left out.
  Level explore(uint32_t bound) {
    cut_ = false;
    result_.schedules_at_bound = 0;
    std::vector<uint64_t> prefix;
    std::vector<Decision> previous;
    for (;;) {
      if (options_.max_schedules && result_.schedules >= options_.max_schedules) return Level::Limited;
      ExploringChoices choices(prefix, options_.data_seed);
      const RunResult run = program_(choices);
      ++result_.schedules;
      ++result_.schedules_at_bound;
      check_deterministic(choices, previous, prefix.size());
      const std::vector<Decision>& decisions = choices.decisions();
      std::vector<uint32_t> preemptions_before(decisions.size() + 1, 0);
      for (size_t i = 0; i < decisions.size(); ++i)
        preemptions_before[i + 1] =
            preemptions_before[i] + (decisions[i].at_yield && decisions[i].value != 0 ? 1 : 0);
      if (run.failure) {
        result_.failure = run.failure;
        result_.failing_preemptions = preemptions_before.back();
        result_.failing_choices = choices.recorded();
        result_.failing_trace_hash = run.trace_hash;
        return Level::Failed;
      }
      if (!next_prefix(decisions, preemptions_before, bound, prefix)) return Level::Exhausted;
      previous = decisions;
    }
  }

  bool cut() const { return cut_; }

 private:
  // The deepest decision with an untried value the bound allows, with that value.
  bool next_prefix(const std::vector<Decision>& decisions, const std::vector<uint32_t>& preemptions_before,
                   uint32_t bound, std::vector<uint64_t>& prefix) {
    for (size_t i = decisions.size(); i-- > 0;) {
      const Decision& decision = decisions[i];
      if (decision.value + 1 >= decision.bound) continue;
      // At a yield point every value but 0 preempts; the next value is one of those.
      if (decision.at_yield && preemptions_before[i] + 1 > bound) {
        cut_ = true;
        continue;
      }
      prefix.resize(i + 1);
      for (size_t j = 0; j < i; ++j) prefix[j] = decisions[j].value;
      prefix[i] = decision.value + 1;
      return true;
    }
    return false;
  }

  // The decisions a prefix replays must be the ones the run it came from made.
  static void check_deterministic(const ExploringChoices& choices, const std::vector<Decision>& previous,
                                  size_t replayed) {
    if (choices.mismatch())
      throw std::logic_error("explore: the program is not a function of its choices: " + *choices.mismatch());
    const std::vector<Decision>& now = choices.decisions();
    for (size_t i = 0; i < replayed && i < previous.size(); ++i)
      if (i >= now.size() || now[i].bound != previous[i].bound || now[i].at_yield != previous[i].at_yield)
        throw std::logic_error(fmt::format(
            "explore: the program is not a function of its choices: decision {} differs between two runs of the "
            "same prefix",
            i));
  }

  const ExploredProgram& program_;
  const ExploreOptions& options_;
  ExploreResult& result_;
  bool cut_ = false;
};

}  // namespace

ExploreResult explore_bounded(const ExploredProgram& program, const ExploreOptions& options) {
  ExploreResult result;
  Explorer explorer(program, options, result);
  for (uint32_t bound = 0; bound <= options.preemption_bound; ++bound) {
    result.bound = bound;
    const Level level = explorer.explore(bound);
    if (level != Level::Exhausted) return result;  // failed, or the schedule limit
    if (!explorer.cut()) {
      result.complete = true;
      break;
    }
  }
  result.exhausted = true;
  return result;
}

}  // namespace mmt::sched
