// The completeness check of cma_alloc (cma.h: cma.unexplained_failure). The consistency
// check (check.cpp) proves a failed call left nothing behind; this one proves the
// failure was deserved. Each candidate attempt carries a witness that looks, with its
// own rules rather than the allocator's, at every page alloc_contig_range decides on —
// when the scan passes over a page, when a migration returns -EAGAIN, when the
// isolation test or the final "PFNs busy" test fails — and keeps the first blocker it
// sees: a page that is pinned, holds a reference its mappings do not explain (a fork or
// zap window, an LRU batch, a short pin), is locked, is off the LRU or isolated by
// someone else, is not an order-0 anonymous page, sits on a pageblock another call
// isolated, or whose page table is locked. A range that failed with -EBUSY while every
// look found it free, unpinned and movable was allocatable: the allocator is wrong.
//
// Whole calls are audited too: each bitmap search is compared with a plain scan for the
// first clear aligned candidate (a search or slide that passes over a clear range whose
// pages are all free or movable loses a range that would have worked), -EBUSY must mean
// the retry policy has no sweep left, -EINTR a fatal signal, and -ENOMEM a full bitmap
// or a migration target that could not be allocated.
//
// Only looks: nothing here changes the world, draws a choice or yields, so a seed runs
// the same with the check on or off.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "mmtorture/cma/cma.h"
#include "mmtorture/sched/signal.h"
#include "mmtorture/sched/yield_point.h"
#include "mmtorture/vma/mm.h"

namespace mmt::cma {

namespace {

// Free: on a per-CPU list, or inside a block on the buddy lists.
bool frame_is_free(const mem::Memory& memory, uint64_t pfn) {
  const mem::Page* page = memory.pfn_to_page(pfn);
  if (page->test(mem::PG_pcp) || page->test(mem::PG_buddy)) return true;
  for (unsigned order = 1; order <= mem::kMaxOrder; ++order) {
    const uint64_t head_pfn = pfn & ~((uint64_t{1} << order) - 1);
    const mem::Page* head = memory.pfn_to_page(head_pfn);
    if (head && head->test(mem::PG_buddy) && head->order >= order) return true;
  }
  return false;
}

// A page table that maps the page is locked (a fork copying it, a fault, a zap):
// try_to_migrate cannot wait for it and reports -EAGAIN.
bool page_table_locked(const mem::Page& page) {
  if (page.mapcount <= 0 || !page.anon_vma) return false;
  const auto* anon_vma = static_cast<const vma::AnonVma*>(page.anon_vma);
  for (const vma::Vma* vma : anon_vma->vmas) {
    if (page.index < vma->vm_pgoff || page.index - vma->vm_pgoff >= vma->pages()) continue;
    if (vma->vm_mm->page_table_lock.is_locked()) return true;
  }
  return false;
}

const char* errno_name(int error) {
  switch (error) {
    case 0: return "0";
    case -EBUSY: return "-EBUSY";
    case -ENOMEM: return "-ENOMEM";
    case -EINTR: return "-EINTR";
    case -EAGAIN: return "-EAGAIN";
  }
  return "an unexpected error";
}

// Whether the policy lets a call that has made `retries` extra sweeps sweep again,
// written from the thread's patches rather than read from RetryPolicy::may_retry.
bool policy_allows_another_sweep(const RetryPolicy& policy, gfp_t gfp, uint64_t retries) {
  switch (policy.kind) {
    case RetryKind::None: return false;
    case RetryKind::Bounded: return retries < policy.max_retries;
    case RetryKind::Forever: return true;
    case RetryKind::NofailOnly: return (gfp & gfp::kNofail) != 0;
  }
  return false;
}

}  // namespace

Cma::ContigWitness* Cma::current_witness() {
  if (witnesses_.empty()) return nullptr;
  const sched::Thread* thread = sched::current_thread();
  for (ContigWitness* witness : witnesses_)
    if (witness->thread == thread) return witness;
  return nullptr;
}

std::string Cma::contig_blocker(const ContigWitness& witness, uint64_t pfn) const {
  const mem::Page& page = *memory_.pfn_to_page(pfn);
  const uint64_t block = pfn / mem::kPageblockPages;
  if (memory_.pageblock_migratetype(pfn) == mem::MigrateType::Isolate && isolations_[block].owner != witness.owner)
    return fmt::format("pageblock {} is isolated by alloc_contig_range call {}", block, isolations_[block].owner);
  if (page.test(mem::PG_reserved)) return "reserved";
  if (frame_is_free(memory_, pfn)) return {};
  if (!page.test(mem::PG_allocated)) return "part of a higher-order allocation";
  if (page.order != 0) return fmt::format("an order-{} allocation", page.order);
  if (page.test(mem::PG_slab) || !page.test(mem::PG_anon)) return "unmovable (not an anonymous page)";
  if (page.pincount > 0) return fmt::format("pinned ({} FOLL_PIN pin(s))", page.pincount);
  if (page.test(mem::PG_locked)) return "locked";
  if (page.test(mem::PG_writeback)) return "under writeback";
  const bool ours = page.test(mem::PG_isolated) && witness.isolated &&
                    std::find(witness.isolated->begin(), witness.isolated->end(), &page) != witness.isolated->end();
  if (page.test(mem::PG_isolated) && !ours) return "isolated from the LRU by someone else (reclaim or migration)";
  if (!page.test(mem::PG_isolated) && !page.test(mem::PG_lru)) return "off the LRU (being faulted in or freed)";
  const int32_t explained = page.mapcount + (ours ? 1 : 0);
  if (page.refcount > explained)
    return fmt::format("refcount {} exceeds its mapcount {}{}: a fork or zap window, an LRU batch or a short pin",
                       page.refcount, page.mapcount, ours ? " + 1 isolation reference" : "");
  if (page.mapcount > 0 && !page.anon_vma) return "mapped with no anon_vma";
  if (page_table_locked(page)) return "a page table mapping it is locked";
  return {};
}

void Cma::witness_page(const mem::Page* page) {
  ContigWitness* witness = current_witness();
  if (!witness || !witness->blocker.empty()) return;
  if (std::string why = contig_blocker(*witness, page->pfn); !why.empty())
    witness->blocker = fmt::format("pfn {}: {}", page->pfn, why);
}

void Cma::witness_range(uint64_t start, uint64_t end) {
  ContigWitness* witness = current_witness();
  if (!witness || !witness->blocker.empty()) return;
  for (uint64_t pfn = start; pfn < end; ++pfn) {
    if (std::string why = contig_blocker(*witness, pfn); !why.empty()) {
      witness->blocker = fmt::format("pfn {}: {}", pfn, why);
      return;
    }
  }
}

void Cma::audit_search(const CmaArea& area, CallAudit& audit, uint64_t start, uint64_t bits, uint64_t mask,
                       uint64_t offset, uint64_t bitmap_no) const {
  const uint64_t maxno = area.bitmap_maxno();
  audit.searched = true;
  audit.no_room = bitmap_no >= maxno;
  // The first aligned candidate at or after the cursor whose bits are all clear.
  uint64_t first = UINT64_MAX;
  const uint64_t step = mask + 1;
  uint64_t candidate = audit.cursor + ((step - (audit.cursor + offset) % step) % step);
  for (; bits <= maxno && candidate <= maxno - bits; candidate += step) {
    if (area.bitmap.find_next_bit(candidate + bits, candidate) == candidate + bits) {
      first = candidate;
      break;
    }
  }
  if (first == UINT64_MAX || first >= bitmap_no || audit.skipped != UINT64_MAX) return;
  // The search passed over a clear range: it matters if its pages could have been taken.
  ContigWitness outside;  // nobody isolated it for this call
  for (uint64_t pfn = area.pfn_of_bit(first); pfn < area.pfn_of_bit(first + bits); ++pfn)
    if (!contig_blocker(outside, pfn).empty()) return;
  audit.skipped = first;
  audit.skipped_why = fmt::format(
      "the search from bit {} returned {} but bits [{}, {}) (pfns [{}, {})) were clear "
      "and every page in them free or movable",
      start, bitmap_no >= maxno ? std::string("none") : std::to_string(bitmap_no), first, first + bits,
      area.pfn_of_bit(first), area.pfn_of_bit(first + bits));
}

void Cma::audit_attempt(const CmaArea& area, const ContigWitness& witness, int ret, uint64_t busy_pfn) const {
  std::string why, detail;
  if (ret == -EBUSY && witness.blocker.empty()) {
    const mem::Page* busy = busy_pfn < memory_.nr_pages() ? memory_.pfn_to_page(busy_pfn) : nullptr;
    why =
        "alloc_contig_range returned -EBUSY for a range that was free, unpinned and movable at every look during "
        "the attempt";
    // The page it blamed, as it is now: its flags vary, so it stays out of the signature.
    detail = fmt::format("it named pfn {}: {}", busy_pfn, busy ? memory_.describe_page(*busy) : std::string("no page"));
  } else if (ret == -ENOMEM && stats_.migrate_nomem == witness.migrate_nomem_at_start) {
    why = "alloc_contig_range returned -ENOMEM but no migration target allocation failed";
  } else if (ret == -EINTR && !sched::fatal_signal_pending()) {
    why = "alloc_contig_range returned -EINTR with no fatal signal pending";
  } else if (ret != -EBUSY && ret != -ENOMEM && ret != -EINTR) {
    why = fmt::format("alloc_contig_range returned {} ({})", errno_name(ret), ret);
  }
  if (why.empty()) return;
  raise_failure("cma.unexplained_failure", "cma_alloc",
                fmt::format("area '{}': candidate range [{}, {}): {}", area.name, witness.start, witness.end, why),
                dump(), detail);
}

void Cma::audit_outcome(const CmaArea& area, const CallAudit& audit, gfp_t gfp, uint64_t count, int ret,
                        uint64_t retries) const {
  if (ret == 0) return;
  const RetryPolicy& policy = options_.retry;
  std::string why;
  if (audit.skipped != UINT64_MAX) {
    why = audit.skipped_why;
  } else if (ret == -EBUSY && policy_allows_another_sweep(policy, gfp, retries)) {
    why = fmt::format("-EBUSY after {} retries, but the retry policy {} allows another sweep", retries, policy.name());
  } else if (ret == -EINTR && !sched::fatal_signal_pending()) {
    why = "-EINTR with no fatal signal pending";
  } else if (ret == -ENOMEM && audit.searched && !audit.no_room && audit.last_attempt != -ENOMEM) {
    // Explained: a request larger than the area (no search at all), a last search that
    // found no clear run, or an attempt whose migration target failed (audited then).
    why = "-ENOMEM with room in the bitmap and no failed migration target";
  } else if (ret != -EBUSY && ret != -ENOMEM && ret != -EINTR) {
    why = fmt::format("returned {} ({})", errno_name(ret), ret);
  }
  if (why.empty()) return;
  raise_failure(
      "cma.unexplained_failure", "cma_alloc",
      fmt::format("area '{}': a call for {} pages failed with {}: {}", area.name, count, errno_name(ret), why), dump());
}

}  // namespace mmt::cma
