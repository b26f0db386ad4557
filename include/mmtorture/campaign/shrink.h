// Structure-aware, Hypothesis-style shrinking of a repro (design.md §1, §4). A repro is
// (config, choice list); the shrinker reduces both and keeps a candidate when its replay
// fails with the same signature and is smaller. Passes, cheapest and biggest first:
//
//   config     lower the embedded config where the failure persists: ops_per_seed,
//              workload threads (workers, kswapd), mm slots; swarm draws baked into
//              the op mix; op kinds dropped from the mix and every weight set to 1 (Op
//              values remapped so each operation keeps its kind; one kind left draws
//              no Op at all); no preemption and no NOWAIT injection once no choice
//              asks for one; for the cma job no killer, fewer long-term pins. A lower
//              knob removes whole families of draws at once. A config change is kept
//              when the failure needs no more choices than before.
//   schedule   zero every scheduling choice (Preempt, Pick) at once, then every
//              injected allocation failure at once.
//   prefix     the shortest prefix that still fails (the rest read as 0), by bisection.
//   operations delete whole operations — the span from one Op draw to the next — in
//              chunks (halving) and singly; replace an operation by the simplest one
//              (all its draws 0), or keep its kind and zero its arguments (once at
//              most 128 operations are left: one or two replays per operation).
//   generic    when the passes above stop: zero every choice of one label at once;
//              delete chunks, zero chunks, lower single values (as before).
//
// Each kept candidate is replaced by what its replay actually drew (with the config it
// ran under), so the result replays exactly with `mmtorture replay`: the shrunk repro
// embeds the reduced config. Deterministic: the same repro and budget give the same
// result (no wall clock, no randomness; candidates are tried in a fixed order).
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
// Replays `choices` under `config` (the shrinker passes reduced configs too).
using CandidateRunner = std::function<CandidateRun(const Config&, const std::vector<Choice>&)>;

struct ShrinkOptions {
  uint64_t max_attempts = 500;  // replays tried at most
  std::function<void(const std::string&)> progress;  // optional, one line per kept candidate
  std::function<bool()> cancelled;                   // optional: true stops the shrink (Ctrl-C)
};

// The size of a repro, as `shrink`, the campaign and selftest report it.
//
// Set-up: the leading Swarm and Priority choices — the per-seed draws a job makes
// before its workload starts (which op kinds and fault sites swarm testing switches off,
// PCT's change points and thread priorities). Everything after the first other choice
// (scheduling, allocation failures, operations and their arguments) is "beyond set-up",
// the number the selftest target (≤ 50) is about. A job with no such draws (page_model,
// cma, a world without swarm or PCT) has no set-up.
struct ReproSize {
  uint64_t choices = 0;        // after trailing zeros are trimmed (a replay reads 0 past the end)
  uint64_t setup_choices = 0;  // of which set-up
  uint64_t operations = 0;     // workload operations done when the failure fired
  uint64_t threads = 0;        // workload threads the config runs (see workload_threads)
  uint64_t beyond_setup() const { return choices - setup_choices; }
};

// Leading Swarm/Priority choices of `choices` (see ReproSize).
uint64_t setup_choice_count(const std::vector<Choice>& choices);
// Workload threads a config runs: world = workers (+ kswapd); maple and page_model = 1;
// cma = its fixed actor set (clients, pinners, fork/exit, toucher, hog, killer).
uint64_t workload_threads(const Config& config);
ReproSize repro_size(const Repro& repro);
// "1542 choices (0 set-up + 1542), 112 ops, 4 threads"
std::string describe_size(const ReproSize& size);

struct ShrinkResult {
  Repro repro;  // the smallest failing repro found (reduced config, trimmed choices)
  ReproSize before, after;
  uint64_t attempts = 0, kept = 0;
  std::vector<std::string> config_changes;  // "workload.workers 3 -> 1", in the order kept
  // False when the repro as given does not fail with its own signature: nothing was
  // tried, `repro` is the input unchanged and must not be written as a shrunk repro.
  bool reproduced = true;
  std::string original_outcome;  // when !reproduced: "it runs clean (N ops)" or how it failed
};

// `run` replays a candidate (in process, or in a worker process for crash repros).
ShrinkResult shrink_repro(const Repro& repro, const ShrinkOptions& options, const CandidateRunner& run);

// Both runners read the candidate with OpAlignedChoices (aligned_replay.h): a candidate
// with an operation cut out or changed keeps the rest aligned; a recorded list replays
// exactly as with plain replay.
// Replays in this process (repros whose failure is a check, not a crash).
CandidateRun run_candidate_in_process(const Config& config, const std::vector<Choice>& choices);
// Replays in a worker process (safe for crash and timeout repros).
CandidateRun run_candidate_isolated(const Config& config, const std::vector<Choice>& choices, uint64_t timeout_s);
// Whether a shrink of `repro` replays each candidate in a worker process: a crash or a
// timeout, and any failure of a job that runs the kernel's own C code (the maple job's
// kernel and differential backends), where a candidate may meet a kernel bug that
// corrupts memory and kill the process that runs it.
bool shrink_in_workers(const Repro& repro);

}  // namespace mmt::campaign
