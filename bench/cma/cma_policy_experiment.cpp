// Runs the seed-004 experiment (cma/experiment.h) and prints its table: every retry
// policy against every workload over a seed range. Until the CLI wires it up:
//   cma_policy_experiment [seeds [first_seed]]
#include <cstdio>
#include <cstdlib>

#include "mmtorture/cma/experiment.h"

int main(int argc, char** argv) {
  mmt::cma::CmaExperimentOptions options;
  if (argc > 1) options.seeds = std::strtoull(argv[1], nullptr, 10);
  if (argc > 2) options.first_seed = std::strtoull(argv[2], nullptr, 10);
  std::printf("seeds %llu..%llu\n", static_cast<unsigned long long>(options.first_seed),
              static_cast<unsigned long long>(options.first_seed + options.seeds - 1));
  const mmt::cma::CmaExperimentResult result = mmt::cma::run_cma_policy_experiment(options);
  std::fputs(result.table().c_str(), stdout);
  for (const auto& row : result.rows)
    if (row.other_failures) return 1;
  return 0;
}
