// The maple job (maple.cpp): the maple tree stress (maple_stress.h) run from a config.
#pragma once

#include "mmtorture/jobs/config.h"
#include "mmtorture/jobs/maple_stress.h"

namespace mmt::jobs {

// The stress's options from the config (workload.maple_*, faults, checks.maple_*, and
// the [schedule] section as the world reads it).
MapleStressOptions maple_options(const Config& config);

}  // namespace mmt::jobs
