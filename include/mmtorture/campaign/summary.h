// A campaign's totals and its machine-readable summary. `run` writes summary.json (or
// summary.shard-K-of-N.json) beside its journal when it starts — with its seed range,
// shard and config hash, so `merge` can name the seeds of a shard that died early —
// and again when it ends; `merge` writes the merged set's summary.json. Format
// "mmtorture-summary/1": counts per outcome, each signature with its first seed, first
// repro, the shards it came from and its shrunk repro's size, throughput, and whether
// every seed of the range (or shard) is journaled. Written atomically (temp + rename).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mmtorture/campaign/campaign.h"
#include "mmtorture/campaign/shard.h"

namespace mmt::campaign {

inline constexpr const char* kSummaryFormat = "mmtorture-summary/1";

// One signature's failing seeds, over every journal added.
struct SignatureTally {
  uint64_t count = 0;
  std::string check, signature, first_repro;
  uint64_t first_seed = UINT64_MAX;
  std::set<uint64_t> shards;  // the shard indices it failed in
};

// Totals over journal entries (one per seed).
struct SeedTotals {
  uint64_t seeds = 0, ops = 0, virtual_ms = 0, failing = 0;
  std::map<std::string, uint64_t> outcomes;               // outcome -> seeds
  std::map<std::string, SignatureTally> by_signature;     // signature_id -> tally
  sched::PctCampaignGuarantee pct;                        // over the seeds with a PCT guarantee
  JobTotals jobs;                                         // the cma and nommu seeds' metrics
  BoundedTotals bounded;                                  // over the seeds of a bounded exploration
  Coverage coverage;                                      // summed over the entries (coverage.h)
  std::map<std::string, Coverage> coverage_by_job;        // a mixed campaign's: summed per entry's job
  void add(const JournalEntry& entry, uint64_t shard_index = 1);
};

// The SUMMARY line (with the run's throughput when `jobs` is not 0), PCT's guarantee
// for the campaign when its seeds ran under PCT, and the table of signatures (with
// the shards column when `show_shards`).
void print_summary(const SeedTotals& totals, double wall_s, uint64_t ops_this_run, unsigned jobs,
                   bool show_shards = false);

// Wall time and work of the run(s) behind a summary. For a merge: summed over the
// shards whose summaries had it (`tasks`), with the longest shard in wall_s_max.
struct Throughput {
  double wall_s = 0, wall_s_max = 0;
  uint64_t ops = 0, seeds = 0, tasks = 1;
  unsigned jobs = 0;
};

// A shrunk repro (*.min.repro.json) of a signature, as found beside its first repro.
struct ShrunkRepro {
  std::string path;
  uint64_t choices = 0, ops = 0;
};
// The shrunk repro of the signature whose first repro is `first_repro`: its own
// *.min.repro.json, else the smallest one in the same failures/<signature>/ folder
// (another shard's); nullopt when there is none.
std::optional<ShrunkRepro> find_shrunk_repro(const std::string& first_repro);

struct SummaryInfo {
  std::string kind = "run";      // run | merge
  std::string state = "done";    // run: running | done; merge: merged
  std::string config_name, config_hash, job, journal;
  SeedRange seeds;
  Shard shard;                           // run: its shard; merge: count N (index unused)
  std::vector<uint64_t> shards_present;  // merge only
  bool complete = false;
  std::vector<std::string> missing;      // each missing shard or seed run, one line each
  std::optional<Throughput> throughput;
};
std::string summary_json(const SummaryInfo& info, const SeedTotals& totals);
std::string summary_path(const std::string& out_dir, const Shard& shard);

// What `merge` needs from a shard's summary. Throws ConfigError naming the file for
// anything that is not a summary, and for a merged summary of more than one shard.
struct ShardSummary {
  SeedRange seeds;
  Shard shard;
  std::string config_name, config_hash, job;
  std::optional<Throughput> throughput;
};
ShardSummary read_shard_summary(const std::string& path);

}  // namespace mmt::campaign
