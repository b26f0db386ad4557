// Campaign configuration: the knob table over the Config struct (jobs/config.h, both
// generated from knobs.def), and the one validator every source of values goes
// through — TOML files, `--set section.key=value` overrides, and the config embedded in
// a repro file. A bad value is a ConfigError that reads `file:line: section.key:
// reason` on one line (exit 2 at the CLI).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mmtorture/core/config_error.h"
#include "mmtorture/jobs/config.h"

namespace mmt::campaign {

// The resolved configuration, one nested struct per section (the jobs read it).
using jobs::Config;

enum class KnobType : uint8_t { U64, F64, Bool, Str, StrList };

// One row of the knob table (for listing, docs and generic parsing).
struct Knob {
  const char* section;
  const char* name;
  KnobType type;
  const char* doc;
  double min = 0, max = 0;  // U64 / F64 range (inclusive)
  // Validates a string value (Str knobs, each element of StrList knobs); returns an
  // error reason or empty.
  std::string (*validate)(std::string_view) = nullptr;
  void* (*member)(Config&) = nullptr;
  std::string qualified() const { return std::string(section) + "." + name; }
};

const std::vector<Knob>& knob_table();
// (section name, doc) in declaration order.
const std::vector<std::pair<const char*, const char*>>& section_table();

// An output the tool could not write or a file it could not read back (disk full,
// permissions): the machine's problem, not the input's — exit 3, not 2.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input: "file:line: key: reason" (core/config_error.h).
using mmt::ConfigError;

// A value from some source, before validation (jobs/config.h).
using jobs::KnobValue;

// Validates and stores one value; throws ConfigError(file, line, "section.key", reason)
// for an unknown key, a wrong type or an out-of-range value.
void set_knob(Config& config, std::string_view section, std::string_view name, const KnobValue& value,
              const std::string& file, uint64_t line);
// `section.key=value` (value parsed as TOML would: true/false, integer, float, or a string).
void apply_override(Config& config, std::string_view assignment);
// Cross-knob rules (memory_pages a multiple of 512, a non-empty op mix, ...).
void validate_config(const Config& config, const std::string& file);

// workload.job_mix: a campaign of several jobs. Seed s runs job_of_seed(config, s),
// which follows from the seed number alone (never from the choice stream), with the
// config seed_config(config, s) = job_config(config, that job): workload.job set, that
// job's workload.job_set entries applied, the mix and the sets emptied. That single-job
// config is what the seed's repro holds, so replay and shrink run the seed's job alone
// and no shrink can change it. Without a mix: workload.job and the config as it is.
std::string job_of_seed(const Config& config, uint64_t seed);
Config job_config(const Config& config, std::string_view job);
Config seed_config(const Config& config, uint64_t seed);
// The jobs the campaign's seeds run, in the mix's order ({workload.job} without a mix).
std::vector<std::string> mix_jobs(const Config& config);

// Reads a TOML file (or text); every error is a ConfigError naming file and line.
Config load_config_file(const std::string& path);
Config parse_config_text(std::string_view text, const std::string& file);

// The fully resolved config as TOML text (every knob, in table order) and as a JSON
// object text {"section": {"key": value}} for repro files.
std::string config_to_toml(const Config& config);
std::string config_to_json(const Config& config);
// Parses the JSON form (from a repro file); errors name `file`, `line_of_config`.
Config config_from_json(std::string_view json_text, const std::string& file, uint64_t line);

// A 16-hex-digit hash of the knobs that decide a seed's run (everything except the
// campaign-only [run] knobs: seeds, timeouts, shrinking), so shards and resumed runs
// can prove they run the same campaign.
std::string config_hash(const Config& config);
// "knob=value" lines for the banner: every knob.
std::string config_banner(const Config& config);
// configs/README.md, generated from the table.
std::string config_markdown();
// One knob's value as text (TOML syntax).
std::string knob_value_text(const Knob& knob, Config& config);

// Seeds A..B (inclusive).
struct SeedRange {
  uint64_t first = 1;
  uint64_t last = 1;
  uint64_t count() const { return last - first + 1; }
};
// Parses "A..B" or "A"; nullopt and a reason on error.
std::optional<SeedRange> parse_seed_range(std::string_view text, std::string* reason);

// schedule.strategy = "bounded" (jobs/config.h).
using jobs::bounded_exploration;

}  // namespace mmt::campaign
