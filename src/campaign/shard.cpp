// Shard arithmetic, shard file names and `--shard auto` (shard.h).
#include "mmtorture/campaign/shard.h"

#include <fmt/format.h>

namespace mmt::campaign {

namespace {

// A decimal number of at most 19 digits (fits uint64_t), nothing else.
std::optional<uint64_t> parse_number(std::string_view digits) {
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

[[noreturn]] void shard_error(const std::string& reason) { throw ConfigError("", 0, "--shard", reason); }

// A set variable's value as a number; throws naming it when unset or not a number.
uint64_t number_variable(const EnvironmentLookup& environment, const char* name, const char* why) {
  const char* text = environment(name);
  if (!text) shard_error(fmt::format("auto: {} is not set ({})", name, why));
  const auto value = parse_number(text);
  if (!value) shard_error(fmt::format("auto: {}='{}' is not a number", name, text));
  return *value;
}

Shard checked(Shard shard, const std::string& source) {
  if (shard.count == 0 || shard.index == 0 || shard.index > shard.count)
    shard_error(fmt::format("auto: {} gives shard {}/{}, not K/N with 1 <= K <= N", source, shard.index, shard.count));
  return shard;
}

Shard shard_from_slurm(const EnvironmentLookup& environment) {
  const uint64_t id = number_variable(environment, "SLURM_ARRAY_TASK_ID", "a Slurm array task sets it");
  if (environment(kShardCountVariable)) {
    const uint64_t count = number_variable(environment, kShardCountVariable, "");
    return checked({id, count}, fmt::format("SLURM_ARRAY_TASK_ID={} with {}={}", id, kShardCountVariable, count));
  }
  const uint64_t min = number_variable(environment, "SLURM_ARRAY_TASK_MIN", "a Slurm array task sets it");
  const uint64_t count = number_variable(environment, "SLURM_ARRAY_TASK_COUNT", "a Slurm array task sets it");
  if (id < min) shard_error(fmt::format("auto: SLURM_ARRAY_TASK_ID={} is below SLURM_ARRAY_TASK_MIN={}", id, min));
  return checked({id - min + 1, count},
                 fmt::format("SLURM_ARRAY_TASK_ID={} (MIN {}, COUNT {}; an array with a step or gaps needs {})", id,
                             min, count, kShardCountVariable));
}

Shard shard_from_kubernetes(const EnvironmentLookup& environment) {
  const uint64_t index = number_variable(environment, "JOB_COMPLETION_INDEX", "");
  const uint64_t count = number_variable(environment, kShardCountVariable,
                                         "an Indexed Job's manifest passes its completions count in it");
  return checked({index + 1, count},
                 fmt::format("JOB_COMPLETION_INDEX={} with {}={}", index, kShardCountVariable, count));
}

}  // namespace

Shard parse_shard(std::string_view text, const EnvironmentLookup& environment) {
  if (text == "auto") {
    if (environment("SLURM_ARRAY_TASK_ID")) return shard_from_slurm(environment);
    if (environment("JOB_COMPLETION_INDEX")) return shard_from_kubernetes(environment);
    shard_error(
        "auto: neither SLURM_ARRAY_TASK_ID (a Slurm array task) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed "
        "Job) is set");
  }
  const size_t slash = text.find('/');
  const auto index = slash == std::string_view::npos ? std::nullopt : parse_number(text.substr(0, slash));
  const auto count = slash == std::string_view::npos ? std::nullopt : parse_number(text.substr(slash + 1));
  if (!index || !count || *count == 0 || *index == 0 || *index > *count)
    shard_error(fmt::format("'{}' is not K/N with 1 <= K <= N, nor auto", text));
  return Shard{*index, *count};
}

uint64_t shard_seed_count(const SeedRange& seeds, const Shard& shard) {
  const uint64_t span = seeds.last - seeds.first;  // count - 1, no overflow at 2^64 - 1 seeds
  if (span < shard.index - 1) return 0;
  return (span - (shard.index - 1)) / shard.count + 1;
}

bool shard_runs_seed(const SeedRange& seeds, const Shard& shard, uint64_t seed) {
  return seed >= seeds.first && seed <= seeds.last && (seed - seeds.first) % shard.count == shard.index - 1;
}

uint64_t shard_seed_at(const SeedRange& seeds, const Shard& shard, uint64_t i) {
  return seeds.first + (shard.index - 1) + i * shard.count;
}

std::string shard_journal_name(const Shard& shard) {
  if (shard.count == 1) return "journal.jsonl";
  return fmt::format("journal.shard-{}-of-{}.jsonl", shard.index, shard.count);
}

std::string shard_log_name(const Shard& shard) {
  if (shard.count == 1) return "mmtorture.log";
  return fmt::format("mmtorture.shard-{}-of-{}.log", shard.index, shard.count);
}

std::string shard_summary_name(const Shard& shard) {
  if (shard.count == 1) return "summary.json";
  return fmt::format("summary.shard-{}-of-{}.json", shard.index, shard.count);
}

std::optional<Shard> shard_of_journal_name(std::string_view name) {
  if (name == "journal.jsonl") return Shard{1, 1};
  constexpr std::string_view prefix = "journal.shard-", middle = "-of-", suffix = ".jsonl";
  if (!name.starts_with(prefix) || !name.ends_with(suffix)) return std::nullopt;
  const std::string_view numbers = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  const size_t at = numbers.find(middle);
  if (at == std::string_view::npos) return std::nullopt;
  const auto index = parse_number(numbers.substr(0, at));
  const auto count = parse_number(numbers.substr(at + middle.size()));
  if (!index || !count || *count < 2 || *index == 0 || *index > *count) return std::nullopt;
  return Shard{*index, *count};
}

}  // namespace mmt::campaign
