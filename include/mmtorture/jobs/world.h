// The world job (world.cpp): the VM world (vm_world.h) run from a config, with the
// seed's swarm draws first. What other layers need of it by name: its options as a
// config resolves them, and the swarm's preempt-probability draw.
#pragma once

#include <cstdint>
#include <iterator>

#include "mmtorture/core/site.h"
#include "mmtorture/jobs/config.h"
#include "mmtorture/jobs/vm_world.h"

namespace mmt::jobs {

// The world's options from the config ([world], [workload], [faults], [schedule] and
// [checks]); also the [schedule] section as the other green-thread jobs read it.
VmWorldOptions world_options(const Config& config);

// schedule.swarm: the Swarm choice at kSwarmPreemptSite picks the seed's preempt
// probability: 0 (the simple choice) keeps `configured`, v ≥ 1 the v-th of
// kSwarmPreemptProbabilities.
inline constexpr double kSwarmPreemptProbabilities[] = {0.01, 0.05, 0.2, 0.5};
inline constexpr Site kSwarmPreemptSite{"swarm.preempt_probability"};
double swarm_preempt_probability(uint64_t drawn, double configured);

}  // namespace mmt::jobs
