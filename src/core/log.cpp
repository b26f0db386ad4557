// spdlog set-up shared by every program.
#include "mmtorture/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace mmt {

bool setup_logging(std::string_view level) {
  auto logger = spdlog::get("mmtorture");
  if (!logger) logger = spdlog::stderr_color_mt("mmtorture");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^%l%$: %v");
  const auto parsed = spdlog::level::from_str(std::string(level));
  const bool known = parsed != spdlog::level::off || level == "off";
  spdlog::set_level(known ? parsed : spdlog::level::info);
  return known;
}

}  // namespace mmt
