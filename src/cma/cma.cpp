// cma_alloc and cma_release (cma.h): the bitmap search under the area lock, the
// serialised alloc_contig_range, the slide to the next aligned candidate on -EBUSY,
// the retry policy after a failed sweep, and the per-area statistics.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <string>

#include "mmtorture/cma/cma.h"

#include "mmtorture/core/defects.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/progress.h"
#include "mmtorture/sched/signal.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::cma {

namespace {

constexpr Site kSiteCmaLock{"cma_alloc: cma->lock"};
constexpr Site kSiteCmaRelease{"cma_release: cma->lock"};
constexpr Site kSiteCmaMutex{"cma_alloc: cma_mutex"};
constexpr Site kSiteAllocMutex{"cma_alloc: cma->alloc_mutex"};

// The site a retry sleep parks at, naming the pfn that made the sweep fail, so a hang
// report says which page held the allocation up. Sites must outlive every recorded
// choice and thread report, so the names are interned for the process's life (at most
// one per pfn).
Site retry_site(uint64_t busy_pfn) {
  static auto* names = new std::map<uint64_t, std::unique_ptr<std::string>>;
  auto& name = (*names)[busy_pfn];
  if (!name) {
    name = std::make_unique<std::string>(
        busy_pfn == UINT64_MAX ? std::string("cma_alloc: sleep before retrying after -EBUSY")
                               : fmt::format("cma_alloc: sleep before retrying after -EBUSY at pfn {}", busy_pfn));
  }
  return Site{name->c_str()};
}

// cma_bitmap_aligned_mask / cma_bitmap_aligned_offset / cma_bitmap_pages_to_bits.
uint64_t aligned_mask(const CmaArea& area, unsigned align) {
  if (align <= area.order_per_bit) return 0;
  return (uint64_t{1} << (align - area.order_per_bit)) - 1;
}
uint64_t aligned_offset(const CmaArea& area, unsigned align) {
  return (area.base_pfn & ((uint64_t{1} << align) - 1)) >> area.order_per_bit;
}
uint64_t pages_to_bits(const CmaArea& area, uint64_t pages) {
  const uint64_t chunk = uint64_t{1} << area.order_per_bit;
  return ((pages + chunk - 1) & ~(chunk - 1)) >> area.order_per_bit;
}

}  // namespace

void Cma::cma_clear_bitmap(CmaArea& area, uint64_t bitmap_no, uint64_t bits, uint64_t call) {
  sched::SpinGuard guard(area.lock, Site{"cma_clear_bitmap"});
  area.bitmap.clear(bitmap_no, bits);
  area.available_count += bits << area.order_per_bit;
  for (auto it = area.reservations.begin(); it != area.reservations.end(); ++it) {
    if (it->call == call && it->bitmap_no == bitmap_no) {
      area.reservations.erase(it);
      break;
    }
  }
}

// Long because it follows the kernel's cma_alloc() step by step (bitmap search, range
// allocation, the retry policy, the -EBUSY sweep), so the two read side by side.
mem::Page* Cma::cma_alloc(CmaArea& area, uint64_t count, unsigned align, gfp_t gfp, int* error) {
  int ret = -ENOMEM;
  if (error) *error = ret;
  if (count == 0 || align > 63) return nullptr;  // the kernel returns NULL without counting
  sched::OpScope op("cma_alloc");
  const uint64_t started_ms = sched::now_ms();
  ++area.stats.alloc_calls;

  const uint64_t mask = aligned_mask(area, align);
  const uint64_t offset = aligned_offset(area, align);
  const uint64_t maxno = area.bitmap_maxno();
  const uint64_t bits = pages_to_bits(area, count);
  const uint64_t call = ++next_call_;
  mem::Page* page = nullptr;
  uint64_t start = 0;
  uint64_t retries = 0;
  uint64_t busy_pfn = UINT64_MAX;
  std::optional<CallAudit> audit;
  if (options_.check_completeness) audit.emplace();

  while (bits <= maxno) {
    area.lock.lock(kSiteCmaLock);
    const uint64_t bitmap_no = area.bitmap.find_next_zero_area_off(start, bits, mask, offset);
    if (audit) audit_search(area, *audit, start, bits, mask, offset, bitmap_no);
    if (bitmap_no >= maxno) {
      area.lock.unlock(kSiteCmaLock);
      const RetryPolicy& policy = options_.retry;
      if (ret != -EBUSY || !policy.may_retry(gfp, retries)) break;
      // A fatal signal ends a killable retry loop (v4/v5 of the patch) before and
      // during each sleep; msleep (v1/v2) sleeps through it.
      // CANARY cma-retry-uninterruptible (seed 004): the retry loop sleeps
      // uninterruptibly and never looks at the signal.
      const bool killable = policy.killable && !defect_enabled(Defect::CmaRetryUninterruptible);
      if (killable && sched::fatal_signal_pending()) {
        ret = -EINTR;
        break;
      }
      const Site site = retry_site(busy_pfn);
      if (killable) {
        sched::schedule_timeout_killable(policy.sleep_ms, site);
        if (sched::fatal_signal_pending()) {
          ret = -EINTR;
          break;
        }
      } else {
        sched::msleep(policy.sleep_ms, site);
      }
      ++retries;
      ++area.stats.retries;
      start = 0;
      if (audit) audit->cursor = 0;
      ret = -ENOMEM;  // as the v2 patch: a sweep that finds no room at all ends the call
      continue;
    }
    // Reserved for this call: safe to drop the lock, nobody else will use these bits.
    area.bitmap.set(bitmap_no, bits);
    area.available_count -= bits << area.order_per_bit;
    area.reservations.push_back(CmaArea::Reservation{bitmap_no, bits, call});
    area.lock.unlock(kSiteCmaLock);

    const uint64_t pfn = area.pfn_of_bit(bitmap_no);
    // NOFAIL and NORETRY are not alloc_contig_range's business (v6.18 rejects them).
    const gfp_t contig_gfp = (gfp & ~gfp::kNofail) | gfp::kNowarn;
    // The completeness check's witness of this attempt, found by the contig and
    // migration code through the current thread.
    ContigWitness witness{sched::current_thread(), pfn, pfn + count, 0, nullptr, stats_.migrate_nomem, {}};
    struct Watch {
      std::vector<ContigWitness*>& list;
      ContigWitness* witness;
      ~Watch() {
        if (witness) list.erase(std::find(list.begin(), list.end(), witness));
      }
    } watch{witnesses_, audit ? &witness : nullptr};
    if (audit) witnesses_.push_back(&witness);
    switch (options_.locking) {
      case CmaLocking::GlobalMutex: {
        sched::MutexGuard guard(cma_mutex_, kSiteCmaMutex);
        ret = alloc_contig_range(pfn, pfn + count, contig_gfp, &busy_pfn);
        break;
      }
      case CmaLocking::PerAreaMutex: {
        sched::MutexGuard guard(area.alloc_mutex, kSiteAllocMutex);
        ret = alloc_contig_range(pfn, pfn + count, contig_gfp, &busy_pfn);
        break;
      }
      case CmaLocking::None:
        ret = alloc_contig_range(pfn, pfn + count, contig_gfp, &busy_pfn);
        break;
    }
    if (ret == 0) {
      // Reservation becomes allocation in one step (no yield in between).
      for (auto it = area.reservations.begin(); it != area.reservations.end(); ++it) {
        if (it->call == call) {
          area.reservations.erase(it);
          break;
        }
      }
      area.allocations.emplace(pfn, count);
      page = memory_.pfn_to_page(pfn);
      break;
    }
    if (audit) {
      audit_attempt(area, witness, ret, busy_pfn);
      audit->last_attempt = ret;
      audit->cursor = bitmap_no + 1;
    }
    // CANARY cma-retry-uninterruptible: -EINTR from alloc_contig_range is retried too.
    if (ret == -EINTR && defect_enabled(Defect::CmaRetryUninterruptible)) ret = -EBUSY;
    // CANARY cma-bitmap-leak-on-busy (seed 004): a range that failed with -EBUSY keeps
    // its bitmap bits (only the reservation record goes).
    if (ret == -EBUSY && defect_enabled(Defect::CmaBitmapLeakOnBusy)) {
      sched::SpinGuard guard(area.lock, Site{"cma_clear_bitmap"});
      for (auto it = area.reservations.begin(); it != area.reservations.end(); ++it)
        if (it->call == call && it->bitmap_no == bitmap_no) {
          area.reservations.erase(it);
          break;
        }
    } else {
      cma_clear_bitmap(area, bitmap_no, bits, call);
    }
    if (ret != -EBUSY) break;
    ++area.stats.busy;
    start = bitmap_no + mask + 1;  // the next aligned candidate
  }

  area.stats.latency_ms.push_back(sched::now_ms() - started_ms);
  if (page) {
    // What the caller gets: contiguous order-0 pages, each with its one reference.
    for (uint64_t i = 0; i < count; ++i) {
      const mem::Page& p = page[i];
      if (p.refcount != 1 || !p.test(mem::PG_allocated) || p.order != 0 || p.mapcount != 0)
        raise_failure("cma.returned_range", "cma_alloc",
                      fmt::format("area '{}': page {} of the {} returned at pfn {} is not a fresh order-0 page: {}",
                                  area.name, i, count, page->pfn, memory_.describe_page(p)));
    }
    area.stats.alloc_pages_success += count;
    ret = 0;
    this->count(retries > 0 ? CmaOutcome::AllocOkAfterRetry : CmaOutcome::AllocOk);
  } else {
    if (audit) audit_outcome(area, *audit, gfp, count, ret, retries);
    area.stats.alloc_pages_fail += count;
    ++area.stats.alloc_calls_fail;
    if (ret == -EINTR) ++area.stats.interrupted;
    if (ret == -ENOMEM) ++area.stats.enomem;
    this->count(ret == -EBUSY ? CmaOutcome::AllocBusy : ret == -EINTR ? CmaOutcome::AllocIntr : CmaOutcome::AllocNomem);
  }
  if (error) *error = ret;
  return page;
}

void Cma::cma_release(CmaArea& area, const mem::Page* pages, uint64_t count) {
  auto bad = [&](const std::string& what) {
    raise_failure("cma.bad_release", "cma_release", fmt::format("area '{}': {}", area.name, what), dump());
  };
  if (!pages) return;  // cma_release(NULL) is allowed and does nothing
  const mem::Page* first = memory_.pfn_to_page(0);
  if (pages < first || pages >= first + memory_.nr_pages()) bad("releasing a pointer that is not a page frame");
  const uint64_t pfn = pages->pfn;
  // Checked, freed and cleared in one step under the lock (nothing in it yields), so no
  // other thread sees the bits without their allocation or the reverse.
  sched::SpinGuard guard(area.lock, kSiteCmaRelease);
  if (!area.contains(pfn) || count > area.end_pfn() - pfn)
    bad(fmt::format("pfns [{}, {}) are not inside the area [{}, {})", pfn, pfn + count, area.base_pfn,
                    area.end_pfn()));
  auto it = area.allocations.find(pfn);
  if (it == area.allocations.end())
    bad(fmt::format("pfn {} is not the start of an allocation handed out by cma_alloc (double release?)", pfn));
  if (it->second != count)
    bad(fmt::format("releasing {} pages at pfn {}, but cma_alloc handed out {}", count, pfn, it->second));
  for (uint64_t i = 0; i < count; ++i) {
    const mem::Page& page = pages[i];
    if (page.refcount != 1 || page.mapcount != 0 || page.pincount != 0 || !page.test(mem::PG_allocated))
      bad(fmt::format("page at pfn {} is not as cma_alloc handed it out: {}", page.pfn, memory_.describe_page(page)));
  }
  area.allocations.erase(it);
  free_contig_range(pfn, count);
  const uint64_t bitmap_no = area.bit_of_pfn(pfn);
  const uint64_t bits = pages_to_bits(area, count);
  area.bitmap.clear(bitmap_no, bits);
  area.available_count += bits << area.order_per_bit;
  area.stats.release_pages_success += count;
}

void Cma::free_contig_range(uint64_t pfn, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) memory_.free_pages(memory_.pfn_to_page(pfn + i), 0);
}

}  // namespace mmt::cma
