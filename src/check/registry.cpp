// The VM world's invariant checks and the registry that runs them by level.
#include "mmtorture/check/registry.h"

#include <fmt/format.h>

#include <map>

#include "mmtorture/maple/kernel_api.h"

namespace mmt::check {

const char* check_level_name(CheckLevel level) {
  switch (level) {
    case CheckLevel::EveryOp: return "every-op";
    case CheckLevel::EveryN: return "every-n";
    case CheckLevel::End: return "end";
    case CheckLevel::Teardown: return "teardown";
  }
  return "invalid";
}

void CheckRegistry::add(Check check) { checks_.push_back(std::move(check)); }

std::optional<Failure> CheckRegistry::run(CheckLevel level, const CheckSubject& subject) const {
  for (const Check& check : checks_) {
    if (check.level != level) continue;
    if (auto failure = check.run(subject)) return failure;
  }
  return std::nullopt;
}

namespace {

Failure make_failure(std::string check, std::string message, std::string dump = {}) {
  Failure failure;
  failure.check = std::move(check);
  failure.site = "check";
  failure.message = std::move(message);
  failure.dump = std::move(dump);
  return failure;
}

// brk's answer as the heap shows it: the break moved only when the heap did. A brk that
// failed (its mapping or its charge) leaves both where they were.
std::optional<Failure> check_heap(vma::Mm& mm) {
  if (mm.brk_raced_fork) return std::nullopt;
  const unsigned long top = vma::page_align(mm.brk);
  // One message for both ways of breaking it (one bug, one signature); the page is detail.
  auto fail = [&](const std::string& page) {
    Failure failure = make_failure(
        "world.brk",
        fmt::format("mm {}: the heap is not [start_brk, PAGE_ALIGN(brk)) = [{:#x}-{:#x})", mm.id(), mm.start_brk, top),
        vma::dump_mm(mm));
    failure.detail = page;
    return failure;
  };
  for (unsigned long addr = mm.start_brk; addr < top;) {
    const vma::Vma* vma = vma::vma_lookup(mm, addr);
    if (!vma) return fail(fmt::format("heap page {:#x} below the break {:#x} is not mapped", addr, mm.brk));
    addr = vma->vm_end;
  }
  if (vma::vma_lookup(mm, top)) return fail(fmt::format("the page at PAGE_ALIGN(brk) {:#x} is mapped", top));
  return std::nullopt;
}

// Long because it is a table: one registration per check, in the order they run.
CheckRegistry build_vm_world_checks() {
  CheckRegistry registry;
  registry.add({"vma.validate_mm", CheckLevel::EveryOp,
                "the operated mm: maple tree valid, VMAs equal their tree slots, map_count, total_vm, rss, "
                "anon_vma linkage, every pte inside a VMA and reachable by rmap",
                [](const CheckSubject& s) -> std::optional<Failure> {
                  return s.op_mm ? vma::validate_mm(*s.op_mm) : std::nullopt;
                }});
  registry.add({"vma.files", CheckLevel::EveryOp,
                "every simulated file: refcount = 1 + the VMAs on its i_mmap, each live and mapping it (vma.file); "
                "attach count = those VMAs with shm-like ops, which only ->open/->close change (vma.file_attach)",
                [](const CheckSubject& s) { return vma::validate_files(s.context); }});
  registry.add(
      {"world.brk", CheckLevel::EveryOp,
       "the operated mm's heap as brk left it (in the world only brk maps or unmaps there): every page of "
       "[start_brk, PAGE_ALIGN(brk)) mapped, the page at PAGE_ALIGN(brk) not",
       [](const CheckSubject& s) -> std::optional<Failure> { return s.op_mm ? check_heap(*s.op_mm) : std::nullopt; }});
  registry.add({"mem.frames", CheckLevel::EveryN,
                "every frame free (on exactly one buddy list) or allocated; refcount >= mapcount + pins; counts add up",
                [](const CheckSubject& s) { return s.memory.check_consistency(); }});
  registry.add({"vma.file_cache", CheckLevel::EveryN,
                "every page-cache page names its file and index, is on the LRU or isolated by reclaim, and holds its "
                "cache reference and one per mapping; every frame naming a file is in that file's cache",
                [](const CheckSubject& s) { return vma::validate_file_caches(s.context); }});
  registry.add({"slab.caches", CheckLevel::EveryN,
                "slab lists and counts of the vm_area_struct, maple_node and anon_vma caches",
                [](const CheckSubject& s) -> std::optional<Failure> {
                  if (auto failure = s.context.vma_cache().check_consistency()) return failure;
                  if (auto failure = s.context.anon_vma_cache().check_consistency()) return failure;
                  return s.context.maple_node_cache().check_consistency();
                }});
  registry.add({"vma.validate_mm.all", CheckLevel::End, "validate_mm of every live mm",
                [](const CheckSubject& s) -> std::optional<Failure> {
                  for (vma::Mm* mm : s.mms)
                    if (auto failure = vma::validate_mm(*mm)) return failure;
                  return std::nullopt;
                }});
  registry.add({"vma.committed_accounting", CheckLevel::End,
                "Committed_AS equals the pages of every VM_ACCOUNT mapping of every mm",
                [](const CheckSubject& s) -> std::optional<Failure> {
                  uint64_t accounted = 0;
                  for (vma::Mm* mm : s.mms) accounted += vma::vm_account_pages(*mm);
                  if (accounted == s.context.committed_pages()) return std::nullopt;
                  return make_failure("vma.committed_accounting",
                                      fmt::format("Committed_AS is {} pages, VM_ACCOUNT mappings cover {}",
                                                  s.context.committed_pages(), accounted));
                }});
  registry.add({"mem.page_mapcount", CheckLevel::End, "each page's mapcount equals the ptes mapping it over all mms",
                [](const CheckSubject& s) -> std::optional<Failure> {
                  std::map<uint64_t, int32_t> mappings;  // pfn -> ptes
                  for (vma::Mm* mm : s.mms)
                    for (const auto& [vpn, pte] : mm->ptes) ++mappings[pte.page->pfn];
                  for (const auto& [pfn, count] : mappings) {
                    const mem::Page* page = s.memory.pfn_to_page(pfn);
                    if (page->mapcount != count)
                      return make_failure("mem.page_mapcount", fmt::format("pfn {} has mapcount {} but {} ptes map it",
                                                                           pfn, page->mapcount, count));
                  }
                  return std::nullopt;
                }});
  registry.add({"mem.swap_count", CheckLevel::End, "each swap slot's count equals the swap ptes naming it over all mms",
                [](const CheckSubject& s) -> std::optional<Failure> {
                  std::map<mem::SwapEntry, uint32_t> references;  // entry -> swap ptes
                  uint64_t total = 0;
                  for (vma::Mm* mm : s.mms)
                    for (const auto& [vpn, entry] : mm->swap_ptes) ++references[entry], ++total;
                  for (const auto& [entry, count] : references)
                    if (s.memory.swap_count(entry) != count)
                      return make_failure("mem.swap_count", fmt::format("swap entry {} has count {} but {} swap ptes "
                                                                        "name it",
                                                                        entry, s.memory.swap_count(entry), count));
                  if (s.memory.swap_references() != total)
                    return make_failure("mem.swap_count",
                                        fmt::format("swap slots count {} references but the mms hold {} swap ptes",
                                                    s.memory.swap_references(), total));
                  return std::nullopt;
                }});
  registry.add(
      {"vma.leak", CheckLevel::Teardown,
       "after every mm exited: no vm_area_struct, anon_vma, maple node, LRU page, swap slot or file mapping left",
       [](const CheckSubject& s) -> std::optional<Failure> {
         if (auto leak = vma::vm_teardown_leak(s.context)) return make_failure("vma.leak", *leak);
         return s.memory.check_consistency();
       }});
  return registry;
}

}  // namespace

const CheckRegistry& vm_world_checks() {
  static const CheckRegistry registry = build_vm_world_checks();
  return registry;
}

}  // namespace mmt::check
