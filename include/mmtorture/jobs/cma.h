// The cma job (cma.cpp): the CMA world (cma/experiment.h) run from a config.
#pragma once

#include "mmtorture/cma/experiment.h"
#include "mmtorture/jobs/config.h"
#include "mmtorture/jobs/coverage.h"

namespace mmt::jobs {

// The CMA world's defaults with the [cma] section (and schedule.hang_ms,
// schedule.preempt_probability) applied.
cma::CmaWorldOptions cma_options(const Config& config);

// What the CMA world's code can do as `options` runs it: the migration targets' fault
// sites and every outcome of cma/coverage.h, each marked off when the world's actors and
// knobs cannot produce it. `longterm_swarm`: each seed draws its FOLL_LONGTERM mode
// (cma.longterm_mode = "swarm"), so both modes' outcomes are on.
CoverageRegistry cma_coverage_registry(const cma::CmaWorldOptions& options, bool longterm_swarm = false);

}  // namespace mmt::jobs
