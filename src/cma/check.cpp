// The CMA consistency check and dump (cma.h). It rebuilds from the bookkeeping which
// bits must be set — one owner per bit, a handed-out allocation or a reservation of a
// call in flight — and compares with the bitmap, the counters, the frames, the
// pageblocks and the LRU-batch state, naming the first thing that disagrees.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "mmtorture/cma/cma.h"

namespace mmt::cma {

namespace {
uint64_t bits_for(const CmaArea& area, uint64_t pages) {
  const uint64_t chunk = uint64_t{1} << area.order_per_bit;
  return (pages + chunk - 1) >> area.order_per_bit;
}
}  // namespace

std::optional<Failure> Cma::check_area(const CmaArea& area) const {
  auto fail = [&](const char* check, const std::string& what) {
    return Failure{check, "cma_check", fmt::format("area '{}': {}", area.name, what), dump()};
  };
  const uint64_t maxno = area.bitmap_maxno();
  // Owners per bit: 0 none, else 1 + index of the first owner; a second owner fails.
  std::vector<uint32_t> owners(maxno, 0);
  auto claim = [&](uint64_t first, uint64_t bits, const std::string& who) -> std::optional<Failure> {
    if (first > maxno || bits > maxno - first)
      return fail("cma.bitmap", fmt::format("{} covers bits [{}, {}) beyond the bitmap ({} bits)", who, first,
                                            first + bits, maxno));
    for (uint64_t bit = first; bit < first + bits; ++bit) {
      if (owners[bit])
        return fail("cma.bitmap", fmt::format("bit {} (pfn {}) is claimed twice: by {} and by another allocation or "
                                              "in-flight reservation", bit, area.pfn_of_bit(bit), who));
      owners[bit] = 1;
    }
    return std::nullopt;
  };
  for (const auto& [pfn, pages] : area.allocations) {
    if (!area.contains(pfn) || (pfn - area.base_pfn) % (uint64_t{1} << area.order_per_bit) != 0)
      return fail("cma.bitmap", fmt::format("allocation at pfn {} does not start on a bit of the area", pfn));
    if (auto failure = claim(area.bit_of_pfn(pfn), bits_for(area, pages),
                             fmt::format("the allocation of {} pages at pfn {}", pages, pfn)))
      return failure;
  }
  for (const auto& reservation : area.reservations) {
    if (auto failure = claim(reservation.bitmap_no, reservation.bits,
                             fmt::format("the reservation of cma_alloc call {}", reservation.call)))
      return failure;
  }
  for (uint64_t bit = 0; bit < maxno; ++bit) {
    const bool set = area.bitmap.test(bit);
    if (set && !owners[bit])
      return fail("cma.bitmap", fmt::format("bit {} (pfn {}) is set but no allocation or in-flight cma_alloc owns "
                                            "it (leaked bit)", bit, area.pfn_of_bit(bit)));
    if (!set && owners[bit])
      return fail("cma.bitmap", fmt::format("bit {} (pfn {}) is clear but owned by an allocation or in-flight "
                                            "cma_alloc (cleared too early: double allocation possible)",
                                            bit, area.pfn_of_bit(bit)));
  }
  const uint64_t set_pages = area.bitmap.weight() << area.order_per_bit;
  if (area.available_count != area.count - set_pages)
    return fail("cma.available", fmt::format("available_count is {} but {} pages minus {} reserved is {}",
                                             area.available_count, area.count, set_pages, area.count - set_pages));
  for (const auto& [pfn, pages] : area.allocations) {
    for (uint64_t p = pfn; p < pfn + pages; ++p) {
      const mem::Page& page = *memory_.pfn_to_page(p);
      if (page.test(mem::PG_buddy) || !page.test(mem::PG_allocated) || page.refcount != 1 || page.order != 0 ||
          page.mapcount != 0 || page.pincount != 0 || page.test(mem::PG_lru))
        return fail("cma.allocated_page",
                    fmt::format("pfn {} of the allocation at pfn {} ({} pages) is not a page the client holds alone "
                                "(free, shared, mapped or on the LRU): {}", p, pfn, pages,
                                memory_.describe_page(page)));
    }
  }
  return std::nullopt;
}

std::optional<Failure> Cma::check_consistency() const {
  for (const auto& area : areas_)
    if (auto failure = check_area(*area)) return failure;
  for (uint64_t block = 0; block < isolations_.size(); ++block) {
    const uint64_t pfn = block * mem::kPageblockPages;
    const bool isolated = memory_.pageblock_migratetype(pfn) == mem::MigrateType::Isolate;
    const uint64_t owner = isolations_[block].owner;
    if (isolated && owner == 0)
      return Failure{"cma.isolate_leak", "cma_check",
                     fmt::format("pageblock {} (pfns [{}, {})) is MIGRATE_ISOLATE but no alloc_contig_range in "
                                 "flight owns it", block, pfn, pfn + mem::kPageblockPages),
                     dump()};
    if (owner != 0 && !std::binary_search(contig_in_flight_.begin(), contig_in_flight_.end(), owner))
      return Failure{"cma.isolate_leak", "cma_check",
                     fmt::format("pageblock {} (pfns [{}, {})) is still isolated by alloc_contig_range call {}, "
                                 "which has returned (its undo_isolate_page_range was skipped)",
                                 block, pfn, pfn + mem::kPageblockPages, owner),
                     dump()};
    if (!isolated && isolations_[block].owner != 0)
      return Failure{"cma.isolate_leak", "cma_check",
                     fmt::format("pageblock {} (pfns [{}, {})) is recorded as isolated by call {} but is {}", block,
                                 pfn, pfn + mem::kPageblockPages, isolations_[block].owner,
                                 mem::migratetype_name(memory_.pageblock_migratetype(pfn))),
                     dump()};
  }
  for (const auto& [pfn, pin] : longterm_pins_) {
    if (pin.mode == LongtermPinMode::MigrateFirst && is_cma_pfn(pfn))
      return Failure{"cma.longterm_pin", "cma_check",
                     fmt::format("pfn {} holds {} FOLL_LONGTERM pin(s) taken with 'migrate first' but is CMA memory "
                                 "(pageblock {}): {}", pfn, pin.pins,
                                 mem::migratetype_name(memory_.pageblock_migratetype(pfn)),
                                 memory_.describe_page(*memory_.pfn_to_page(pfn))),
                     dump()};
  }
  if (lru_cache_.disable_count() != contig_lru_disabled_)
    return Failure{"cma.lru_cache_disabled", "cma_check",
                   fmt::format("LRU batches are disabled {} time(s) but {} alloc_contig_range call(s) are migrating "
                               "(an lru_cache_enable was skipped on some path)", lru_cache_.disable_count(),
                               contig_lru_disabled_),
                   dump()};
  return memory_.check_consistency();
}

std::string Cma::dump() const {
  std::string out;
  for (const auto& area : areas_) {
    out += fmt::format("CMA area '{}': pfns [{}, {}) order_per_bit {} available {} of {}\n", area->name,
                       area->base_pfn, area->end_pfn(), area->order_per_bit, area->available_count, area->count);
    out += area->bitmap.picture() + "\n";
    for (const auto& [pfn, pages] : area->allocations) out += fmt::format("  allocated pfn {} +{}\n", pfn, pages);
    for (const auto& r : area->reservations)
      out += fmt::format("  reserved bits [{}, {}) by call {}\n", r.bitmap_no, r.bitmap_no + r.bits, r.call);
  }
  for (uint64_t block = 0; block < isolations_.size(); ++block)
    if (isolations_[block].owner)
      out += fmt::format("  pageblock {} isolated by call {}\n", block, isolations_[block].owner);
  out += fmt::format("  lru_cache: {} page(s) batched, disable count {}\n", lru_cache_.batch().size(),
                     lru_cache_.disable_count());
  return out;
}

void Cma::note_longterm_pin(const mem::Page* page, LongtermPinMode mode) {
  LongtermPin& pin = longterm_pins_[page->pfn];
  ++pin.pins;
  pin.mode = mode;
}

void Cma::forget_longterm_pin(const mem::Page* page) {
  auto it = longterm_pins_.find(page->pfn);
  if (it == longterm_pins_.end())
    raise_failure("cma.longterm_pin", "unpin_user_pages",
                  fmt::format("unpinning a FOLL_LONGTERM pin that was never taken: {}", memory_.describe_page(*page)));
  if (--it->second.pins == 0) longterm_pins_.erase(it);
}

}  // namespace mmt::cma
