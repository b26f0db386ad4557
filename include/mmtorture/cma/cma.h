// The contiguous memory allocator of one world (design.md §3 cma): its areas,
// cma_alloc / cma_release, alloc_contig_range with page isolation and migration, the
// per-CPU LRU batches it drains, the long-term pin bookkeeping GUP reports to it, and
// the consistency check over all of it.
//
// cma_alloc (v5.10 mm/cma.c, plus the retry loop of seed 004):
//   1. Under the area lock: bitmap_find_next_zero_area_off(start, bits, mask, offset);
//      none left -> unlock, then either fail (-ENOMEM, or the last -EBUSY) or, when the
//      last sweep ended in -EBUSY and the retry policy allows, sleep (virtual time,
//      killable or not) and sweep again from bit 0.
//   2. Set the bits (reserved for this call), unlock: the range is ours to work on.
//   3. alloc_contig_range(pfn, pfn + count) under the configured serialisation: the
//      global cma_mutex (older kernels), the area's alloc_mutex (2025), or none (the
//      v5.11 removal that was reverted for spurious -EBUSY).
//   4. Success: the pages are handed out (contiguous, refcount 1). Otherwise clear the
//      bits; -EBUSY slides to the next aligned candidate (bitmap_no + mask + 1), any
//      other error ends the call.
// The whole call is one sched operation named "cma_alloc", so a call that never
// returns is reported by the scheduler's hang detector; its retry sleeps carry the pfn
// that made the last sweep fail in their site name.
//
// alloc_contig_range (v5.10 mm/page_alloc.c with the v5.13 lru_cache_disable):
//   isolate the pageblocks (MIGRATE_ISOLATE; -EBUSY when one is already isolated or,
//   outside CMA, holds unmovable pages) -> disable and drain the LRU batches ->
//   repeat { fatal signal? -EINTR; isolate up to 32 LRU pages (skipping an anonymous
//   page whose refcount exceeds its mapcount: "racy check" for a pin); migrate_pages
//   (up to 10 passes; a target page is allocated outside the range and may fail:
//   -ENOMEM) } with 5 tries per batch -> enable the batches -> every frame free and
//   isolated? take them : -EBUSY naming the first busy pfn -> undo the isolation.
//   Every exit path restores the pageblocks and the LRU-batch state.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/cma/area.h"
#include "mmtorture/cma/coverage.h"
#include "mmtorture/cma/lru_cache.h"
#include "mmtorture/cma/retry.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/core/gfp.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/mutex.h"

namespace mmt::cma {

// How alloc_contig_range calls are serialised.
enum class CmaLocking : uint8_t {
  GlobalMutex,   // one cma_mutex for every area (v3.x .. v6.14)
  PerAreaMutex,  // cma->alloc_mutex (v6.15+)
  None,          // no serialisation (v5.11 .. v5.18, reverted)
};
const char* cma_locking_name(CmaLocking locking);

// What pin_user_pages(FOLL_LONGTERM) does with a page in CMA (or isolated) memory.
enum class LongtermPinMode : uint8_t {
  PinInPlace,           // no check at all: the page stays pinned inside CMA (pre-5.x)
  MigrateOrPinInPlace,  // v5.10: try to migrate it out; if that fails, pin it in CMA anyway
  MigrateFirst,         // v5.13+: migrate it out; if that fails the pin fails with -ENOMEM
};
const char* longterm_pin_mode_name(LongtermPinMode mode);

struct CmaOptions {
  CmaLocking locking = CmaLocking::GlobalMutex;
  RetryPolicy retry = RetryPolicy::none();
  LongtermPinMode longterm_pin = LongtermPinMode::MigrateFirst;
  // alloc_contig_range gives up on a batch of isolated pages after this many
  // migrate_pages calls (v5.10: ++tries == 5).
  unsigned contig_tries = 5;
  // migrate_pages passes over pages that returned -EAGAIN (v5.10: 10).
  unsigned migrate_passes = 10;
  // v5.13+: lru_cache_disable() around the migration (else only drains, as v5.10).
  bool lru_cache_disable = true;
  // The completeness check (cma.unexplained_failure, completeness.cpp): every failed
  // candidate range and every failed call must be explained by what the range held.
  bool check_completeness = true;
};

// One page held by FOLL_LONGTERM pins, for the "no long-term pin in CMA" check.
struct LongtermPin {
  uint64_t pins = 0;
  LongtermPinMode mode = LongtermPinMode::MigrateFirst;
};

class Cma {
 public:
  // `memory` and `rmap` (the vma layer's VmContext) must outlive the Cma.
  Cma(mem::Memory& memory, mem::RmapOps& rmap, CmaOptions options = {});
  Cma(const Cma&) = delete;
  Cma& operator=(const Cma&) = delete;

  mem::Memory& memory() { return memory_; }
  const CmaOptions& options() const { return options_; }
  // Options may change between operations (tests switch policies on one world).
  CmaOptions& options() { return options_; }
  LruCache& lru_cache() { return lru_cache_; }

  // ---- Areas (area.cpp) ----

  // cma_init_reserved_mem: validates (see CmaAreaConfig; throws ConfigError
  // naming the field), marks the area's pageblocks MIGRATE_CMA and returns the area.
  CmaArea& cma_declare_area(const CmaAreaConfig& config);
  const std::vector<std::unique_ptr<CmaArea>>& areas() const { return areas_; }
  CmaArea* find_area(std::string_view name);
  // The area holding pfn, or null.
  const CmaArea* area_of_pfn(uint64_t pfn) const;
  // Memory a long-term pin must not stay on: inside an area, or on a CMA or isolated
  // pageblock (the kernel's !folio_is_longterm_pinnable for CMA).
  bool is_cma_pfn(uint64_t pfn) const;

  // ---- Allocation (cma.cpp) ----

  // `count` contiguous pages from `area`, the first pfn a multiple of 2^align pages,
  // or null (*error, if given, gets 0 or -ENOMEM / -EBUSY / -EINTR). The pages are
  // order-0, refcount 1, owned by the caller until cma_release. May sleep.
  mem::Page* cma_alloc(CmaArea& area, uint64_t count, unsigned align, gfp_t gfp, int* error = nullptr);
  // Gives back exactly what one cma_alloc returned. Anything else — pages outside the
  // area, a range not handed out, a different count, a page someone still references
  // — is a kernel bug: Failure "cma.bad_release" (thrown, never a crash).
  void cma_release(CmaArea& area, const mem::Page* pages, uint64_t count);

  // See the file comment. 0, -EBUSY (and *busy_pfn = the frame that was in the way),
  // -ENOMEM (no migration target) or -EINTR (fatal signal). On 0 the frames
  // [start, end) are order-0 pages with refcount 1. May sleep.
  int alloc_contig_range(uint64_t start, uint64_t end, gfp_t gfp, uint64_t* busy_pfn = nullptr);
  // Frees pages alloc_contig_range returned.
  void free_contig_range(uint64_t pfn, uint64_t count);

  // ---- Migration (migrate.cpp) ----

  // isolate_lru_page: takes an LRU page off the LRU with a reference of the caller's
  // (PG_isolated). False when it is not on the LRU.
  bool isolate_lru_page(mem::Page* page);
  // putback_lru_page: the reverse.
  void putback_lru_page(mem::Page* page);
  // migrate_pages: moves each isolated page to a new page allocated with
  // `target_gfp` at `target_site`, up to options().migrate_passes passes over those
  // that returned -EAGAIN. Migrated pages leave `pages`; the rest stay (still
  // isolated). Returns how many stayed, or -ENOMEM when a target could not be
  // allocated (the rest stay too). *failed_pfn gets the last page that did not move.
  int migrate_pages(std::vector<mem::Page*>& pages, gfp_t target_gfp, Site target_site,
                    uint64_t* failed_pfn = nullptr);

  // ---- Long-term pins (gup.cpp reports here) ----

  void note_longterm_pin(const mem::Page* page, LongtermPinMode mode);
  void forget_longterm_pin(const mem::Page* page);
  const std::map<uint64_t, LongtermPin>& longterm_pins() const { return longterm_pins_; }

  // ---- Checks (check.cpp) ----

  // The CMA invariants, first violation first, each a Failure whose check names what
  // broke ("cma.<what>") and whose message names the area, bit and pfn:
  //   cma.bitmap          a bit is set exactly when one handed-out allocation or one
  //                       in-flight reservation covers it (never two, never none)
  //   cma.allocated_page  a handed-out page is allocated, order 0, refcount 1,
  //                       unmapped, unpinned, off the LRU (not free, not shared)
  //   cma.isolate_leak    an Isolate pageblock belongs to an alloc_contig_range in flight
  //   cma.available       available_count = count - set bits << order_per_bit
  //   cma.longterm_pin    no FOLL_LONGTERM pin taken under MigrateFirst sits on CMA memory
  //   cma.lru_cache_disabled  the LRU batches are disabled exactly by the
  //                       alloc_contig_range calls inside their migration phase
  // plus the page allocator's own check_consistency. cma_alloc raises a sixth, as it
  // goes (with options().check_completeness; completeness.cpp):
  //   cma.unexplained_failure  a candidate range failed, or a call failed, with nothing
  //                       to explain it: no pinned, referenced, unmovable, locked or
  //                       isolated page in the range at any look during the attempt; a
  //                       clear candidate the sweep skipped; -EBUSY while the retry
  //                       policy allows another sweep; -EINTR with no fatal signal;
  //                       -ENOMEM with room in the bitmap and no failed migration target.
  std::optional<Failure> check_consistency() const;
  // The areas as text: bitmap picture, counters, allocations and reservations.
  std::string dump() const;

  struct Stats {
    uint64_t contig_calls = 0;     // alloc_contig_range calls
    uint64_t isolate_busy = 0;     // ... that found a pageblock already isolated / unmovable
    uint64_t pages_isolated = 0;   // pages isolate_migratepages_range took off the LRU
    uint64_t pages_skipped = 0;    // pages it left because refcount > mapcount
    uint64_t pages_migrated = 0;
    uint64_t pages_freed_isolated = 0;  // isolated pages whose owner let go meanwhile
    uint64_t migrate_again = 0;    // try_to_migrate -EAGAIN (refcount freeze failed)
    uint64_t migrate_nomem = 0;    // target allocations that failed
  };
  const Stats& stats() const { return stats_; }

  // Coverage (cma/coverage.h): how often each operation ended each way. Counted beside
  // the run; nothing in the simulation reads it. gup.cpp counts the pin paths here too.
  void count(CmaOutcome outcome) { ++outcome_counts_[static_cast<size_t>(outcome)]; }
  const CmaOutcomeCounts& outcome_counts() const { return outcome_counts_; }

 private:
  int start_isolate_page_range(uint64_t start, uint64_t end, uint64_t owner, uint64_t* busy_pfn);
  void undo_isolate_page_range(uint64_t start, uint64_t end, uint64_t owner);
  int alloc_contig_migrate_range(uint64_t start, uint64_t end, uint64_t* busy_pfn);
  uint64_t isolate_migratepages_range(uint64_t pfn, uint64_t end, std::vector<mem::Page*>& pages);
  int unmap_and_move(mem::Page* page, gfp_t target_gfp, Site target_site);
  void cma_clear_bitmap(CmaArea& area, uint64_t bitmap_no, uint64_t bits, uint64_t call);
  std::optional<Failure> check_area(const CmaArea& area) const;

  // ---- Completeness (completeness.cpp) ----

  // What one candidate attempt of a cma_alloc call saw of its range [start, end): the
  // first blocker any look found (a pfn and why it could not be taken), empty while
  // every look found the range free, unpinned and movable. Registered per thread while
  // cma_alloc runs alloc_contig_range; the contig and migration code look through it.
  struct ContigWitness {
    const sched::Thread* thread = nullptr;
    uint64_t start = 0, end = 0;
    uint64_t owner = 0;  // the alloc_contig_range call once it isolated the range (0: not yet)
    const std::vector<mem::Page*>* isolated = nullptr;  // the pages that call holds isolated
    uint64_t migrate_nomem_at_start = 0;
    std::string blocker;
  };
  // One cma_alloc call's audit: where its current sweep stands and the first clear,
  // clean candidate a search passed over (UINT64_MAX: none).
  struct CallAudit {
    uint64_t cursor = 0;  // the first bit the next search must consider: 0, or past the last attempt
    uint64_t skipped = UINT64_MAX;
    std::string skipped_why;
    bool searched = false;  // a search ran (not: the request exceeds the area)
    bool no_room = false;   // the last search found no clear run at all
    int last_attempt = 0;   // what the last alloc_contig_range returned
  };
  ContigWitness* current_witness();
  // Why the frame at pfn could not be taken by the attempt `witness` (empty: it could).
  std::string contig_blocker(const ContigWitness& witness, uint64_t pfn) const;
  void witness_page(const mem::Page* page);
  void witness_range(uint64_t start, uint64_t end);
  // Under area.lock, after the bitmap search from `start` returned bitmap_no.
  void audit_search(const CmaArea& area, CallAudit& audit, uint64_t start, uint64_t bits, uint64_t mask,
                    uint64_t offset, uint64_t bitmap_no) const;
  // After one attempt returned `ret` (not 0): raises cma.unexplained_failure.
  void audit_attempt(const CmaArea& area, const ContigWitness& witness, int ret, uint64_t busy_pfn) const;
  // When the call fails with `ret` after `retries` extra sweeps.
  void audit_outcome(const CmaArea& area, const CallAudit& audit, gfp_t gfp, uint64_t count, int ret,
                     uint64_t retries) const;

  mem::Memory& memory_;
  mem::RmapOps& rmap_;
  CmaOptions options_;
  LruCache lru_cache_;
  std::vector<std::unique_ptr<CmaArea>> areas_;  // in declaration order
  sched::Mutex cma_mutex_;
  // Per pageblock: the alloc_contig_range call that isolated it (0 = none) and the
  // type to restore.
  struct Isolation {
    uint64_t owner = 0;
    mem::MigrateType saved = mem::MigrateType::Movable;
  };
  std::vector<Isolation> isolations_;
  uint64_t next_call_ = 0;
  // The alloc_contig_range calls in flight (their owner numbers, ascending): an
  // isolation whose owner is not among them was left behind by a call that returned.
  std::vector<uint64_t> contig_in_flight_;
  uint64_t contig_lru_disabled_ = 0;  // alloc_contig_range calls holding lru_cache_disable
  std::map<uint64_t, LongtermPin> longterm_pins_;
  std::vector<ContigWitness*> witnesses_;  // the cma_alloc attempts in flight, one per thread
  Stats stats_;
  CmaOutcomeCounts outcome_counts_{};
};

}  // namespace mmt::cma
