// The fuzzers' jobs and options (fuzz_jobs.h).
#include "mmtorture/campaign/fuzz_jobs.h"


namespace mmt::campaign {

Config fuzz_world_config() {
  Config config;
  config.run.ops_per_seed = 120;
  config.world.memory_pages = 1024;
  config.checks.full_check_every = 8;
  config.run.seeds = "1..1";
  return config;
}

jobs::MapleStressOptions fuzz_maple_options() {
  jobs::MapleStressOptions options;
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

std::string fuzz_artifact_target(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  for (const char* kind : {"-crash-", "-leak-", "-timeout-", "-oom-", "-slow-unit-"}) {
    const size_t at = name.find(kind);
    if (at == std::string_view::npos || at == 0) continue;
    const std::string_view target = name.substr(0, at);
    const std::string_view hash = name.substr(at + std::string_view(kind).size());
    if (!target.starts_with("fuzz_") || hash.empty()) continue;
    if (hash.find_first_not_of("0123456789abcdef") != std::string_view::npos) continue;
    return std::string(target);
  }
  return "";
}

}  // namespace mmt::campaign
