// The shrinker (shrink.h): config, schedule, operation and generic passes over a repro;
// keep what still fails the same way and is smaller.
#include "mmtorture/campaign/shrink.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <functional>
#include <optional>
#include <unordered_set>

#include "mmtorture/campaign/aligned_replay.h"
#include "mmtorture/campaign/isolated.h"
#include "mmtorture/campaign/seed_run.h"

namespace mmt::campaign {

uint64_t setup_choice_count(const std::vector<Choice>& choices) {
  uint64_t n = 0;
  while (n < choices.size() && (choices[n].kind == ChoiceKind::Swarm || choices[n].kind == ChoiceKind::Priority)) ++n;
  return n;
}

uint64_t workload_threads(const Config& config) { return jobs::job_of(config).threads(config); }

ReproSize repro_size(const Repro& repro) {
  const std::vector<Choice> trimmed = trim_choices(repro.choices);
  ReproSize size;
  size.choices = trimmed.size();
  size.setup_choices = std::min<uint64_t>(setup_choice_count(trimmed), size.choices);
  size.operations = repro.ops;
  size.threads = workload_threads(repro.config);
  return size;
}

std::string describe_size(const ReproSize& size) {
  return fmt::format("{} choices ({} set-up + {}), {} ops, {} threads", size.choices, size.setup_choices,
                     size.beyond_setup(), size.operations, size.threads);
}

namespace {

// Shortlex: fewer choices first, then smaller values from the front.
bool smaller(const std::vector<Choice>& a, const std::vector<Choice>& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].value != b[i].value) return a[i].value < b[i].value;
  return false;
}

bool is_schedule(const Choice& c) { return c.kind == ChoiceKind::Preempt || c.kind == ChoiceKind::Pick; }

// [begin, end) of each operation: from one Op draw to the next (the last to the end).
struct Span {
  size_t begin, end;
};
std::vector<Span> op_spans(const std::vector<Choice>& choices) {
  std::vector<Span> spans;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].kind != ChoiceKind::Op) continue;
    if (!spans.empty()) spans.back().end = i;
    spans.push_back(Span{i, choices.size()});
  }
  return spans;
}

// Implements what a job's config passes need (jobs::ConfigShrinker) over its own state.
class Shrinker final : public jobs::ConfigShrinker {
 public:
  Shrinker(const Repro& repro, const ShrinkOptions& options, const CandidateRunner& run)
      : options_(options), run_(run), signature_(repro.failure.signature()) {
    best_config_ = repro.config;
    best_ = trim_choices(repro.choices);
    best_failure_ = repro.failure;
    best_ops_ = repro.ops;
    best_hash_ = repro.trace_hash;
  }

  void run() {
    if (!confirm_original()) return;
    // Truncation cuts the run after the failure's decisive choice; once it finds
    // nothing it is not tried again: the failure ends the recorded choices, and only
    // one found after a run's last operation (a leak at teardown) leaves a tail to cut.
    bool truncate = true;
    while (budget_left()) {
      bool progress = pass("config", &Shrinker::reduce_config);
      progress |= pass("zero-schedule", &Shrinker::zero_schedule);
      if (truncate) truncate = pass("truncate", &Shrinker::truncate);
      progress |= truncate;
      const bool deleted = pass("delete-operations", &Shrinker::delete_operations);
      progress |= deleted;
      settled_ = !deleted;
      // Simplifying each operation makes it no shorter (one or two replays per
      // operation): only once no operation can go.
      if (!progress) progress |= pass("simplify-operations", &Shrinker::simplify_operations);
      // The generic passes are the fallback: once the structured passes stop, they
      // polish what is left (and catch choices no operation owns).
      if (!progress) {
        progress |= pass("zero-labels", &Shrinker::zero_labels);
        progress |= pass("delete-chunks", &Shrinker::delete_chunks);
        progress |= pass("zero-chunks", &Shrinker::zero_chunks);
        progress |= pass("lower-values", &Shrinker::lower_values);
      }
      if (!progress) break;
    }
    spdlog::info("shrink: done after {} replays ({} kept): {} choices, {} ops", attempts_, kept_, best_.size(),
                 best_ops_);
  }

  ShrinkResult result(const Repro& original) const {
    ShrinkResult out;
    out.repro.tool_version = tool_version();
    out.repro.config = best_config_;
    out.repro.seed = original.seed;
    out.repro.names = original.names;  // sites of the original list may still be referenced
    out.repro.choices = best_;
    out.repro.failure = best_failure_;
    out.repro.ops = best_ops_;
    out.repro.trace_hash = best_hash_;
    out.before = repro_size(original);
    out.after = repro_size(out.repro);
    out.attempts = attempts_;
    out.kept = kept_;
    out.config_changes = config_changes_;
    out.reproduced = reproduced_;
    out.original_outcome = original_outcome_;
    return out;
  }

 private:
  // The repro as given must fail with its own signature before anything is cut from
  // it: shrinking a run that does not fail would "keep" a signature it never saw and
  // write a repro that does not fail. This replay is not counted against the budget.
  bool confirm_original() {
    tried_.insert(key(best_config_, best_));
    const CandidateRun result = run_(best_config_, best_);
    if (result.failure && result.failure->signature() == signature_) return true;
    reproduced_ = false;
    original_outcome_ = result.failure ? fmt::format("it fails differently: {} ({})", result.failure->signature(),
                                                     result.failure->signature_id())
                                       : fmt::format("it runs clean ({} ops)", result.ops);
    return false;
  }

  // Runs one pass and logs what it did (debug: one line per pass and per candidate).
  bool pass(const char* name, bool (Shrinker::*run_pass)()) {
    pass_ = name;
    const uint64_t attempts_before = attempts_, kept_before = kept_;
    const bool progress = (this->*run_pass)();
    if (attempts_ != attempts_before)
      spdlog::debug("shrink: pass {}: kept {} of {} candidates; now {} choices", name, kept_ - kept_before,
                    attempts_ - attempts_before, best_.size());
    return progress;
  }

  // Tries choices under the current config; true (and adopted) when it fails the same
  // way and is smaller.
  bool attempt(const std::vector<Choice>& candidate) { return attempt_with(best_config_, candidate, ""); }

  // Tries a candidate under `config`. A config change (`change` non-empty) is kept when
  // the same failure needs no more choices than before: the config itself is simpler.
  bool attempt_with(const Config& config, const std::vector<Choice>& candidate, const std::string& change) {
    rejected_.clear();
    if (!budget_left()) return false;
    if (!tried_.insert(key(config, candidate)).second) return false;  // deterministic: same answer as before
    ++attempts_;
    CandidateRun result = run_(config, candidate);
    if (!result.failure || result.failure->signature() != signature_) {
      rejected_ = std::move(result.recorded);
      spdlog::debug("shrink: {} attempt {}: {} choices{}{}: rejected, {}", pass_, attempts_, candidate.size(),
                    change.empty() ? "" : ", ", change,
                    result.failure ? "fails differently: " + result.failure->signature() : std::string("runs clean"));
      return false;
    }
    std::vector<Choice> drawn = trim_choices(std::move(result.recorded));
    const bool better = change.empty() ? smaller(drawn, best_) : drawn.size() <= best_.size();
    spdlog::debug("shrink: {} attempt {}: {} choices{}{}: {}", pass_, attempts_, drawn.size(),
                  change.empty() ? "" : ", ", change, better ? "kept" : "rejected, not smaller");
    if (!better) return false;
    best_ = std::move(drawn);
    best_config_ = config;
    best_failure_ = *result.failure;
    best_ops_ = result.ops;
    best_hash_ = result.trace_hash;
    ++kept_;
    if (!change.empty()) config_changes_.push_back(change);
    if (options_.progress)
      options_.progress(fmt::format("shrink: {} choices, {} ops, {} threads{}{} (attempt {})", best_.size(), best_ops_,
                                    workload_threads(best_config_), change.empty() ? "" : ": ", change, attempts_));
    return true;
  }

  // Identifies a candidate so that no replay is run twice (the passes overlap).
  static size_t key(const Config& config, const std::vector<Choice>& choices) {
    std::string text = config_to_json(config);
    text.reserve(text.size() + choices.size() * (1 + sizeof(uint64_t)));
    for (const Choice& c : choices) {
      text += static_cast<char>(c.kind);
      text.append(reinterpret_cast<const char*>(&c.value), sizeof c.value);
    }
    return std::hash<std::string>{}(text);
  }

  // ---- config: what a job's passes (jobs::Job::shrink_config) work through ----------

  const Config& config() const override { return best_config_; }
  const std::vector<Choice>& choices() const override { return best_; }
  uint64_t ops() const override { return best_ops_; }
  bool settled() const override { return settled_; }

  bool budget_left() const override {
    return reproduced_ && attempts_ < options_.max_attempts && !(options_.cancelled && options_.cancelled());
  }

  bool attempt(const Config& config, const std::vector<Choice>& candidate, const std::string& change) override {
    return attempt_with(config, candidate, change);
  }

  bool lower_u64(const char* section, const char* name, uint64_t current, std::vector<uint64_t> targets) override {
    for (uint64_t target : targets) {
      if (target >= current) continue;
      Config config = best_config_;
      try {
        campaign::set_knob(config, section, name, static_cast<int64_t>(target), "shrink", 0);
      } catch (const ConfigError&) {
        continue;  // below the knob's range
      }
      if (attempt_with(config, best_, fmt::format("{}.{} {} -> {}", section, name, current, target))) return true;
    }
    return false;
  }

  bool set_value(const char* section, const char* name, const KnobValue& value, const std::string& change) override {
    Config config = best_config_;
    campaign::set_knob(config, section, name, value, "shrink", 0);
    return attempt_with(config, best_, fmt::format("{}.{} {}", section, name, change));
  }

  void set_knob(Config& config, std::string_view section, std::string_view name,
                const KnobValue& value) const override {
    campaign::set_knob(config, section, name, value, "shrink", 0);
  }

  bool valid(const Config& config) const override {
    try {
      validate_config(config, "shrink");
    } catch (const ConfigError&) {
      return false;
    }
    return true;
  }

  bool reduce_config() { return jobs::job_of(best_config_).shrink_config(*this); }

  // ---- schedule and faults ----------------------------------------------------------

  // best_ with the choices [begin, end) set to 0; nothing when they already are.
  std::optional<std::vector<Choice>> zeroed(size_t begin, size_t end) const {
    const auto first = best_.begin() + static_cast<ptrdiff_t>(begin),
               last = best_.begin() + static_cast<ptrdiff_t>(end);
    if (std::all_of(first, last, [](const Choice& c) { return c.value == 0; })) return std::nullopt;
    std::vector<Choice> candidate = best_;
    for (size_t j = begin; j < end; ++j) candidate[j].value = 0;
    return candidate;
  }

  bool zero_where(const std::function<bool(const Choice&)>& which) {
    std::vector<Choice> candidate = best_;
    bool changed = false;
    for (Choice& c : candidate)
      if (which(c) && c.value != 0) {
        c.value = 0;
        changed = true;
      }
    return changed && attempt(candidate);
  }

  // Zeroes every choice of one label (kind and site) at once, label by label in order of
  // first appearance: a whole family of decisions (every gap a thread sleeps, every
  // preemption at one yield point) goes back to its simplest value together.
  bool zero_labels() {
    bool progress = false;
    std::vector<std::pair<ChoiceKind, std::string_view>> labels;
    for (const Choice& c : best_) {
      const std::pair<ChoiceKind, std::string_view> label{c.kind, c.site.view()};
      if (c.value != 0 && std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
    }
    for (const auto& label : labels) {
      if (!budget_left()) break;
      progress |= zero_where([&](const Choice& c) { return c.kind == label.first && c.site.view() == label.second; });
    }
    return progress;
  }

  // The shortest prefix that still fails the same way (the rest read as 0, the simplest
  // continuation), by bisection: a failure decided early needs none of the draws that
  // only fill the time after it.
  bool truncate() {
    bool progress = false;
    size_t low = 0, high = best_.size();  // the failure needs more than `low`; `high` is known to fail
    while (low + 1 < high && budget_left()) {
      const size_t mid = low + (high - low) / 2;
      if (attempt(std::vector<Choice>(best_.begin(), best_.begin() + static_cast<ptrdiff_t>(mid)))) {
        progress = true;
        high = std::min(mid, best_.size());
      } else {
        low = mid;
      }
    }
    return progress;
  }

  bool zero_schedule() {
    bool progress = zero_where(is_schedule);
    if (!progress) {
      progress |= zero_where([](const Choice& c) { return c.kind == ChoiceKind::Preempt; });
      progress |= zero_where([](const Choice& c) { return c.kind == ChoiceKind::Pick; });
    }
    progress |= zero_where([](const Choice& c) { return c.kind == ChoiceKind::AllocFail; });
    return progress;
  }

  static constexpr size_t kSimplifyOpsMax = 128;

  // ---- operations -------------------------------------------------------------------

  // Deletes operations [first, first + count) with every draw they made.
  bool delete_spans(size_t first, size_t count) {
    const std::vector<Span> spans = op_spans(best_);
    if (first + count > spans.size()) return false;
    std::vector<Choice> candidate = best_;
    candidate.erase(candidate.begin() + static_cast<ptrdiff_t>(spans[first].begin),
                    candidate.begin() + static_cast<ptrdiff_t>(spans[first + count - 1].end));
    if (attempt(candidate)) return true;
    const std::optional<std::vector<Choice>> retargeted = retarget_failed_allocation(candidate);
    return retargeted && attempt(*retargeted);
  }

  // A failure that needs one allocation of its last operation to fail (a late -ENOMEM)
  // is tied to that request's number within the operation, and deleting an earlier
  // operation changes how many requests the failing one makes (a smaller tree needs
  // fewer nodes): the failed allocation then lands on another request, or on none.
  // After such a candidate was rejected: the candidate with the last operation's draws
  // as its rejected run made them, the same request failed counted from the end of
  // them (the late one stays late). Nothing when the repro fails no single allocation
  // of its last operation, or the request count did not change.
  std::optional<std::vector<Choice>> retarget_failed_allocation(const std::vector<Choice>& candidate) const {
    const std::vector<Span> spans = op_spans(best_), candidate_spans = op_spans(candidate),
                            rejected_spans = op_spans(rejected_);
    if (spans.empty() || candidate_spans.empty() || rejected_spans.size() < candidate_spans.size()) return std::nullopt;
    const auto is_failed = [](const Choice& c) { return c.kind == ChoiceKind::AllocFail && c.value != 0; };
    if (std::count_if(best_.begin(), best_.end(), is_failed) != 1) return std::nullopt;
    const Span last = spans.back();
    const auto failed = std::find_if(best_.begin() + static_cast<ptrdiff_t>(last.begin), best_.end(), is_failed);
    if (failed == best_.end()) return std::nullopt;
    const auto same_site = [&](const Choice& c) { return c.kind == ChoiceKind::AllocFail && c.site == failed->site; };
    // Requests of the failed one's site in the last operation, and how many follow it.
    const auto requests = std::count_if(best_.begin() + static_cast<ptrdiff_t>(last.begin), best_.end(), same_site);
    const auto after = std::count_if(failed + 1, best_.end(), same_site);
    const Span redrawn = rejected_spans[candidate_spans.size() - 1];
    const auto begin = rejected_.begin() + static_cast<ptrdiff_t>(redrawn.begin),
               end = rejected_.begin() + static_cast<ptrdiff_t>(redrawn.end);
    const auto now = std::count_if(begin, end, same_site);
    if (now == requests || now <= after) return std::nullopt;
    std::vector<Choice> out(candidate.begin(),
                            candidate.begin() + static_cast<ptrdiff_t>(candidate_spans.back().begin));
    ptrdiff_t index = 0;
    for (auto it = begin; it != end; ++it) {
      Choice c = *it;
      if (c.kind == ChoiceKind::AllocFail) c.value = same_site(c) && index++ == now - after - 1 ? 1 : 0;
      out.push_back(c);
    }
    return out;
  }

  // Whole operations in chunks from half of them down to one, from the back (the last
  // operations are the failing ones: earlier ones are cut first within each size).
  bool delete_operations() {
    bool progress = false;
    const size_t ops = op_spans(best_).size();
    if (ops == 0) return false;
    // A long list spends its budget on big cuts first; single operations once it is short.
    const size_t min_chunk = std::max<size_t>(1, ops / 64);
    for (size_t k = std::max<size_t>(ops / 2, 1); budget_left(); k /= 2) {
      k = std::max(k, min_chunk);
      for (size_t i = op_spans(best_).size(); i >= k && budget_left();) {
        i -= k;
        if (delete_spans(i, k)) {
          progress = true;
          i = std::min(i, op_spans(best_).size());
        }
      }
      if (k <= min_chunk) break;
    }
    return progress;
  }

  // Each operation made simplest: every draw of it 0 (the first op kind, smallest
  // arguments); else its kind kept and its arguments 0.
  bool simplify_operations() {
    bool progress = false;
    // One or two replays per operation: only once the operations are few.
    if (op_spans(best_).size() > kSimplifyOpsMax) return false;
    for (size_t n = 0; budget_left(); ++n) {
      const std::vector<Span> spans = op_spans(best_);
      if (n >= spans.size()) break;
      const Span span = spans[n];
      std::optional<std::vector<Choice>> candidate = zeroed(span.begin, span.end);
      if (!candidate) continue;
      if (attempt(*candidate)) {
        progress = true;
        continue;
      }
      if (best_[span.begin].value == 0) continue;  // that was the same candidate
      (*candidate)[span.begin].value = best_[span.begin].value;
      if (attempt(*candidate)) progress = true;
    }
    return progress;
  }

  // ---- generic ----------------------------------------------------------------------

  // The smallest chunk tried: single choices only once the list is short, so a long
  // list spends its budget on big cuts first (ddmin's granularity, bounded).
  size_t min_chunk() const { return std::max<size_t>(1, best_.size() / 256); }

  // Sets [i, i+k) to 0, for chunk sizes from half the list down to 1.
  bool zero_chunks() {
    bool progress = false;
    for (size_t k = std::max<size_t>(best_.size() / 2, 1); k >= min_chunk() && budget_left(); k /= 2) {
      for (size_t i = 0; i < best_.size() && budget_left(); i += k) {
        if (std::optional<std::vector<Choice>> candidate = zeroed(i, std::min(best_.size(), i + k)))
          progress |= attempt(*candidate);
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
        candidate.erase(candidate.begin() + static_cast<ptrdiff_t>(i),
                        candidate.begin() + static_cast<ptrdiff_t>(i + k));
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

  const ShrinkOptions& options_;
  const CandidateRunner& run_;
  std::string signature_;
  Config best_config_;
  std::vector<Choice> best_;
  Failure best_failure_;
  uint64_t best_ops_ = 0, best_hash_ = 0;
  uint64_t attempts_ = 0, kept_ = 0;
  const char* pass_ = "original";  // the pass running, for the log
  bool reproduced_ = true;
  bool settled_ = false;          // the last round deleted no operation
  std::string original_outcome_;  // what the repro did instead of failing its way
  std::vector<std::string> config_changes_;
  std::unordered_set<size_t> tried_;
  std::vector<Choice> rejected_;  // what the last candidate run and rejected drew
};

}  // namespace

ShrinkResult shrink_repro(const Repro& repro, const ShrinkOptions& options, const CandidateRunner& run) {
  Shrinker shrinker(repro, options, run);
  shrinker.run();
  return shrinker.result(repro);
}

CandidateRun run_candidate_in_process(const Config& config, const std::vector<Choice>& choices) {
  OpAlignedChoices replay(choices);
  const SeedResult result = run_seed(config, replay);
  CandidateRun out;
  out.failure = result.failure;
  out.recorded = replay.recorded();
  out.ops = result.failure ? result.failure->op_index : result.ops;
  out.trace_hash = result.trace_hash;
  return out;
}

bool shrink_in_workers(const Repro& repro) {
  if (repro.failure.check == "crash" || repro.failure.check == "timeout") return true;
  return jobs::job_of(repro.config).shrinks_in_workers(repro.config);
}

CandidateRun run_candidate_isolated(const Config& config, const std::vector<Choice>& choices, uint64_t timeout_s) {
  IsolatedReplay replay = replay_isolated(config, choices, timeout_s, ReplayAlignment::OpAligned);
  CandidateRun out;
  out.failure = replay.report.result.failure;
  out.recorded = std::move(replay.recorded);
  out.ops = out.failure ? out.failure->op_index : replay.report.result.ops;
  out.trace_hash = replay.report.result.trace_hash;
  return out;
}

}  // namespace mmt::campaign
