// CMA areas (area.h, cma.h): the Cma constructor, area declaration with its validation
// (cma_init_reserved_mem), and the lookups by name and pfn.
#include <fmt/format.h>

#include "mmtorture/cma/cma.h"
#include "mmtorture/mem/config.h"

namespace mmt::cma {

const char* cma_locking_name(CmaLocking locking) {
  switch (locking) {
    case CmaLocking::GlobalMutex: return "global cma_mutex";
    case CmaLocking::PerAreaMutex: return "per-area alloc_mutex";
    case CmaLocking::None: return "none";
  }
  return "?";
}

const char* longterm_pin_mode_name(LongtermPinMode mode) {
  switch (mode) {
    case LongtermPinMode::PinInPlace: return "pin in place";
    case LongtermPinMode::MigrateOrPinInPlace: return "migrate, else pin in place";
    case LongtermPinMode::MigrateFirst: return "migrate first";
  }
  return "?";
}

CmaArea::CmaArea(const CmaAreaConfig& config)
    : name(config.name),
      base_pfn(config.base_pfn),
      count(config.count),
      order_per_bit(config.order_per_bit),
      bitmap(config.count >> config.order_per_bit),
      available_count(config.count),
      lock("cma->lock"),
      alloc_mutex("cma->alloc_mutex") {}

Cma::Cma(mem::Memory& memory, mem::RmapOps& rmap, CmaOptions options)
    : memory_(memory),
      rmap_(rmap),
      options_(options),
      lru_cache_(memory),
      cma_mutex_("cma_mutex"),
      isolations_(memory.nr_pages() / mem::kPageblockPages) {}

CmaArea& Cma::cma_declare_area(const CmaAreaConfig& config) {
  const std::string area = fmt::format("CMA area '{}'", config.name);
  if (config.name.empty()) throw ConfigError("name", "a CMA area needs a name");
  if (find_area(config.name)) throw ConfigError("name", fmt::format("{} is declared twice", area));
  if (config.count == 0) throw ConfigError("count", fmt::format("{} has no pages", area));
  if (config.count % mem::kPageblockPages != 0)
    throw ConfigError("count", fmt::format("{}: {} pages is not a whole number of {}-page pageblocks", area,
                                           config.count, mem::kPageblockPages));
  if (config.base_pfn % mem::kPageblockPages != 0)
    throw ConfigError("base_pfn", fmt::format("{}: base pfn {} is not aligned to a {}-page pageblock", area,
                                              config.base_pfn, mem::kPageblockPages));
  if (config.base_pfn > memory_.nr_pages() || config.count > memory_.nr_pages() - config.base_pfn)
    throw ConfigError("count", fmt::format("{}: pfns [{}, {}) run past the end of memory ({} pages)", area,
                                           config.base_pfn, config.base_pfn + config.count, memory_.nr_pages()));
  if (config.order_per_bit > mem::kMaxOrder)
    throw ConfigError("order_per_bit", fmt::format("{}: order_per_bit {} is above the largest order {}", area,
                                                   config.order_per_bit, mem::kMaxOrder));
  if (config.count % (uint64_t{1} << config.order_per_bit) != 0)
    throw ConfigError("order_per_bit", fmt::format("{}: {} pages are not a whole number of {}-page bits", area,
                                                   config.count, uint64_t{1} << config.order_per_bit));
  for (const auto& other : areas_) {
    if (config.base_pfn < other->end_pfn() && other->base_pfn < config.base_pfn + config.count)
      throw ConfigError("base_pfn", fmt::format("{} [{}, {}) overlaps CMA area '{}' [{}, {})", area, config.base_pfn,
                                                config.base_pfn + config.count, other->name, other->base_pfn,
                                                other->end_pfn()));
  }
  // Areas are carved out at boot, before anything allocates: every frame must be free.
  // Walk block by block from a max-order boundary: each step lands on the head of a
  // free block (PG_buddy) or of an allocated one (PG_allocated), both with their order.
  const uint64_t end = config.base_pfn + config.count;
  for (uint64_t pfn = config.base_pfn & ~((uint64_t{1} << mem::kMaxOrder) - 1); pfn < end;) {
    const mem::Page* page = memory_.pfn_to_page(pfn);
    const uint64_t size = uint64_t{1} << page->order;
    if (!page->test(mem::PG_buddy) && pfn + size > config.base_pfn)
      throw ConfigError("base_pfn", fmt::format("{}: pfn {} is already in use ({})", area, pfn,
                                                memory_.describe_page(*page)));
    pfn += size;
  }
  for (uint64_t pfn = config.base_pfn; pfn < config.base_pfn + config.count; pfn += mem::kPageblockPages)
    memory_.set_pageblock_migratetype(pfn, mem::MigrateType::Cma);
  areas_.push_back(std::make_unique<CmaArea>(config));
  return *areas_.back();
}

CmaArea* Cma::find_area(std::string_view name) {
  for (auto& area : areas_)
    if (area->name == name) return area.get();
  return nullptr;
}

const CmaArea* Cma::area_of_pfn(uint64_t pfn) const {
  for (const auto& area : areas_)
    if (area->contains(pfn)) return area.get();
  return nullptr;
}

bool Cma::is_cma_pfn(uint64_t pfn) const {
  if (area_of_pfn(pfn)) return true;
  const mem::MigrateType type = memory_.pageblock_migratetype(pfn);
  return type == mem::MigrateType::Cma || type == mem::MigrateType::Isolate;
}

}  // namespace mmt::cma
