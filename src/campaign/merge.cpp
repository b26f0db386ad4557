// `mmtorture merge` (merge.h): find the shard journals, check they are one campaign
// and complete, stream them into one journal, write summary.json.
#include "mmtorture/campaign/merge.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "mmtorture/campaign/campaign.h"
#include "mmtorture/campaign/journal_lock.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/shard.h"
#include "mmtorture/campaign/summary.h"

namespace mmt::campaign {

namespace fs = std::filesystem;

namespace {

struct ShardInput {
  std::string journal;
  Shard shard;
  ShardSummary summary;
};

// A directory's shard journals, or its lone journal.jsonl (an unsharded campaign, or
// an earlier merge's output when shard journals are there too: then it is ignored).
std::vector<std::string> journals_in(const std::string& dir) {
  std::vector<std::string> sharded;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const auto shard = shard_of_journal_name(it->path().filename().string());
    if (shard && shard->count > 1) sharded.push_back(it->path().string());
  }
  if (error) throw ConfigError(dir, 0, "", fmt::format("cannot list the directory: {}", error.message()));
  std::sort(sharded.begin(), sharded.end());  // directory order is not deterministic
  if (!sharded.empty()) return sharded;
  const std::string lone = (fs::path(dir) / "journal.jsonl").string();
  if (fs::exists(lone, error)) return {lone};
  throw ConfigError(dir, 0, "", "no journal.jsonl or journal.shard-K-of-N.jsonl in this directory");
}

// One journal with its shard (from its name) and its summary (beside it).
ShardInput open_shard(const std::string& journal) {
  std::error_code error;
  if (!fs::exists(journal, error)) throw ConfigError(journal, 0, "", "no such file or directory");
  if (!fs::is_regular_file(journal, error)) throw ConfigError(journal, 0, "", "not a regular file");
  const auto shard = shard_of_journal_name(fs::path(journal).filename().string());
  if (!shard)
    throw ConfigError(journal, 0, "",
                      "not a journal's name (run writes journal.jsonl or journal.shard-K-of-N.jsonl); merge takes "
                      "those or the directory holding them");
  const std::string summary = (fs::path(journal).parent_path() / shard_summary_name(*shard)).string();
  if (!fs::exists(summary, error))
    throw ConfigError(journal, 0, "",
                      fmt::format("no {} beside it (run writes it when the shard starts), so its seed range is unknown",
                                  shard_summary_name(*shard)));
  ShardInput input{journal, *shard, read_shard_summary(summary)};
  if (input.summary.shard.index != shard->index || input.summary.shard.count != shard->count)
    throw ConfigError(summary, 0, "shard",
                      fmt::format("says shard {}/{}, its journal's name {}/{}", input.summary.shard.index,
                                  input.summary.shard.count, shard->index, shard->count));
  return input;
}

std::vector<ShardInput> open_inputs(const std::vector<std::string>& inputs) {
  std::vector<ShardInput> shards;
  for (const auto& input : inputs) {
    std::error_code error;
    const std::vector<std::string> journals = fs::is_directory(input, error) ? journals_in(input) : std::vector{input};
    for (const auto& journal : journals) shards.push_back(open_shard(journal));
  }
  const ShardInput& first = shards.front();
  for (const ShardInput& s : shards) {
    auto differs = [&](const char* what, const std::string& mine, const std::string& theirs) {
      if (mine != theirs)
        throw ConfigError(
            s.journal, 0, what,
            fmt::format("{} differs from {} of {}: not shards of one campaign", mine, theirs, first.journal));
    };
    differs("config_hash", s.summary.config_hash, first.summary.config_hash);
    differs("seeds", fmt::format("{}..{}", s.summary.seeds.first, s.summary.seeds.last),
            fmt::format("{}..{}", first.summary.seeds.first, first.summary.seeds.last));
    differs("shard count", std::to_string(s.shard.count), std::to_string(first.shard.count));
  }
  std::sort(shards.begin(), shards.end(),
            [](const ShardInput& a, const ShardInput& b) { return a.shard.index < b.shard.index; });
  for (size_t i = 1; i < shards.size(); ++i)
    if (shards[i].shard.index == shards[i - 1].shard.index)
      throw ConfigError(shards[i].journal, 0, "",
                        fmt::format("shard {}/{} is also {}", shards[i].shard.index, shards[i].shard.count,
                                    shards[i - 1].journal));
  return shards;
}

// "seed 7", "seeds 7..19" or "seeds 7..19 step 4" for slice indices [from, to].
std::string seed_run(const SeedRange& seeds, const Shard& shard, uint64_t from, uint64_t to) {
  const uint64_t a = shard_seed_at(seeds, shard, from), b = shard_seed_at(seeds, shard, to);
  if (a == b) return fmt::format("seed {}", a);
  return shard.count == 1 ? fmt::format("seeds {}..{}", a, b) : fmt::format("seeds {}..{} step {}", a, b, shard.count);
}

// The runs of slice indices not in `seen`, named; at most `shown` runs, then a count.
std::string missing_runs(const SeedRange& seeds, const Shard& shard, const std::vector<bool>& seen) {
  constexpr size_t shown = 4;
  std::vector<std::string> runs;
  size_t more = 0;
  for (uint64_t i = 0; i < seen.size();) {
    if (seen[i]) {
      ++i;
      continue;
    }
    uint64_t j = i;
    while (j + 1 < seen.size() && !seen[j + 1]) ++j;
    if (runs.size() < shown)
      runs.push_back(seed_run(seeds, shard, i, j));
    else
      ++more;
    i = j + 1;
  }
  std::string text;
  for (const auto& r : runs) text += (text.empty() ? "" : ", ") + r;
  if (more) text += fmt::format(" and {} more runs", more);
  return text;
}

struct Merged {
  SeedTotals totals;
  std::vector<std::string> missing;
  std::vector<uint64_t> present;
  uint64_t duplicates = 0;
  std::optional<Throughput> throughput;
};

// Adds a shard's throughput (as its summary recorded it) to the merged one.
void add_throughput(std::optional<Throughput>& sum, const std::optional<Throughput>& shard) {
  if (!shard) return;
  if (!sum) sum = Throughput{0, 0, 0, 0, 0, shard->jobs};
  sum->wall_s += shard->wall_s;
  sum->wall_s_max = std::max(sum->wall_s_max, shard->wall_s_max);
  sum->ops += shard->ops;
  sum->seeds += shard->seeds;
  sum->tasks += shard->tasks;
}

// Reads every shard, checks its entries, appends them to `out` (nullptr: count only).
Merged merge_shards(const std::vector<ShardInput>& shards, std::FILE* out) {
  Merged merged;
  const SeedRange seeds = shards.front().summary.seeds;
  const uint64_t count = shards.front().shard.count;
  const std::string& hash = shards.front().summary.config_hash;
  size_t next = 0;
  for (uint64_t k = 1; k <= count; ++k) {
    const Shard shard{k, count};
    const uint64_t slice = shard_seed_count(seeds, shard);
    if (next == shards.size() || shards[next].shard.index != k) {
      merged.missing.push_back(fmt::format("shard {}/{}: no journal ({}, {} seeds)", k, count,
                                           slice ? seed_run(seeds, shard, 0, slice - 1) : "no seeds", slice));
      continue;
    }
    const ShardInput& input = shards[next++];
    merged.present.push_back(k);
    add_throughput(merged.throughput, input.summary.throughput);
    std::vector<bool> seen(slice, false);
    uint64_t journaled = 0;
    for (const JournalEntry& e : read_journal(input.journal)) {
      if (e.config_hash != hash)
        throw ConfigError(
            input.journal, 0, "config_hash",
            fmt::format("seed {} was run with config hash {}, its summary says {}", e.seed, e.config_hash, hash));
      if (!shard_runs_seed(seeds, shard, e.seed))
        throw ConfigError(
            input.journal, 0, "seed",
            fmt::format("{} is not in shard {}/{} of seeds {}..{}", e.seed, k, count, seeds.first, seeds.last));
      const uint64_t at = (e.seed - seeds.first) / count;
      if (seen[at]) {
        ++merged.duplicates;
        continue;
      }
      seen[at] = true;
      ++journaled;
      merged.totals.add(e, k);
      const std::string line = journal_line(e) + "\n";
      if (out && std::fwrite(line.data(), 1, line.size(), out) != line.size())
        throw std::runtime_error("the merged journal: write failed");
    }
    if (journaled < slice)
      merged.missing.push_back(fmt::format("shard {}/{}: {} of {} seeds not journaled: {}", k, count, slice - journaled,
                                           slice, missing_runs(seeds, shard, seen)));
  }
  return merged;
}

// `merge --shrink`: the first repro of each signature without a shrunk repro yet.
void shrink_signatures(const SeedTotals& totals) {
  for (const auto& [id, sig] : totals.by_signature) {
    if (shrink_signature_repro(id, sig.first_repro)) continue;
    const auto shrunk = find_shrunk_repro(sig.first_repro);
    fmt::print("{}: {}\n", id,
               shrunk ? fmt::format("already shrunk to {} choices: {}", shrunk->choices, shrunk->path).c_str()
                      : "not shrunk (its first repro is missing or could not be shrunk)");
  }
}

// The merged set's summary.json: `journal` is "" when no merged journal was written.
SummaryInfo merge_summary(const ShardSummary& first, uint64_t count, const std::string& journal, const Merged& merged) {
  SummaryInfo info;
  info.kind = "merge";
  info.state = "merged";
  info.config_name = first.config_name;
  info.config_hash = first.config_hash;
  info.job = first.job;
  info.journal = journal;
  info.seeds = first.seeds;
  info.shard = Shard{1, count};
  info.shards_present = merged.present;
  info.complete = merged.missing.empty();
  info.missing = merged.missing;
  info.throughput = merged.throughput;
  return info;
}

// The SUMMARY table (with the shards each signature failed in), the tasks' throughput,
// and one line per missing shard or seed run.
void print_merge_report(const Merged& merged, uint64_t count) {
  print_summary(merged.totals, 0, 0, 0, /*show_shards*/ count > 1);
  if (const auto& t = merged.throughput; t && t->wall_s > 0)
    fmt::print("throughput: {:.0f} checked ops/s per task ({} tasks, {:.1f} task-s, longest {:.1f} s)\n",
               static_cast<double>(t->ops) / t->wall_s, t->tasks, t->wall_s, t->wall_s_max);
  if (merged.duplicates) fmt::print("duplicates: {} journal lines repeat a seed (kept the first)\n", merged.duplicates);
  for (const auto& line : merged.missing) fmt::print("missing: {}\n", line);
}

std::string default_out_dir(const MergeOptions& options) {
  std::error_code error;
  if (options.inputs.size() == 1 && fs::is_directory(options.inputs.front(), error)) return options.inputs.front();
  const std::string parent = fs::path(options.inputs.front()).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

int merge_campaign(const MergeOptions& options) {
  const std::vector<ShardInput> shards = open_inputs(options.inputs);
  const ShardSummary& first = shards.front().summary;
  const uint64_t count = shards.front().shard.count;
  const std::string out_dir = options.out_dir.empty() ? default_out_dir(options) : options.out_dir;
  const std::string journal = (fs::path(out_dir) / "journal.jsonl").string();
  const JournalLock lock(journal);
  fmt::print("mmtorture merge: {} of {} shards, seeds {}..{}, config {}, config hash {}, job {}\n", shards.size(),
             count, first.seeds.first, first.seeds.last, first.config_name, first.config_hash, first.job);
  std::fflush(stdout);

  // The merged journal goes to a temporary file renamed into place once the set is
  // known complete: a journal.jsonl in the output is always a whole campaign.
  const std::string temp = fmt::format("{}.tmp.{}", journal, static_cast<unsigned long>(::getpid()));
  std::FILE* out = std::fopen(temp.c_str(), "wb");
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write", temp));
  Merged merged;
  try {
    merged = merge_shards(shards, out);
  } catch (...) {
    std::fclose(out);
    std::remove(temp.c_str());
    throw;
  }
  const bool complete = merged.missing.empty();
  if (std::fclose(out) != 0 || !complete || std::rename(temp.c_str(), journal.c_str()) != 0) {
    std::remove(temp.c_str());
    if (complete) throw std::runtime_error(fmt::format("{}: write failed", journal));
  }

  if (options.shrink) shrink_signatures(merged.totals);
  const std::string summary = (fs::path(out_dir) / "summary.json").string();
  write_file_atomic(summary, summary_json(merge_summary(first, count, complete ? journal : "", merged), merged.totals));
  print_merge_report(merged, count);
  if (!complete) {
    fmt::print(
        "INCOMPLETE: {} of {} shards lack seeds; no merged journal written (summary: {}). Re-run each "
        "named shard with --resume, then merge again\n",
        merged.missing.size(), count, summary);
    return 1;
  }
  fmt::print("merged: {}, {}\n", journal, summary);
  return merged.totals.failing ? 1 : 0;
}

}  // namespace mmt::campaign
