// Coverage you can read (issue 15 item 4): per job, which labelled allocation sites the
// fault plan reached and failed, and which outcome each operation returned — counted
// against a registry of what the job's code can do, so an injection site or an error
// return that no seed reaches shows up as a gap instead of as silence.
//
// Coverage is recorded beside the simulation and never read by it: counting draws no
// choice and folds nothing into the trace hash, so a seed runs the same with or without
// anyone looking at its coverage. Every seed's coverage goes into its journal line; a
// campaign's is the sum over its journal (so --resume and merge keep it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mmt::campaign {

struct Config;

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
    std::string key;   // "site/class"
    bool enabled = true;  // false: this config never injects a failure there
  };
  struct OutcomeEntry {
    std::string op, outcome;
    bool error = false;   // an error return (counted in "error returns taken")
    bool enabled = true;  // false: this config never runs the operation
    bool bookkeeping = false;  // the workload's own outcome, not the kernel's answer (shown last)
  };
  std::vector<SiteEntry> sites;
  std::vector<OutcomeEntry> outcomes;
};

// The registry of the config's job, with what the config turns off marked; false for a
// job that records no coverage (cma, nommu, page_model, the kernel maple backends).
bool coverage_registry(const Config& config, CoverageRegistry* registry);

// A coverage counted against a registry: enabled sites with at least one injected
// failure, enabled error returns taken at least once, and what was seen that the
// registry does not have (a site or outcome the code has and the registry lacks: a
// registry to fix, which a test keeps empty for the shipped configs).
struct CoverageScore {
  size_t sites_reached = 0, sites_failed = 0, sites_total = 0;
  size_t errors_taken = 0, errors_total = 0;
  std::vector<std::string> unregistered;
  double sites_percent() const;
  double errors_percent() const;
};
CoverageScore score_coverage(const CoverageRegistry& registry, const Coverage& coverage);

// One line for every summary: "coverage: injection sites 5/5 failed (5/5 reached),
// error returns 11/11 taken", or why there is none.
std::string coverage_line(const Config& config, const Coverage& coverage);

// The full report (run --coverage): each site with its requests and failures, each
// operation's outcomes as a table, the registry entries never reached, what is off in
// this config, and anything unregistered.
std::string coverage_report(const Config& config, const Coverage& coverage);

// The JSON form stored in journal lines and worker reports:
// {"sites":{"site/class":[requests,injected]},"outcomes":{"op":{"outcome":n}}}.
std::string coverage_json_text(const Coverage& coverage);
// Throws std::exception on text that is not that form.
Coverage coverage_from_json_text(std::string_view text);

}  // namespace mmt::campaign
