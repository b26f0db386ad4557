// The VMA manager against a page-granular model: an array of page states (mapped?
// protection, populated?) that every operation updates the obvious way. After each
// operation the mm must be valid (validate_mm, committed accounting, page frames) and
// describe exactly the model's pages. Runs clean, and with injected allocation
// failures, where -ENOMEM must leave every page as it was (mprotect, which the kernel
// applies VMA by VMA, may have changed a prefix of its range).
#include <cerrno>
#include <map>
#include <set>

#include "mmtorture/core/rng.h"
#include "vma_test_util.h"

namespace mmt::vma::testing {

namespace {

constexpr unsigned long kWindowPages = 96;
constexpr unsigned long kProtMask = VM_READ | VM_WRITE | VM_EXEC | VM_SHARED;

struct PageState {
  unsigned long flags = 0;  // VM_READ/WRITE/EXEC/SHARED
  bool populated = false;
};

struct Model {
  std::map<unsigned long, PageState> pages;  // vpn -> state, mapped pages only

  bool mapped(unsigned long vpn) const { return pages.count(vpn) != 0; }
  void map(unsigned long addr, unsigned long npages, unsigned long flags) {
    for (unsigned long i = 0; i < npages; ++i) pages[(addr >> kPageShift) + i] = PageState{flags, false};
  }
  void unmap(unsigned long addr, unsigned long npages) {
    for (unsigned long i = 0; i < npages; ++i) pages.erase((addr >> kPageShift) + i);
  }
};

unsigned long prot_flags(unsigned long prot) { return calc_vm_prot_bits(prot); }

// The mm describes exactly the model's pages.
void expect_matches(Mm& mm, const Model& model) {
  std::map<unsigned long, PageState> real;
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) {
    auto* vma = static_cast<Vma*>(entry);
    for (unsigned long vpn = vma->vm_start >> kPageShift; vpn < vma->vm_end >> kPageShift; ++vpn)
      real[vpn] = PageState{vma->vm_flags & kProtMask, mm.ptes.count(vpn) != 0};
  }
  ASSERT_EQ(real.size(), model.pages.size()) << dump_mm(mm);
  for (const auto& [vpn, state] : model.pages) {
    auto it = real.find(vpn);
    ASSERT_NE(it, real.end()) << "page " << std::hex << (vpn << kPageShift) << " missing\n" << dump_mm(mm);
    ASSERT_EQ(it->second.flags, state.flags) << "page " << std::hex << (vpn << kPageShift) << "\n" << dump_mm(mm);
    ASSERT_EQ(it->second.populated, state.populated) << "page " << std::hex << (vpn << kPageShift);
  }
}

class ModelRun {
 public:
  ModelRun(World& world, uint64_t seed, bool failures) : w_(world), rng_(seed), failures_(failures) {}

  void run(unsigned ops) {
    Mm mm(w_.context);
    for (unsigned op = 0; op < ops; ++op) {
      if (failures_) arm_failure();
      step(mm, op);
      w_.plan.set_fail_nth(0);
      if (::testing::Test::HasFatalFailure()) return;
      expect_consistent(w_.context, {&mm});
      expect_matches(mm, model_);
      if (::testing::Test::HasFatalFailure()) {
        ADD_FAILURE() << "after op " << op << " (" << last_op_ << ")";
        return;
      }
      if (op % 64 == 0) rcu_barrier();
    }
    exit_mmap(mm);
    EXPECT_EQ(w_.context.committed_pages(), 0u);
  }

  uint64_t enomem() const { return enomem_; }

 private:
  void arm_failure() {
    // Now and then make the nth allocation of the next operation fail.
    if (rng_.below(4) == 0) w_.plan.set_fail_nth(1 + rng_.below(6));
  }

  unsigned long window_addr() { return page_at(rng_.below(kWindowPages)); }
  unsigned long prot() {
    static constexpr unsigned long kProts[] = {PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE, PROT_READ | PROT_EXEC};
    return kProts[rng_.below(4)];
  }

  void step(Mm& mm, unsigned op) {
    const unsigned long addr = window_addr();
    const unsigned long npages = 1 + rng_.below(12);
    const unsigned long len = npages * kPageSize;
    switch (rng_.below(8)) {
      case 0: {  // mmap MAP_FIXED inside the window
        const unsigned long p = prot();
        last_op_ = "mmap fixed";
        const long ret = vm_mmap(mm, addr, len, p, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
        if (ret == -ENOMEM && failures_) {
          // MAP_FIXED unmaps first; if the new mapping then cannot be made, the range
          // may stay unmapped (as in kernels before 6.12). Each page: as before, or gone.
          ++enomem_;
          for (unsigned long i = 0; i < npages; ++i) {
            const unsigned long vpn = (addr >> kPageShift) + i;
            if (!vma_lookup(mm, vpn << kPageShift)) model_.pages.erase(vpn);
          }
          return;
        }
        ASSERT_EQ(ret, static_cast<long>(addr));
        model_.unmap(addr, npages);
        model_.map(addr, npages, prot_flags(p));
        break;
      }
      case 1: {  // mmap anywhere (top-down)
        const unsigned long p = prot();
        last_op_ = "mmap";
        const long ret = vm_mmap(mm, 0, len, p, MAP_PRIVATE | MAP_ANONYMOUS);
        if (ret == -ENOMEM && failures_) return void(++enomem_);
        ASSERT_GT(ret, 0);
        for (unsigned long i = 0; i < npages; ++i)
          ASSERT_FALSE(model_.mapped((static_cast<unsigned long>(ret) >> kPageShift) + i)) << "mapped over a mapping";
        model_.map(static_cast<unsigned long>(ret), npages, prot_flags(p));
        break;
      }
      case 2: {  // munmap
        last_op_ = "munmap";
        const int ret = vm_munmap(mm, addr, len);
        if (ret == -ENOMEM && failures_) return void(++enomem_);
        ASSERT_EQ(ret, 0);
        model_.unmap(addr, npages);
        break;
      }
      case 3: {  // mprotect: VMA by VMA until a hole
        const unsigned long p = prot();
        last_op_ = "mprotect";
        const int ret = do_mprotect(mm, addr, len, p);
        unsigned long i = 0;
        while (i < npages && model_.mapped((addr >> kPageShift) + i)) ++i;
        if (ret == -ENOMEM && failures_) {
          // Any prefix may have changed: take the mm's word for it, but only old or new.
          ++enomem_;
          for (unsigned long k = 0; k < i; ++k) {
            Vma* vma = vma_lookup(mm, addr + k * kPageSize);
            ASSERT_TRUE(vma);
            auto& state = model_.pages[(addr >> kPageShift) + k];
            const unsigned long now = vma->vm_flags & kProtMask;
            ASSERT_TRUE(now == state.flags || now == prot_flags(p));
            state.flags = now;
          }
          return;
        }
        ASSERT_EQ(ret, i == npages ? 0 : -ENOMEM);
        for (unsigned long k = 0; k < i; ++k) model_.pages[(addr >> kPageShift) + k].flags = prot_flags(p);
        break;
      }
      case 4:
      case 5: {  // page fault
        const bool write = rng_.below(2);
        last_op_ = "fault";
        const int ret = handle_mm_fault(mm, addr, write);
        auto it = model_.pages.find(addr >> kPageShift);
        const bool allowed = it != model_.pages.end() &&
                             (write ? (it->second.flags & VM_WRITE) : (it->second.flags & (VM_READ | VM_EXEC)) != 0);
        if (ret == -ENOMEM && failures_) return void(++enomem_);
        ASSERT_EQ(ret, allowed ? 0 : -EFAULT) << (write ? "write" : "read") << " fault at " << std::hex << addr;
        if (allowed) it->second.populated = true;
        break;
      }
      case 6: {  // mremap a piece of an existing VMA
        Vma* vma = vma_lookup(mm, addr);
        if (!vma) break;
        const unsigned long old_len = std::min(len, vma->vm_end - addr);
        const unsigned long new_len = (1 + rng_.below(16)) * kPageSize;
        last_op_ = "mremap";
        const long ret = do_mremap(mm, addr, old_len, new_len, MREMAP_MAYMOVE, 0);
        if (ret == -ENOMEM && failures_) return void(++enomem_);
        ASSERT_GT(ret, 0) << "mremap returned " << ret;
        const unsigned long flags = vma_lookup(mm, static_cast<unsigned long>(ret))->vm_flags & kProtMask;
        std::vector<PageState> old_pages;
        for (unsigned long i = 0; i < (old_len >> kPageShift); ++i)
          old_pages.push_back(model_.pages.at((addr >> kPageShift) + i));
        model_.unmap(addr, old_len >> kPageShift);
        if (failures_ && static_cast<unsigned long>(ret) != addr) {
          // move_vma could not remove the old range (no nodes for its tree store): as in
          // the kernel, it stays mapped, empty, and the move still succeeds.
          for (unsigned long i = 0; i < (old_len >> kPageShift); ++i)
            if (Vma* left = vma_lookup(mm, addr + i * kPageSize))
              model_.pages[(addr >> kPageShift) + i] = PageState{left->vm_flags & kProtMask, false};
        }
        const unsigned long dest = static_cast<unsigned long>(ret) >> kPageShift;
        for (unsigned long i = 0; i < (new_len >> kPageShift); ++i)
          model_.pages[dest + i] = i < old_pages.size() ? old_pages[i] : PageState{flags, false};
        break;
      }
      case 7: {  // fork and exit a child: the parent is unchanged
        last_op_ = "fork";
        int error = 0;
        auto child = dup_mm(mm, &error);
        if (!child) {
          ASSERT_TRUE(failures_ && error == -ENOMEM) << "dup_mm failed with " << error;
          ++enomem_;
          break;
        }
        expect_consistent(w_.context, {&mm, child.get()});
        expect_matches(*child, model_);
        exit_mmap(*child);
        break;
      }
    }
    (void)op;
  }

  World& w_;
  Rng rng_;
  bool failures_;
  Model model_;
  uint64_t enomem_ = 0;
  const char* last_op_ = "";
};

}  // namespace

TEST(VmaModel, RandomOperationsMatchThePageModel) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    World world(seed);
    ModelRun run(world, seed, false);
    run.run(1500);
    if (HasFailure()) FAIL() << "seed " << seed;
  }
}

TEST(VmaModel, InjectedAllocationFailuresLeaveTheMmConsistent) {
  uint64_t enomem = 0;
  for (uint64_t seed = 100; seed <= 105; ++seed) {
    World world(seed);
    ModelRun run(world, seed, true);
    run.run(1500);
    enomem += run.enomem();
    if (HasFailure()) FAIL() << "seed " << seed;
  }
  EXPECT_GT(enomem, 100u) << "failure injection did not bite";
}

}  // namespace mmt::vma::testing
