// The nommu job (nommu.cpp): a nommu board booting (nommu/boot.h), run from a config.
#pragma once

#include "mmtorture/jobs/config.h"
#include "mmtorture/nommu/boot.h"

namespace mmt::jobs {

// The boot's options: the [nommu] knobs, run.ops_per_seed steps of the rc script.
nommu::NommuBootOptions nommu_options(const Config& config);

}  // namespace mmt::jobs
