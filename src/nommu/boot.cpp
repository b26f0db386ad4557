// One nommu boot (boot.h): the kernel's reservations and rootfs, init and sh, then the
// seed-drawn rc script, with the checks after every step and the leak checks at
// teardown.
#include "mmtorture/nommu/boot.h"

#include <fmt/format.h>

#include <iterator>
#include <memory>

#include "mmtorture/check/registry.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/mem/config.h"

namespace mmt::nommu {

const std::vector<Program>& boot_programs() {
  // Sizes of a 2022 buildroot nommu image: busybox text copied per process (no XIP),
  // data+bss plus the flat binary's stack in the second region.
  static const std::vector<Program> programs = {
      {"busybox", 880, 72},
      {"dropbear", 296, 60},
      {"sensord", 420, 140},
  };
  return programs;
}

namespace {

constexpr Site kSiteStep{"nommu_boot: step"};
constexpr Site kSiteWhich{"nommu_boot: which process"};
constexpr Site kSiteSize{"nommu_boot: size"};
constexpr Site kSiteHow{"nommu_boot: how"};
constexpr Site kSiteLifetime{"nommu_boot: lifetime"};
constexpr Site kSiteKernelStack{"dup_task_struct: alloc_thread_stack"};
constexpr Site kSitePageCache{"shmem_write_begin"};
constexpr Site kSiteBoot{"start_kernel"};

// uClibc's malloc on nommu: one mmap per chunk, most of them small.
constexpr unsigned kMallocKib[] = {4, 4, 8, 8, 12, 16, 24, 32, 48, 64, 100, 128, 200, 256};
constexpr unsigned kKernelStackOrder = 1;  // THREAD_SIZE 8 KiB
constexpr unsigned kOrder1Mib = 8;

unsigned order_of_kib(uint64_t kib) { return mem::get_order(kib * 1024); }

struct Process {
  std::unique_ptr<NommuMm> mm;
  const Program* program = nullptr;
  mem::Page* kernel_stack = nullptr;
  std::vector<unsigned long> chunks;  // malloc'd mappings, oldest first
  uint64_t exit_step = UINT64_MAX;    // UINT64_MAX: runs until the end of the boot
  uint64_t pid = 0;
};

// Thrown when the board runs out of memory: ends the script, not the run.
struct OutOfMemory {
  std::string what;
  unsigned order;
};

class BootWorld {
 public:
  BootWorld(ChoiceSource& choices, const NommuBootOptions& options)
      : choices_(choices),
        options_(options),
        memory_(memory_config(options), choices),
        context_(memory_, options.prealloc) {
    memory_.set_trace(&trace_);
  }

  NommuBootResult run() {
    try {
      boot_kernel();
      try {
        start_process(&boot_programs()[0], UINT64_MAX);  // init
        start_process(&boot_programs()[0], UINT64_MAX);  // sh running rcS
        for (step_ = 0; step_ < options_.boot_steps; ++step_) {
          result_.steps = step_ + 1;
          run_step();
          check_step();
        }
      } catch (const OutOfMemory& oom) {
        result_.oom = true;
        result_.oom_what = oom.what;
        result_.oom_order = oom.order;
        result_.oom_step = step_;
        trace_.fold(TraceEvent::Custom, 0x00e, step_, oom.order);
      }
      measure();
      teardown();
    } catch (const FailureError& e) {
      result_.failure = e.failure();
      result_.failure->op_index = step_;
      abandon();
    }
    result_.stats = context_.stats();
    result_.trace_hash = trace_.value();
    return result_;
  }

 private:
  static mem::MemConfig memory_config(const NommuBootOptions& options) {
    mem::MemConfig config;
    config.pages = options.memory_mib * (1024 * 1024 / mem::kPageSize);
    config.reclaim_retries = 0;  // nothing to reclaim: no swap, the page cache is ramfs/tmpfs
    config.swap_pages = 0;
    config.exact_free_to_tail = options.exact_free_to_tail;
    if (options.pcp) mem::pcp_for_zone(config);
    return config;
  }

  // The kernel image, memory map and reservations in large blocks from the bottom of
  // memory, then the rootfs page by page.
  void boot_kernel() {
    const uint64_t reserved_kib = options_.reserved_kib ? options_.reserved_kib : 4096 + 24 * options_.memory_mib;
    uint64_t pages = reserved_kib * 1024 / mem::kPageSize;
    while (pages > 0) {
      unsigned order = mem::kMaxOrder;
      while ((uint64_t{1} << order) > pages) --order;
      kernel_blocks_.push_back({kernel_alloc(order, "kernel reservation"), order});
      pages -= uint64_t{1} << order;
    }
    for (uint64_t i = 0; i < options_.rootfs_kib * 1024 / mem::kPageSize; ++i)
      kernel_blocks_.push_back({kernel_alloc(0, "rootfs page cache"), 0});
  }

  mem::Page* kernel_alloc(unsigned order, const char* what) {
    mem::Page* page = memory_.alloc_pages(gfp::kKernel, order, kSiteBoot);
    if (!page)
      raise_failure(
          "nommu.boot", "start_kernel",
          fmt::format("{} MiB cannot hold the kernel: {} of order {} failed", options_.memory_mib, what, order));
    return page;
  }

  uint64_t draw(ChoiceKind kind, Site site, uint64_t bound) {
    const uint64_t value = choices_.draw(kind, site, bound);
    trace_.fold(TraceEvent::Choice, value, bound);
    return value;
  }

  void run_step() {
    reap_exited();
    const uint64_t op = draw(ChoiceKind::Op, kSiteStep, 8);
    trace_.fold(TraceEvent::OpStart, step_, op);
    switch (op) {
      case 0:
      case 1:
      case 2: start_process(&boot_programs()[0], step_ + 1 + draw(ChoiceKind::Arg, kSiteLifetime, 4)); break;
      case 3: start_daemon(); break;
      case 4:
      case 5: malloc_step(); break;
      case 6: free_step(); break;
      default: log_step(); break;
    }
  }

  // fork + exec: kernel stack, text region, data region, a first malloc or two.
  void start_process(const Program* program, uint64_t exit_step) {
    auto process = std::make_unique<Process>();
    process->program = program;
    process->exit_step = exit_step;
    process->pid = ++pids_;
    process->mm = std::make_unique<NommuMm>(context_);
    Process& p = *process;
    processes_.push_back(std::move(process));
    ++result_.processes;
    p.kernel_stack = memory_.alloc_pages(gfp::kKernel, kKernelStackOrder, kSiteKernelStack);
    if (!p.kernel_stack) {
      if (auto why = unexplained_alloc_failure(memory_, kKernelStackOrder))
        raise_failure("nommu.unexplained_enomem", kSiteKernelStack.name, *why);
      throw OutOfMemory{fmt::format("fork for {}: kernel stack, order {}", program->name, kKernelStackOrder),
                        kKernelStackOrder};
    }
    mmap_or_oom(p, program->text_kib, "text");
    mmap_or_oom(p, program->data_kib, "data+bss+stack");
    const uint64_t first_mallocs = draw(ChoiceKind::Arg, kSiteSize, 3);
    for (uint64_t i = 0; i < first_mallocs; ++i) malloc_in(p);
  }

  unsigned long mmap_or_oom(Process& p, uint64_t kib, const char* what) {
    const long addr = do_mmap(*p.mm, kib * 1024);
    if (addr < 0)
      throw OutOfMemory{fmt::format("{}: {} {} KiB, order {}", p.program->name, what, kib, order_of_kib(kib)),
                        order_of_kib(kib)};
    trace_.fold(TraceEvent::Alloc, p.pid, static_cast<uint64_t>(addr), kib);
    return static_cast<unsigned long>(addr);
  }

  void malloc_in(Process& p) {
    const unsigned kib = kMallocKib[draw(ChoiceKind::Arg, kSiteSize, std::size(kMallocKib))];
    p.chunks.push_back(mmap_or_oom(p, kib, "malloc"));
  }

  void start_daemon() {
    if (daemons_ >= options_.daemons_max) {
      start_process(&boot_programs()[0], step_ + 1 + draw(ChoiceKind::Arg, kSiteLifetime, 4));
      return;
    }
    ++daemons_;
    start_process(&boot_programs()[draw(ChoiceKind::Arg, kSiteWhich, boot_programs().size())], UINT64_MAX);
  }

  Process& pick_process() { return *processes_[draw(ChoiceKind::Arg, kSiteWhich, processes_.size())]; }

  void malloc_step() { malloc_in(pick_process()); }

  // free() of a chunk: usually all of it; sometimes realloc gives back its end, or (rarely)
  // a hole is punched in the middle (nommu splits the VMA and its region).
  void free_step() {
    Process& p = pick_process();
    if (p.chunks.empty()) return;
    const size_t index = draw(ChoiceKind::Arg, kSiteWhich, p.chunks.size());
    const unsigned long addr = p.chunks[index];
    auto* vma = static_cast<NommuVma*>(mtree_load(&p.mm->mm_mt, addr));
    const unsigned long pages = (vma->vm_end - vma->vm_start) >> mem::kPageShift;
    const uint64_t how = pages >= 3 ? draw(ChoiceKind::Arg, kSiteHow, 6) : 0;
    int ret;
    if (how <= 3) {
      ret = do_munmap(*p.mm, addr, vma->vm_end - vma->vm_start);
      if (ret == 0) p.chunks.erase(p.chunks.begin() + static_cast<long>(index));
    } else if (how == 4) {
      ret = do_munmap(*p.mm, vma->vm_end - mem::kPageSize, mem::kPageSize);
    } else {
      // A hole of one page in the middle: the head keeps the chunk's address (a new VMA
      // below), the rest becomes a chunk of its own.
      const unsigned long hole = vma->vm_start + mem::kPageSize;
      ret = do_munmap(*p.mm, hole, mem::kPageSize);
      if (ret == 0) p.chunks.push_back(hole + mem::kPageSize);
    }
    trace_.fold(TraceEvent::Free, p.pid, addr, how);
    if (ret == -ENOMEM) throw OutOfMemory{fmt::format("munmap in {}: maple nodes", p.program->name), 0};
    if (ret != 0) raise_failure("nommu.munmap", "do_munmap", fmt::format("munmap of a chunk returned {}", ret));
  }

  // syslogd appends to /var/log/messages in tmpfs: long-lived order-0 page cache.
  void log_step() {
    if (daemons_ == 0) return;
    mem::Page* page = memory_.alloc_pages(gfp::kKernel, 0, kSitePageCache);
    if (!page) throw OutOfMemory{"syslogd: page cache page, order 0", 0};
    log_pages_.push_back(page);
    if (log_pages_.size() > options_.log_pages_max) {
      // Rotation: messages.0 is replaced by messages, the oldest half goes.
      const size_t drop = log_pages_.size() / 2;
      for (size_t i = 0; i < drop; ++i) memory_.free_pages(log_pages_[i], 0);
      log_pages_.erase(log_pages_.begin(), log_pages_.begin() + static_cast<long>(drop));
    }
  }

  void exit_process(Process& p) {
    exit_mmap(*p.mm);
    if (p.kernel_stack) memory_.free_pages(p.kernel_stack, kKernelStackOrder);
    p.kernel_stack = nullptr;
    rcu_barrier();  // the exited tree's nodes go back before the next step
  }

  void reap_exited() {
    for (size_t i = 0; i < processes_.size();) {
      if (processes_[i]->exit_step <= step_) {
        exit_process(*processes_[i]);
        processes_.erase(processes_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
  }

  check::CheckSubject subject() { return check::CheckSubject{memory_, context_.vm(), nullptr, {}}; }

  void check_step() {
    rcu_barrier();
    for (const auto& p : processes_)
      if (auto failure = validate_nommu_mm(*p->mm)) throw FailureError(std::move(*failure));
    if (auto failure = check_regions(context_)) throw FailureError(std::move(*failure));
    if (options_.full_check_every && (step_ + 1) % options_.full_check_every == 0) {
      if (auto failure = check::vm_world_checks().run(check::CheckLevel::EveryN, subject()))
        throw FailureError(std::move(*failure));
    }
    trace_.fold(TraceEvent::Check, step_, memory_.nr_free_pages());
  }

  // Free memory as the board has it: frames waiting on the per-CPU list are free but
  // in no block (they count in "free", not in "largest").
  void measure() {
    result_.free_pages = memory_.nr_free_pages() + memory_.nr_pcp_pages();
    for (unsigned order = 0; order <= mem::kMaxOrder; ++order) {
      uint64_t blocks = 0;
      for (unsigned type = 0; type < mem::kMigrateTypes; ++type)
        blocks += memory_.nr_free_blocks(order, static_cast<mem::MigrateType>(type));
      if (blocks) result_.largest_free_order = order;
      if (order >= kOrder1Mib) result_.free_blocks_1mib += blocks;
    }
  }

  // Everything exits, the kernel gives back its memory; then nothing may be left.
  void teardown() {
    for (const auto& p : processes_)
      if (auto failure = validate_nommu_mm(*p->mm)) throw FailureError(std::move(*failure));
    if (auto failure = check::vm_world_checks().run(check::CheckLevel::EveryN, subject()))
      throw FailureError(std::move(*failure));
    while (!processes_.empty()) {
      exit_process(*processes_.back());
      processes_.pop_back();
    }
    for (mem::Page* page : log_pages_) memory_.free_pages(page, 0);
    log_pages_.clear();
    for (const auto& [page, order] : kernel_blocks_) memory_.free_pages(page, order);
    kernel_blocks_.clear();
    rcu_barrier();
    if (auto failure = check::vm_world_checks().run(check::CheckLevel::Teardown, subject()))
      throw FailureError(std::move(*failure));
    if (context_.live_regions() != 0 || context_.region_cache().live_objects() != 0)
      raise_failure("nommu.leak", "teardown",
                    fmt::format("{} regions and {} vm_region structs still live", context_.live_regions(),
                                context_.region_cache().live_objects()));
    memory_.drain_all_pages();
    if (memory_.nr_free_pages() != memory_.nr_pages())
      raise_failure("nommu.leak", "teardown",
                    fmt::format("{} of {} frames free after every process exited and the kernel gave back its memory",
                                memory_.nr_free_pages(), memory_.nr_pages()));
  }

  // After a failed check the world is not trusted: its trees are dropped without
  // walking them again (their nodes and regions go with the slabs, the pages with the
  // Memory), so nothing is freed twice.
  void abandon() {
    context_.vm().abandon();
    for (auto& p : processes_) p->mm->exited = true;
    processes_.clear();
    log_pages_.clear();
    kernel_blocks_.clear();
  }

  ChoiceSource& choices_;
  NommuBootOptions options_;
  TraceHash trace_;
  mem::Memory memory_;
  NommuContext context_;
  std::vector<std::unique_ptr<Process>> processes_;  // start order
  std::vector<std::pair<mem::Page*, unsigned>> kernel_blocks_;
  std::vector<mem::Page*> log_pages_;  // oldest first
  unsigned daemons_ = 0;
  uint64_t pids_ = 0;
  uint64_t step_ = 0;
  NommuBootResult result_;
};

}  // namespace

void check_boot_options(const NommuBootOptions& options) {
  if (options.memory_mib < 8 || options.memory_mib > 1024)
    throw mmt::ConfigError("memory_mib", fmt::format("{} is out of range 8..1024", options.memory_mib));
  if (options.memory_mib % 2 != 0)
    throw mmt::ConfigError("memory_mib",
                           fmt::format("{} is not a whole number of 2 MiB pageblocks", options.memory_mib));
}

NommuBootResult run_nommu_boot(ChoiceSource& choices, const NommuBootOptions& options) {
  check_boot_options(options);
  BootWorld world(choices, options);
  return world.run();
}

}  // namespace mmt::nommu
