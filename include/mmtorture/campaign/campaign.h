// A campaign: seeds run in worker processes (isolated.h), one JSON line per seed
// appended to a journal, resumable after a kill, shardable over machines, with
// progress lines, a summary table and the exit code (0 clean, 1 failures found).
// Every failure writes failures/<signature_id>/<seed>.repro.json under the output
// directory; the first repro of each new signature is shrunk to *.min.repro.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/campaign/bounded.h"
#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/seed_metrics.h"
#include "mmtorture/campaign/coverage.h"

namespace mmt::campaign {

struct CampaignOptions {
  Config config;
  std::string config_name;     // shown in the banner
  SeedRange seeds;
  unsigned jobs = 1;
  uint64_t shard_index = 1, shard_count = 1;  // run seeds with (seed - first) % count == index - 1
  bool check_determinism = false;
  bool resume = false;
  bool force = false;           // start over in a used --out (replace this shard's journal)
  std::string out_dir = "out";  // journal.jsonl and failures/ go here
  bool quiet_progress = false;
  // Wall seconds after which no new seed starts (0: none): the running seeds finish and
  // are journaled, the summary says how many seeds the budget held, --resume continues.
  double budget_s = 0;
  // run --coverage: the summary ends with the full coverage report (coverage.h) of the
  // journal's seeds; without it, with its one line.
  bool coverage = false;
};

// The exit code of a campaign stopped by SIGINT / SIGTERM (128 + the signal, as a shell
// reports a process killed by it): its journal holds every finished seed.
int interrupted_exit_code(int signal);

// One journal line.
struct JournalEntry {
  uint64_t seed = 0;
  std::string outcome;  // clean | fail | crash | timeout | nondeterministic
  uint64_t ops = 0, virtual_ms = 0, trace_hash = 0;
  std::string signature, signature_id, check, repro, config_hash;
  std::string stats;  // the job's one-line statistics (e.g. the cma job's sysfs counters and latency)
  double pct_guarantee = 0;  // PCT: this seed's 1/(n·k^(d-1)); written only when > 0
  SeedMetrics metrics;       // the cma and nommu jobs' numbers behind the report's charts ("metrics")
  std::optional<BoundedSlice> bounded;  // schedule.strategy = "bounded": the seed's slice
  Coverage coverage;         // the world and maple jobs' coverage; written only when not empty
  std::string job;           // workload.job_mix: the job the seed ran; written only in a mixed campaign
};
std::string journal_line(const JournalEntry& entry);
// Reads a journal; a torn last line (a kill mid-write) is ignored. Throws ConfigError
// naming file:line for a malformed line elsewhere.
std::vector<JournalEntry> read_journal(const std::string& path);
std::string journal_path(const CampaignOptions& options);

int run_campaign(const CampaignOptions& options);

// Shrinks `first_repro` (a signature's first repro) to its *.min.repro.json unless its
// failures/<signature>/ folder already holds a shrunk repro (written by this campaign,
// an earlier one or another shard); prints one line (and, with `print_progress`, each
// candidate kept). A repro that does not fail its own way on its own is not shrunk; a
// SIGINT/SIGTERM stops the shrink. Returns whether it shrank.
bool shrink_signature_repro(const std::string& signature_id, const std::string& first_repro,
                            bool print_progress = true);

}  // namespace mmt::campaign
