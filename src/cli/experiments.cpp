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
  fmt::print("mmtorture cma-experiment: seeds {}..{} per policy and workload\n", first, first + seeds - 1);
  std::fflush(stdout);
  const cma::CmaExperimentResult result = cma::run_cma_policy_experiment(options);
  fmt::print("{}", result.table());
  if (!html.empty()) {
    campaign::write_file_atomic(
        html, campaign::cma_experiment_html(result, fmt::format("mmtorture cma-experiment --first {} --seeds {}", first,
                                                                seeds)));
    fmt::print("charts (HTML, {} rows): {}\n", result.rows.size(), html);
  }
  return 0;
}

int nommu_experiment(uint64_t first, uint64_t seeds, unsigned steps, bool pcp, const std::string& html) {
  nommu::NommuExperimentOptions options;
  options.first_seed = first;
  options.seeds = seeds;
  options.boot.boot_steps = steps;
  options.boot.pcp = pcp;
  fmt::print("mmtorture nommu-experiment: seeds {}..{} per combination, {} boot steps{}\n", first, first + seeds - 1,
             steps, pcp ? ", what-if: MMU-sized per-CPU page lists (a nommu kernel has none)" : "");
  std::fflush(stdout);
  const nommu::NommuExperimentResult result = nommu::run_nommu_experiment(options);
  fmt::print("{}", result.table());
  if (!html.empty()) {
    campaign::write_file_atomic(
        html, campaign::nommu_experiment_html(
                  result, fmt::format("mmtorture nommu-experiment --first {} --seeds {} --steps {}{}", first, seeds,
                                      steps, pcp ? " --pcp" : "")));
    fmt::print("charts (HTML, {} rows): {}\n", result.rows.size(), html);
  }
  for (const nommu::NommuExperimentRow& row : result.rows)
    if (row.failures) return 1;
  return 0;
}

}  // namespace mmt::cli
