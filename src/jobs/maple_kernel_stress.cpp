// SPDX-License-Identifier: GPL-2.0-only
// The maple job on the kernel's own tree, and the differential job (maple_stress.h):
// the model job's operation mix and draws (same sites, same order, so one choice
// sequence means the same operations on every backend), driven through a TreeUnderTest
// interface that the kernel tree and the model tree both implement.
#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mmtorture/core/trace_hash.h"
#include "mmtorture/jobs/maple_stress.h"
#include "mmtorture/jobs/rcu_read_window.h"
#include "mmtorture/kernel/kernel_tree.h"
#include "mmtorture/maple/interval_model.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"
#include "mmtorture/sched/progress.h"
#include "mmtorture/sched/scheduler.h"

namespace mmt::jobs {

namespace {

// The model job's sites: the same draws mean the same operations.
constexpr Site kSiteOp{"maple_stress.op"};
constexpr Site kSiteIndex{"maple_stress.index"};
constexpr Site kSiteLength{"maple_stress.length"};
constexpr Site kSiteValue{"maple_stress.value"};
constexpr Site kSiteRegion{"maple_stress.region"};
constexpr Site kSiteOpFails{"maple_differential: this op's GFP_NOWAIT node requests fail"};
constexpr Site kSiteReaderOp{"maple_stress.reader_op"};
constexpr Site kSiteVariant{"maple_stress.variant"};
constexpr Site kSiteGfp{"maple_stress.gfp"};
constexpr Site kSiteSpan{"maple_stress.span"};
constexpr Site kSiteReaderStep{"maple_stress.reader: between lookups"};
constexpr unsigned long kReaderFindSpan = 0x100;  // as the model job's readers

// What one operation answered: a name and up to 16 numbers, compared as a whole.
struct Answer {
  const char* what = "";
  unsigned long values[16] = {};
  unsigned count = 0;
  void push(unsigned long v) {
    if (count < 16) values[count++] = v;
  }
  bool operator==(const Answer& o) const {
    if (std::strcmp(what, o.what) != 0 || count != o.count) return false;
    for (unsigned i = 0; i < count; ++i)
      if (values[i] != o.values[i]) return false;
    return true;
  }
  std::string text() const {
    std::string s = what;
    s += "(";
    for (unsigned i = 0; i < count; ++i) s += fmt::format("{}{:#x}", i ? ", " : "", values[i]);
    return s + ")";
  }
};

unsigned long value_of(const void* entry) { return entry ? reinterpret_cast<unsigned long>(entry) >> 1 : 0; }
void* entry_of(unsigned long value) { return value ? reinterpret_cast<void*>((value << 1) | 1) : nullptr; }

struct Range {
  unsigned long index, last, value;
};

// One tree the job drives. Entries are values (0 = NULL); every method is one kernel
// API call or the short fixed sequence the model job makes.
class TreeUnderTest {
 public:
  virtual ~TreeUnderTest() = default;
  virtual int store_range(unsigned long index, unsigned long last, unsigned long value, gfp_t gfp) = 0;
  virtual int insert_range(unsigned long index, unsigned long last, unsigned long value, gfp_t gfp) = 0;
  virtual unsigned long erase(unsigned long index) = 0;
  virtual unsigned long load(unsigned long index) = 0;
  // The readers' lock-free lookups, without the tree lock: mtree_load (its own RCU
  // section), and mas_find(max) under rcu_read_lock with the found range into *first,
  // *last. Raw entries: a reader checks they are values.
  virtual void* rcu_load(unsigned long index) = 0;
  virtual void* rcu_find(unsigned long index, unsigned long max, unsigned long* first, unsigned long* last) = 0;
  // mas_find then up to three mas_next, stopping at NULL: (value, index, last) each.
  virtual void find_forward(unsigned long index, Answer& out) = 0;
  // mas_find_rev then up to two mas_prev, stopping at NULL: (value, index, last) each.
  virtual void find_reverse(unsigned long index, Answer& out) = 0;
  virtual int empty_area(bool reverse, unsigned long min, unsigned long max, unsigned long size, unsigned long* index,
                         unsigned long* last) = 0;
  virtual int alloc_range(unsigned long* start, unsigned long value, unsigned long size, unsigned long min) = 0;
  // Under the tree lock: mas_preallocate(GFP_NOWAIT), then `requested` with the number
  // of nodes it asked the node allocator for (granted or not), and on success
  // mas_store_prealloc.
  virtual int prealloc_store(unsigned long index, unsigned long last, unsigned long value,
                             const std::function<void(uint64_t)>& requested) = 0;
  // Under the tree lock: mas_store_gfp(GFP_NOWAIT).
  virtual int store_gfp(unsigned long index, unsigned long last, unsigned long value) = 0;
  // A store through a paused (or reset) state, as a caller that drops the lock does:
  // under the lock mas_walk(index) (its slot's range into *lo, *hi), mas_pause (or
  // mas_reset), unlock; `before_store` with the range to store, which is the walked
  // one (whole) or [index, last]; lock, set mas->index/last (the state kept),
  // mas_store_gfp(gfp), unlock.
  virtual int paused_store(unsigned long index, bool reset, bool whole, unsigned long last, unsigned long value,
                           gfp_t gfp, const std::function<void(unsigned long, unsigned long)>& before_store,
                           unsigned long* lo, unsigned long* hi) = 0;
  // Copies the tree into a fresh one with the same flags: mtree_dup(gfp), or (bulk)
  // mas_expected_entries then each entry in order by mas_store (the fork path of 6.1;
  // a tree without RCU mode, as the kernel asks for a bulk load). The copy is
  // validated, its contents go to `out`, its height to *height, then it is destroyed.
  virtual int copy_tree(bool bulk, gfp_t gfp, std::vector<Range>& out, unsigned* height) = 0;
  virtual const char* name() const = 0;
  virtual void validate() = 0;
  virtual void contents(std::vector<Range>& out) = 0;
  virtual unsigned height() = 0;
  virtual uint64_t nodes_in_use() = 0;
  virtual std::string dump() = 0;
  // Fail every GFP_NOWAIT node request from now on (differential) — no draws.
  virtual void fail_nowait(bool on) = 0;
  // Node requests that failed so far (for the false -ENOMEM check).
  virtual uint64_t failed_requests() const = 0;
  virtual void destroy() = 0;
};

// ---- the kernel's tree ---------------------------------------------------------------

class KernelBackend final : public TreeUnderTest {
 public:
  KernelBackend(ChoiceSource& choices, const MapleStressOptions& options)
      : memory_(memory_config(), choices, &plan_),
        nodes_(memory_, "maple_node", 256, 256),
        env_(nodes_),
        flags_((options.alloc_range_tree ? kernel::KernelTree::kAllocRange : 0u) |
               (options.rcu ? kernel::KernelTree::kRcu : 0u)),
        tree_(flags_) {}

  static mem::MemConfig memory_config() {
    mem::MemConfig config;
    config.pages = 8192;  // 32 MiB: ~130k nodes, far more than a run holds
    return config;
  }
  // Kernel job: each GFP_NOWAIT node request fails with probability p (one choice each).
  void set_nowait_probability(double p) {
    mem::FaultRule rule;
    rule.probability = p;
    plan_.set_rule("*", mem::GfpClass::Nowait, rule);
  }
  void fail_nowait(bool on) override { set_nowait_probability(on ? 1.0 : 0.0); }
  uint64_t failed_requests() const override { return env_.node_request_failures(); }
  uint64_t injected() const { return nodes_.stats().injected_failures; }

  int store_range(unsigned long index, unsigned long last, unsigned long value, gfp_t gfp) override {
    return tree_.mtree_store_range(index, last, entry_of(value), gfp);
  }
  int insert_range(unsigned long index, unsigned long last, unsigned long value, gfp_t gfp) override {
    return tree_.mtree_insert_range(index, last, entry_of(value), gfp);
  }
  unsigned long erase(unsigned long index) override { return value_of(tree_.mtree_erase(index)); }
  unsigned long load(unsigned long index) override { return value_of(tree_.mtree_load(index)); }
  void* rcu_load(unsigned long index) override { return tree_.mtree_load(index); }
  void* rcu_find(unsigned long index, unsigned long max, unsigned long* first, unsigned long* last) override {
    return tree_.rcu_mas_find(index, max, first, last);
  }
  void find_forward(unsigned long index, Answer& out) override {
    kernel::KernelState mas(tree_, index, index);
    tree_.mtree_lock();
    for (int i = 0; i < 4; ++i) {
      void* got = i == 0 ? mas.mas_find(ULONG_MAX) : mas.mas_next(ULONG_MAX);
      out.push(value_of(got));
      if (!got) break;
      out.push(mas.index());
      out.push(mas.last());
    }
    tree_.mtree_unlock();
  }
  void find_reverse(unsigned long index, Answer& out) override {
    kernel::KernelState mas(tree_, index, index);
    tree_.mtree_lock();
    for (int i = 0; i < 3; ++i) {
      void* got = i == 0 ? mas.mas_find_rev(0) : mas.mas_prev(0);
      out.push(value_of(got));
      if (!got) break;
      out.push(mas.index());
      out.push(mas.last());
    }
    tree_.mtree_unlock();
  }
  int empty_area(bool reverse, unsigned long min, unsigned long max, unsigned long size, unsigned long* index,
                 unsigned long* last) override {
    kernel::KernelState mas(tree_, 0, 0);
    tree_.mtree_lock();
    const int ret = reverse ? mas.mas_empty_area_rev(min, max, size) : mas.mas_empty_area(min, max, size);
    tree_.mtree_unlock();
    *index = mas.index();
    *last = mas.last();
    return ret;
  }
  int alloc_range(unsigned long* start, unsigned long value, unsigned long size, unsigned long min) override {
    return tree_.mtree_alloc_range(start, entry_of(value), size, min, ULONG_MAX, gfp::kKernel);
  }
  int prealloc_store(unsigned long index, unsigned long last, unsigned long value,
                     const std::function<void(uint64_t)>& requested) override {
    kernel::KernelState mas(tree_, index, last);
    tree_.mtree_lock();
    const uint64_t before = env_.nodes_requested();
    const int ret = mas.mas_preallocate(entry_of(value), gfp::kNowait);
    requested(env_.nodes_requested() - before);
    if (ret == 0) mas.mas_store_prealloc(entry_of(value));  // which frees what it did not use
    tree_.mtree_unlock();
    return ret;
  }
  int store_gfp(unsigned long index, unsigned long last, unsigned long value) override {
    kernel::KernelState mas(tree_, index, last);
    tree_.mtree_lock();
    const int ret = mas.mas_store_gfp(entry_of(value), gfp::kNowait);
    tree_.mtree_unlock();
    return ret;
  }
  int paused_store(unsigned long index, bool reset, bool whole, unsigned long last, unsigned long value, gfp_t gfp,
                   const std::function<void(unsigned long, unsigned long)>& before_store, unsigned long* lo,
                   unsigned long* hi) override {
    kernel::KernelState mas(tree_, index, index);
    tree_.mtree_lock();
    mas.mas_walk();
    *lo = mas.index();
    *hi = mas.last();
    if (reset) mas.mas_reset();
    else mas.mas_pause();
    tree_.mtree_unlock();
    const unsigned long first = whole ? *lo : index, end = whole ? *hi : last;
    before_store(first, end);
    tree_.mtree_lock();
    mas.set_index_last(first, end);
    const int ret = mas.mas_store_gfp(entry_of(value), gfp);
    tree_.mtree_unlock();
    return ret;
  }
  int copy_tree(bool bulk, gfp_t gfp, std::vector<Range>& out, unsigned* height) override {
    if (!bulk) {
      // mtree_dup takes both spin locks and allocates under them: only a GFP_NOWAIT
      // copy may use it (with GFP_KERNEL it sleeps in atomic context, which the
      // scheduler's might_sleep reports). A sleeping copy is __mt_dup, as fork's.
      kernel::KernelTree copy(flags_);
      const int ret = gfp::allows_blocking(gfp) ? tree_.mt_dup_unlocked(copy, gfp) : tree_.mtree_dup(copy, gfp);
      finish_copy(copy, out, height);
      return ret;
    }
    std::vector<Range> source;
    contents(source);
    // Not yet visible to anyone, as the child's tree in fork: filled without its spin
    // lock (mas_expected_entries allocates with GFP_KERNEL; fork holds the sleeping
    // mmap_lock instead).
    kernel::KernelTree copy(flags_ & ~kernel::KernelTree::kRcu);
    int ret;
    {
      kernel::KernelState mas(copy, 0, 0);
      ret = mas.mas_expected_entries(source.size());  // on failure it has destroyed the state
      if (ret == 0) {
        for (const Range& r : source) {
          mas.set_index_last(r.index, r.last);
          mas.mas_store(entry_of(r.value));
          if ((ret = mas.error()) != 0) break;
        }
        mas.mas_destroy();
      }
    }
    finish_copy(copy, out, height);
    return ret;
  }
  const char* name() const override { return "kernel"; }
  void validate() override {
    tree_.mt_validate();
    tree_.check_strict_shape();  // ours: mt_validate exempts the rightmost nodes
  }
  void contents(std::vector<Range>& out) override { contents_of(tree_, out); }
  unsigned height() override { return tree_.mt_height(); }
  uint64_t nodes_in_use() override { return nodes_.live_objects(); }
  std::string dump() override { return tree_.mt_dump(); }
  void destroy() override {
    tree_.mtree_destroy();
    rcu_barrier();
  }
  uint64_t live_nodes() const { return nodes_.live_objects(); }
  void release_held() { env_.release_held(); }

 private:
  static void contents_of(kernel::KernelTree& tree, std::vector<Range>& out) {
    out.clear();
    kernel::KernelState mas(tree, 0, 0);
    tree.mtree_lock();
    while (void* entry = mas.mas_find(ULONG_MAX)) out.push_back({mas.index(), mas.last(), value_of(entry)});
    tree.mtree_unlock();
  }
  // The copy's own checks (the kernel's mt_validate), its contents and height; then
  // it is destroyed (in RCU mode its nodes go after a grace period).
  static void finish_copy(kernel::KernelTree& copy, std::vector<Range>& out, unsigned* height) {
    copy.mt_validate();
    contents_of(copy, out);
    *height = copy.mt_height();
    copy.mtree_destroy();
  }

  mem::FaultPlan plan_;
  mem::Memory memory_;
  mem::KmemCache nodes_;
  kernel::KernelEnv env_;
  unsigned flags_;
  kernel::KernelTree tree_;
};

// ---- the model tree (differential only) ---------------------------------------------

// Fails GFP_NOWAIT requests while told to (no draws: the differential job decides per
// op for both trees); freed nodes are poisoned and reused, as the model job's.
class SwitchedNodeAllocator final : public maple::NodeAllocator {
 public:
  maple_node* alloc_node(gfp_t flags, Site) override {
    ++requests_;
    if (fail_nowait_ && !gfp::allows_blocking(flags)) {
      ++failures_;
      return nullptr;
    }
    return pool_.take();
  }
  void free_node(maple_node* node) override { pool_.give(node); }
  uint64_t live_nodes() const override { return pool_.live(); }
  uint64_t failures() const { return failures_; }
  // Nodes asked for, granted or not (the model asks one at a time).
  uint64_t requests() const { return requests_; }
  void set_fail_nowait(bool on) { fail_nowait_ = on; }

 private:
  bool fail_nowait_ = false;
  uint64_t requests_ = 0;
  uint64_t failures_ = 0;
  maple::FreedNodePool pool_;
};

class ModelBackend final : public TreeUnderTest {
 public:
  explicit ModelBackend(const MapleStressOptions& options) : options_(options) {
    maple::set_node_allocator(&allocator_);
    mt_init_flags(&tree_, options.alloc_range_tree ? MT_FLAGS_ALLOC_RANGE : 0);
    if (options.rcu) mt_set_in_rcu(&tree_);
  }
  ~ModelBackend() override { maple::set_node_allocator(nullptr); }
  void fail_nowait(bool on) override { allocator_.set_fail_nowait(on); }
  uint64_t failed_requests() const override { return allocator_.failures(); }

  int store_range(unsigned long index, unsigned long last, unsigned long value, gfp_t gfp) override {
    return mtree_store_range(&tree_, index, last, entry_of(value), gfp);
  }
  int insert_range(unsigned long index, unsigned long last, unsigned long value, gfp_t gfp) override {
    return mtree_insert_range(&tree_, index, last, entry_of(value), gfp);
  }
  unsigned long erase(unsigned long index) override { return value_of(mtree_erase(&tree_, index)); }
  unsigned long load(unsigned long index) override { return value_of(mtree_load(&tree_, index)); }
  void* rcu_load(unsigned long index) override { return mtree_load(&tree_, index); }
  void* rcu_find(unsigned long index, unsigned long max, unsigned long* first, unsigned long* last) override {
    rcu_read_lock();
    MA_STATE(mas, &tree_, index, index);
    void* got = mas_find(&mas, max);
    *first = mas.index;
    *last = mas.last;
    rcu_read_unlock();
    return got;
  }
  void find_forward(unsigned long index, Answer& out) override {
    MA_STATE(mas, &tree_, index, index);
    for (int i = 0; i < 4; ++i) {
      void* got = i == 0 ? mas_find(&mas, ULONG_MAX) : mas_next(&mas, ULONG_MAX);
      out.push(value_of(got));
      if (!got) break;
      out.push(mas.index);
      out.push(mas.last);
    }
  }
  void find_reverse(unsigned long index, Answer& out) override {
    MA_STATE(mas, &tree_, index, index);
    for (int i = 0; i < 3; ++i) {
      void* got = i == 0 ? mas_find_rev(&mas, 0) : mas_prev(&mas, 0);
      out.push(value_of(got));
      if (!got) break;
      out.push(mas.index);
      out.push(mas.last);
    }
  }
  int empty_area(bool reverse, unsigned long min, unsigned long max, unsigned long size, unsigned long* index,
                 unsigned long* last) override {
    MA_STATE(mas, &tree_, 0, 0);
    const int ret = reverse ? mas_empty_area_rev(&mas, min, max, size) : mas_empty_area(&mas, min, max, size);
    *index = mas.index;
    *last = mas.last;
    return ret;
  }
  int alloc_range(unsigned long* start, unsigned long value, unsigned long size, unsigned long min) override {
    return mtree_alloc_range(&tree_, start, entry_of(value), size, min, ULONG_MAX, GFP_KERNEL);
  }
  int prealloc_store(unsigned long index, unsigned long last, unsigned long value,
                     const std::function<void(uint64_t)>& requested) override {
    MA_STATE(mas, &tree_, index, last);
    mtree_lock(&tree_);
    const uint64_t before = allocator_.requests();
    const int ret = mas_preallocate(&mas, entry_of(value), GFP_NOWAIT);
    requested(allocator_.requests() - before);
    if (ret == 0) {
      mas_set_range(&mas, index, last);
      mas_store_prealloc(&mas, entry_of(value));
    }
    mas_destroy(&mas);
    mtree_unlock(&tree_);
    return ret;
  }
  int store_gfp(unsigned long index, unsigned long last, unsigned long value) override {
    MA_STATE(mas, &tree_, index, last);
    mtree_lock(&tree_);
    const int ret = mas_store_gfp(&mas, entry_of(value), GFP_NOWAIT);
    mtree_unlock(&tree_);
    return ret;
  }
  int paused_store(unsigned long index, bool reset, bool whole, unsigned long last, unsigned long value, gfp_t gfp,
                   const std::function<void(unsigned long, unsigned long)>& before_store, unsigned long* lo,
                   unsigned long* hi) override {
    MA_STATE(mas, &tree_, index, index);
    mtree_lock(&tree_);
    mas_walk(&mas);
    *lo = mas.index;
    *hi = mas.last;
    if (reset) mas_reset(&mas);
    else mas_pause(&mas);
    mtree_unlock(&tree_);
    const unsigned long first = whole ? *lo : index, end = whole ? *hi : last;
    before_store(first, end);
    mtree_lock(&tree_);
    mas.index = first;
    mas.last = end;
    const int ret = mas_store_gfp(&mas, entry_of(value), gfp);
    mtree_unlock(&tree_);
    return ret;
  }
  // The model has mtree_dup; it has no mas_expected_entries, so its bulk copy is the
  // same in-order stores with GFP_KERNEL (what the differential compares is the result).
  int copy_tree(bool bulk, gfp_t gfp, std::vector<Range>& out, unsigned* height) override {
    maple_tree copy{};
    int ret = 0;
    if (!bulk) {
      mt_init_flags(&copy, options_.alloc_range_tree ? MT_FLAGS_ALLOC_RANGE : 0);
      if (options_.rcu) mt_set_in_rcu(&copy);
      ret = gfp::allows_blocking(gfp) ? __mt_dup(&tree_, &copy, gfp) : mtree_dup(&tree_, &copy, gfp);
    } else {
      std::vector<Range> source;
      contents(source);
      mt_init_flags(&copy, options_.alloc_range_tree ? MT_FLAGS_ALLOC_RANGE : 0);
      for (const Range& r : source)
        if ((ret = mtree_store_range(&copy, r.index, r.last, entry_of(r.value), GFP_KERNEL)) != 0) break;
    }
    mt_validate(&copy);
    contents_of(&copy, out);
    *height = mt_height(&copy);
    mtree_destroy(&copy);
    return ret;
  }
  const char* name() const override { return "model"; }
  void validate() override { mt_validate(&tree_); }
  void contents(std::vector<Range>& out) override { contents_of(&tree_, out); }
  static void contents_of(maple_tree* tree, std::vector<Range>& out) {
    out.clear();
    MA_STATE(mas, tree, 0, 0);
    void* entry;
    mas_for_each(&mas, entry, ULONG_MAX) out.push_back({mas.index, mas.last, value_of(entry)});
  }
  unsigned height() override { return mt_height(&tree_); }
  uint64_t nodes_in_use() override { return allocator_.live_nodes(); }
  std::string dump() override { return maple::mt_dump_string(&tree_, mt_dump_hex); }
  void destroy() override {
    mtree_destroy(&tree_);
    rcu_barrier();
  }
  uint64_t live_nodes() const { return allocator_.live_nodes(); }

 private:
  MapleStressOptions options_;
  SwitchedNodeAllocator allocator_;
  maple_tree tree_{};
};

// ---- the job ----------------------------------------------------------------------------

// The oracle: what the trees should hold (maple/interval_model.h).
using Model = maple::IntervalModel<unsigned long>;

class Job {
 public:
  Job(ChoiceSource& choices, const MapleStressOptions& options)
      : c_(choices), opt_(options), kernel_(choices, options), windows_(options.readers) {
    if (options.backend == MapleBackend::Differential) model_ = std::make_unique<ModelBackend>(options);
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
      check();
      result.ops_done = op_ + 1;
      result.max_entries = std::max<uint64_t>(result.max_entries, map_.size());
      result.max_height = std::max<uint64_t>(result.max_height, kernel_.height());
    }
  }

  // Destroys both trees; their node counts must then be 0.
  void teardown(MapleStressResult& result) {
    kernel_.destroy();
    if (model_) model_->destroy();
    if (kernel_.live_nodes() != 0)
      result.failure =
          Failure{"maple.node_accounting",
                  "teardown",
                  fmt::format("{} kernel maple nodes still allocated after mtree_destroy", kernel_.live_nodes()),
                  "",
                  result.ops_done,
                  0};
    else if (model_ && model_->live_nodes() != 0)
      result.failure =
          Failure{"maple.node_accounting",
                  "teardown",
                  fmt::format("{} model maple nodes still allocated after mtree_destroy", model_->live_nodes()),
                  "",
                  result.ops_done,
                  0};
  }

  // The writer and the readers as green threads (the model job's run_with_readers, on
  // the kernel's tree); a failure on any of them is raised here, on the host.
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

  // A lock-free reader: mtree_load (its own RCU section) and mas_find under
  // rcu_read_lock, each checked against what its index held meanwhile. On the
  // differential each drawn lookup runs on the kernel's tree, then on the model's, each
  // read in its own window (the writer's op is on both trees before its write is done).
  void reader(unsigned r) {
    const uint64_t max_reads = 8 * opt_.ops + 64;  // bounded, as the model job's readers
    for (uint64_t n = 0; n < max_reads && !writer_done_; ++n) {
      if (opt_.stop_when_exhausted && c_.exhausted()) break;
      const unsigned long index = draw_index();
      const bool find = c_.draw(ChoiceKind::Op, kSiteReaderOp, 2) != 0;
      const unsigned long last = !find ? index : index + kReaderFindSpan < index ? ULONG_MAX : index + kReaderFindSpan;
      read_on(kernel_, r, index, find, last);
      if (model_) read_on(*model_, r, index, find, last);
      sched::mark_progress();
      sched::yield_point(kSiteReaderStep);
    }
  }

  // One lookup on one tree, checked (maple.rcu_reader).
  void read_on(TreeUnderTest& t, unsigned r, unsigned long index, bool find, unsigned long last) {
    windows_.open(r, index, last, spans_over(map_.map(), index, last));
    unsigned long got_first = index, got_last = index, at = index;
    void* got = find ? t.rcu_find(index, last, &got_first, &got_last) : t.rcu_load(index);
    if (find && got) at = std::max(got_first, index);
    // The kernel backend's messages are as before the differential had readers.
    const std::string what =
        fmt::format("{}{}", model_ ? std::string(t.name()) + " " : "", find ? "mas_find" : "mtree_load");
    if (got && !(reinterpret_cast<unsigned long>(got) & 1))
      raise_failure("maple.rcu_reader", fmt::format("reader{}", r),
                    fmt::format("{}({:#x}) returned {}, which is no stored entry", what, index, got), dumps());
    const unsigned long value = value_of(got);
    if (!windows_.close(r, at, value))
      raise_failure("maple.rcu_reader", fmt::format("reader{}", r),
                    fmt::format("{}({:#x}) returned {} for [{:#x}, {:#x}], which {:#x} did not hold at any point "
                                "of the read (writer op {})",
                                what, index, value, got_first, got_last, at, op_),
                    dumps());
    ++reads_;
  }

  uint64_t trace_hash() const { return trace_.value(); }
  uint64_t injected() const { return kernel_.injected() + injected_ops_; }
  void release_held() { kernel_.release_held(); }

 private:
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
  // With readers a stored value carries its op number (the model job's tag()).
  unsigned long tag(unsigned long value) const { return value && opt_.readers ? value | (op_ + 1) << 10 : value; }
  void announce(unsigned long first, unsigned long last, unsigned long value) {
    if (opt_.readers) windows_.announce(first, last, value);
  }

  std::string dumps() {
    std::string text = "kernel tree:\n" + kernel_.dump();
    if (model_) text += "\nmodel tree:\n" + model_->dump();
    return text;
  }
  [[noreturn]] void fail(const char* check, const std::string& what) {
    raise_failure(check, "maple_stress", fmt::format("op {}: {}", op_, what), dumps());
  }

  // Differential: the model must answer exactly as the kernel did.
  void compare(const Answer& kernel, const Answer& model) {
    if (!(kernel == model)) fail("maple.diverged", fmt::format("kernel {} but model {}", kernel.text(), model.text()));
  }

  // -ENOMEM is only right when a node request failed during the operation.
  void check_enomem(const char* op, int ret, uint64_t failed_before) {
    if (ret == -ENOMEM && kernel_.failed_requests() == failed_before)
      fail("maple.false_enomem", fmt::format("{} returned -ENOMEM but every node request was granted", op));
  }

  void expect_entry(const char* op, unsigned long index, unsigned long got) {
    const unsigned long want_value = map_.value_at(index);
    if (want_value != got)
      fail("maple.model_diff", fmt::format("{}({:#x}) returned {} but the model holds {}", op, index, got, want_value));
  }

  // As the model job's: part of the configuration, no draws, nothing injected.
  void prefill() {
    for (uint64_t i = 0; i < opt_.prefill; ++i) {
      const unsigned long index = 16 * i, last = index + 7;
      for (TreeUnderTest* tree : trees()) {
        const int ret = tree->store_range(index, last, i + 1, gfp::kKernel);
        if (ret != 0)
          fail("maple.model_diff",
               fmt::format("prefill: mtree_store_range({:#x}, {:#x}) returned {}", index, last, ret));
      }
      map_.store(index, last, i + 1);
    }
    if (opt_.backend == MapleBackend::Kernel) kernel_.set_nowait_probability(opt_.nowait_fail_probability);
    if (opt_.prefill) check();
  }

  std::vector<TreeUnderTest*> trees() {
    std::vector<TreeUnderTest*> out{&kernel_};
    if (model_) out.push_back(model_.get());
    return out;
  }

  // Differential: one choice per writing op decides whether both trees' GFP_NOWAIT
  // node requests fail during it (p = 0 draws nothing).
  void decide_op_failures() {
    if (!model_) return;
    const bool fail =
        opt_.nowait_fail_probability > 0 && c_.flip(ChoiceKind::AllocFail, kSiteOpFails, opt_.nowait_fail_probability);
    if (fail) ++injected_ops_;
    kernel_.fail_nowait(fail);
    model_->fail_nowait(fail);
  }

  // Runs `op` on the kernel tree (and the model tree), compares, returns the kernel's.
  template <typename Fn>
  Answer both(Fn&& op) {
    Answer kernel = op(static_cast<TreeUnderTest&>(kernel_));
    if (model_) compare(kernel, op(static_cast<TreeUnderTest&>(*model_)));
    return kernel;
  }

  void step() {
    const MapleOp op = draw_maple_op(c_, opt_);
    const unsigned long index = draw_index();
    trace_.fold(TraceEvent::OpStart, static_cast<uint64_t>(op), index);
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
    if (model_) {
      kernel_.fail_nowait(false);
      model_->fail_nowait(false);
    }
  }

  // One call's return code on every tree, compared; the kernel's.
  template <typename Fn>
  int both_ret(const char* call, Fn&& op) {
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{call};
      r.push(static_cast<unsigned long>(op(t)));
      return r;
    });
    return static_cast<int>(a.values[0]);
  }

  // mtree_store_range of an entry or NULL (GFP_KERNEL: it cannot fail).
  void store_range(unsigned long index) {
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(c_.draw(ChoiceKind::Arg, kSiteValue, 4) == 0 ? 0 : draw_value());
    decide_op_failures();
    announce(index, last, value);
    const int ret = both_ret("mtree_store_range",
                             [&](TreeUnderTest& t) { return t.store_range(index, last, value, gfp::kKernel); });
    if (ret != 0) fail("maple.model_diff", fmt::format("mtree_store_range returned {}", ret));
    map_.store(index, last, value);
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret));
  }

  // mtree_insert_range: -EEXIST exactly when the model has an entry in the range.
  void insert_range(unsigned long index) {
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(draw_value());
    decide_op_failures();
    announce(index, last, value);
    const int ret = both_ret("mtree_insert_range",
                             [&](TreeUnderTest& t) { return t.insert_range(index, last, value, gfp::kKernel); });
    const int want = map_.range_empty(index, last) ? 0 : -EEXIST;
    if (ret != want)
      fail("maple.model_diff", fmt::format("mtree_insert_range returned {}, model expects {}", ret, want));
    if (ret == 0) map_.store(index, last, value);
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret));
  }

  // mtree_erase: returns the entry that held index and removes its whole range.
  void erase(unsigned long index) {
    decide_op_failures();
    const std::optional<Model::Range> held = map_.at(index);
    if (held) announce(held->index, held->last, 0);
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{"mtree_erase"};
      r.push(t.erase(index));
      return r;
    });
    expect_entry("mtree_erase", index, a.values[0]);
    if (held) map_.store(held->index, held->last, 0);
    trace_.fold(TraceEvent::OpEnd, a.values[0]);
  }

  void load(unsigned long index) {
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{"mtree_load"};
      r.push(t.load(index));
      return r;
    });
    expect_entry("mtree_load", index, a.values[0]);
    trace_.fold(TraceEvent::OpEnd, a.values[0]);
  }

  // mas_find then mas_next: each the model's next entry, at its index.
  void find_forward(unsigned long index) {
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{"mas_find/mas_next"};
      t.find_forward(index, r);
      return r;
    });
    auto it = map_.map().upper_bound(index);
    if (it != map_.map().begin() && std::prev(it)->second.last >= index) --it;
    for (unsigned i = 0; i < a.count; i += 3, ++it) {
      const unsigned long want = it == map_.map().end() ? 0 : it->second.value;
      if (a.values[i] != want || (want && a.values[i + 1] != it->first))
        fail("maple.model_diff", fmt::format("iteration from {:#x} step {} returned {} at {:#x}", index, i / 3,
                                             a.values[i], a.values[i] ? a.values[i + 1] : 0));
      trace_.fold(TraceEvent::OpEnd, want);
      if (!want) break;
    }
  }

  // mas_find_rev then mas_prev: each the model's previous entry.
  void find_reverse(unsigned long index) {
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{"mas_find_rev/mas_prev"};
      t.find_reverse(index, r);
      return r;
    });
    auto it = map_.map().upper_bound(index);
    for (unsigned i = 0; i < a.count; i += 3) {
      const bool have = it != map_.map().begin();
      const unsigned long want = have ? std::prev(it)->second.value : 0;
      if (a.values[i] != want)
        fail("maple.model_diff", fmt::format("reverse iteration from {:#x} step {} returned {}, model {}", index, i / 3,
                                             a.values[i], want));
      trace_.fold(TraceEvent::OpEnd, want);
      if (!want) break;
      --it;
    }
  }

  // mas_empty_area / mas_empty_area_rev within a window: the answer must be free.
  void empty_area(unsigned long index) {
    // Without MT_FLAGS_ALLOC_RANGE the kernel's gap search is undefined past a root leaf
    // (it descends through gaps only, and range_64 nodes keep none: -EBUSY on any taller
    // tree); the model searches leaf by leaf. The differential does not compare it there.
    if (model_ && !opt_.alloc_range_tree) return;
    const unsigned long size = 1 + c_.draw(ChoiceKind::Arg, kSiteLength, 256);
    const bool reverse = c_.draw(ChoiceKind::Arg, kSiteOp, 2);
    const unsigned long window_last = index + 0x4000 < index ? ULONG_MAX : index + 0x4000;
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{reverse ? "mas_empty_area_rev" : "mas_empty_area"};
      unsigned long found_index = 0, found_last = 0;
      const int ret = t.empty_area(reverse, index, window_last, size, &found_index, &found_last);
      r.push(static_cast<unsigned long>(ret));
      if (ret == 0) {
        r.push(found_index);
        r.push(found_last);
      }
      return r;
    });
    const int ret = static_cast<int>(a.values[0]);
    if (ret == 0) {
      const unsigned long lo = a.values[1], hi = a.values[2];
      if (hi - lo + 1 != size || lo < index || hi > window_last || !map_.range_empty(lo, hi))
        fail("maple.model_diff",
             fmt::format("empty area [{:#x}, {:#x}] for size {} is not free in the window", lo, hi, size));
    }
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), ret ? 0 : a.values[1]);
  }

  // mtree_alloc_range at or above index (alloc-range trees only).
  void alloc_range(unsigned long index) {
    if (!opt_.alloc_range_tree) return;
    const unsigned long size = 1 + c_.draw(ChoiceKind::Arg, kSiteLength, 64);
    const unsigned long value = tag(draw_value());
    decide_op_failures();
    announce(index, ULONG_MAX, value);  // somewhere the search picks, at or above index
    const uint64_t failed_before = kernel_.failed_requests();
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{"mtree_alloc_range"};
      unsigned long start = 0;
      r.push(static_cast<unsigned long>(t.alloc_range(&start, value, size, index)));
      r.push(start);
      return r;
    });
    const int ret = static_cast<int>(a.values[0]);
    const unsigned long start = a.values[1];
    // 0, or -EBUSY when no free range fits. Its node requests are GFP_KERNEL, which
    // never fail here: an -ENOMEM is a false one, any other value no answer it has.
    check_enomem("mtree_alloc_range", ret, failed_before);
    if (ret != 0 && ret != -EBUSY) fail("maple.model_diff", fmt::format("mtree_alloc_range returned {}", ret));
    if (ret == 0) {
      if (!map_.range_empty(start, start + size - 1) || start < index)
        fail("maple.model_diff", fmt::format("mtree_alloc_range gave [{:#x}, +{}] which is not free", start, size));
      map_.store(start, start + size - 1, value);
    }
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), start);
  }

  // TreeUnderTest::prealloc_store on one tree. With the shape option, the nodes the
  // model's mas_preallocate asked for must be the kernel's (which runs first): compared
  // as soon as the model's preallocation returns, before its store uses them, since
  // the count decides where a GFP_NOWAIT failure can strike and a short one is a BUG
  // in the store.
  int prealloc_on(TreeUnderTest& t, unsigned long index, unsigned long last, unsigned long value) {
    return t.prealloc_store(index, last, value, [&](uint64_t requested) {
      if (&t == &kernel_) {
        kernel_prealloc_request_ = requested;
      } else if (opt_.compare_shape) {
        compare_prealloc_request(index, last, kernel_prealloc_request_, requested);
      }
    });
  }
  void compare_prealloc_request(unsigned long index, unsigned long last, uint64_t kernel, uint64_t model) {
    if (kernel != model)
      fail("maple.diverged", fmt::format("shape: mas_preallocate([{:#x}, {:#x}]) asked for {} nodes on the kernel "
                                         "but {} on the model",
                                         index, last, kernel, model));
  }

  // mas_preallocate(GFP_NOWAIT), then mas_store_prealloc on success.
  void prealloc_store(unsigned long index) {
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(c_.draw(ChoiceKind::Arg, kSiteValue, 4) == 0 ? 0 : draw_value());
    decide_op_failures();
    announce(index, last, value);
    const uint64_t failed_before = kernel_.failed_requests();
    const int ret = both_ret("mas_preallocate", [&](TreeUnderTest& t) { return prealloc_on(t, index, last, value); });
    if (ret == 0) map_.store(index, last, value);
    else if (ret != -ENOMEM) fail("maple.model_diff", fmt::format("mas_preallocate returned {}", ret));
    check_enomem("mas_preallocate", ret, failed_before);
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret));
  }

  // mas_store_gfp with GFP_NOWAIT: may fail, and must then leave the tree as it was.
  void store_gfp(unsigned long index) {
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(draw_value());
    decide_op_failures();
    announce(index, last, value);
    const uint64_t failed_before = kernel_.failed_requests();
    const int ret = both_ret("mas_store_gfp", [&](TreeUnderTest& t) { return t.store_gfp(index, last, value); });
    if (ret == 0) map_.store(index, last, value);
    else if (ret != -ENOMEM) fail("maple.model_diff", fmt::format("mas_store_gfp returned {}", ret));
    check_enomem("mas_store_gfp", ret, failed_before);
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret));
  }

  // A store through a paused or reset state (TreeUnderTest::paused_store): the walked
  // range must be the model's slot at index, and the store lands where it was aimed.
  void paused_store(unsigned long index) {
    const bool reset = c_.draw(ChoiceKind::Arg, kSiteVariant, 2);
    const bool whole = c_.draw(ChoiceKind::Arg, kSiteVariant, 2);
    const unsigned long last = draw_last(index);
    const unsigned long value = tag(c_.draw(ChoiceKind::Arg, kSiteValue, 4) == 0 ? 0 : draw_value());
    const gfp_t gfp = c_.draw(ChoiceKind::Arg, kSiteGfp, 2) ? gfp::kNowait : gfp::kKernel;
    decide_op_failures();
    const uint64_t failed_before = kernel_.failed_requests();
    const char* call = reset ? "mas_reset/mas_store_gfp" : "mas_pause/mas_store_gfp";
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{call};
      unsigned long lo = 0, hi = 0;
      const int ret = t.paused_store(
          index, reset, whole, last, value, gfp,
          [&](unsigned long first, unsigned long end) { announce(first, end, value); }, &lo, &hi);
      r.push(static_cast<unsigned long>(ret));
      r.push(lo);
      r.push(hi);
      return r;
    });
    const int ret = static_cast<int>(a.values[0]);
    const unsigned long lo = a.values[1], hi = a.values[2];
    const Model::Range slot = map_.slot(index);
    const unsigned long want_lo = slot.index, want_hi = slot.last;
    if (lo != want_lo || hi != want_hi)
      fail("maple.model_diff",
           fmt::format("mas_walk({:#x}) gave the range [{:#x}, {:#x}], the model's slot is [{:#x}, {:#x}]", index, lo,
                       hi, want_lo, want_hi));
    const unsigned long first = whole ? lo : index, end = whole ? hi : last;
    expect_store(call, ret, gfp, failed_before);
    if (ret == 0) map_.store(first, end, value);
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), first);
  }

  // One store (or erase) over up to a whole key region: many entries, many nodes.
  void spanning_store(unsigned long index) {
    const unsigned long length = c_.draw(ChoiceKind::Arg, kSiteSpan, 0x8000);
    const unsigned long last = index + length < index ? ULONG_MAX : index + length;
    const unsigned long value = tag(c_.draw(ChoiceKind::Arg, kSiteValue, 4) == 0 ? 0 : draw_value());
    // 0: mtree_store_range(GFP_KERNEL); 1: mas_store_gfp(GFP_NOWAIT); 2: mas_preallocate
    // (GFP_NOWAIT) then mas_store_prealloc, which must not run short.
    const uint64_t how = c_.draw(ChoiceKind::Arg, kSiteGfp, 3);
    decide_op_failures();
    announce(index, last, value);
    const uint64_t failed_before = kernel_.failed_requests();
    static constexpr const char* kCalls[] = {"spanning mtree_store_range", "spanning mas_store_gfp",
                                             "spanning mas_preallocate"};
    const char* call = kCalls[how];
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{call};
      r.push(static_cast<unsigned long>(how == 0   ? t.store_range(index, last, value, gfp::kKernel)
                                        : how == 1 ? t.store_gfp(index, last, value)
                                                   : prealloc_on(t, index, last, value)));
      return r;
    });
    const int ret = static_cast<int>(a.values[0]);
    expect_store(call, ret, how == 0 ? gfp::kKernel : gfp::kNowait, failed_before);
    if (ret == 0) map_.store(index, last, value);
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), last);
  }

  // Copies the tree into a fresh one (TreeUnderTest::copy_tree) and checks the copy:
  // on success the source's entries exactly (and, for mtree_dup, its height); on
  // -ENOMEM nothing. The kernel copies with what its version has: mtree_dup (6.8+) or
  // mas_expected_entries (6.1, 6.12); the variant drawn picks among those.
  void dup() {
    const bool want_bulk = c_.draw(ChoiceKind::Arg, kSiteVariant, 2);
    const gfp_t gfp = c_.draw(ChoiceKind::Arg, kSiteGfp, 2) ? gfp::kNowait : gfp::kKernel;
    const bool bulk = want_bulk ? kernel::have_mas_expected_entries() : !kernel::have_mtree_dup();
    decide_op_failures();
    const uint64_t failed_before = kernel_.failed_requests();
    const char* call = bulk ? "mas_expected_entries/mas_store" : gfp::allows_blocking(gfp) ? "__mt_dup" : "mtree_dup";
    const Answer a = both([&](TreeUnderTest& t) {
      Answer r{call};
      unsigned copy_height = 0;
      const unsigned source_height = t.height();
      const int ret = t.copy_tree(bulk, gfp, scratch_, &copy_height);
      r.push(static_cast<unsigned long>(ret));
      r.push(scratch_.size());
      if (ret == 0) {
        diff_contents(fmt::format("{} copy ({})", t.name(), call).c_str(), scratch_);
        if (!bulk && copy_height != source_height)
          fail(model_ ? "maple.diverged" : "maple.model_diff",
               fmt::format("{}: the {} copy has height {}, its source {}", call, t.name(), copy_height, source_height));
      } else if (!scratch_.empty()) {
        fail(model_ ? "maple.diverged" : "maple.model_diff",
             fmt::format("{} returned {} but the {} copy holds {} entries", call, ret, t.name(), scratch_.size()));
      }
      return r;
    });
    const int ret = static_cast<int>(a.values[0]);
    expect_store(call, ret, bulk ? gfp::kNowait : gfp, failed_before);
    trace_.fold(TraceEvent::OpEnd, static_cast<uint64_t>(ret), a.values[1]);
  }

  // A store's return: 0, or -ENOMEM where a request may fail (GFP_NOWAIT) and one did.
  void expect_store(const char* call, int ret, gfp_t gfp, uint64_t failed_before) {
    if (ret == 0) return;
    if (ret != -ENOMEM || gfp::allows_blocking(gfp)) fail("maple.model_diff", fmt::format("{} returned {}", call, ret));
    check_enomem(call, ret, failed_before);
  }

  // After every op: both trees' own validation, the full contents against the
  // std::map, and (differential) the model's contents and optionally shape.
  void check() {
    if (opt_.rcu) rcu_barrier();  // a grace period ends between operations
    // The harness's own walks are no kernel path: no access points inside them.
    struct NoAccessPoints {
      bool saved;
      bool saved_model = mt_rcu_access_points();
      explicit NoAccessPoints(bool on) : saved(on) {
        kernel::set_rcu_access_points(false);
        mt_set_rcu_access_points(false);
      }
      ~NoAccessPoints() {
        kernel::set_rcu_access_points(saved);
        mt_set_rcu_access_points(saved_model);
      }
    } no_access_points(opt_.rcu_access_points);
    kernel_.validate();
    kernel_.contents(scratch_);
    diff_contents("kernel", scratch_);
    if (model_) {
      model_->validate();
      model_->contents(scratch_);
      diff_contents("model", scratch_);
      if (opt_.compare_shape) {
        const unsigned kh = kernel_.height(), mh = model_->height();
        const uint64_t kn = kernel_.nodes_in_use(), mn = model_->nodes_in_use();
        if (kh != mh || kn != mn)
          fail("maple.diverged",
               fmt::format("shape: kernel height {} with {} nodes but model height {} with {} nodes", kh, kn, mh, mn));
      }
    }
    trace_.fold(TraceEvent::Check, map_.size());
  }

  void diff_contents(const char* which, const std::vector<Range>& entries) {
    auto it = map_.map().begin();
    for (const Range& r : entries) {
      if (it == map_.map().end() || it->first != r.index || it->second.last != r.last || it->second.value != r.value)
        fail(model_ ? "maple.diverged" : "maple.model_diff",
             fmt::format("{} tree entry [{:#x}, {:#x}] = {} differs from the model", which, r.index, r.last, r.value));
      ++it;
    }
    if (it != map_.map().end())
      fail(model_ ? "maple.diverged" : "maple.model_diff",
           fmt::format("model entry at {:#x} missing from the {} tree", it->first, which));
  }

  ChoiceSource& c_;
  MapleStressOptions opt_;
  KernelBackend kernel_;
  std::unique_ptr<ModelBackend> model_;
  Model map_;
  TraceHash trace_;
  std::vector<Range> scratch_;
  uint64_t op_ = 0;
  uint64_t injected_ops_ = 0;
  uint64_t kernel_prealloc_request_ = 0;  // the kernel's last mas_preallocate's nodes
  ReadWindows windows_;
  bool writer_done_ = false;
  uint64_t reads_ = 0;
};

}  // namespace

MapleStressResult run_maple_stress_kernel(ChoiceSource& choices, const MapleStressOptions& options) {
  MapleStressResult result;
  if (options.readers && (!options.rcu || options.backend == MapleBackend::Model))
    throw std::logic_error("maple job: readers need an RCU-mode tree (the model backend runs its own job)");
  // On the differential with readers the model's tree has its access points too
  // (mt_set_rcu_access_points, as the model job's), so readers run inside both trees'
  // stores; without readers the model's stay off, as before.
  struct AccessPoints {
    AccessPoints(bool kernel_on, bool model_on) {
      kernel::set_rcu_access_points(kernel_on);
      mt_set_rcu_access_points(model_on);
    }
    ~AccessPoints() {
      kernel::set_rcu_access_points(false);
      mt_set_rcu_access_points(false);
    }
  } access_points(options.rcu_access_points,
                  options.rcu_access_points && options.readers > 0 && options.backend == MapleBackend::Differential);
  auto job = std::make_unique<Job>(choices, options);
  try {
    job->run(result);
  } catch (const FailureError& e) {
    result.failure = e.failure();
    result.failure->op_index = result.ops_done;
  }
  // A failed run is not torn down (its trees may be corrupt). What the kernel code held
  // when it threw (its lock, an RCU read section) is released, and the frees it queued
  // for after a grace period run now, while the caches they free into still exist.
  if (result.failure) {
    job->release_held();
    try {
      rcu_barrier();
    } catch (const FailureError&) {
      // A corrupt tree's deferred free may fail too; the run has its failure already.
    }
  } else {
    try {
      job->teardown(result);
    } catch (const FailureError& e) {
      // After every op (mtree_destroy's own failure, e.g. README's RCU-mode destroy
      // bug): its op count is all of them, not 0.
      result.failure = e.failure();
      result.failure->op_index = result.ops_done;
    }
  }
  result.trace_hash = job->trace_hash();
  result.allocation_failures = job->injected();
  return result;
}

}  // namespace mmt::jobs
