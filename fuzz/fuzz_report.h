// What every fuzzer does with a failed check: print it in the one failure grammar with
// its dump, then abort so libFuzzer saves the input as a crash artifact.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "mmtorture/core/failure.h"

namespace mmt::fuzz {

[[noreturn]] inline void crash(const Failure& failure, size_t ops) {
  std::fprintf(stderr, "%s\n  after %zu operations\n%s\nSUMMARY: mmtorture: %s\n", failure.headline().c_str(), ops,
               failure.dump.c_str(), failure.signature().c_str());
  std::abort();
}

}  // namespace mmt::fuzz
