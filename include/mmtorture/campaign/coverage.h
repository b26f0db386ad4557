// Coverage you can read: per job, which labelled allocation sites the
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
#include <string>
#include <string_view>
#include <vector>

#include "mmtorture/jobs/config.h"
#include "mmtorture/jobs/coverage.h"

namespace mmt::campaign {

// What a job counts and can do (jobs/coverage.h), for the config at hand.
using jobs::Config;
using jobs::Coverage;
using jobs::CoverageRegistry;

// The registry of the config's job, with what the config turns off marked; false for a
// job that records no coverage (cma, nommu, page_model, the kernel maple backends).
// Asks the job (jobs::Job::coverage_registry).
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
// error returns 11/11 taken", or why there is none. With `name_job` (one job of a
// workload.job_mix) the line opens "coverage, world job:".
std::string coverage_line(const Config& config, const Coverage& coverage, bool name_job = false);

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
