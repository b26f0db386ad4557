// Canary defects (design.md §6): historical bug classes from the seed threads,
// re-created as runtime switches, off by default, each a small marked branch in the code
// it breaks. A stress tester is judged by the bugs it finds: `mmtorture selftest` turns
// each one on and proves the checks catch it.
//
// The set of enabled defects is process-wide (one world per process) and read on hot
// paths, so a test is one load of a 64-bit mask (room for 64 defects; kDefectCount is
// checked against it at compile time).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmt {

enum class Defect : uint32_t {
  PreallocRedundantWrite,
  GfpKernelUnderRmapLock,
  NommuSplitDoubleCount,
  BrkMunmapShortcut,
  MremapAccountLeak,
  MremapUaf,
  TopdownGapMiscalc,
  DestroyFreesLiveNodes,
  CmaRetryUninterruptible,
  CmaBitmapLeakOnBusy,
  RcuFreeWithoutGracePeriod,
  EmptyAreaSkipsLastSlot,
  MprotectDropsLateEnomem,
  MprotectSkipsVmaStartWrite,
  ExpandStackWithoutVmaLock,
  MmapLeaksVmaOnEnomem,
  MunmapEnomemDropsTotalVm,
  BrkEnomemMovesBrk,
  MremapEnomemKeepsCharge,
  ForkEnomemLeaksCharge,
  MergeKeepsMapCount,
  PreallocSplitOneShort,
  NodeReplaceSkipsGapUpdate,
  SplitSkipsAnonVmaClone,
  MprotectEnomemKeepsCharge,
  RebalanceLeavesNodeShort,
  SpanningStoreMissesNextNode,
  ForkSkipsVmaStartWrite,
  RcuNodePublishedBeforePivots,
  ContigEarlyExitKeepsIsolation,
  ContigSkipsPcpDrain,
  MergeRemovesVmaWithClose,
  WpPageSharedSkipsDirty,
};
inline constexpr uint32_t kDefectCount = 33;
static_assert(kDefectCount <= 64, "the enabled-defect mask is 64 bits wide");

struct DefectInfo {
  Defect defect;
  const char* name;         // --defect NAME
  const char* seed;         // the thread it comes from (shared/seeds/), or "upstream" for a
                            // historical mainline bug class of no seed thread
  const char* description;  // one paragraph: the bug and which check should catch it
};

const std::vector<DefectInfo>& defect_table();
std::optional<Defect> defect_from_name(std::string_view name);
const char* defect_name(Defect defect);

namespace detail {
extern uint64_t g_enabled_defects;
}

// True when the defect is switched on for this process.
inline bool defect_enabled(Defect defect) { return (detail::g_enabled_defects >> static_cast<uint32_t>(defect)) & 1u; }
void enable_defect(Defect defect, bool on = true);
void clear_defects();
std::vector<Defect> enabled_defects();

// RAII for tests: the given defects on for the scope, the previous set restored after.
class DefectScope {
 public:
  explicit DefectScope(std::initializer_list<Defect> defects);
  ~DefectScope();
  DefectScope(const DefectScope&) = delete;
  DefectScope& operator=(const DefectScope&) = delete;

 private:
  uint64_t saved_;
};

}  // namespace mmt
