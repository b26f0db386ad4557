// The charts of the campaign report and of the experiments' pages:
// for a cma campaign, each retry policy's latency histogram with its p50 and p99 and
// its calls, retries, -EBUSY sweeps, interrupted and failed calls; for a nommu
// campaign, the OOM rate and the distribution of the largest free block; for
// `cma-experiment --html` and `nommu-experiment --html`, their tables as charts. Every
// page is self-contained (inline SVG, a Content-Security-Policy that forbids any
// request, a guard that marks script errors and blocked requests in the DOM).
#pragma once

#include <string>

#include "mmtorture/cma/experiment.h"
#include "mmtorture/nommu/experiment.h"

namespace mmt::campaign {

// A whole page: the head (charset, CSP, guard script, style) and `body`.
std::string report_page(const std::string& title, const std::string& body);

// The report's job sections from summary.json's "jobs" object (seed_metrics.h's
// job_totals_json); "" when the campaign has none.
std::string job_charts_html(const std::string& jobs_json);

// The experiments' tables as pages: the text table, then a chart per column that
// answers the experiment's question.
std::string cma_experiment_html(const cma::CmaExperimentResult& result, const std::string& command);
std::string nommu_experiment_html(const nommu::NommuExperimentResult& result, const std::string& command);

}  // namespace mmt::campaign
