// Campaign totals, the SUMMARY table and summary.json (summary.h).
#include "mmtorture/campaign/summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mmtorture/campaign/repro.h"

namespace mmt::campaign {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

void SeedTotals::add(const JournalEntry& e, uint64_t shard_index) {
  ++seeds;
  if (e.pct_guarantee > 0) pct.add(e.pct_guarantee);
  if (e.bounded) bounded.add(e.seed, *e.bounded, e.outcome != "clean");
  ops += e.ops;
  virtual_ms += e.virtual_ms;
  jobs.add(e.metrics);
  coverage.add(e.coverage);
  if (!e.job.empty()) coverage_by_job[e.job].add(e.coverage);
  ++outcomes[e.outcome];
  if (e.outcome == "clean") return;
  ++failing;
  SignatureTally& sig = by_signature[e.signature_id];
  ++sig.count;
  sig.check = e.check;
  sig.signature = e.signature;
  sig.shards.insert(shard_index);
  if (e.seed < sig.first_seed) {
    sig.first_seed = e.seed;
    sig.first_repro = e.repro;
  }
}

namespace {

std::string join_shards(const std::set<uint64_t>& shards) {
  std::string text;
  for (uint64_t s : shards) text += (text.empty() ? "" : ",") + std::to_string(s);
  return text;
}

}  // namespace

void print_summary(const SeedTotals& t, double wall_s, uint64_t ops_this_run, unsigned jobs, bool show_shards) {
  fmt::print(
      "SUMMARY: {} seeds, {} ops (checked after every op), {:.1f} virtual s, {} failing seeds, "
      "{} signatures",
      t.seeds, t.ops, static_cast<double>(t.virtual_ms) / 1000.0, t.failing, t.by_signature.size());
  if (jobs)  // a run; a merge has no wall time of its own
    fmt::print("; {:.0f} checked ops/s ({:.1f} s wall, {} jobs)",
               wall_s > 0 ? static_cast<double>(ops_this_run) / wall_s : 0.0, wall_s, jobs);
  fmt::print("\n");
  if (t.pct.runs())
    fmt::print(
        "  pct: a bug of depth pct_depth within the first pct_steps steps of a seed is found at least once "
        "with p >= {:.3g} over these {} seeds (1 - prod(1 - 1/(n*k^(d-1))))\n",
        t.pct.probability(), t.pct.runs());
  if (t.bounded.any()) fmt::print("{}", t.bounded.summary_text());
  if (t.by_signature.empty()) return;
  fmt::print("  {:<6} {:<16} {:<10} {}{}\n", "seeds", "signature", "first", show_shards ? "shards  " : "",
             "check | site | message  (first repro)");
  for (const auto& [id, sig] : t.by_signature)
    fmt::print("  {:<6} {:<16} seed {:<5} {}{}  ({})\n", sig.count, id, sig.first_seed,
               show_shards ? fmt::format("{:<8}", join_shards(sig.shards)).c_str() : "", sig.signature,
               sig.first_repro);
}

std::optional<ShrunkRepro> find_shrunk_repro(const std::string& first_repro) {
  const std::string suffix = ".repro.json";
  if (first_repro.empty() || !first_repro.ends_with(suffix)) return std::nullopt;
  std::vector<std::string> candidates;
  const std::string own = first_repro.substr(0, first_repro.size() - suffix.size()) + ".min.repro.json";
  std::error_code error;
  if (fs::exists(own, error)) {
    candidates.push_back(own);
  } else {
    const fs::path dir = fs::path(first_repro).parent_path();
    for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error))
      if (it->path().string().ends_with(".min.repro.json")) candidates.push_back(it->path().string());
    std::sort(candidates.begin(), candidates.end());  // directory order is not deterministic
  }
  std::optional<ShrunkRepro> best;
  for (const auto& path : candidates) {
    try {
      const Repro repro = load_repro(path);
      if (!best || repro.choices.size() < best->choices)
        best = ShrunkRepro{path, repro.choices.size(), repro.ops};
    } catch (const std::exception&) {
      // A half-copied or foreign file is not this signature's shrunk repro.
    }
  }
  return best;
}

namespace {

Json throughput_json(const std::optional<Throughput>& t) {
  if (!t) return nullptr;
  Json j;
  j["wall_s"] = t->wall_s;
  j["ops"] = t->ops;
  j["seeds"] = t->seeds;
  j["ops_per_s"] = t->wall_s > 0 ? static_cast<double>(t->ops) / t->wall_s : 0.0;
  j["seeds_per_s"] = t->wall_s > 0 ? static_cast<double>(t->seeds) / t->wall_s : 0.0;
  j["jobs"] = t->jobs;
  j["tasks"] = t->tasks;
  j["wall_s_max"] = t->wall_s_max;
  return j;
}

Json signatures_json(const SeedTotals& totals) {
  Json list = Json::array();
  for (const auto& [id, sig] : totals.by_signature) {
    Json j;
    j["signature_id"] = id;
    j["signature"] = sig.signature;
    j["check"] = sig.check;
    j["count"] = sig.count;
    j["first_seed"] = sig.first_seed;
    j["first_repro"] = sig.first_repro;
    j["shards"] = sig.shards;
    const auto shrunk = find_shrunk_repro(sig.first_repro);
    if (shrunk)
      j["shrunk"] = Json{{"path", shrunk->path}, {"choices", shrunk->choices}, {"ops", shrunk->ops}};
    else
      j["shrunk"] = nullptr;
    list.push_back(std::move(j));
  }
  return list;
}

}  // namespace

std::string summary_json(const SummaryInfo& info, const SeedTotals& totals) {
  Json j;
  j["format"] = kSummaryFormat;
  j["kind"] = info.kind;
  j["state"] = info.state;
  j["tool_version"] = tool_version();
  j["config"] = info.config_name;
  j["config_hash"] = info.config_hash;
  j["job"] = info.job;
  j["seeds"] = Json{{"first", info.seeds.first}, {"last", info.seeds.last}, {"count", info.seeds.count()}};
  if (info.kind == "run")
    j["shard"] = Json{{"index", info.shard.index}, {"count", info.shard.count},
                      {"seeds", shard_seed_count(info.seeds, info.shard)}};
  else
    j["shards"] = Json{{"count", info.shard.count}, {"present", info.shards_present}};
  j["journal"] = info.journal;
  j["complete"] = info.complete;
  j["missing"] = info.missing;
  j["counts"] = Json{{"seeds", totals.seeds},
                     {"failing", totals.failing},
                     {"signatures", totals.by_signature.size()},
                     {"outcomes", totals.outcomes}};
  j["ops"] = totals.ops;
  j["virtual_ms"] = totals.virtual_ms;
  j["throughput"] = throughput_json(info.throughput);
  j["signatures"] = signatures_json(totals);
  if (!totals.jobs.empty()) j["jobs"] = Json::parse(job_totals_json(totals.jobs));
  if (totals.bounded.any()) j["bounded"] = Json::parse(totals.bounded.summary_json());
  return j.dump(2) + "\n";
}

std::string summary_path(const std::string& out_dir, const Shard& shard) {
  return (fs::path(out_dir) / shard_summary_name(shard)).string();
}

namespace {

std::optional<Throughput> parse_throughput(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  Throughput t;
  t.wall_s = j.at("wall_s").get<double>();
  t.wall_s_max = j.at("wall_s_max").get<double>();
  t.ops = j.at("ops").get<uint64_t>();
  t.seeds = j.at("seeds").get<uint64_t>();
  t.jobs = j.at("jobs").get<unsigned>();
  t.tasks = j.at("tasks").get<uint64_t>();
  return t;
}

}  // namespace

ShardSummary read_shard_summary(const std::string& path) {
  const std::string text = read_file(path);
  ShardSummary s;
  std::string kind;
  uint64_t merged_shards = 0;
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.at("format").get<std::string>() != kSummaryFormat) throw std::runtime_error("format");
    kind = j.at("kind").get<std::string>();
    s.seeds.first = j.at("seeds").at("first").get<uint64_t>();
    s.seeds.last = j.at("seeds").at("last").get<uint64_t>();
    s.config_name = j.at("config").get<std::string>();
    s.config_hash = j.at("config_hash").get<std::string>();
    s.job = j.at("job").get<std::string>();
    s.throughput = parse_throughput(j.at("throughput"));
    if (kind == "run") {
      s.shard.index = j.at("shard").at("index").get<uint64_t>();
      s.shard.count = j.at("shard").at("count").get<uint64_t>();
    } else {
      merged_shards = j.at("shards").at("count").get<uint64_t>();
    }
  } catch (const std::exception&) {
    throw ConfigError(path, 0, "summary", fmt::format("not a {} file", kSummaryFormat));
  }
  if (kind == "merge" && merged_shards != 1)
    throw ConfigError(path, 0, "summary",
                      fmt::format("the summary of a merge of {} shards, not of one shard's run", merged_shards));
  if (kind != "run" && kind != "merge") throw ConfigError(path, 0, "summary", fmt::format("unknown kind '{}'", kind));
  if (s.seeds.first > s.seeds.last || s.shard.count == 0 || s.shard.index == 0 || s.shard.index > s.shard.count)
    throw ConfigError(path, 0, "summary", "seed range or shard out of range");
  return s;
}

}  // namespace mmt::campaign
