// The invariant registry: every check a world runs, with the level it runs at — after
// every operation (on the address space the operation touched), every N operations
// (the whole of simulated memory and the slabs), or at the end of a run when every
// thread has finished (cross-checks that only hold at a quiescent point, and leak
// checks after teardown). `mmtorture list` prints the table; a failed check is a
// Failure named after it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/core/failure.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/vma/mm.h"

namespace mmt::check {

enum class CheckLevel { EveryOp, EveryN, End, Teardown };

const char* check_level_name(CheckLevel level);

// What a check may look at. `op_mm` is the address space the last operation used
// (EveryOp); `mms` every live one (End).
struct CheckSubject {
  mem::Memory& memory;
  vma::VmContext& context;
  vma::Mm* op_mm = nullptr;
  std::vector<vma::Mm*> mms;
};

struct Check {
  std::string name;
  CheckLevel level;
  std::string description;
  std::function<std::optional<Failure>(const CheckSubject&)> run;
};

class CheckRegistry {
 public:
  void add(Check check);
  // Runs every check of `level` in registration order; the first violation.
  std::optional<Failure> run(CheckLevel level, const CheckSubject& subject) const;
  const std::vector<Check>& checks() const { return checks_; }

 private:
  std::vector<Check> checks_;
};

// The checks of a VM world: validate_mm, frames, slabs, committed accounting, page
// mapcounts against ptes, and the teardown leak checks.
const CheckRegistry& vm_world_checks();

}  // namespace mmt::check
