// What a job counts of its coverage (campaign/coverage.h scores and prints it): per
// seed, which labelled allocation sites the fault plan reached and failed and which
// outcome each operation returned, and the registry of what the job's code can do.
//
// Coverage is recorded beside the simulation and never read by it: counting draws no
// choice and folds nothing into the trace hash, so a seed runs the same with or without
// anyone looking at its coverage.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mmt::jobs {

// One seed's coverage, or the sum of many.
struct Coverage {
  struct SiteCount {
    uint64_t requests = 0;  // requests the fault plan decided at this site and GFP class
    uint64_t injected = 0;  // of which it failed
  };
  // "site/class", e.g. "vm_area_alloc/kernel" (class as mem::gfp_class_name names it).
  std::map<std::string, SiteCount> sites;
  // operation -> outcome ("0", "-ENOMEM", "addr", ...) -> how many times.
  std::map<std::string, std::map<std::string, uint64_t>> outcomes;

  bool empty() const { return sites.empty() && outcomes.empty(); }
  void add(const Coverage& other);
  void count_outcome(const std::string& op, const std::string& outcome, uint64_t times = 1) {
    outcomes[op][outcome] += times;
  }
};

// What one job's code can do, as the config at hand runs it.
struct CoverageRegistry {
  struct SiteEntry {
    std::string key;      // "site/class"
    bool enabled = true;  // false: this config never injects a failure there
  };
  struct OutcomeEntry {
    std::string op, outcome;
    bool error = false;        // an error return (counted in "error returns taken")
    bool enabled = true;       // false: this config never runs the operation
    bool bookkeeping = false;  // the workload's own outcome, not the kernel's answer (shown last)
  };
  std::vector<SiteEntry> sites;
  std::vector<OutcomeEntry> outcomes;
};

}  // namespace mmt::jobs
