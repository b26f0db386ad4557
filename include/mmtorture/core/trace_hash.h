// TraceHash: a 64-bit digest of everything that happened in a run. Every event
// (thread switch, operation start/end, allocation result, check pass) is folded in, so
// two runs with equal hashes took the same path. Same config + same choices must give
// the same hash on gcc and clang, -O0 and -O2, with or without sanitizers.
#pragma once

#include <cstdint>
#include <string_view>

namespace mmt {

// Event kinds folded into the hash. The numeric values are part of the trace-hash
// definition: append new kinds at the end.
enum class TraceEvent : uint32_t {
  Choice = 1,
  Switch = 2,
  OpStart = 3,
  OpEnd = 4,
  Alloc = 5,
  Check = 6,
  Free = 7,
  Sleep = 8,
  Custom = 9,
};

class TraceHash {
 public:
  explicit TraceHash(uint64_t seed = 0) : hash_(seed) {}

  // Folds one event with up to three integer arguments.
  void fold(TraceEvent event, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0);
  // Folds a string (e.g. a site name or an operation name).
  void fold_string(TraceEvent event, std::string_view text);

  uint64_t value() const { return hash_; }
  uint64_t events() const { return events_; }

 private:
  uint64_t hash_;
  uint64_t events_ = 0;
};

}  // namespace mmt
