// The options each fuzzer runs its job with, shared with the corpus generator so a
// seeded run recorded there decodes to the same run in the fuzzer.
#pragma once

#include "mmtorture/campaign/maple_stress.h"
#include "mmtorture/campaign/vm_world.h"
#include "mmtorture/vma/page_model.h"

namespace mmt::fuzz {

inline campaign::MapleStressOptions maple_options() {
  campaign::MapleStressOptions options;
  options.ops = 400;
  options.stop_when_exhausted = true;
  options.nowait_fail_probability = 0.1;  // seeded corpus runs only: the fuzzer reads every flip
  return options;
}

inline vma::PageModelOptions vma_options() {
  vma::PageModelOptions options;
  options.ops = 300;
  options.stop_when_exhausted = true;
  options.memory_pages = 2048;
  return options;
}

inline campaign::VmWorldOptions world_options() {
  campaign::VmWorldOptions options;
  options.ops = 120;
  options.memory_pages = 1024;
  options.full_check_every = 8;
  return options;
}

}  // namespace mmt::fuzz
