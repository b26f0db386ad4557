// Repro files (design.md §4): format "mmtorture-repro/1" — tool version, the fully
// resolved config, the seed, the labelled choice list, the failure and the trace hash.
// Replaying needs nothing but this file. Files are written atomically (a temporary
// file renamed into place), so a kill never leaves half a repro.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mmtorture/campaign/config.h"
#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"

namespace mmt::campaign {

inline constexpr const char* kReproFormat = "mmtorture-repro/1";
const char* tool_version();  // "mmtorture 0.1.0", recorded in every repro
const char* tool_commit();   // the git commit built from (12 hex digits), or "unknown"

struct Repro {
  std::string tool_version;
  Config config;
  uint64_t seed = 0;
  std::vector<Choice> choices;
  Failure failure;  // dump is not stored: replay prints it
  uint64_t trace_hash = 0;
  uint64_t ops = 0;  // operations done when the failure fired
  // Owns the site names of `choices` read from a file (compiled-in sites are static).
  std::vector<std::shared_ptr<std::string>> names;
};

// The repro of a failing run, stamped with this tool's version: `ops` is the number of
// operations done when the failure fired (0 when the run died and it is unknown).
Repro make_repro(const Config& config, uint64_t seed, std::vector<Choice> choices, const Failure& failure,
                 uint64_t trace_hash, uint64_t ops);

// One choice per line, so a diff of two repros reads like a diff of two runs.
std::string repro_to_json(const Repro& repro);
// Throws ConfigError("file", line, key, reason) for anything malformed.
Repro parse_repro(std::string_view text, const std::string& file);
Repro load_repro(const std::string& path);

// "Op@vm_world.op=5/37": kind, site, value and bound of one choice.
std::string choice_label(const Choice& choice);

// Writes `text` to `path` via a temporary file and rename(); creates parent
// directories. Throws std::runtime_error on an I/O error.
void write_file_atomic(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

// The choice list without its trailing zeros: a replay returns 0 once exhausted, so
// both lists replay the same run.
std::vector<Choice> trim_choices(std::vector<Choice> choices);

}  // namespace mmt::campaign
