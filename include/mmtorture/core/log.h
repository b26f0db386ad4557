// Diagnostics (spdlog): what the tool itself is doing, for the person running it —
// campaign events (workers started, finished, killed, crashes captured, re-runs,
// resume decisions), shrink passes kept and rejected — at levels, on stderr and
// optionally in a log file. What a run reports (FAIL blocks, SUMMARY lines, tables) is
// not a diagnostic: it is plain, stable output printed through fmt on stdout.
//
// Log lines carry no timestamps or process ids at info and above: a campaign's log is
// part of its reproducible output, so two runs of one campaign log the same events
// (in the order the host's scheduling of the workers finished them).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mmt {

// The level names, lowest first: "trace", "debug", "info", "warn", "error", "off".
inline constexpr std::string_view kLogLevels = "trace, debug, info, warn, error, off";
// The default: warnings and errors only, so a run's stderr holds its progress line and
// problems, and -v (info) adds the campaign's events.
inline constexpr std::string_view kDefaultLogLevel = "warn";
// The environment variable a worker process (or a campaign started by Slurm or a Job's
// pod spec) reads its level from when no flag gives one; the CLI sets it to the level
// it runs at, so processes it starts inherit it.
inline constexpr const char* kLogLevelEnv = "MMT_LOG_LEVEL";

// True for one of kLogLevels.
bool is_log_level(std::string_view level);

// Installs the default logger on stderr at `level` (one of kLogLevels). Returns false
// for an unknown level name and leaves the level at kDefaultLogLevel.
bool setup_logging(std::string_view level = kDefaultLogLevel);

// Also writes the log to `path` (created, then truncated or appended to), at the
// stderr level or info, whichever shows more: a campaign's log file holds its events
// even when stderr shows warnings only. Returns the error text when the file cannot be
// opened.
std::optional<std::string> log_to_file(const std::string& path, bool append);

}  // namespace mmt
