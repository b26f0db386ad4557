// The VM world stress (vm_world.h): workers draw operations on shared address spaces;
// checks run after every operation, periodically over all frames, and over the whole
// world at the end.
#include "mmtorture/jobs/vm_world.h"

#include "mmtorture/core/error_name.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "mmtorture/check/registry.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/node_alloc.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/sched.h"
#include "mmtorture/vma/alloc_sites.h"
#include "mmtorture/vma/mm.h"
#include "mmtorture/vma/ops.h"

namespace mmt::jobs {

namespace {

using vma::kPageSize;

constexpr Site kSiteOp{"vm_world.op"};
constexpr Site kSiteSlot{"vm_world.mm"};
constexpr Site kSitePage{"vm_world.page"};
constexpr Site kSiteLength{"vm_world.length"};
constexpr Site kSiteProt{"vm_world.prot"};
constexpr Site kSiteWrite{"vm_world.write"};
constexpr Site kSiteFile{"vm_world.file"};
constexpr Site kSiteShared{"vm_world.shared"};
constexpr Site kSitePgoff{"vm_world.pgoff"};

constexpr unsigned long kWindowBase = 0x400000;
constexpr unsigned long kWindowPages = 256;

// The op kinds (vm_ops.def); kOpCount ends the switch over them.
enum Op : uint64_t {
#define MMT_VM_OP(id, name, weight, doc) id,
#include "mmtorture/jobs/vm_ops.def"
#undef MMT_VM_OP
  kOpCount
};
static_assert(kOpCount == kVmOpCount);
constexpr const auto& kOpNames = kVmOpNames;

uint64_t mix_total(const VmWorldOptions& options) {
  uint64_t total = 0;
  for (uint32_t weight : options.op_mix) total += weight;
  return total;
}

Op op_from_draw(const VmWorldOptions& options, uint64_t draw) {
  for (uint64_t op = 0; op < kOpCount; ++op) {
    if (draw < options.op_mix[op]) return static_cast<Op>(op);
    draw -= options.op_mix[op];
  }
  return kFault;
}

// "rw-": a protection as the VMA dumps print it.
std::string prot_text(unsigned long prot) {
  std::string out = "---";
  if (prot & vma::PROT_READ) out[0] = 'r';
  if (prot & vma::PROT_WRITE) out[1] = 'w';
  if (prot & vma::PROT_EXEC) out[2] = 'x';
  return out;
}

// An operation's return value as its kind means it: an address in hex (mmap, mremap),
// an error by name (-ENOMEM), anything else as the number.
std::string result_text(Op op, long ret) {
  if (ret > 0 && (op == kMmapFixed || op == kMmap || op == kMremap || op == kStack || op == kMmapFile))
    return fmt::format("{:#x}", ret);
  return error_name(ret);
}

}  // namespace

void set_fault_rules(mem::FaultPlan& plan, const VmWorldOptions& options) {
  auto rule = [&](const char* site, mem::GfpClass gfp_class, double probability) {
    mem::FaultRule fault;
    fault.probability = probability;
    plan.set_rule(site, gfp_class, fault);
  };
  rule("*", mem::GfpClass::Nowait, options.nowait_fail_probability);
  // Sleeping classes get a rule only when asked for: a plan without them decides (and
  // draws) exactly as before they existed.
  const std::pair<const char*, double> sleeping[] = {{"vm_area_struct", options.vma_fail_probability},
                                                     {"anon_vma", options.anon_vma_fail_probability},
                                                     {"maple_node", options.maple_node_fail_probability},
                                                     {mem::FaultRequest::kPagesObject, options.page_fail_probability}};
  for (const auto& [object, probability] : sleeping)
    if (probability > 0) rule(object, mem::GfpClass::Kernel, probability);
  for (const std::string& text : options.fault_rules) {
    const mem::FaultRuleSpec spec = mem::parse_fault_rule(text);
    rule(spec.site.c_str(), spec.gfp_class, spec.probability);
  }
  plan.set_too_small_to_fail(options.too_small_to_fail);
}

mem::MemConfig world_memory_config(const VmWorldOptions& options) {
  mem::MemConfig config;
  config.pages = options.memory_pages;
  config.oom_kill = options.oom_kill;
  config.swap_pages = options.swap_pages;
  config.reserved_pages = options.reserved_pages;
  if (options.min_free_pages) {
    config.min_pages = options.min_free_pages;
    config.low_pages = options.min_free_pages * 5 / 4;
    config.high_pages = options.min_free_pages * 3 / 2;
  }
  return config;
}

namespace {

// An outcome as coverage counts it: an address (mmap, mremap), brk's "moved" or
// "unchanged", "new mm" for a draw on an empty slot, else the return value by name.
constexpr long kOutcomeNewMm = LONG_MIN;
constexpr long kOutcomeAddress = LONG_MAX;

long outcome_key(Op op, bool new_mm, long ret) {
  if (new_mm) return kOutcomeNewMm;
  if (ret > 0 && (op == kMmapFixed || op == kMmap || op == kMremap || op == kStack || op == kMmapFile))
    return kOutcomeAddress;
  return ret;
}

std::string outcome_text(Op op, long key) {
  if (key == kOutcomeNewMm) return "new mm";
  if (key == kOutcomeAddress) return "addr";
  if (op == kBrk) return key == 1 ? "moved" : "unchanged";
  return error_name(key);
}

// Each kind's outcomes (errors marked) as perform() allows them: anything else is an
// unexpected_result failure before coverage could count it.
struct OpOutcome {
  Op op;
  long key;
  bool error;
};
constexpr OpOutcome kWorldOutcomes[] = {
    {kMmapFixed, kOutcomeAddress, false},
    {kMmapFixed, -ENOMEM, true},
    {kMmap, kOutcomeAddress, false},
    {kMmap, -ENOMEM, true},
    {kMunmap, 0, false},
    {kMunmap, -ENOMEM, true},
    {kMprotect, 0, false},
    {kMprotect, -ENOMEM, true},
    {kFault, 0, false},
    {kFault, -EFAULT, true},
    {kFault, -ENOMEM, true},
    {kMremap, kOutcomeAddress, false},
    {kMremap, -EFAULT, true},
    {kMremap, -ENOMEM, true},
    {kBrk, 1, false},
    {kBrk, 0, true},  // the break stayed: brk's failure
    {kFork, 0, false},
    {kFork, -ENOMEM, true},
    {kExit, 0, false},
    {kHeapFault, 0, false},
    {kHeapFault, -EFAULT, true},
    {kHeapFault, -ENOMEM, true},
    {kStack, kOutcomeAddress, false},
    {kStack, -EEXIST, true},
    {kStack, -ENOMEM, true},
    {kStack, 0, false},
    {kStack, -EFAULT, true},
    {kMmapFile, kOutcomeAddress, false},
    {kMmapFile, -ENOMEM, true},
};

// The allocation sites the world's code asks the fault plan about, with the object the
// plan's rules name them by.
struct WorldSite {
  Site site;
  const char* object;
  mem::GfpClass gfp_class;
};
const WorldSite kWorldSites[] = {
    {vma::kSiteVmAreaAlloc, "vm_area_struct", mem::GfpClass::Kernel},
    {vma::kSiteAnonVmaAlloc, "anon_vma", mem::GfpClass::Kernel},
    {vma::kSiteAnonFault, mem::FaultRequest::kPagesObject, mem::GfpClass::Kernel},
    {vma::kSiteFilemapFault, mem::FaultRequest::kPagesObject, mem::GfpClass::Kernel},
    {maple::kSiteMasAllocNodes, "maple_node", mem::GfpClass::Nowait},
    {maple::kSiteMasAllocNodes, "maple_node", mem::GfpClass::Kernel},
};

std::string site_key(Site site, mem::GfpClass gfp_class) {
  return fmt::format("{}/{}", site.view(), mem::gfp_class_name(gfp_class));
}

}  // namespace

// The lock-free fault lookup's outcomes, counted as an operation of their own.
constexpr const char* kLockVmaUnderRcu = "lock_vma_under_rcu";

CoverageRegistry world_coverage_registry(const VmWorldOptions& options) {
  CoverageRegistry registry;
  mem::FaultPlan plan;
  set_fault_rules(plan, options);
  for (const WorldSite& s : kWorldSites) {
    const gfp_t gfp = s.gfp_class == mem::GfpClass::Kernel ? gfp::kKernel : gfp::kNowait;
    const mem::FaultRule* rule = plan.find_rule(s.site, gfp, s.object);
    // Only file faults reach the page cache's site, and only the mmap_file op maps files.
    const bool reachable = s.site != vma::kSiteFilemapFault || options.op_mix[kMmapFile] > 0;
    registry.sites.push_back(
        {site_key(s.site, s.gfp_class), reachable && rule && (rule->probability > 0 || rule->pressure)});
  }
  for (size_t op = 0; op < kOpCount; ++op) {
    const bool enabled = options.op_mix[op] > 0;
    for (const OpOutcome& o : kWorldOutcomes)
      if (o.op == op) registry.outcomes.push_back({kOpNames[op], outcome_text(o.op, o.key), o.error, enabled});
    // Bookkeeping, not kernel answers: the slot was empty (a process starts there), or
    // the process exited before the operation ran.
    registry.outcomes.push_back({kOpNames[op], "new mm", false, enabled, true});
    registry.outcomes.push_back({kOpNames[op], error_name(-ESRCH), false, enabled, true});
  }
  // With per-VMA locks, each fault first tries its VMA under RCU: locked, given up
  // (mmap_lock after all), or no VMA there.
  const bool faults = options.op_mix[kFault] > 0 || options.op_mix[kHeapFault] > 0;
  for (const char* outcome : {"success", "abort", "miss"})
    registry.outcomes.push_back({kLockVmaUnderRcu, outcome, false, options.per_vma_locks && faults});
  return registry;
}

namespace {

vma::VmConfig vm_config(const VmWorldOptions& options) {
  vma::VmConfig config;
  config.per_vma_locks = options.per_vma_locks;
  config.stack_guard_gap = options.stack_guard_gap_pages << vma::kPageShift;
  config.files = static_cast<unsigned>(options.files);
  return config;
}

class VmWorld {
 public:
  VmWorld(ChoiceSource& choices, const VmWorldOptions& options)
      : choices_(choices),
        options_(options),
        memory_(world_memory_config(options), choices, &plan_),
        context_(memory_, vm_config(options)) {
    set_fault_rules(plan_, options);
    memory_.set_trace(&trace_);
    slots_.resize(options.mm_slots);
    for (auto& slot : slots_) slot = std::make_shared<vma::Mm>(context_);
  }

  ~VmWorld() {
    // A failed run may have left locks held and structures half-changed: its address
    // spaces are abandoned (~Mm releases host memory only).
    if (result_.failure) context_.abandon();
    slots_.clear();
    reap_queue_.clear();
    // Deferred frees belong to this world's slab and queue process-wide: they run
    // before it goes away, even after a failure (a node freed twice is caught by the
    // slab, and a destructor swallows what it cannot report).
    try {
      rcu_barrier();
    } catch (const FailureError&) {
    }
  }

  VmWorldResult run() {
    sched::SchedulerOptions sched_options;
    sched_options.strategy = options_.strategy == sched::StrategyKind::Pct
                                 ? sched::StrategyConfig::pct(options_.pct_depth, options_.pct_steps)
                             : options_.strategy == sched::StrategyKind::Uniform
                                 ? sched::StrategyConfig::uniform()
                                 : sched::StrategyConfig::preempt(options_.preempt_probability);
    sched_options.hang_ms = options_.hang_ms;
    sched_options.lockdep_order = options_.lockdep_order;
    sched_options.keep_going = options_.keep_going;
    sched_options.event_log = options_.event_log;
    // From the first failure on, nothing tears this world's address spaces down.
    sched_options.on_failure = [this](const Failure& failure) {
      if (options_.capture_trees_dot) capture_trees(failure);
      context_.abandon();
    };
    sched::Scheduler scheduler(choices_, sched_options, &trace_);
    if (options_.kswapd) memory_.start_kswapd(scheduler);
    if (options_.oom_kill) {
      memory_.set_oom_hook([this] { return out_of_memory(); });
      sched::SpawnOptions daemon;
      daemon.daemon = true;
      scheduler.spawn(
          "oom_reaper", [this] { oom_reaper(); }, daemon);
    }
    ops_left_ = options_.ops;
    in_flight_.assign(options_.workers, InFlight{});
    for (unsigned w = 0; w < options_.workers; ++w)
      scheduler.spawn(fmt::format("worker{}", w), [this, w] { worker(w); });
    const sched::RunResult run = scheduler.run();
    result_.switches = run.switches;
    result_.virtual_ms = run.virtual_ms;
    result_.steps = run.steps;
    result_.threads = run.threads;
    result_.pct_guarantee = run.pct_guarantee;
    result_.problems = run.problems;
    result_.failure = run.failure;
    if (!result_.failure) {
      try {
        check_world("end of run");
        teardown();
      } catch (const FailureError& e) {
        result_.failure = e.failure();
      }
    }
    if (result_.failure) result_.failure->op_index = result_.ops_done;
    if (result_.failure && options_.trace_ops) trace_unfinished();
    // A failure after the scheduler's run (the end-of-run checks, teardown) is drawn
    // here, before ~VmWorld abandons what is left.
    if (result_.failure && options_.capture_trees_dot && result_.trees_dot.empty()) capture_trees(*result_.failure);
    result_.pages_reclaimed = memory_.stats().pages_reclaimed;
    result_.alloc_failures = memory_.stats().alloc_failures;
    result_.failures_by_class = failures_by_class();
    result_.swap_outs = memory_.stats().swap_outs;
    result_.file_dropped = memory_.stats().file_dropped;
    result_.file_writebacks = memory_.stats().file_writebacks;
    result_.swap_ins = memory_.stats().swap_ins;
    result_.trace_hash = trace_.value();
    result_.coverage = coverage();
    return result_;
  }

 private:
  void worker(unsigned index) {
    while (ops_left_ > 0) {
      --ops_left_;
      const uint64_t op = op_from_draw(options_, choices_.draw(ChoiceKind::Op, kSiteOp, mix_total(options_)));
      const uint64_t slot = choices_.draw(ChoiceKind::Arg, kSiteSlot, slots_.size());
      // While the operation holds this reference the OOM killer sees the mm busy.
      std::shared_ptr<vma::Mm> mm = slots_[slot];
      sched::OpScope scope(kOpNames[op]);
      long ret = 0;
      const bool describe = options_.event_log || options_.trace_ops;
      if (describe) in_flight_[index] = InFlight{true, static_cast<Op>(op), mm ? mm->id() : 0, slot};
      std::string args;  // the drawn arguments, when describing
      if (!mm) {
        // An empty slot: a new process starts there.
        slots_[slot] = std::make_shared<vma::Mm>(context_);
        ret = 1;
        if (describe) args = fmt::format("(empty: mm {} starts there)", slots_[slot]->id());
      } else {
        ret = perform(static_cast<Op>(op), mm, slot, describe ? &args : nullptr);
      }
      if (ret == -ENOMEM) ++result_.enomem;
      ++outcome_counts_[op][outcome_key(static_cast<Op>(op), !mm, ret)];
      if (describe) {
        in_flight_[index].active = false;
        const std::string line = op_line(result_.ops_done, index, static_cast<Op>(op), mm ? mm->id() : 0, slot, args,
                                         mm ? result_text(static_cast<Op>(op), ret) : std::string("new mm"));
        if (sched::EventLog* log = options_.event_log) log->record(sched::EventKind::OpResult, line, kOpNames[op]);
        if (options_.trace_ops) options_.trace_ops(line);
      }
      if (op == kFork && options_.selftest_plant_fork_after_op &&
          result_.ops_done + 1 >= options_.selftest_plant_fork_after_op)
        raise_failure(FailureSubject::mm(mm ? mm->id() : 0), "selftest.planted", "vm_world.fork",
                      fmt::format("planted failure: fork at op {}", result_.ops_done));
      trace_.fold(TraceEvent::OpEnd, op, static_cast<uint64_t>(ret));
      if (mm && !mm->exited) check_mm(*mm, kOpNames[op]);
      drop(std::move(mm));
      if (memory_.nr_free_pages() < result_.min_free_pages) result_.min_free_pages = memory_.nr_free_pages();
      ++result_.ops_done;
      if (options_.full_check_every && result_.ops_done % options_.full_check_every == 0) check_frames();
    }
  }

  // One operation as --trace and the event log print it: "op 3 worker0 mmap_fixed mm 1
  // addr=0x10000000 len=0x3000 prot=rw- -> 0x10000000". An mm is named by its id, as
  // the failure messages and dumps name it; its slot is the workload's business.
  static std::string op_line(uint64_t number, unsigned worker, Op op, uint64_t mm_id, uint64_t slot,
                             const std::string& args, const std::string& result) {
    std::string line = fmt::format("op {} worker{} {} ", number, worker, kOpNames[op]);
    line += mm_id ? fmt::format("mm {}", mm_id) : fmt::format("slot {}", slot);
    if (!args.empty()) line += " " + args;
    if (!result.empty()) line += " -> " + result;
    return line;
  }

  // After a failure: the operations still under way, so the FAIL's op number names a
  // line of the trace. They are numbered in worker order from the failure's op number
  // (the number the next operation to finish would have had).
  void trace_unfinished() {
    uint64_t number = result_.ops_done;
    for (unsigned w = 0; w < in_flight_.size(); ++w) {
      const InFlight& op = in_flight_[w];
      if (!op.active) continue;
      options_.trace_ops(op_line(number++, w, op.op, op.mm_id, op.slot, "", "") + " (unfinished at the failure)");
    }
  }

  unsigned long window_page() {
    return kWindowBase + choices_.draw(ChoiceKind::Arg, kSitePage, kWindowPages) * kPageSize;
  }
  unsigned long length() { return (1 + choices_.draw(ChoiceKind::Arg, kSiteLength, 16)) * kPageSize; }
  unsigned long prot() {
    static constexpr unsigned long kProts[] = {vma::PROT_READ | vma::PROT_WRITE, vma::PROT_READ, vma::PROT_NONE,
                                               vma::PROT_READ | vma::PROT_EXEC};
    return kProts[choices_.draw(ChoiceKind::Arg, kSiteProt, 4)];
  }

  // The world's page-granular model of one operation on [addr, addr + len): each page's
  // state before it — access bits, and for a file mapping the file and the file page it
  // maps — (read from the tree under the mmap_lock the operation then runs under, which
  // model_after releases), and how many allocations had failed on this thread. model_after decides what the call may
  // return and what each page must be after: `want(i, before)` is page i after success; -ENOMEM is allowed only when an
  // allocation failed inside the call (or `hole` says the call itself ends so) and then
  // every page is as before or as wanted — except with `hole` and no failed allocation,
  // where the wanted state is exact (mprotect's changed prefix).
  static constexpr unsigned long kUnmapped = ~0UL;
  // One page as the model sees it: its access bits (kUnmapped: no VMA), and for a file
  // mapping the file's id and the page of the file it maps (0 and 0 for anonymous memory,
  // whose pgoff is bookkeeping, not identity).
  struct PageState {
    unsigned long prot = kUnmapped;
    uint64_t file = 0;
    unsigned long pgoff = 0;
    bool operator==(const PageState&) const = default;
  };
  struct RangeModel {
    unsigned long addr = 0;
    std::vector<PageState> before;
    uint64_t failures = 0;
  };

  std::vector<PageState> page_states(vma::Mm& mm, unsigned long addr, size_t pages) {
    std::vector<PageState> states(pages);
    const unsigned long end = addr + pages * kPageSize;
    MA_STATE(mas, &mm.mm_mt, addr, addr);
    void* entry;
    mas_for_each(&mas, entry, end - 1) {
      const auto* v = static_cast<const vma::Vma*>(entry);
      for (unsigned long a = std::max(v->vm_start, addr); a < std::min(v->vm_end, end); a += kPageSize) {
        PageState& state = states[(a - addr) >> vma::kPageShift];
        state.prot = v->vm_flags & vma::VM_ACCESS_FLAGS;
        if (v->vm_file) {
          state.file = v->vm_file->id;
          state.pgoff = v->vm_pgoff + ((a - v->vm_start) >> vma::kPageShift);
        }
      }
    }
    return states;
  }

  RangeModel model_before(vma::Mm& mm, Site site, unsigned long addr, unsigned long len) {
    vma::mmap_write_lock(mm, site);
    RangeModel model;
    model.addr = addr;
    model.before = page_states(mm, addr, vma::page_align(len) >> vma::kPageShift);
    model.failures = sched::current_or_host().alloc_failures();
    return model;
  }

  template <typename Want>
  std::optional<Failure> model_after(vma::Mm& mm, const RangeModel& model, const char* op, long ret, Want want,
                                     bool hole = false) {
    struct Unlock {
      vma::Mm& mm;
      ~Unlock() { vma::mmap_write_unlock(mm); }
    } unlock{mm};
    const bool failed = sched::current_or_host().alloc_failures() > model.failures;
    const size_t pages = model.before.size();
    const std::string call = fmt::format("{}([{:#x}, +{} pages))", op, model.addr, pages);
    // The signature names the broken rule; the call, the page and the protections are
    // the failure's detail.
    auto fail = [&](const char* rule, const std::string& specifics) {
      Failure failure{"world.result", op, fmt::format("{} {}", op, rule), vma::dump_mm(mm), 0, 0};
      failure.detail = fmt::format("{} on mm {} returned {} ({}){}{}", call, mm.id(), ret,
                                   failed ? "an allocation failed in it" : "no allocation failed in it",
                                   specifics.empty() ? "" : ": ", specifics);
      return failure;
    };
    std::optional<Failure> failure;
    if (ret == -ENOMEM && !failed && !hole) failure = fail("returned -ENOMEM, but nothing failed in it", "");
    // Returning 0 over a hole and returning 0 with a page left unchanged are one rule
    // (the call did not do all it was asked, yet reported success): a dropped error
    // shows as either, depending on what ended the call, so they share a signature;
    // the detail says which.
    else if (ret == 0 && hole)
      failure =
          fail("returned 0 without doing all it was asked", "its range has a hole, which ends the call with -ENOMEM");
    if (!failure && (ret == 0 || ret == -ENOMEM)) {
      const std::vector<PageState> after = page_states(mm, model.addr, pages);
      const bool exact = ret == 0 || !failed;
      for (size_t i = 0; i < pages && !failure; ++i) {
        const PageState wanted = want(i, model.before[i]);
        const bool ok = exact ? after[i] == wanted : after[i] == wanted || after[i] == model.before[i];
        if (!ok)
          failure = fail(ret == 0 ? "returned 0 without doing all it was asked"
                                  : "returned -ENOMEM with a page of its range neither as before nor as asked",
                         fmt::format("page {:#x} is {}, the model says {}{}", model.addr + i * kPageSize,
                                     access_text(after[i]), exact ? "" : "either ", access_text(wanted)) +
                             (exact ? std::string() : fmt::format(" or {}", access_text(model.before[i]))));
      }
    }
    return failure;  // raised by the caller once Unlock has released the lock, as check_mm does
  }

  static std::string access_text(const PageState& state) {
    if (state.prot == kUnmapped) return "unmapped";
    std::string text;
    text += state.prot & vma::VM_READ ? 'r' : '-';
    text += state.prot & vma::VM_WRITE ? 'w' : '-';
    text += state.prot & vma::VM_EXEC ? 'x' : '-';
    if (state.file) text += fmt::format(" file {} page {:#x}", state.file, state.pgoff);
    return text;
  }

  [[noreturn]] void unexpected(const char* op, long ret, vma::Mm& mm) {
    raise_failure(FailureSubject::mm(mm.id()), "world.unexpected_result", op,
                  fmt::format("{} returned {} on mm {}", op, ret, mm.id()), vma::dump_mm(mm));
  }

  // Runs one operation; with `args`, also says what it drew ("addr=0x... len=0x...").
  long perform(Op op, const std::shared_ptr<vma::Mm>& mm_ptr, uint64_t slot, std::string* args) {
    vma::Mm& mm = *mm_ptr;
    if (mm.exited) return -ESRCH;
    switch (op) {
      case kMmapFixed: return op_mmap_fixed(mm, args);
      case kMmap: return op_mmap(mm, args);
      case kMunmap: return op_munmap(mm, args);
      case kMprotect: return op_mprotect(mm, args);
      case kFault: return op_fault(mm, args);
      case kMremap: return op_mremap(mm, args);
      case kBrk: return op_brk(mm, args);
      case kFork: return op_fork(mm, slot, args);
      case kHeapFault: return op_heap_fault(mm, args);
      case kStack: return op_stack(mm, args);
      case kMmapFile: return op_mmap_file(mm, args);
      case kExit: return op_exit(mm_ptr, slot);
      case kOpCount: break;
    }
    return 0;
  }

  // mmap MAP_FIXED over a range of the window.
  long op_mmap_fixed(vma::Mm& mm, std::string* args) {
    const unsigned long addr = window_page();
    // Draws are sequenced into locals: the order of evaluation of function arguments
    // differs between gcc and clang, and the choice sequence must not.
    const unsigned long len = length();
    const unsigned long protection = prot();
    if (args) *args = fmt::format("addr={:#x} len={:#x} prot={}", addr, len, prot_text(protection));
    const long ret = vma::vm_mmap(mm, addr, len, protection, vma::MAP_PRIVATE | vma::MAP_ANONYMOUS | vma::MAP_FIXED);
    if (ret != static_cast<long>(addr) && ret != -ENOMEM) unexpected("mmap", ret, mm);
    return ret;
  }

  // mmap anywhere.
  long op_mmap(vma::Mm& mm, std::string* args) {
    const unsigned long len = length();
    const unsigned long protection = prot();
    if (args) *args = fmt::format("len={:#x} prot={}", len, prot_text(protection));
    const long ret = vma::vm_mmap(mm, 0, len, protection, vma::MAP_PRIVATE | vma::MAP_ANONYMOUS);
    if (ret <= 0 && ret != -ENOMEM) unexpected("mmap", ret, mm);
    return ret;
  }

  // munmap, against the range model.
  long op_munmap(vma::Mm& mm, std::string* args) {
    const unsigned long addr = window_page();
    const unsigned long len = length();
    if (args) *args = fmt::format("addr={:#x} len={:#x}", addr, len);
    const RangeModel model = model_before(mm, Site{"vm_munmap"}, addr, len);
    const int ret = vma::do_vmi_munmap(mm, addr, len);
    auto verdict = model_after(mm, model, "munmap", ret, [&](size_t, const PageState&) { return PageState{}; });
    if (ret != 0 && ret != -ENOMEM) unexpected("munmap", ret, mm);
    if (verdict) throw FailureError(std::move(*verdict));
    return ret;
  }

  // mprotect, against the range model.
  long op_mprotect(vma::Mm& mm, std::string* args) {
    const unsigned long addr = window_page();
    const unsigned long len = length();
    const unsigned long protection = prot();
    if (args) *args = fmt::format("addr={:#x} len={:#x} prot={}", addr, len, prot_text(protection));
    const RangeModel model = model_before(mm, Site{"do_mprotect_pkey"}, addr, len);
    const int ret = vma::do_mprotect_locked(mm, addr, len, protection);
    // As the kernel: the range changes VMA by VMA up to the first hole, which ends
    // the call with -ENOMEM; each page up to there gets the new protection.
    size_t prefix = 0;
    while (prefix < model.before.size() && model.before[prefix].prot != kUnmapped) ++prefix;
    // The protection changes; which file page each page maps does not.
    auto verdict = model_after(
        mm, model, "mprotect", ret,
        [&](size_t page, const PageState& old) {
          return page < prefix ? PageState{vma::calc_vm_prot_bits(protection), old.file, old.pgoff} : old;
        },
        prefix < model.before.size());
    if (ret != 0 && ret != -ENOMEM) unexpected("mprotect", ret, mm);
    if (verdict) throw FailureError(std::move(*verdict));
    return ret;
  }

  // fault: touch a run of pages of a mapping at or after a random address, as a program
  // does after mmap: writes where the mapping is writable, reads elsewhere.
  long op_fault(vma::Mm& mm, std::string* args) {
    bool write = choices_.draw(ChoiceKind::Arg, kSiteWrite, 2);
    unsigned long start = window_page();
    mm.mmap_lock.down_read(Site{"vm_world: pick a mapping"});
    {
      MA_STATE(mas, &mm.mm_mt, start, start);
      if (auto* v = static_cast<vma::Vma*>(mas_find(&mas, ULONG_MAX))) {
        if (v->vm_start > start) start = v->vm_start;
        if (!(v->vm_flags & vma::VM_WRITE)) write = false;
      }
    }
    mm.mmap_lock.up_read(Site{"vm_world: pick a mapping"});
    const unsigned long pages = 1 + choices_.draw(ChoiceKind::Arg, kSiteLength, 32);
    if (args) *args = fmt::format("addr={:#x} pages={} {}", start, pages, write ? "write" : "read");
    int ret = 0;
    for (unsigned long i = 0; i < pages && ret == 0; ++i) ret = vma::handle_mm_fault(mm, start + i * kPageSize, write);
    if (ret != 0 && ret != -EFAULT && ret != -ENOMEM) unexpected("fault", ret, mm);
    if (ret == 0) ++result_.faults;
    return ret;
  }

  // mremap MREMAP_MAYMOVE of one page to a drawn length.
  long op_mremap(vma::Mm& mm, std::string* args) {
    const unsigned long addr = window_page();
    const unsigned long new_len = length();
    if (args) *args = fmt::format("addr={:#x} old_len={:#x} new_len={:#x} MREMAP_MAYMOVE", addr, kPageSize, new_len);
    const long ret = vma::do_mremap(mm, addr, kPageSize, new_len, vma::MREMAP_MAYMOVE, 0);
    if (ret <= 0 && ret != -ENOMEM && ret != -EFAULT) unexpected("mremap", ret, mm);
    return ret;
  }

  // brk to a drawn break.
  long op_brk(vma::Mm& mm, std::string* args) {
    const unsigned long target = mm.start_brk + choices_.draw(ChoiceKind::Arg, kSitePage, 64) * kPageSize;
    if (args) *args = fmt::format("brk={:#x}", target);
    // 1: the break moved to the target; 0: it stayed (the kernel's brk returns the old one).
    return static_cast<long>(vma::do_brk(mm, target) == target);
  }

  // fork: the child takes the first empty slot, or replaces a random other process.
  long op_fork(vma::Mm& mm, uint64_t slot, std::string* args) {
    uint64_t target = slots_.size();
    for (uint64_t i = 0; i < slots_.size(); ++i)
      if (!slots_[i]) target = i;
    if (target == slots_.size()) target = (slot + 1) % slots_.size();
    if (args) *args = fmt::format("child to slot {}", target);
    int error = 0;
    std::unique_ptr<vma::Mm> child = vma::dup_mm(mm, &error);
    if (!child) {
      if (error != -ENOMEM) unexpected("fork", error, mm);
      return error;
    }
    check_mm(*child, "fork");
    ++result_.forks;
    std::shared_ptr<vma::Mm> replaced = std::move(slots_[target]);
    slots_[target] = std::shared_ptr<vma::Mm>(child.release());
    drop(std::move(replaced));
    return 0;
  }

  // heap_fault: touch a run of the brk heap's pages, as a program writes what malloc gave it:
  // populated heap pages put the heap VMA on reclaim's reverse-map walks (seed 002).
  long op_heap_fault(vma::Mm& mm, std::string* args) {
    mm.mmap_lock.down_read(Site{"vm_world: heap extent"});
    const unsigned long heap_start = mm.start_brk;
    const unsigned long heap_pages = (vma::page_align(mm.brk) - mm.start_brk) >> vma::kPageShift;
    mm.mmap_lock.up_read(Site{"vm_world: heap extent"});
    const uint64_t first = choices_.draw(ChoiceKind::Arg, kSitePage, heap_pages);
    const uint64_t pages = 1 + choices_.draw(ChoiceKind::Arg, kSiteLength, 32);
    if (args) *args = fmt::format("addr={:#x} pages={} write", heap_start + first * kPageSize, pages);
    int ret = 0;
    for (uint64_t i = first; i < first + pages && i < heap_pages && ret == 0; ++i)
      ret = vma::handle_mm_fault(mm, heap_start + i * kPageSize, true);
    if (ret != 0 && ret != -EFAULT && ret != -ENOMEM) unexpected("heap_fault", ret, mm);
    if (ret == 0) ++result_.faults;
    return ret;
  }

  // stack: below a drawn window page, either a stack grows or one starts. When the first
  // mapping at or above the page is a VM_GROWSDOWN one starting above it, a write fault
  // at the page grows it down there (handle_mm_fault's expand_downwards, under the mmap
  // write lock; -EFAULT when the guard gap or an allocation refuses); otherwise a one-page
  // MAP_GROWSDOWN mapping is placed at the page (MAP_FIXED_NOREPLACE: -EEXIST over a
  // mapping).
  long op_stack(vma::Mm& mm, std::string* args) {
    const unsigned long addr = window_page();
    bool below_stack = false;
    mm.mmap_lock.down_read(Site{"vm_world: find the stack"});
    {
      MA_STATE(mas, &mm.mm_mt, addr, addr);
      if (auto* v = static_cast<vma::Vma*>(mas_find(&mas, ULONG_MAX)))
        below_stack = (v->vm_flags & vma::VM_GROWSDOWN) && v->vm_start > addr;
    }
    mm.mmap_lock.up_read(Site{"vm_world: find the stack"});
    if (below_stack) {
      if (args) *args = fmt::format("addr={:#x} write fault below a stack", addr);
      const int ret = vma::handle_mm_fault(mm, addr, true);
      if (ret != 0 && ret != -EFAULT && ret != -ENOMEM) unexpected("stack", ret, mm);
      if (ret == 0) ++result_.faults;
      return ret;
    }
    if (args) *args = fmt::format("addr={:#x} len={:#x} MAP_GROWSDOWN", addr, kPageSize);
    const long ret =
        vma::vm_mmap(mm, addr, kPageSize, vma::PROT_READ | vma::PROT_WRITE,
                     vma::MAP_PRIVATE | vma::MAP_ANONYMOUS | vma::MAP_GROWSDOWN | vma::MAP_FIXED_NOREPLACE);
    if (ret != static_cast<long>(addr) && ret != -EEXIST && ret != -ENOMEM) unexpected("stack", ret, mm);
    return ret;
  }

  // mmap_file: MAP_FIXED of a drawn file over a range of the window, shared or private,
  // against the range model (each page then maps the file at pgoff + its index). The
  // page offset follows the address with one of four shifts, so mappings of one file
  // next to each other often continue each other's offsets and merge — or, for the
  // shm-like files, must not when that would remove a VMA.
  long op_mmap_file(vma::Mm& mm, std::string* args) {
    const uint64_t file_index = choices_.draw(ChoiceKind::Arg, kSiteFile, context_.file_count());
    const bool shared = choices_.draw(ChoiceKind::Arg, kSiteShared, 2);
    const unsigned long addr = window_page();
    const unsigned long len = length();
    const unsigned long protection = prot();
    const unsigned long shift = choices_.draw(ChoiceKind::Arg, kSitePgoff, 4) * 8;
    const unsigned long pgoff = (((addr - kWindowBase) >> vma::kPageShift) + shift) % 32;
    vma::File* file = context_.file(file_index);
    if (args)
      *args = fmt::format("file={} ({}) addr={:#x} len={:#x} prot={} pgoff={:#x} {}", file->id, file->mmap_ops->name,
                          addr, len, prot_text(protection), pgoff, shared ? "MAP_SHARED" : "MAP_PRIVATE");
    const RangeModel model = model_before(mm, Site{"vm_mmap"}, addr, len);
    const long ret = vma::do_mmap_locked(mm, file, addr, len, protection,
                                         (shared ? vma::MAP_SHARED : vma::MAP_PRIVATE) | vma::MAP_FIXED, pgoff);
    auto verdict = model_after(mm, model, "mmap_file", ret == static_cast<long>(addr) ? 0 : ret,
                               [&](size_t page, const PageState&) {
                                 return PageState{vma::calc_vm_prot_bits(protection), file->id, pgoff + page};
                               });
    if (ret != static_cast<long>(addr) && ret != -ENOMEM) unexpected("mmap_file", ret, mm);
    if (verdict) throw FailureError(std::move(*verdict));
    return ret;
  }

  // exit: the last user of the mm tears it down (~Mm runs exit_mmap).
  long op_exit(const std::shared_ptr<vma::Mm>& mm_ptr, uint64_t slot) {
    if (slots_[slot] == mm_ptr) slots_[slot].reset();
    ++result_.exits;
    return 0;
  }

  // The run's coverage: the fault plan's sites, each kind's outcomes.
  Coverage coverage() const {
    Coverage out;
    for (const mem::FaultPlan::SiteStats& s : plan_.site_stats()) {
      Coverage::SiteCount& count = out.sites[site_key(s.site, s.gfp_class)];
      count.requests += s.requests;
      count.injected += s.injected;
    }
    for (size_t op = 0; op < kOpCount; ++op)
      for (const auto& [key, times] : outcome_counts_[op])
        out.count_outcome(kOpNames[op], outcome_text(static_cast<Op>(op), key), times);
    // Which way the faults went: under their VMA's own lock, or back to mmap_lock.
    const vma::VmaLockStats& locks = context_.vma_lock_stats();
    for (const auto& [outcome, times] :
         {std::pair{"success", locks.success}, std::pair{"abort", locks.abort}, std::pair{"miss", locks.miss}})
      if (times) out.count_outcome(kLockVmaUnderRcu, outcome, times);
    return out;
  }

  std::string failures_by_class() {
    const mem::ClassCounts& pages = memory_.stats().failures_by_class;
    std::string text = fmt::format("pages/nowait {} pages/kernel {}", pages.nowait, pages.kernel);
    for (mem::KmemCache* cache : {&context_.vma_cache(), &context_.anon_vma_cache(), &context_.maple_node_cache()}) {
      const mem::ClassCounts& counts = cache->stats().failures_by_class;
      text += fmt::format(" {}/nowait {} {}/kernel {}", cache->name(), counts.nowait, cache->name(), counts.kernel);
    }
    return text;
  }

  // oom_badness: what killing the process gives back, resident pages plus swap entries.
  static uint64_t oom_badness(const vma::Mm& mm) { return mm.rss + mm.swap_ptes.size(); }

  // The OOM hook (mem calls it when a GFP_KERNEL allocation still fails after reclaim):
  // kill the process with the highest badness that no operation is using (lowest slot
  // on a tie), hand it to the oom_reaper and wait until its memory is back. Killing from
  // here directly would take the victim's mmap_lock inside whatever locks the allocating
  // thread holds; the reaper holds none. (The kernel may pick a process that is inside
  // a system call and let it die on its way out; our operations run to completion, so
  // a busy process is not a candidate.)
  bool out_of_memory() {
    if (!sched::current_thread()) return false;  // no green thread to wait for the reaper
    size_t victim = slots_.size();
    for (size_t i = 0; i < slots_.size(); ++i) {
      const auto& mm = slots_[i];
      // Only the slot holds an idle mm: any other reference is an operation under way.
      if (!mm || mm.use_count() > 1 || mm->exited || oom_badness(*mm) == 0) continue;
      if (victim == slots_.size() || oom_badness(*mm) > oom_badness(*slots_[victim])) victim = i;
    }
    if (victim == slots_.size()) return false;
    if (sched::EventLog* log = options_.event_log)
      log->note(sched::EventKind::OomKill, "OOM-kills mm {} (slot {}): rss {} + swap {} pages", slots_[victim]->id(),
                victim, slots_[victim]->rss, slots_[victim]->swap_ptes.size());
    reap_queue_.push_back(std::move(slots_[victim]));
    const uint64_t ticket = ++oom_requested_;
    ++result_.oom_kills;
    reaper_wait_.wake_up();
    reaped_wait_.wait_event([&] { return oom_reaped_ >= ticket; }, Site{"out_of_memory: waiting for the oom_reaper"});
    return oom_reaped_ >= ticket;
  }

  void oom_reaper() {
    for (;;) {
      reaper_wait_.wait_event([&] { return !reap_queue_.empty(); }, Site{"oom_reaper: idle"});
      if (reap_queue_.empty()) return;  // the run is being torn down
      std::shared_ptr<vma::Mm> victim = std::move(reap_queue_.front());
      reap_queue_.erase(reap_queue_.begin());
      {
        sched::OpScope scope("oom_reap");
        if (sched::EventLog* log = options_.event_log) log->note("reaps mm {}", victim->id());
        vma::exit_mmap(*victim);
      }
      victim.reset();
      ++oom_reaped_;
      reaped_wait_.wake_up();
    }
  }

  // Releases a reference; the last user of an address space that left its slot tears it
  // down here, at an ordinary scheduling point (never in a destructor, where the
  // scheduler could not unwind the thread).
  // (A check failing half-way through that exit_mmap leaves the address space half
  // freed: ~Mm, run while the failure unwinds, sees the run failed and leaves it be.)
  void drop(std::shared_ptr<vma::Mm>&& mm) {
    if (mm && mm.use_count() == 1 && !mm->exited) vma::exit_mmap(*mm);
    mm.reset();
  }

  check::CheckSubject subject(vma::Mm* op_mm) {
    check::CheckSubject s{memory_, context_, op_mm, {}};
    for (auto& mm : slots_)
      if (mm) s.mms.push_back(mm.get());
    return s;
  }

  void raise_if(std::optional<Failure> failure, const char* after) {
    if (!failure) return;
    // When it was found is detail: the same broken rule after another operation is one bug.
    failure->detail += fmt::format("{}found after {}", failure->detail.empty() ? "" : "; ", after);
    throw FailureError(std::move(*failure));
  }

  // After every operation: the checks of that level on the mm it worked on, holding its
  // mmap_lock and page-table lock so no concurrent change is half-seen.
  void check_mm(vma::Mm& mm, const char* after) {
    mm.mmap_lock.down_read(Site{"check_mm"});
    std::optional<Failure> failure;
    {
      sched::SpinGuard guard(mm.page_table_lock, Site{"check_mm"});
      failure = check::vm_world_checks().run(check::CheckLevel::EveryOp, subject(&mm));
    }
    if (mm.map_count > result_.max_vmas) result_.max_vmas = mm.map_count;
    mm.mmap_lock.up_read(Site{"check_mm"});
    raise_if(std::move(failure), after);
  }

  void check_frames() {
    raise_if(check::vm_world_checks().run(check::CheckLevel::EveryN, subject(nullptr)), "periodic check");
  }

  // With every worker finished: the end-of-run cross-checks over the whole world.
  void check_world(const char* when) {
    check_frames();
    raise_if(check::vm_world_checks().run(check::CheckLevel::End, subject(nullptr)), when);
  }

  // The VMA tree of every address space in a slot, as Graphviz (replay --dump-tree).
  // Reads the trees without their locks: nothing else runs while a failure is recorded.
  void capture_trees(const Failure& failure) {
    std::string dot;
    size_t live = 0;
    for (size_t slot = 0; slot < slots_.size(); ++slot) {
      const std::shared_ptr<vma::Mm>& mm = slots_[slot];
      if (!mm || mm->exited) continue;
      ++live;
      dot += vma::dump_mm_dot(
          *mm, fmt::format("mm{}", mm->id()),
          fmt::format("mm {} (slot {}): map_count {}, total_vm {} pages", mm->id(), slot, mm->map_count, mm->total_vm),
          failure.subject, options_.whole_trees);
    }
    // OOM victims the reaper has not started on are still whole.
    for (const std::shared_ptr<vma::Mm>& mm : reap_queue_) {
      if (!mm || mm->exited) continue;
      ++live;
      dot += vma::dump_mm_dot(
          *mm, fmt::format("mm{}", mm->id()),
          fmt::format("mm {} (OOM-killed, waiting for the oom_reaper): map_count {}, total_vm {} pages", mm->id(),
                      mm->map_count, mm->total_vm),
          failure.subject, options_.whole_trees);
    }
    if (live == 0) dot += "  // no address space was live (a failure at teardown comes after they are gone)\n";
    result_.trees_dot = maple::dot_failure_digraph(
        fmt::format("mmtorture: the VMA tree of every live address space when the failure was recorded,\n"
                    "one cluster per mm: {} at {}: {}",
                    failure.check, failure.site, failure.message),
        failure, dot);
  }

  // Everything goes away and nothing may be left behind.
  void teardown() {
    // Each address space exits here, where a failing check raises as anywhere else
    // (never in a destructor, which cannot throw).
    for (auto* list : {&slots_, &reap_queue_}) {
      for (auto& mm : *list) {
        if (mm && !mm->exited) vma::exit_mmap(*mm);
        mm.reset();
      }
      list->clear();
    }
    if (const auto& failure = context_.destructor_failure()) throw FailureError(*failure);
    rcu_barrier();
    raise_if(check::vm_world_checks().run(check::CheckLevel::Teardown, subject(nullptr)), "teardown");
  }

  ChoiceSource& choices_;
  VmWorldOptions options_;
  TraceHash trace_;
  mem::FaultPlan plan_;
  mem::Memory memory_;
  vma::VmContext context_;
  std::vector<std::shared_ptr<vma::Mm>> slots_;
  std::vector<std::shared_ptr<vma::Mm>> reap_queue_;  // OOM victims, oldest first
  sched::WaitQueue reaper_wait_{"oom_reaper"};
  sched::WaitQueue reaped_wait_{"oom_reaped"};
  uint64_t oom_requested_ = 0;
  uint64_t oom_reaped_ = 0;
  uint64_t ops_left_ = 0;
  // Each worker's operation under way (kept only when describing: --trace, event log).
  struct InFlight {
    bool active = false;
    Op op = kFault;
    uint64_t mm_id = 0;  // 0: the slot was empty
    uint64_t slot = 0;
  };
  std::vector<InFlight> in_flight_;
  // Coverage: per kind, outcome_key -> times (few keys per kind; never read by the run).
  std::array<std::map<long, uint64_t>, kOpCount> outcome_counts_;
  VmWorldResult result_;
};

}  // namespace

VmWorldResult run_vm_world(ChoiceSource& choices, const VmWorldOptions& options) {
  VmWorld world(choices, options);
  return world.run();
}

}  // namespace mmt::jobs
