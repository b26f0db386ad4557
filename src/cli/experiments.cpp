// The experiments' subcommands (experiments.h).
#include "mmtorture/cli/experiments.h"

#include <fmt/format.h>

#include <cstdio>

#include "mmtorture/campaign/report_charts.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/cma/experiment.h"
#include "mmtorture/nommu/experiment.h"

namespace mmt::cli {

int cma_experiment(uint64_t first, uint64_t seeds, const std::string& html) {
  cma::CmaExperimentOptions options;
  options.first_seed = first;
  options.seeds = seeds;
  std::printf("mmtorture cma-experiment: seeds %llu..%llu per policy and workload\n",
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + seeds - 1));
  std::fflush(stdout);
  const cma::CmaExperimentResult result = cma::run_cma_policy_experiment(options);
  std::printf("%s", result.table().c_str());
  if (!html.empty()) {
    campaign::write_file_atomic(
        html, campaign::cma_experiment_html(result, fmt::format("mmtorture cma-experiment --first {} --seeds {}", first,
                                                                seeds)));
    std::printf("charts (HTML, %zu rows): %s\n", result.rows.size(), html.c_str());
  }
  return 0;
}

int nommu_experiment(uint64_t first, uint64_t seeds, unsigned steps, bool pcp, const std::string& html) {
  nommu::NommuExperimentOptions options;
  options.first_seed = first;
  options.seeds = seeds;
  options.boot.boot_steps = steps;
  options.boot.pcp = pcp;
  std::printf("mmtorture nommu-experiment: seeds %llu..%llu per combination, %u boot steps%s\n",
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + seeds - 1), steps,
              pcp ? ", what-if: MMU-sized per-CPU page lists (a nommu kernel has none)" : "");
  std::fflush(stdout);
  const nommu::NommuExperimentResult result = nommu::run_nommu_experiment(options);
  std::printf("%s", result.table().c_str());
  if (!html.empty()) {
    campaign::write_file_atomic(
        html, campaign::nommu_experiment_html(
                  result, fmt::format("mmtorture nommu-experiment --first {} --seeds {} --steps {}{}", first, seeds,
                                      steps, pcp ? " --pcp" : "")));
    std::printf("charts (HTML, %zu rows): %s\n", result.rows.size(), html.c_str());
  }
  for (const nommu::NommuExperimentRow& row : result.rows)
    if (row.failures) return 1;
  return 0;
}

}  // namespace mmt::cli
