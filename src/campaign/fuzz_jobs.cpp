// The fuzzers' jobs and options (fuzz_jobs.h).
#include "mmtorture/campaign/fuzz_jobs.h"

#include <cctype>

namespace mmt::campaign {

Config fuzz_world_config() {
  Config config;
  config.run.ops_per_seed = 120;
  config.world.memory_pages = 1024;
  config.checks.full_check_every = 8;
  config.run.seeds = "1..1";
  return config;
}

MapleStressOptions fuzz_maple_options() {
  MapleStressOptions options;
  options.ops = 400;
  options.stop_when_exhausted = true;
  options.nowait_fail_probability = 0.1;  // seeded corpus runs only: the fuzzer reads every flip
  return options;
}

vma::PageModelOptions fuzz_vma_options() {
  vma::PageModelOptions options;
  options.ops = 300;
  options.stop_when_exhausted = true;
  options.memory_pages = 2048;
  return options;
}

cma::CmaWorldOptions fuzz_cma_options() {
  cma::CmaWorldOptions options;
  options.memory_pages = 2048;
  options.cma_base_pfn = 1024;
  options.cma_pages = 1024;
  options.vm_pages = 256;
  options.process_pages = 128;
  options.longterm_pins = 4;
  options.cma.retry = cma::RetryPolicy::bounded(2, 50);
  options.fatal_signal_at_ms = 400;
  options.hang_ms = 20'000;
  return options;
}

bool looks_like_json(std::string_view text) {
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    return c == '{';
  }
  return false;
}

}  // namespace mmt::campaign
