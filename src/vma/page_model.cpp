// The page-granular model run (page_model.h).
#include "mmtorture/vma/page_model.h"

#include <fmt/format.h>

#include <cerrno>
#include <map>
#include <memory>
#include <vector>

#ifdef MMT_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/vma/mm.h"
#include "mmtorture/vma/ops.h"

namespace mmt::vma {

namespace {

// A failed run's address space may be broken, so it is never torn down: it is leaked on
// purpose (run_page_model runs with LeakSanitizer off for that reason; the run's own
// teardown checks still catch leaks of VMAs and nodes).
void abandon(Mm* mm) { (void)mm; }

constexpr unsigned long kBase = 0x100000;
constexpr unsigned long kWindowPages = 96;
constexpr unsigned long kProtMask = VM_READ | VM_WRITE | VM_EXEC | VM_SHARED;

constexpr Site kSiteOp{"page_model.op"};
constexpr Site kSitePage{"page_model.page"};
constexpr Site kSiteLength{"page_model.length"};
constexpr Site kSiteProt{"page_model.prot"};
constexpr Site kSiteFailNth{"page_model.fail_nth"};
constexpr Site kSiteWrite{"page_model.write"};
constexpr Site kSiteFile{"page_model.file"};
constexpr Site kSitePgoff{"page_model.pgoff"};

struct PageState {
  unsigned long flags = 0;  // VM_READ/WRITE/EXEC/SHARED
  bool populated = false;
  uint64_t file = 0;        // the file's id for a file mapping, else 0
  unsigned long pgoff = 0;  // the page of that file it maps (0 for anonymous memory)
  bool operator==(const PageState&) const = default;
};

// The page vpn of vma as the model sees it, before population.
PageState vma_page_state(const Vma* vma, unsigned long vpn) {
  PageState state{vma->vm_flags & kProtMask, false};
  if (vma->vm_file) {
    state.file = vma->vm_file->id;
    state.pgoff = vma->vm_pgoff + (vpn - (vma->vm_start >> kPageShift));
  }
  return state;
}

using Pages = std::map<unsigned long, PageState>;  // vpn -> state, mapped pages only

// The mm's pages as the model sees them.
Pages real_pages(Mm& mm) {
  Pages real;
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) {
    auto* vma = static_cast<Vma*>(entry);
    for (unsigned long vpn = vma->vm_start >> kPageShift; vpn < vma->vm_end >> kPageShift; ++vpn) {
      real[vpn] = vma_page_state(vma, vpn);
      real[vpn].populated = mm.ptes.count(vpn) != 0 || mm.swap_ptes.count(vpn) != 0;
    }
  }
  return real;
}

class ModelRun {
 public:
  ModelRun(ChoiceSource& choices, const PageModelOptions& options)
      : c_(choices), options_(options), memory_(memory_config(options), choices, &plan_), context_(memory_) {}

  PageModelResult run() {
    PageModelResult result;
    auto mm = std::make_unique<Mm>(context_);
    try {
      for (uint64_t op = 0; op < options_.ops; ++op) {
        if (options_.stop_when_exhausted && c_.exhausted()) break;
        armed_ = false;
        if (options_.inject_failures) {
          const uint64_t nth = c_.draw(ChoiceKind::AllocFail, kSiteFailNth, 8);
          plan_.set_fail_nth(nth);
          armed_ = nth != 0;
        }
        step(*mm);
        plan_.set_fail_nth(0);
        check(*mm);
        result.ops_done = op + 1;
        if (op % 64 == 63) rcu_barrier();
      }
      exit_mmap(*mm);
      mm.reset();
      rcu_barrier();
      if (context_.committed_pages() != 0)
        fail("committed_accounting", fmt::format("{} pages still committed after exit", context_.committed_pages()));
      if (context_.vma_cache().live_objects() || context_.maple_node_cache().live_objects())
        fail("leak", fmt::format("{} VMAs and {} maple nodes left after exit", context_.vma_cache().live_objects(),
                                 context_.maple_node_cache().live_objects()));
    } catch (const FailureError& e) {
      result.failure = e.failure();
      result.failure->op_index = result.ops_done;
      // A failed run's mm may be broken: abandon it rather than tear it down. Its
      // deferred node frees still belong to this run's slab: let them run now (they
      // may trip over the very corruption that failed the run; that is already known).
      abandon(mm.release());
      try {
        rcu_barrier();
      } catch (const FailureError&) {
      }
    }
    result.enomem = enomem_;
    return result;
  }

 private:
  static mem::MemConfig memory_config(const PageModelOptions& options) {
    mem::MemConfig config;
    config.pages = options.memory_pages;
    return config;
  }

  [[noreturn]] void fail(const char* check, const std::string& message, const std::string& dump = {}) {
    raise_failure(fmt::format("page_model.{}", check), last_op_, message, dump);
  }

  unsigned long window_addr() { return kBase + c_.draw(ChoiceKind::Arg, kSitePage, kWindowPages) * kPageSize; }
  unsigned long npages() { return 1 + c_.draw(ChoiceKind::Arg, kSiteLength, 12); }
  unsigned long prot() {
    static constexpr unsigned long kProts[] = {PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE, PROT_READ | PROT_EXEC};
    return kProts[c_.draw(ChoiceKind::Arg, kSiteProt, 4)];
  }

  void map(unsigned long addr, unsigned long n, unsigned long flags) {
    for (unsigned long i = 0; i < n; ++i) model_[(addr >> kPageShift) + i] = PageState{flags, false};
  }
  void unmap(unsigned long addr, unsigned long n) {
    for (unsigned long i = 0; i < n; ++i) model_.erase((addr >> kPageShift) + i);
  }
  bool mapped(unsigned long vpn) const { return model_.count(vpn) != 0; }

  void expect_ret(long got, long want, Mm& mm) {
    if (got != want)
      fail("result", fmt::format("{} returned {}, the model expects {}", last_op_, got, want), dump_mm(mm));
  }

  // The operations, in draw order; mmap_file only with PageModelOptions::file_mappings
  // (the draw range then grows by one, so runs without it draw as before it existed).
  enum PageOp : uint64_t {
    kMmapFixed,
    kMmap,
    kMunmap,
    kMprotect,
    kFault,
    kMremap,
    kBrk,
    kFork,
    kMmapFile,
    kPageOpCount
  };

  static constexpr const char* kPageOpNames[kPageOpCount] = {"mmap_fixed", "mmap", "munmap", "mprotect", "fault",
                                                             "mremap",     "brk",  "fork",   "mmap_file"};

  // One operation over [addr, addr + n pages) of the window, diffed against the model.
  void step(Mm& mm) {
    const unsigned long addr = window_addr();
    const unsigned long n = npages();
    const uint64_t op = c_.draw(ChoiceKind::Op, kSiteOp, options_.file_mappings ? kPageOpCount : kMmapFile);
    last_op_ = kPageOpNames[op];
    switch (static_cast<PageOp>(op)) {
      case kMmapFixed: return op_mmap_fixed(mm, addr, n);
      case kMmap: return op_mmap(mm, n);
      case kMunmap: return op_munmap(mm, addr, n);
      case kMprotect: return op_mprotect(mm, addr, n);
      case kFault: return op_fault(mm, addr);
      case kMremap: return op_mremap(mm, addr, n);
      case kBrk: return op_brk(mm);
      case kFork: return op_fork(mm);
      case kMmapFile: return op_mmap_file(mm, addr, n);
      case kPageOpCount: break;
    }
  }

  // mmap MAP_FIXED over the window: replaces what was there.
  void op_mmap_fixed(Mm& mm, unsigned long addr, unsigned long n) {
    const unsigned long len = n * kPageSize;
    const unsigned long p = prot();
    const long ret = vm_mmap(mm, addr, len, p, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    if (ret == -ENOMEM && armed_) return void(++enomem_);
    expect_ret(ret, static_cast<long>(addr), mm);
    unmap(addr, n);
    map(addr, n, calc_vm_prot_bits(p));
  }

  // mmap MAP_FIXED of a file over the window, shared or private, at a drawn offset
  // (below 32, so the mapping and what mremap grows it to stay inside the file).
  void op_mmap_file(Mm& mm, unsigned long addr, unsigned long n) {
    File* file = context_.file(c_.draw(ChoiceKind::Arg, kSiteFile, context_.file_count()));
    const bool shared = c_.draw(ChoiceKind::Arg, kSiteWrite, 2);
    const unsigned long pgoff = c_.draw(ChoiceKind::Arg, kSitePgoff, 32);
    const unsigned long p = prot();
    const long ret =
        vm_mmap_file(mm, file, addr, n * kPageSize, p, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, pgoff);
    if (ret == -ENOMEM && armed_) return void(++enomem_);
    expect_ret(ret, static_cast<long>(addr), mm);
    unmap(addr, n);
    for (unsigned long i = 0; i < n; ++i)
      model_[(addr >> kPageShift) + i] =
          PageState{calc_vm_prot_bits(p) | (shared ? VM_SHARED : 0), false, file->id, pgoff + i};
  }

  // mmap anywhere: must not land on a mapping.
  void op_mmap(Mm& mm, unsigned long n) {
    const unsigned long len = n * kPageSize;
    const unsigned long p = prot();
    const long ret = vm_mmap(mm, 0, len, p, MAP_PRIVATE | MAP_ANONYMOUS);
    if (ret == -ENOMEM && armed_) return void(++enomem_);
    if (ret <= 0) expect_ret(ret, 1, mm);
    for (unsigned long i = 0; i < n; ++i)
      if (mapped((static_cast<unsigned long>(ret) >> kPageShift) + i))
        fail("overlap", fmt::format("mmap placed [{:#x}, +{} pages) over a mapping", ret, n), dump_mm(mm));
    map(static_cast<unsigned long>(ret), n, calc_vm_prot_bits(p));
  }

  void op_munmap(Mm& mm, unsigned long addr, unsigned long n) {
    const unsigned long len = n * kPageSize;
    const int ret = vm_munmap(mm, addr, len);
    if (ret == -ENOMEM && armed_) return void(++enomem_);
    expect_ret(ret, 0, mm);
    unmap(addr, n);
  }

  // mprotect: the mapped prefix changes; a hole ends it with -ENOMEM.
  void op_mprotect(Mm& mm, unsigned long addr, unsigned long n) {
    const unsigned long len = n * kPageSize;
    const unsigned long p = prot();
    const int ret = do_mprotect(mm, addr, len, p);
    unsigned long prefix = 0;
    while (prefix < n && mapped((addr >> kPageShift) + prefix)) ++prefix;
    if (ret == -ENOMEM && armed_) {
      // An allocation may have failed: any prefix may have changed, each page to old or new.
      ++enomem_;
      for (unsigned long k = 0; k < prefix; ++k) {
        Vma* vma = vma_lookup(mm, addr + k * kPageSize);
        auto& state = model_[(addr >> kPageShift) + k];
        const unsigned long now = vma ? vma->vm_flags & kProtMask : ~0UL;
        if (now != state.flags && now != ((state.flags & VM_SHARED) | calc_vm_prot_bits(p)))
          fail("mprotect", fmt::format("page {:#x} has neither the old nor the new protection", addr + k * kPageSize),
               dump_mm(mm));
        state.flags = now;
      }
      return;
    }
    expect_ret(ret, prefix == n ? 0 : -ENOMEM, mm);
    // The access bits change; VM_SHARED, the file and its offset stay.
    for (unsigned long k = 0; k < prefix; ++k) {
      PageState& state = model_[(addr >> kPageShift) + k];
      state.flags = (state.flags & VM_SHARED) | calc_vm_prot_bits(p);
    }
  }

  // A read or write fault: allowed by the protection or -EFAULT.
  void op_fault(Mm& mm, unsigned long addr) {
    const bool write = c_.draw(ChoiceKind::Arg, kSiteWrite, 2);
    const int ret = handle_mm_fault(mm, addr, write);
    auto it = model_.find(addr >> kPageShift);
    const bool allowed =
        it != model_.end() && (write ? (it->second.flags & VM_WRITE) : (it->second.flags & (VM_READ | VM_EXEC)) != 0);
    if (ret == -ENOMEM && allowed && armed_) return void(++enomem_);
    expect_ret(ret, allowed ? 0 : -EFAULT, mm);
    if (allowed) it->second.populated = true;
  }

  // mremap MREMAP_MAYMOVE of the mapping at addr: its pages move with it.
  void op_mremap(Mm& mm, unsigned long addr, unsigned long n) {
    const unsigned long len = n * kPageSize;
    Vma* vma = vma_lookup(mm, addr);
    if (!vma) return;
    const unsigned long old_len = std::min(len, vma->vm_end - addr);
    const unsigned long new_len = (1 + c_.draw(ChoiceKind::Arg, kSiteLength, 16)) * kPageSize;
    const PageState first = vma_page_state(vma, addr >> kPageShift);
    const long ret = do_mremap(mm, addr, old_len, new_len, MREMAP_MAYMOVE, 0);
    if (ret == -ENOMEM && armed_) return void(++enomem_);
    if (ret <= 0) expect_ret(ret, 1, mm);
    std::vector<PageState> moved;
    for (unsigned long i = 0; i < (old_len >> kPageShift); ++i) moved.push_back(model_.at((addr >> kPageShift) + i));
    unmap(addr, old_len >> kPageShift);
    if (static_cast<unsigned long>(ret) != addr) {
      // A move whose old range could not be removed leaves it mapped and empty.
      for (unsigned long i = 0; i < (old_len >> kPageShift); ++i)
        if (Vma* left = vma_lookup(mm, addr + i * kPageSize))
          model_[(addr >> kPageShift) + i] = vma_page_state(left, (addr >> kPageShift) + i);
    }
    const unsigned long dest = static_cast<unsigned long>(ret) >> kPageShift;
    for (unsigned long i = 0; i < (new_len >> kPageShift); ++i)
      model_[dest + i] =
          i < moved.size() ? moved[i] : PageState{first.flags, false, first.file, first.file ? first.pgoff + i : 0};
  }

  // brk: the heap grows or shrinks to the drawn break, or stays.
  void op_brk(Mm& mm) {
    const unsigned long old_top = page_align(mm.brk);
    const unsigned long target = mm.start_brk + c_.draw(ChoiceKind::Arg, kSitePage, 32) * kPageSize;
    const unsigned long got = do_brk(mm, target);
    if (got == target) {
      const unsigned long new_top = page_align(target);
      if (new_top > old_top) map(old_top, (new_top - old_top) >> kPageShift, VM_READ | VM_WRITE);
      else unmap(new_top, (old_top - new_top) >> kPageShift);
    } else if (got != mm.brk) {
      fail("brk", fmt::format("brk returned {:#x}, neither the request nor the old break", got), dump_mm(mm));
    }
  }

  // fork: the child sees the parent's pages.
  void op_fork(Mm& mm) {
    int error = 0;
    auto child = dup_mm(mm, &error);
    if (!child) {
      if (error != -ENOMEM || !armed_) fail("fork", fmt::format("dup_mm failed with {}", error));
      ++enomem_;
      return;
    }
    if (auto failure = validate_mm(*child)) throw FailureError(std::move(*failure));
    if (real_pages(*child) != model_) fail("fork", "the child's pages differ from the parent's", dump_mm(*child));
    exit_mmap(*child);
  }

  void check(Mm& mm) {
    if (auto failure = validate_mm(mm)) throw FailureError(std::move(*failure));
    const uint64_t accounted = vm_account_pages(mm);
    if (accounted != context_.committed_pages())
      fail("committed_accounting",
           fmt::format("Committed_AS {} pages, VM_ACCOUNT mappings cover {}", context_.committed_pages(), accounted),
           dump_mm(mm));
    if (auto failure = memory_.check_consistency()) throw FailureError(std::move(*failure));
    const Pages real = real_pages(mm);
    if (real == model_) return;
    for (const auto& [vpn, state] : model_) {
      auto it = real.find(vpn);
      if (it == real.end()) fail("diff", fmt::format("page {:#x} should be mapped", vpn << kPageShift), dump_mm(mm));
      if (!(it->second == state))
        fail("diff",
             fmt::format("page {:#x}: flags {:#x} populated {} file {} page {:#x}, the model says flags {:#x} "
                         "populated {} file {} page {:#x}",
                         vpn << kPageShift, it->second.flags, it->second.populated, it->second.file, it->second.pgoff,
                         state.flags, state.populated, state.file, state.pgoff),
             dump_mm(mm));
    }
    fail("diff", fmt::format("{} pages mapped, the model has {}", real.size(), model_.size()), dump_mm(mm));
  }

  ChoiceSource& c_;
  PageModelOptions options_;
  mem::FaultPlan plan_;
  mem::Memory memory_;
  VmContext context_;
  Pages model_;
  uint64_t enomem_ = 0;
  bool armed_ = false;  // a fail-nth is set for this operation
  const char* last_op_ = "start";
};

}  // namespace

PageModelResult run_page_model(ChoiceSource& choices, const PageModelOptions& options) {
#ifdef MMT_SANITIZED
  __lsan::ScopedDisabler abandoned_address_spaces_are_not_leaks;
#endif
  ModelRun run(choices, options);
  return run.run();
}

}  // namespace mmt::vma
