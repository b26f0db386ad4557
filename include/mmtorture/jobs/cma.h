// The cma job (cma.cpp): the CMA world (cma/experiment.h) run from a config.
#pragma once

#include "mmtorture/cma/experiment.h"
#include "mmtorture/jobs/config.h"

namespace mmt::jobs {

// The CMA world's defaults with the [cma] section (and schedule.hang_ms,
// schedule.preempt_probability) applied.
cma::CmaWorldOptions cma_options(const Config& config);

}  // namespace mmt::jobs
