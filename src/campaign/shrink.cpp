// The shrinker (shrink.h): zero chunks, delete chunks, lower single values; keep what
// still fails the same way and is smaller.
#include "mmtorture/campaign/shrink.h"

#include <fmt/format.h>

#include "mmtorture/campaign/isolated.h"
#include "mmtorture/campaign/seed_run.h"

namespace mmt::campaign {

namespace {

// Shortlex: fewer choices first, then smaller values from the front.
bool smaller(const std::vector<Choice>& a, const std::vector<Choice>& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].value != b[i].value) return a[i].value < b[i].value;
  return false;
}

class Shrinker {
 public:
  Shrinker(const Repro& repro, const ShrinkOptions& options, const CandidateRunner& run)
      : options_(options), run_(run), signature_(repro.failure.signature()) {
    best_ = trim_choices(repro.choices);
    best_failure_ = repro.failure;
    best_ops_ = repro.ops;
    best_hash_ = repro.trace_hash;
  }

  // Tries a candidate; true (and adopted) when it fails the same way and is smaller.
  bool attempt(const std::vector<Choice>& candidate) {
    if (attempts_ >= options_.max_attempts) return false;
    ++attempts_;
    CandidateRun result = run_(candidate);
    if (!result.failure || result.failure->signature() != signature_) return false;
    std::vector<Choice> drawn = trim_choices(std::move(result.recorded));
    if (!smaller(drawn, best_)) return false;
    best_ = std::move(drawn);
    best_failure_ = *result.failure;
    best_ops_ = result.ops;
    best_hash_ = result.trace_hash;
    ++kept_;
    if (options_.progress)
      options_.progress(fmt::format("shrink: {} choices, {} ops (attempt {})", best_.size(), best_ops_, attempts_));
    return true;
  }

  bool budget_left() const { return attempts_ < options_.max_attempts; }

  // The smallest chunk tried: single choices only once the list is short, so a long
  // list spends its budget on big cuts first (ddmin's granularity, bounded).
  size_t min_chunk() const { return std::max<size_t>(1, best_.size() / 256); }

  // Sets [i, i+k) to 0, for chunk sizes from half the list down to 1.
  bool zero_chunks() {
    bool progress = false;
    for (size_t k = std::max<size_t>(best_.size() / 2, 1); k >= min_chunk() && budget_left(); k /= 2) {
      for (size_t i = 0; i < best_.size() && budget_left(); i += k) {
        const size_t end = std::min(best_.size(), i + k);
        bool nonzero = false;
        for (size_t j = i; j < end; ++j) nonzero |= best_[j].value != 0;
        if (!nonzero) continue;
        std::vector<Choice> candidate = best_;
        for (size_t j = i; j < end; ++j) candidate[j].value = 0;
        progress |= attempt(candidate);
      }
      if (k == 1) break;
    }
    return progress;
  }

  // Deletes [i, i+k), for chunk sizes from half the list down to 1, from the back.
  bool delete_chunks() {
    bool progress = false;
    for (size_t k = std::max<size_t>(best_.size() / 2, 1); k >= min_chunk() && budget_left(); k /= 2) {
      for (size_t i = best_.size() / k * k + k; i >= k && budget_left();) {
        i -= k;
        if (i + k > best_.size()) continue;
        std::vector<Choice> candidate = best_;
        candidate.erase(candidate.begin() + static_cast<ptrdiff_t>(i), candidate.begin() + static_cast<ptrdiff_t>(i + k));
        if (attempt(candidate)) progress = true;
      }
      if (k == 1) break;
    }
    return progress;
  }

  // Lowers each nonzero value: to 0, to half, to one less.
  bool lower_values() {
    bool progress = false;
    for (size_t i = 0; i < best_.size() && budget_left(); ++i) {
      const uint64_t value = best_[i].value;
      for (uint64_t lower : {uint64_t{0}, value / 2, value - 1}) {
        if (value == 0 || lower >= value || i >= best_.size()) break;
        std::vector<Choice> candidate = best_;
        candidate[i].value = lower;
        if (attempt(candidate)) {
          progress = true;
          break;
        }
      }
    }
    return progress;
  }

  void run() {
    while (budget_left()) {
      bool progress = delete_chunks();
      progress |= zero_chunks();
      progress |= lower_values();
      if (!progress) break;
    }
  }

  ShrinkResult result(const Repro& original) const {
    ShrinkResult out;
    out.repro.tool_version = tool_version();
    out.repro.config = original.config;
    out.repro.seed = original.seed;
    out.repro.names = original.names;  // sites of the original list may still be referenced
    out.repro.choices = best_;
    out.repro.failure = best_failure_;
    out.repro.ops = best_ops_;
    out.repro.trace_hash = best_hash_;
    out.choices_before = original.choices.size();
    out.choices_after = best_.size();
    out.ops_before = original.ops;
    out.ops_after = best_ops_;
    out.attempts = attempts_;
    out.kept = kept_;
    return out;
  }

 private:
  const ShrinkOptions& options_;
  const CandidateRunner& run_;
  std::string signature_;
  std::vector<Choice> best_;
  Failure best_failure_;
  uint64_t best_ops_ = 0, best_hash_ = 0;
  uint64_t attempts_ = 0, kept_ = 0;
};

}  // namespace

ShrinkResult shrink_repro(const Repro& repro, const ShrinkOptions& options, const CandidateRunner& run) {
  Shrinker shrinker(repro, options, run);
  shrinker.run();
  return shrinker.result(repro);
}

CandidateRun run_candidate_in_process(const Config& config, const std::vector<Choice>& choices) {
  ReplayChoices replay(choices);
  const SeedResult result = run_seed(config, replay);
  CandidateRun out;
  out.failure = result.failure;
  out.recorded = replay.recorded();
  out.ops = result.failure ? result.failure->op_index : result.ops;
  out.trace_hash = result.trace_hash;
  return out;
}

CandidateRun run_candidate_isolated(const Config& config, const std::vector<Choice>& choices, uint64_t timeout_s) {
  IsolatedReplay replay = replay_isolated(config, choices, timeout_s);
  CandidateRun out;
  out.failure = replay.report.result.failure;
  out.recorded = std::move(replay.recorded);
  out.ops = out.failure ? out.failure->op_index : replay.report.result.ops;
  out.trace_hash = replay.report.result.trace_hash;
  return out;
}

}  // namespace mmt::campaign
