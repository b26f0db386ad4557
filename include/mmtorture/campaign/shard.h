// Shards of a campaign: shard K of N runs the seeds s of the range with
// (s - first) % N == K - 1, writes journal.shard-K-of-N.jsonl and its sidecar
// summary.shard-K-of-N.json (journal.jsonl and summary.json when N is 1), so any
// number of shards share one output root without writing the same path. `--shard
// auto` takes K/N from the batch system that started the process: a Slurm array task
// or a Kubernetes Indexed Job pod.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "mmtorture/campaign/config.h"

namespace mmt::campaign {

struct Shard {
  uint64_t index = 1;  // K, 1-based
  uint64_t count = 1;  // N
};

// The environment as `--shard auto` reads it (getenv in the product; a map in tests).
// Returns nullptr for an unset variable.
using EnvironmentLookup = std::function<const char*(const char*)>;

// The variable a Kubernetes manifest (or a Slurm re-submission of part of an array)
// sets to the total number of shards.
inline constexpr const char* kShardCountVariable = "MMT_SHARD_COUNT";

// Parses `--shard`: "K/N" with 1 <= K <= N, or "auto":
//   Slurm array task: K = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1,
//     N = SLURM_ARRAY_TASK_COUNT; when MMT_SHARD_COUNT is set, K = SLURM_ARRAY_TASK_ID
//     and N = MMT_SHARD_COUNT (the array's indices are the shard numbers 1..N, so
//     re-submitting `--array=3` alone still runs shard 3/N);
//   Kubernetes Indexed Job: K = JOB_COMPLETION_INDEX + 1 (it counts from 0),
//     N = MMT_SHARD_COUNT (the manifest passes its `completions`).
// Throws ConfigError("", 0, "--shard", reason) naming the variable that is missing or
// malformed; neither engine's variable set is an error too.
Shard parse_shard(std::string_view text, const EnvironmentLookup& environment);

// How many seeds of `seeds` shard `shard` runs, and whether it runs `seed`.
uint64_t shard_seed_count(const SeedRange& seeds, const Shard& shard);
bool shard_runs_seed(const SeedRange& seeds, const Shard& shard, uint64_t seed);
// The i-th (0-based) seed of the shard's slice; i < shard_seed_count.
uint64_t shard_seed_at(const SeedRange& seeds, const Shard& shard, uint64_t i);

// "journal.jsonl" (N = 1) or "journal.shard-K-of-N.jsonl"; likewise "summary.json" or
// "summary.shard-K-of-N.json".
std::string shard_journal_name(const Shard& shard);
std::string shard_summary_name(const Shard& shard);
// The log file `run --log` writes in the out directory: mmtorture.log, or
// mmtorture.shard-K-of-N.log for a shard (shards share the directory).
std::string shard_log_name(const Shard& shard);
// The shard a journal file name names (the inverse of shard_journal_name), nullopt for
// any other name.
std::optional<Shard> shard_of_journal_name(std::string_view file_name);

}  // namespace mmt::campaign
