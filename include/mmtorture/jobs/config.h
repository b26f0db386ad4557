// The knobs a job reads: the Config struct generated from knobs.def, one nested struct
// per section and one member per knob. Parsing, validation, overrides and printing are
// the campaign's (campaign/config.h); a job only reads the resolved values.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "mmtorture/cma/experiment.h"
#include "mmtorture/jobs/maple_stress.h"
#include "mmtorture/jobs/vm_world.h"
#include "mmtorture/nommu/boot.h"
#include "mmtorture/vma/page_model.h"

namespace mmt::jobs {

// The resolved configuration: one nested struct per section, one member per knob.
struct Config {
#define MMT_SECTION(section, doc) struct section##_section {
#define MMT_SECTION_END(section) \
  }                              \
  section;
#define MMT_KNOB_U64(section, name, def, min, max, doc) uint64_t name = def;
#define MMT_KNOB_F64(section, name, def, min, max, doc) double name = def;
#define MMT_KNOB_BOOL(section, name, def, doc) bool name = def;
#define MMT_KNOB_STR(section, name, def, validator, doc) std::string name = def;
#define MMT_KNOB_LIST(section, name, validator, doc) std::vector<std::string> name = {};
#include "mmtorture/jobs/knobs.def"
#undef MMT_SECTION
#undef MMT_SECTION_END
#undef MMT_KNOB_U64
#undef MMT_KNOB_F64
#undef MMT_KNOB_BOOL
#undef MMT_KNOB_STR
#undef MMT_KNOB_LIST
};

// A value from some source, before validation. A StrList knob takes a list, or one
// string of comma-separated elements (`--set run.defects=a,b`; "" is the empty list).
using KnobValue = std::variant<int64_t, double, bool, std::string, std::vector<std::string>>;

// schedule.strategy = "bounded": a seed explores one slice of the world's schedules
// (campaign/bounded.h); one schedule of it runs under uniform's decisions.
inline bool bounded_exploration(const Config& config) { return config.schedule.strategy == "bounded"; }

}  // namespace mmt::jobs
