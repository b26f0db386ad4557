// The maple-tree stress: operations drawn from a ChoiceSource against the real tree and
// a std::map model, with GFP_NOWAIT failures injected by a choice-driven allocator.
#include "mmtorture/jobs/maple_stress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <vector>

#include "mmtorture/core/error_name.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/jobs/rcu_read_window.h"
#include "mmtorture/maple/gap_reach.h"
#include "mmtorture/maple/interval_model.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/sched/progress.h"
#include "mmtorture/sched/scheduler.h"

#ifdef MMT_KERNEL_BACKEND
#include "mmtorture/kernel/kernel_tree.h"
#endif

namespace mmt::jobs {

namespace {

constexpr Site kSiteOp{"maple_stress.op"};
constexpr Site kSiteIndex{"maple_stress.index"};
constexpr Site kSiteLength{"maple_stress.length"};
constexpr Site kSiteValue{"maple_stress.value"};
constexpr Site kSiteRegion{"maple_stress.region"};
constexpr Site kSiteReaderOp{"maple_stress.reader_op"};
constexpr Site kSiteVariant{"maple_stress.variant"};
constexpr Site kSiteGfp{"maple_stress.gfp"};
constexpr Site kSiteSpan{"maple_stress.span"};
constexpr Site kSiteWindow{"maple_stress.window"};
constexpr Site kSiteReaderStep{"maple_stress.reader: between lookups"};
constexpr unsigned long kReaderFindSpan = 0x100;  // mas_find's window past the reader's index

// Fails GFP_NOWAIT node allocations when the ChoiceSource says so; sleeping allocations
// succeed (there is no page-pressure model at this layer yet). Freed nodes are poisoned
// and reused last-freed-first from a free list of this run (a slab, as the kernel's):
// a use after free then reads what this run's own operations left there, so it fails
// the same way on every replay, in any process. Sanitized builds free to ASan instead.
class ChoiceNodeAllocator final : public maple::NodeAllocator {
 public:
  ChoiceNodeAllocator(ChoiceSource& choices, double p) : choices_(choices), p_(p) {}
  ChoiceNodeAllocator(const ChoiceNodeAllocator&) = delete;
  ChoiceNodeAllocator& operator=(const ChoiceNodeAllocator&) = delete;
  maple_node* alloc_node(gfp_t flags, Site site) override {
    // p = 0 never fails: a certain outcome is not a decision, so nothing is drawn (as the
    // fault plan and the scheduler do).
    const bool decided = !gfp::allows_blocking(flags) && injecting_;
    const bool fail = decided && p_ > 0 && choices_.flip(ChoiceKind::AllocFail, site, p_);
    if (decided) count_site(site, fail);
    if (fail) {
      ++failures_;
      return nullptr;
    }
    return pool_.take();
  }
  void free_node(maple_node* node) override { pool_.give(node); }
  uint64_t live_nodes() const override { return pool_.live(); }
  uint64_t failures() const { return failures_; }
  // Coverage: "site/nowait" -> requests decided, failures injected.
  std::map<std::string, Coverage::SiteCount> sites() const {
    std::map<std::string, Coverage::SiteCount> out;
    for (const auto& [site, count] : sites_) out[fmt::format("{}/nowait", site.view())] = count;
    return out;
  }
  // Off while the configured starting tree is built: it draws nothing.
  void set_injecting(bool on) { injecting_ = on; }

 private:
  ChoiceSource& choices_;
  double p_;
  bool injecting_ = true;
  uint64_t failures_ = 0;
  maple::FreedNodePool pool_;
  std::vector<std::pair<Site, Coverage::SiteCount>> sites_;  // coverage; a site or two

  void count_site(Site site, bool failed) {
    auto it = std::find_if(sites_.begin(), sites_.end(), [&](const auto& entry) { return entry.first == site; });
    if (it == sites_.end()) it = sites_.insert(sites_.end(), {site, Coverage::SiteCount{}});
    ++it->second.requests;
    if (failed) ++it->second.injected;
  }
};

// The oracle: what the tree should hold (maple/interval_model.h).
using Model = maple::IntervalModel<unsigned long>;

class Stress {
 public:
  Stress(ChoiceSource& choices, const MapleStressOptions& options, ChoiceNodeAllocator& allocator)
      : c_(choices), opt_(options), allocator_(allocator), windows_(options.readers) {
    mt_init_flags(&tree_, options.alloc_range_tree ? MT_FLAGS_ALLOC_RANGE : 0);
    if (options.rcu) mt_set_in_rcu(&tree_);
  }

  void run(MapleStressResult& result) {
    prefill();
    if (opt_.readers) {
      run_with_readers(result);
      return;
    }
    write_ops(result);
  }

  void write_ops(MapleStressResult& result) {
    for (op_ = 0; op_ < opt_.ops; ++op_) {
      if (opt_.stop_when_exhausted && c_.exhausted()) break;
      step();
      if (opt_.readers) windows_.write_done();
      // In RCU mode a grace period ends between operations: deferred frees run here.
      if (opt_.rcu) rcu_barrier();
      check();
      result.ops_done = op_ + 1;
      result.max_entries = std::max<uint64_t>(result.max_entries, model_.size());
      result.max_height = std::max<uint64_t>(result.max_height, mt_height(&tree_));
    }
    final_check();
  }

  // The writer and the readers as green threads. A failure on any of them ends the
  // run and is raised here, on the host, as the single-threaded job raises it.
  void run_with_readers(MapleStressResult& result) {
    sched::SchedulerOptions options;
    options.strategy = opt_.strategy;
    options.hang_ms = opt_.hang_ms;
    sched::Scheduler scheduler(c_, options, &trace_);
    scheduler.spawn("writer", [this, &result] {
      write_ops(result);
      writer_done_ = true;
    });
    for (unsigned r = 0; r < opt_.readers; ++r) scheduler.spawn(fmt::format("reader{}", r), [this, r] { reader(r); });
    const sched::RunResult run = scheduler.run();
    result.reads = reads_;
    result.switches = run.switches;
    if (run.failure) throw FailureError(*run.failure);
  }

  void teardown() {
    mtree_destroy(&tree_);
    rcu_barrier();
  }

  uint64_t trace_hash() const { return trace_.value(); }
  const Coverage& coverage() const { return coverage_; }

  // The tree as Graphviz, one cluster (replay --dump-tree).
  std::string trees_dot(const Failure& failure) const {
    maple::DotTreeOptions tree;
    tree.name = "tree";
    tree.label = fmt::format("maple job tree at the failure (op {}; the model holds {} entries)", op_, model_.size());
    // The job's only tree is the failing one.
    tree.failing = true;
    tree.subject = failure.subject;
    if (opt_.whole_trees) tree.collapse_above_nodes = 0;
    return maple::dot_failure_digraph(
        fmt::format("mmtorture: the maple job's tree when the failure was recorded: {} at {}: {}", failure.check,
                    failure.site, failure.message),
        failure, maple::mt_dump_dot_subgraph(&tree_, tree));
  }

 private:
  // Keys cluster in a few regions so the tree grows deep and writes span nodes.
  unsigned long draw_index() {
    static constexpr unsigned long kRegions[] = {0, 0x10000, 0x7f0000000000UL, ULONG_MAX - 0x20000};
    const unsigned long base = kRegions[c_.draw(ChoiceKind::Arg, kSiteRegion, 4)];
    return base + c_.draw(ChoiceKind::Arg, kSiteIndex, 0x8000);
  }
  unsigned long draw_last(unsigned long index) {
    const unsigned long length = c_.draw(ChoiceKind::Arg, kSiteLength, 64);
    return index + length < index ? ULONG_MAX : index + length;
  }
  unsigned long draw_value() { return 1 + c_.draw(ChoiceKind::Arg, kSiteValue, 1000); }

  // The tree and the model disagree about [first, last] (replay --dump-tree draws the
  // leaves holding it).
  [[noreturn]] void diverged(const std::string& what, unsigned long first, unsigned long last) {
    raise_failure(FailureSubject::entry(first, last), "maple.model_diff", "maple_stress",
                  fmt::format("op {}: {}", op_, what), maple::mt_dump_string(&tree_, mt_dump_hex));
  }

  // A gap search whose answer is not the model's: the signature names the rule it
  // broke, the detail the call (mas_empty_area, _rev or mtree_alloc_range) and ranges.
  // The subject is the range the answer should have been (the model's fit) or, when the
  // model has none, the range the tree answered or searched.
  [[noreturn]] void gap_diverged(const char* rule, const std::string& call, unsigned long first, unsigned long last) {
    Failure failure{"maple.model_diff",
                    "gap_search",
                    fmt::format("gap search {}", rule),
                    maple::mt_dump_string(&tree_, mt_dump_hex),
                    0,
                    0};
    failure.subject = FailureSubject::entry(first, last);
    failure.detail = fmt::format("op {}: {}", op_, call);
    throw FailureError(std::move(failure));
  }

  void expect_entry(const char* op, unsigned long index, void* got) {
    const unsigned long want_value = model_.value_at(index);
    const unsigned long got_value = got ? xa_to_value(got) : 0;
    if (want_value != got_value)
      diverged(fmt::format("{}({:#x}) returned {} but the model holds {}", op, index, got_value, want_value), index,
               index);
  }

  // The starting tree: part of the configuration, not of the choice sequence, so a
  // shrunk repro needs no operations to build it. Node allocations are GFP_KERNEL and
  // never injected; a failure here is a failure of the tree itself.
  void prefill() {
    allocator_.set_injecting(false);
    for (uint64_t i = 0; i < opt_.prefill; ++i) {
      const unsigned long index = 16 * i, last = index + 7;
      const int ret = mtree_store_range(&tree_, index, last, xa_mk_value(i + 1), GFP_KERNEL);
      if (ret != 0)
        diverged(fmt::format("prefill: mtree_store_range({:#x}, {:#x}) returned {}", index, last, ret), index, last);
      model_.store(index, last, i + 1);
    }
    allocator_.set_injecting(true);
    if (opt_.prefill) check();
  }

  // A lock-free reader: lookups at drawn indices until the writer is done, each checked
  // against what the model held and what was written while it ran.
  void reader(unsigned r) {
    // Bounded, so a schedule that never runs the writer again (a shrink candidate whose
    // choices ran out picks the same thread forever) still ends.
    const uint64_t max_reads = 8 * opt_.ops + 64;
    for (uint64_t n = 0; n < max_reads && !writer_done_; ++n) {
      if (opt_.stop_when_exhausted && c_.exhausted()) break;
      const unsigned long index = draw_index();
      const bool find = c_.draw(ChoiceKind::Op, kSiteReaderOp, 2) != 0;
      const unsigned long last = !find ? index : index + kReaderFindSpan < index ? ULONG_MAX : index + kReaderFindSpan;
      windows_.open(r, index, last, spans_over(model_.map(), index, last));
      void* got;
      unsigned long at = index, got_first = index, got_last = index;
      if (!find) {
        got = mtree_load(&tree_, index);  // the lock-free lookup: its own rcu_read_lock
      } else {
        rcu_read_lock();
        MA_STATE(mas, &tree_, index, index);
        got = mas_find(&mas, last);
        got_first = mas.index;
        got_last = mas.last;
        if (got) at = std::max(mas.index, index);
        rcu_read_unlock();
      }
      // One signature per broken rule: which reader and which lookup (mtree_load or
      // mas_find) found it are who and how, in the report's detail, not in the message.
      auto detail = [&] {
        return fmt::format("reader{}: {}({:#x})\n{}", r, find ? "mas_find" : "mtree_load", index,
                           maple::mt_dump_string(&tree_, mt_dump_hex));
      };
      if (got && !xa_is_value(got))
        raise_failure("maple.rcu_reader", "maple rcu reader",
                      fmt::format("a lock-free lookup at {:#x} returned {}, which is no stored entry", index, got),
                      detail());
      const unsigned long value = got ? xa_to_value(got) : 0;
      if (!windows_.close(r, at, value))
        raise_failure(
            "maple.rcu_reader", "maple rcu reader",
            fmt::format("a lock-free lookup at {:#x} returned {} for [{:#x}, {:#x}], which {:#x} did not hold "
                        "at any point of the read (writer op {})",
                        index, value, got_first, got_last, at, op_),
            detail());
      ++reads_;
      sched::mark_progress();
      sched::yield_point(kSiteReaderStep);
    }
  }

  // With readers, a stored value carries its op number (a reader tells a stale or
  // foreign value from the one it may see); without, values stay as drawn.
  unsigned long tag(unsigned long value) const { return value && opt_.readers ? value | (op_ + 1) << 10 : value; }
  void announce(unsigned long first, unsigned long last, unsigned long value) {
    if (opt_.readers) windows_.announce(first, last, value);
  }

  void step() {
    const MapleOp op = draw_maple_op(c_, opt_);
    const unsigned long index = draw_index();
    trace_.fold(TraceEvent::OpStart, static_cast<uint64_t>(op), index);
    touched_ = Touched{};
    switch (op) {
      case MapleOp::StoreRange: store_range(index); break;
      case MapleOp::InsertRange: insert_range(index); break;
      case MapleOp::Erase: erase(index); break;
      case MapleOp::Load: load(index); break;
      case MapleOp::FindForward: find_forward(index); break;
      case MapleOp::FindReverse: find_reverse(index); break;
      case MapleOp::EmptyArea: empty_area(index); break;
      case MapleOp::AllocRange: alloc_range(index); break;
      case MapleOp::PreallocStore: prealloc_store(index); break;
      case MapleOp::StoreGfp: store_gfp(index); break;
      case MapleOp::PausedStore: paused_store(index); break;
      case MapleOp::SpanningStore: spanning_store(index); break;
      case MapleOp::Dup: dup(); break;
    }
  }

  // mtree_store_range of an entry or NULL (GFP_KERNEL: it cannot fail).
  void store_range(unsigned long index) {
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(c_.draw(ChoiceKind::Arg, kSiteValue, 4) == 0 ? 0 : draw_value());
    announce(index, last, value);
    touched(index, last);
    const int ret = mtree_store_range(&tree_, index, last, value ? xa_mk_value(value) : nullptr, GFP_KERNEL);
    if (ret != 0) diverged(fmt::format("mtree_store_range returned {}", ret), index, last);
    model_.store(index, last, value);
    outcome("mtree_store_range", error_name(ret));
    trace_.fold(TraceEvent::OpEnd, ret);
  }

  // mtree_insert_range: -EEXIST exactly when the model has an entry in the range.
  void insert_range(unsigned long index) {
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(draw_value());
    announce(index, last, value);
    touched(index, last);
    const int ret = mtree_insert_range(&tree_, index, last, xa_mk_value(value), GFP_KERNEL);
    const int want = model_.range_empty(index, last) ? 0 : -EEXIST;
    if (ret != want) diverged(fmt::format("mtree_insert_range returned {}, model expects {}", ret, want), index, last);
    if (ret == 0) model_.store(index, last, value);
    outcome("mtree_insert_range", error_name(ret));
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret));
  }

  // mtree_erase: returns the entry that held index and removes its whole range.
  void erase(unsigned long index) {
    const std::optional<Model::Range> held = model_.at(index);
    if (held) announce(held->index, held->last, 0);
    touched(held ? held->index : index, held ? held->last : index);
    void* got = mtree_erase(&tree_, index);
    expect_entry("mtree_erase", index, got);
    outcome("mtree_erase", got ? "entry" : "NULL");
    if (held) model_.store(held->index, held->last, 0);
    trace_.fold(TraceEvent::OpEnd, got ? xa_to_value(got) : 0);
  }

  void load(unsigned long index) {
    touched_nothing();
    void* got = mtree_load(&tree_, index);
    expect_entry("mtree_load", index, got);
    outcome("mtree_load", got ? "entry" : "NULL");
    trace_.fold(TraceEvent::OpEnd, got ? xa_to_value(got) : 0);
  }

  // mas_find then up to three mas_next: each the model's next entry, at its index.
  void find_forward(unsigned long index) {
    touched_nothing();
    MA_STATE(mas, &tree_, index, index);
    auto it = model_.map().upper_bound(index);
    if (it != model_.map().begin() && std::prev(it)->second.last >= index) --it;
    for (int i = 0; i < 4; ++i) {
      void* got = i == 0 ? mas_find(&mas, ULONG_MAX) : mas_next(&mas, ULONG_MAX);
      const unsigned long want = it == model_.map().end() ? 0 : it->second.value;
      if ((got ? xa_to_value(got) : 0) != want || (got && mas.index != it->first))
        diverged(fmt::format("iteration from {:#x} step {} returned {} at {:#x}", index, i, got ? xa_to_value(got) : 0,
                             mas.index),
                 index, index);
      if (i == 0) outcome("mas_find", got ? "entry" : "NULL");
      trace_.fold(TraceEvent::OpEnd, want);
      if (!got) break;
      ++it;
    }
  }

  // mas_find_rev then up to two mas_prev: each the model's previous entry.
  void find_reverse(unsigned long index) {
    touched_nothing();
    MA_STATE(mas, &tree_, index, index);
    auto it = model_.map().upper_bound(index);
    for (int i = 0; i < 3; ++i) {
      void* got = i == 0 ? mas_find_rev(&mas, 0) : mas_prev(&mas, 0);
      const bool have = it != model_.map().begin();
      const unsigned long want = have ? std::prev(it)->second.value : 0;
      if ((got ? xa_to_value(got) : 0) != want)
        diverged(fmt::format("reverse iteration from {:#x} step {} returned {}, model {}", index, i,
                             got ? xa_to_value(got) : 0, want),
                 index, index);
      if (i == 0) outcome("mas_find_rev", got ? "entry" : "NULL");
      trace_.fold(TraceEvent::OpEnd, want);
      if (!got) break;
      --it;
    }
  }

  // The last index a gap search from `index` for `size` slots may use: `index + wide`
  // (capped at ULONG_MAX) as a rule, where a fit nearly always exists; one draw in four
  // a tight window of the size and at most 15 slots more, which the tree's entries often
  // fill, so the search must answer -EBUSY and the model must agree that nothing fits.
  unsigned long search_limit(unsigned long index, unsigned long size, unsigned long wide) {
    if (c_.draw(ChoiceKind::Arg, kSiteWindow, 4) != 3) return ULONG_MAX - index < wide ? ULONG_MAX : index + wide;
    const unsigned long span = size - 1 + c_.draw(ChoiceKind::Arg, kSiteWindow, 16);
    return ULONG_MAX - index < span ? ULONG_MAX : index + span;
  }

  // mas_empty_area / mas_empty_area_rev within a window: the answer must be free, the
  // one the kernel's rule picks, and -EBUSY only when no gap exists.
  void empty_area(unsigned long index) {
    touched_nothing();
    const unsigned long size = 1 + c_.draw(ChoiceKind::Arg, kSiteLength, 256);
    const bool reverse = c_.draw(ChoiceKind::Arg, kSiteOp, 2);
    const unsigned long window_last = search_limit(index, size, 0x4000);
    MA_STATE(mas, &tree_, 0, 0);
    const int ret =
        reverse ? mas_empty_area_rev(&mas, index, window_last, size) : mas_empty_area(&mas, index, window_last, size);
    if (ret == 0) {
      if (mas.last - mas.index + 1 != size || mas.index < index || mas.last > window_last ||
          !model_.range_empty(mas.index, mas.last))
        diverged(
            fmt::format("empty area [{:#x}, {:#x}] for size {} is not free in the window", mas.index, mas.last, size),
            mas.index, mas.last);
    }
    // A reverse search reaches down only to the floor 6.12's walk has (gap_reach.h).
    unsigned long want = 0, floor = 0;
    const bool exists = (!reverse || maple::mt_rev_area_floor(&tree_, window_last, &floor)) &&
                        model_.empty_area(std::max(index, floor), window_last, size, reverse, &want);
    const std::string call = fmt::format(
        "{}([{:#x}, {:#x}], size {}) returned {}", reverse ? "mas_empty_area_rev" : "mas_empty_area", index,
        window_last, size, ret == 0 ? fmt::format("[{:#x}, {:#x}]", mas.index, mas.last) : std::to_string(ret));
    const std::string fit = exists ? fmt::format("; the model's fit is [{:#x}, {:#x}]", want, want + size - 1)
                                   : std::string("; the model has no fit");
    if (ret != 0 && ret != -EBUSY) gap_diverged("returned an error other than -EBUSY", call + fit, index, window_last);
    if (ret == -EBUSY && exists)
      gap_diverged("returned -EBUSY while the model has a fit", call + fit, want, want + size - 1);
    if (ret == 0 && !exists) gap_diverged("found a gap the model does not have", call + fit, mas.index, mas.last);
    if (ret == 0 && mas.index != want)
      gap_diverged("found another gap than the rule picks", call + fit, want, want + size - 1);
    outcome(reverse ? "mas_empty_area_rev" : "mas_empty_area", error_name(ret));
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), ret ? 0 : mas.index);
  }

  // mtree_alloc_range at or above index (alloc-range trees only: the op draws nothing
  // more on others): the lowest fit, stored.
  void alloc_range(unsigned long index) {
    touched_nothing();
    if (!opt_.alloc_range_tree) return;
    const unsigned long size = 1 + c_.draw(ChoiceKind::Arg, kSiteLength, 64);
    const unsigned long max = search_limit(index, size, ULONG_MAX - index);
    unsigned long start = 0;
    const unsigned long value = tag(draw_value());
    announce(index, max, value);  // somewhere the search picks, in [index, max]
    const int ret = mtree_alloc_range(&tree_, &start, xa_mk_value(value), size, index, max, GFP_KERNEL);
    if (ret == 0) touched(start, start + size - 1);
    else touched(index, max);  // a failed search must change nothing it searched
    unsigned long want = 0;
    const bool exists = model_.empty_area(index, max, size, false, &want);
    const std::string call =
        fmt::format("mtree_alloc_range(size {}, min {:#x}, max {:#x}) returned {}{}", size, index, max, ret,
                    ret == 0 ? fmt::format(" at {:#x}", start) : std::string()) +
        (exists ? fmt::format("; the model's fit is at {:#x}", want) : std::string("; the model has no fit"));
    if (ret == 0) {
      if (!model_.range_empty(start, start + size - 1) || start < index)
        diverged(fmt::format("mtree_alloc_range gave [{:#x}, +{}] which is not free", start, size), start,
                 start + size - 1);
      if (!exists) gap_diverged("found a gap the model does not have", call, start, start + size - 1);
      if (start != want) gap_diverged("found another gap than the rule picks", call, want, want + size - 1);
      model_.store(start, start + size - 1, value);
    } else if (ret != -EBUSY && ret != -ENOMEM) {
      gap_diverged("returned an error other than -EBUSY", call, index, max);
    } else if (ret == -EBUSY && exists) {
      gap_diverged("returned -EBUSY while the model has a fit", call, want, want + size - 1);
    }
    outcome("mtree_alloc_range", error_name(ret));
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), start);
  }

  // Reserve with GFP_NOWAIT, then store without allocating (mas_store_prealloc must
  // never run short of what mas_preallocate reserved).
  void prealloc_store(unsigned long index) {
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(c_.draw(ChoiceKind::Arg, kSiteValue, 4) == 0 ? 0 : draw_value());
    announce(index, last, value);
    touched(index, last);
    void* entry = value ? xa_mk_value(value) : nullptr;
    MA_STATE(mas, &tree_, index, last);
    mtree_lock(&tree_);
    const int ret = mas_preallocate(&mas, entry, GFP_NOWAIT);
    if (ret == 0) {
      mas_set_range(&mas, index, last);
      mas_store_prealloc(&mas, entry);
      model_.store(index, last, value);
    } else if (ret != -ENOMEM) {
      mtree_unlock(&tree_);
      diverged(fmt::format("mas_preallocate returned {}", ret), index, last);
    }
    mtree_unlock(&tree_);
    outcome("mas_preallocate", error_name(ret));
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret));
  }

  // mas_store_gfp with GFP_NOWAIT: may fail, and must then leave the tree as it was.
  void store_gfp(unsigned long index) {
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(draw_value());
    announce(index, last, value);
    touched(index, last);
    MA_STATE(mas, &tree_, index, last);
    mtree_lock(&tree_);
    const int ret = mas_store_gfp(&mas, xa_mk_value(value), GFP_NOWAIT);
    mtree_unlock(&tree_);
    if (ret == 0) model_.store(index, last, value);
    else if (ret != -ENOMEM) diverged(fmt::format("mas_store_gfp returned {}", ret), index, last);
    outcome("mas_store_gfp", error_name(ret));
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret));
  }

  // The kernel job's store through a paused or reset state (maple_kernel_stress.cpp,
  // same draws): mas_walk, mas_pause or mas_reset, the lock dropped and retaken, then
  // mas_store_gfp over the walked slot or [index, last], the fields set directly.
  void paused_store(unsigned long index) {
    const bool reset = c_.draw(ChoiceKind::Arg, kSiteVariant, 2);
    const bool whole = c_.draw(ChoiceKind::Arg, kSiteVariant, 2);
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(c_.draw(ChoiceKind::Arg, kSiteValue, 4) == 0 ? 0 : draw_value());
    const gfp_t gfp = c_.draw(ChoiceKind::Arg, kSiteGfp, 2) ? GFP_NOWAIT : GFP_KERNEL;
    const char* call = reset ? "mas_reset/mas_store_gfp" : "mas_pause/mas_store_gfp";
    const uint64_t failed_before = allocator_.failures();
    MA_STATE(mas, &tree_, index, index);
    mtree_lock(&tree_);
    mas_walk(&mas);
    const unsigned long lo = mas.index, hi = mas.last;
    if (reset) mas_reset(&mas);
    else mas_pause(&mas);
    mtree_unlock(&tree_);
    const Model::Range slot = model_.slot(index);
    const unsigned long want_lo = slot.index, want_hi = slot.last;
    if (lo != want_lo || hi != want_hi)
      diverged(fmt::format("mas_walk({:#x}) gave the range [{:#x}, {:#x}], the model's slot is [{:#x}, {:#x}]", index,
                           lo, hi, want_lo, want_hi),
               index, index);
    const unsigned long first = whole ? lo : index, end = whole ? hi : last;
    announce(first, end, value);
    touched(first, end);
    mtree_lock(&tree_);
    mas.index = first;
    mas.last = end;
    const int ret = mas_store_gfp(&mas, value ? xa_mk_value(value) : nullptr, gfp);
    mtree_unlock(&tree_);
    expect_store(call, ret, gfp, failed_before, first, end);
    if (ret == 0) model_.store(first, end, value);
    outcome(call, error_name(ret));
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), first);
  }

  // One store (or erase) over up to a whole key region (the kernel job's, same draws).
  void spanning_store(unsigned long index) {
    const unsigned long length = c_.draw(ChoiceKind::Arg, kSiteSpan, 0x8000);
    const unsigned long last = index + length < index ? ULONG_MAX : index + length;
    const unsigned long value = tag(c_.draw(ChoiceKind::Arg, kSiteValue, 4) == 0 ? 0 : draw_value());
    // 0: mtree_store_range(GFP_KERNEL); 1: mas_store_gfp(GFP_NOWAIT); 2: mas_preallocate
    // (GFP_NOWAIT) then mas_store_prealloc, which must not run short.
    const uint64_t how = c_.draw(ChoiceKind::Arg, kSiteGfp, 3);
    static constexpr const char* kCalls[] = {"spanning mtree_store_range", "spanning mas_store_gfp",
                                             "spanning mas_preallocate"};
    const char* call = kCalls[how];
    void* entry = value ? xa_mk_value(value) : nullptr;
    announce(index, last, value);
    touched(index, last);
    const uint64_t failed_before = allocator_.failures();
    int ret;
    if (how == 0) {
      ret = mtree_store_range(&tree_, index, last, entry, GFP_KERNEL);
    } else {
      MA_STATE(mas, &tree_, index, last);
      mtree_lock(&tree_);
      if (how == 1) {
        ret = mas_store_gfp(&mas, entry, GFP_NOWAIT);
      } else if ((ret = mas_preallocate(&mas, entry, GFP_NOWAIT)) == 0) {
        mas_set_range(&mas, index, last);
        mas_store_prealloc(&mas, entry);
      }
      mas_destroy(&mas);
      mtree_unlock(&tree_);
    }
    expect_store(call, ret, how == 0 ? GFP_KERNEL : GFP_NOWAIT, failed_before, index, last);
    if (ret == 0) model_.store(index, last, value);
    outcome(call, error_name(ret));
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), last);
  }

  // The kernel job's tree copy (same draws). The model has mtree_dup and no
  // mas_expected_entries: both variants copy with mtree_dup here. The copy must hold
  // the source's entries at its height (or nothing after -ENOMEM) and pass mt_validate.
  void dup() {
    c_.draw(ChoiceKind::Arg, kSiteVariant, 2);  // the bulk variant, a kernel entry point
    const gfp_t gfp = c_.draw(ChoiceKind::Arg, kSiteGfp, 2) ? GFP_NOWAIT : GFP_KERNEL;
    const uint64_t failed_before = allocator_.failures();
    maple_tree copy{};
    mt_init_flags(&copy, opt_.alloc_range_tree ? MT_FLAGS_ALLOC_RANGE : 0);
    if (opt_.rcu) mt_set_in_rcu(&copy);
    // A sleeping copy is __mt_dup, without the spin locks (as the kernel job's).
    const char* call = gfp::allows_blocking(gfp) ? "__mt_dup" : "mtree_dup";
    const int ret = gfp::allows_blocking(gfp) ? __mt_dup(&tree_, &copy, gfp) : mtree_dup(&tree_, &copy, gfp);
    mt_validate(&copy);
    MA_STATE(mas, &copy, 0, 0);
    void* entry;
    auto it = model_.map().begin();
    uint64_t count = 0;
    mas_for_each(&mas, entry, ULONG_MAX) {
      if (ret != 0 || it == model_.map().end() || it->first != mas.index || it->second.last != mas.last ||
          it->second.value != xa_to_value(entry))
        diverged(fmt::format("{} returned {} and its copy holds [{:#x}, {:#x}] = {}, unlike the source", call, ret,
                             mas.index, mas.last, xa_to_value(entry)),
                 mas.index, mas.last);
      ++it;
      ++count;
    }
    if (ret == 0 && it != model_.map().end())
      diverged(fmt::format("model entry at {:#x} missing from {}'s copy", it->first, call), it->first, it->second.last);
    if (ret == 0 && mt_height(&copy) != mt_height(&tree_))
      diverged(fmt::format("{}'s copy has height {}, its source {}", call, mt_height(&copy), mt_height(&tree_)), 0,
               ULONG_MAX);
    mtree_destroy(&copy);
    expect_store(call, ret, gfp, failed_before, 0, ULONG_MAX);
    outcome(call, error_name(ret));
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), count);
  }

  // A store's return: 0, or -ENOMEM where a request may fail (GFP_NOWAIT) and one did
  // (maple.false_enomem otherwise, as on the kernel backend).
  void expect_store(const char* call, int ret, gfp_t gfp, uint64_t failed_before, unsigned long first,
                    unsigned long last) {
    if (ret == 0) return;
    if (ret != -ENOMEM || gfp::allows_blocking(gfp)) diverged(fmt::format("{} returned {}", call, ret), first, last);
    if (allocator_.failures() == failed_before)
      raise_failure(FailureSubject::entry(first, last), "maple.false_enomem", "maple_stress",
                    fmt::format("op {}: {} returned -ENOMEM but every node request was granted", op_, call),
                    maple::mt_dump_string(&tree_, mt_dump_hex));
  }

  // The harness's own walks are no kernel path: while one runs, readers get no access
  // points inside it.
  struct NoAccessPoints {
    bool saved = mt_rcu_access_points();
    NoAccessPoints() { mt_set_rcu_access_points(false); }
    ~NoAccessPoints() { mt_set_rcu_access_points(saved); }
    NoAccessPoints(const NoAccessPoints&) = delete;
    NoAccessPoints& operator=(const NoAccessPoints&) = delete;
  };

  // After every operation: mt_validate and the model diff — over the whole tree every
  // full_check_every ops and at the end of the run, else over what the op could have
  // changed (validate_tree_range's nodes, the model over the leaves they span). With
  // verify_incremental a whole-tree check follows every partial one, and a failure only
  // it finds is check.incremental_missed.
  void check() {
    const NoAccessPoints no_access_points;
    const bool whole = touched_.all || opt_.full_check_every <= 1 || (op_ + 1) % opt_.full_check_every == 0;
    if (whole) check_whole();
    else if (touched_.any) check_range(touched_.first, touched_.last);
    if (!whole && opt_.verify_incremental) verify_whole();
    last_check_whole_ = whole;
    // The entries checked on a whole pass (a passing check means the tree holds the model).
    trace_.fold(TraceEvent::Check, model_.size());
  }

  // The run ends on a whole-tree check (it folds nothing: the trace is the same whatever
  // full_check_every is).
  void final_check() {
    if (last_check_whole_) return;
    const NoAccessPoints no_access_points;
    check_whole();
  }

  void check_whole() {
    mt_validate(&tree_);
    diff_model(0, ULONG_MAX);
  }

  // The model is compared with the leaves the validating walk reads, in the same pass
  // (the whole-tree check compares through mas_for_each, so the iteration API is
  // checked every full_check_every ops; the find ops check it against the model too).
  void check_range(unsigned long first, unsigned long last) {
    unsigned long span_first, span_last;
    LeafDiff diff{model_.map()};
    if (auto failure = maple::validate_tree_range(&tree_, first, last, &span_first, &span_last, &diff))
      throw FailureError(std::move(*failure));
    if (!diff.leaves) return diff_model(0, ULONG_MAX);  // no node: at most the root's one entry
    diff.end_leaf();
    if (diff.differs) diverged(diff.what, diff.first, diff.last);
  }

  // Each leaf's entries against the model's over the leaf's range: the first difference.
  struct LeafDiff final : maple::LeafVisitor {
    const Model::Map& map;
    explicit LeafDiff(const Model::Map& m) : map(m), it(m.end()) {}
    Model::Map::const_iterator it;
    unsigned long leaf_max = 0;
    uint64_t leaves = 0;
    bool differs = false;
    std::string what;
    unsigned long first = 0, last = 0;

    void leaf(unsigned long min, unsigned long max) override {
      end_leaf();
      ++leaves;
      leaf_max = max;
      it = map.upper_bound(min);
      if (it != map.begin() && std::prev(it)->second.last >= min) --it;
    }
    void entry(unsigned long index, unsigned long entry_last, void* entry) override {
      if (differs) return;
      if (it == map.end() || it->first != index || it->second.last != entry_last ||
          it->second.value != xa_to_value(entry))
        return differ(
            fmt::format("tree entry [{:#x}, {:#x}] = {} differs from the model", index, entry_last, xa_to_value(entry)),
            index, entry_last);
      ++it;
    }
    // The model's entries the leaf did not hold.
    void end_leaf() {
      if (leaves && !differs && it != map.end() && it->first <= leaf_max)
        differ(fmt::format("model entry at {:#x} missing from the tree", it->first), it->first, it->second.last);
    }
    void differ(std::string text, unsigned long from, unsigned long to) {
      differs = true;
      what = std::move(text);
      first = from;
      last = to;
    }
  };

  // The whole-tree check after a partial one passed: anything it finds, the partial
  // check should have found.
  void verify_whole() {
    try {
      check_whole();
    } catch (const FailureError& e) {
      Failure missed = e.failure();
      missed.message = fmt::format(
          "op {}: the check of what this op touched ({}) passed, the whole-tree check "
          "finds {}: {}",
          op_, touched_text(), missed.check, missed.message);
      missed.check = "check.incremental_missed";
      throw FailureError(std::move(missed));
    }
  }
  std::string touched_text() const {
    return touched_.any ? fmt::format("[{:#x}, {:#x}]", touched_.first, touched_.last) : std::string("nothing");
  }

  // The tree's entries meeting [first, last] against the model's.
  void diff_model(unsigned long first, unsigned long last) {
    MA_STATE(mas, &tree_, first, first);
    void* entry;
    auto it = model_.map().upper_bound(first);
    if (it != model_.map().begin() && std::prev(it)->second.last >= first) --it;
    mas_for_each(&mas, entry, last) {
      if (it == model_.map().end() || it->first != mas.index || it->second.last != mas.last ||
          it->second.value != xa_to_value(entry))
        diverged(fmt::format("tree entry [{:#x}, {:#x}] = {} differs from the model", mas.index, mas.last,
                             xa_to_value(entry)),
                 mas.index, mas.last);
      ++it;
    }
    if (it != model_.map().end() && it->first <= last)
      diverged(fmt::format("model entry at {:#x} missing from the tree", it->first), it->first, it->second.last);
  }

  // What the op in hand may have changed, for the check after it: nothing (a read), a
  // range, or anything (the default: an op that does not say is checked whole).
  struct Touched {
    bool any = true, all = true;
    unsigned long first = 0, last = ULONG_MAX;
  };
  void touched(unsigned long first, unsigned long last) { touched_ = {true, false, first, last}; }
  void touched_nothing() { touched_ = {false, false, 0, 0}; }

  ChoiceSource& c_;
  MapleStressOptions opt_;
  ChoiceNodeAllocator& allocator_;
  maple_tree tree_{};
  Model model_;
  Touched touched_;
  bool last_check_whole_ = true;
  TraceHash trace_;
  uint64_t op_ = 0;
  ReadWindows windows_;
  bool writer_done_ = false;
  uint64_t reads_ = 0;
  Coverage coverage_;  // each operation's outcomes; never read by the run

  void outcome(const char* op, const std::string& what) { coverage_.count_outcome(op, what); }
};

}  // namespace

CoverageRegistry maple_coverage_registry(const MapleStressOptions& options) {
  CoverageRegistry registry;
  const bool injecting = options.nowait_fail_probability > 0;
  registry.sites.push_back({fmt::format("{}/nowait", maple::kSiteMasAllocNodes.view()), injecting});
  struct Entry {
    const char* op;
    const char* outcome;
    bool error;
    bool enabled;
  };
  const Entry entries[] = {
      {"mtree_store_range", "0", false, true},
      {"mtree_insert_range", "0", false, true},
      {"mtree_insert_range", "-EEXIST", true, true},
      {"mtree_erase", "entry", false, true},
      {"mtree_erase", "NULL", false, true},
      {"mtree_load", "entry", false, true},
      {"mtree_load", "NULL", false, true},
      {"mas_find", "entry", false, true},
      {"mas_find", "NULL", false, true},
      {"mas_find_rev", "entry", false, true},
      {"mas_find_rev", "NULL", false, true},
      {"mas_empty_area", "0", false, true},
      {"mas_empty_area", "-EBUSY", true, true},
      {"mas_empty_area_rev", "0", false, true},
      {"mas_empty_area_rev", "-EBUSY", true, true},
      {"mtree_alloc_range", "0", false, options.alloc_range_tree},
      {"mtree_alloc_range", "-EBUSY", true, options.alloc_range_tree},
      {"mas_preallocate", "0", false, true},
      {"mas_preallocate", "-ENOMEM", true, injecting},
      {"mas_store_gfp", "0", false, true},
      {"mas_store_gfp", "-ENOMEM", true, injecting},
  };
  for (const Entry& e : entries) registry.outcomes.push_back({e.op, e.outcome, e.error, e.enabled});
  // The cursor and bulk ops, when their weights are on.
  const bool paused = options.mix_paused_store > 0, spanning = options.mix_spanning_store > 0,
             dup = options.mix_dup > 0;
  if (dup) registry.sites.push_back({fmt::format("{}/nowait", maple::kSiteMtDup.view()), injecting});
  const Entry extra[] = {
      {"mas_pause/mas_store_gfp", "0", false, paused},
      {"mas_pause/mas_store_gfp", "-ENOMEM", true, paused && injecting},
      {"mas_reset/mas_store_gfp", "0", false, paused},
      {"mas_reset/mas_store_gfp", "-ENOMEM", true, paused && injecting},
      {"spanning mtree_store_range", "0", false, spanning},
      {"spanning mas_store_gfp", "0", false, spanning},
      {"spanning mas_store_gfp", "-ENOMEM", true, spanning && injecting},
      {"spanning mas_preallocate", "0", false, spanning},
      {"spanning mas_preallocate", "-ENOMEM", true, spanning && injecting},
      {"mtree_dup", "0", false, dup},
      {"mtree_dup", "-ENOMEM", true, dup && injecting},
      {"__mt_dup", "0", false, dup},
  };
  for (const Entry& e : extra)
    if (e.enabled || options.mix_paused_store + options.mix_spanning_store + options.mix_dup > 0)
      registry.outcomes.push_back({e.op, e.outcome, e.error, e.enabled});
  return registry;
}

MapleOp draw_maple_op(ChoiceSource& choices, const MapleStressOptions& options) {
  static constexpr Site kSiteOp{"maple_stress.op"};
  const uint64_t extra = uint64_t{options.mix_paused_store} + options.mix_spanning_store + options.mix_dup;
  if (extra == 0) return static_cast<MapleOp>(choices.draw(ChoiceKind::Op, kSiteOp, 10));
  uint64_t draw = choices.draw(ChoiceKind::Op, kSiteOp, 100 + extra);
  if (draw < 100) return static_cast<MapleOp>(draw / 10);
  draw -= 100;
  if (draw < options.mix_paused_store) return MapleOp::PausedStore;
  draw -= options.mix_paused_store;
  return draw < options.mix_spanning_store ? MapleOp::SpanningStore : MapleOp::Dup;
}

const char* maple_backend_name(MapleBackend backend) {
  switch (backend) {
    case MapleBackend::Model: return "model";
    case MapleBackend::Kernel: return "kernel";
    case MapleBackend::Differential: return "differential";
  }
  return "model";
}

#ifdef MMT_KERNEL_BACKEND
bool maple_kernel_backend_available() { return true; }
const char* maple_kernel_backend_version() { return kernel::kernel_version(); }
#else
bool maple_kernel_backend_available() { return false; }
const char* maple_kernel_backend_version() { return ""; }
#endif

MapleStressResult run_maple_stress(ChoiceSource& choices, const MapleStressOptions& options) {
#ifdef MMT_KERNEL_BACKEND
  if (options.backend != MapleBackend::Model) return run_maple_stress_kernel(choices, options);
#else
  // The config refuses these backends in a build without the kernel (exit 2).
  if (options.backend != MapleBackend::Model)
    throw std::logic_error("maple backend '" + std::string(maple_backend_name(options.backend)) +
                           "' asked of a build without the kernel backend");
#endif
  MapleStressResult result;
  // Readers need a tree that frees replaced nodes after a grace period (the config
  // refuses the combination; a direct caller gets the same answer).
  if (options.readers && !options.rcu)
    throw std::logic_error("maple job: readers need an RCU-mode tree (maple_rcu = true)");
  struct AccessPoints {
    explicit AccessPoints(bool on) { mt_set_rcu_access_points(on); }
    ~AccessPoints() { mt_set_rcu_access_points(false); }
  } access_points(options.rcu_access_points);
  ChoiceNodeAllocator allocator(choices, options.nowait_fail_probability);
  maple::set_node_allocator(&allocator);
  const sched::HostPreemptScope host_preempt;  // a failure under mtree_lock leaves it raised
  Stress stress(choices, options, allocator);
  try {
    stress.run(result);
  } catch (const FailureError& e) {
    result.failure = e.failure();
    result.failure->op_index = result.ops_done;
    if (options.capture_trees_dot) result.trees_dot = stress.trees_dot(*result.failure);
  }
  // A failed run may leave the tree corrupt (or its lock held): it is not torn down, so
  // a broken structure cannot crash the reporting of its own failure.
  if (!result.failure) stress.teardown();
  result.trace_hash = stress.trace_hash();
  result.allocation_failures = allocator.failures();
  result.coverage = stress.coverage();
  result.coverage.sites = allocator.sites();
  if (!result.failure && allocator.live_nodes() != 0) {
    result.failure = Failure{"maple.node_accounting",
                             "teardown",
                             fmt::format("{} maple nodes still allocated after mtree_destroy", allocator.live_nodes()),
                             "",
                             result.ops_done,
                             0};
  }
  maple::set_node_allocator(nullptr);
  return result;
}

}  // namespace mmt::jobs
