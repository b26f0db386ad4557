// The jobs the libFuzzer targets run, with the options they run them with — one
// definition shared by the fuzzers (fuzz/), their corpus generator and `mmtorture
// replay`, so a fuzzer's crash file replays, and a repro made under the fuzz-world
// config converts back into a fuzz input (`mmtorture export-fuzz`).
#pragma once

#include <string>
#include <string_view>

#include "mmtorture/campaign/config.h"
#include "mmtorture/cma/experiment.h"
#include "mmtorture/jobs/maple_stress.h"
#include "mmtorture/vma/page_model.h"

namespace mmt::campaign {

// fuzz_world: a small world (the default config, fewer operations and pages, frame
// checks every 8 operations) run through run_seed, where the input is every choice.
Config fuzz_world_config();
// fuzz_maple: the maple stress, ending when the input runs out.
jobs::MapleStressOptions fuzz_maple_options();
// fuzz_vma: the page-model run, ending when the input runs out.
vma::PageModelOptions fuzz_vma_options();

// fuzz_cma: a small CMA world (clients, pinners incl. long-term, forker, toucher, hog, a
// fatal signal) with a bounded retry policy.
cma::CmaWorldOptions fuzz_cma_options();

// The fuzz target whose libFuzzer artifact this file name is ("fuzz_world" for
// ".../fuzz_world-crash-<sha1>", as scripts/fuzz names them with -artifact_prefix:
// crash, leak, timeout, oom and slow-unit artifacts), or "" for any other name. Raw
// bytes are never guessed from content: a file is a fuzz input when its name says so
// or the user says so (replay --fuzz-input).
std::string fuzz_artifact_target(std::string_view path);

}  // namespace mmt::campaign
