// Hypothesis-style shrinking of a repro (design.md §1): the choice list is reduced —
// chunks zeroed, chunks deleted, single values lowered towards 0 — and a candidate is
// kept when its replay fails with the same signature and is smaller (shorter after
// trailing zeros are trimmed, then lexicographically smaller values). Each kept
// candidate is replaced by what its replay actually drew, so the result replays
// exactly. Deterministic: the same repro and budget give the same result.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/campaign/repro.h"

namespace mmt::campaign {

// What one replay of a candidate produced.
struct CandidateRun {
  std::optional<Failure> failure;
  std::vector<Choice> recorded;  // every choice the replay drew
  uint64_t ops = 0;
  uint64_t trace_hash = 0;
};
using CandidateRunner = std::function<CandidateRun(const std::vector<Choice>&)>;

struct ShrinkOptions {
  uint64_t max_attempts = 500;  // replays tried at most
  std::function<void(const std::string&)> progress;  // optional, one line per kept candidate
};

struct ShrinkResult {
  Repro repro;  // the smallest failing repro found (choices trimmed)
  size_t choices_before = 0, choices_after = 0;
  uint64_t ops_before = 0, ops_after = 0;
  uint64_t attempts = 0, kept = 0;
};

// `run` replays a candidate (in process, or in a worker process for crash repros).
ShrinkResult shrink_repro(const Repro& repro, const ShrinkOptions& options, const CandidateRunner& run);

// Replays in this process (repros whose failure is a check, not a crash).
CandidateRun run_candidate_in_process(const Config& config, const std::vector<Choice>& choices);
// Replays in a worker process (safe for crash and timeout repros).
CandidateRun run_candidate_isolated(const Config& config, const std::vector<Choice>& choices, uint64_t timeout_s);

}  // namespace mmt::campaign
