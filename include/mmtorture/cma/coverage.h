// The CMA world's coverage vocabulary, declared once: every operation the CMA code
// counts and each outcome it can have (Cma::count), for the counting code and for the
// cma job's coverage registry (jobs/cma.cpp), plus the allocation sites a fault plan
// can fail in it. Counting draws no choice and never yields: a seed runs the same
// whoever looks at its coverage.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "mmtorture/core/site.h"

namespace mmt::cma {

// Where migration allocates its target pages: alloc_contig_range's (movable memory
// outside the range) and FOLL_LONGTERM's (outside CMA). The cma job's fault plan fails
// them at cma.migration_fail_probability.
inline constexpr Site kSiteMigrationTarget{"alloc_migration_target"};
inline constexpr Site kSiteLongtermTarget{"alloc_migration_target: FOLL_LONGTERM"};

// X(id, operation, outcome, error)
#define MMT_CMA_OUTCOMES(X)                                                                                  \
  X(AllocOk, "cma_alloc", "0", false)                                                                        \
  X(AllocOkAfterRetry, "cma_alloc", "0 after a retry", false)                                                \
  X(AllocBusy, "cma_alloc", "-EBUSY", true)                                                                  \
  X(AllocNomem, "cma_alloc", "-ENOMEM", true)                                                                \
  X(AllocIntr, "cma_alloc", "-EINTR", true)                                                                  \
  X(ContigOk, "alloc_contig_range", "0", false)                                                              \
  X(ContigIsolationBusy, "alloc_contig_range", "-EBUSY: pageblock isolated", true)                           \
  X(ContigPfnsBusy, "alloc_contig_range", "-EBUSY: PFNs busy", true)                                         \
  X(ContigNomem, "alloc_contig_range", "-ENOMEM", true)                                                      \
  X(ContigIntr, "alloc_contig_range", "-EINTR", true)                                                        \
  X(ContigPcpDrained, "alloc_contig_range", "drained per-CPU lists", false)                                  \
  X(ScanIsolated, "isolate_migratepages_range", "isolated", false)                                           \
  X(ScanSkippedPinned, "isolate_migratepages_range", "skipped: refcount > mapcount", true)                   \
  X(ScanSkippedOffLru, "isolate_migratepages_range", "skipped: off the LRU or locked", true)                 \
  X(MigrateMoved, "migrate_pages", "moved", false)                                                           \
  X(MigrateFreed, "migrate_pages", "freed meanwhile", false)                                                 \
  X(MigrateAgain, "migrate_pages", "-EAGAIN", true)                                                          \
  X(MigrateNomem, "migrate_pages", "-ENOMEM", true)                                                          \
  X(PinOk, "pin_user_pages", "0", false)                                                                     \
  X(PinNomem, "pin_user_pages", "-ENOMEM", true)                                                             \
  X(PinIntr, "pin_user_pages", "-EINTR", true)                                                               \
  X(PinFault, "pin_user_pages", "-EFAULT", true)                                                             \
  X(LongtermOutsideCma, "pin_user_pages FOLL_LONGTERM", "pinned outside CMA", false)                         \
  X(LongtermInPlace, "pin_user_pages FOLL_LONGTERM", "pinned in CMA in place", false)                        \
  X(LongtermMigrated, "pin_user_pages FOLL_LONGTERM", "migrated out of CMA, then pinned", false)             \
  X(LongtermMigrationFailedInPlace, "pin_user_pages FOLL_LONGTERM", "migration failed: pinned in CMA", true) \
  X(LongtermMigrationFailed, "pin_user_pages FOLL_LONGTERM", "migration failed: -ENOMEM", true)

enum class CmaOutcome : uint8_t {
#define MMT_CMA_OUTCOME_ID(id, op, outcome, error) id,
  MMT_CMA_OUTCOMES(MMT_CMA_OUTCOME_ID)
#undef MMT_CMA_OUTCOME_ID
};

struct CmaOutcomeInfo {
  CmaOutcome id;
  const char* op;
  const char* outcome;
  bool error;  // an error return (the coverage's "error returns taken")
};

inline constexpr CmaOutcomeInfo kCmaOutcomes[] = {
#define MMT_CMA_OUTCOME_INFO(id, op, outcome, error) {CmaOutcome::id, op, outcome, error},
    MMT_CMA_OUTCOMES(MMT_CMA_OUTCOME_INFO)
#undef MMT_CMA_OUTCOME_INFO
};
inline constexpr size_t kCmaOutcomeCount = std::size(kCmaOutcomes);

// How many times each outcome happened, indexed by CmaOutcome.
using CmaOutcomeCounts = std::array<uint64_t, kCmaOutcomeCount>;

}  // namespace mmt::cma
