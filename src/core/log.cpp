// spdlog set-up shared by every program: one logger, a stderr sink at the chosen
// level and, on request, a file sink that shows at least info.
#include "mmtorture/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>

namespace mmt {
namespace {

constexpr std::array<std::string_view, 6> kLevelNames = {"trace", "debug", "info", "warn", "error", "off"};
constexpr const char* kPattern = "%^%l%$: %v";

// The stderr sink's level: the level the user asked for. The logger's own level is the
// lower of it and the file sink's, so a message reaches every sink that shows it.
spdlog::level::level_enum g_stderr_level = spdlog::level::warn;

std::shared_ptr<spdlog::logger> logger() {
  auto log = spdlog::get("mmtorture");
  if (!log) {
    log = spdlog::stderr_color_mt("mmtorture");
    log->set_pattern(kPattern);
  }
  return log;
}

}  // namespace

bool is_log_level(std::string_view level) {
  return std::find(kLevelNames.begin(), kLevelNames.end(), level) != kLevelNames.end();
}

bool setup_logging(std::string_view level) {
  const bool known = is_log_level(level);
  g_stderr_level = spdlog::level::from_str(std::string(known ? level : kDefaultLogLevel));
  auto log = logger();
  spdlog::set_default_logger(log);
  log->sinks().front()->set_level(g_stderr_level);
  log->set_level(g_stderr_level);
  return known;
}

std::optional<std::string> log_to_file(const std::string& path, bool append) {
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/!append);
  } catch (const spdlog::spdlog_ex& e) {
    return std::string(e.what());
  }
  const auto file_level = std::min(g_stderr_level, spdlog::level::info);
  sink->set_level(file_level);
  sink->set_pattern(kPattern);
  auto log = logger();
  log->sinks().push_back(sink);
  log->set_level(std::min(g_stderr_level, file_level));
  log->flush_on(spdlog::level::info);  // a killed campaign's file holds every event before the kill
  return std::nullopt;
}

}  // namespace mmt
