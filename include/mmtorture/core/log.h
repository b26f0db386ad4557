// Logging set-up (spdlog). Logs go to stderr and carry no timestamps: a log of a run
// is part of its reproducible output, so two runs of one seed print the same text.
#pragma once

#include <string_view>

namespace mmt {

// Installs the default logger. level: "trace", "debug", "info", "warn", "error", "off".
// Returns false for an unknown level name (and leaves the level at info).
bool setup_logging(std::string_view level = "info");

}  // namespace mmt
