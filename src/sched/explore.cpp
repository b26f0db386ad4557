// Iterative context bounding over the uniform strategy's decisions, with sleep sets
// (explore.h).
#include "mmtorture/sched/explore.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "mmtorture/core/rng.h"
#include "mmtorture/sched/access.h"

namespace mmt::sched {

namespace detail {
constinit thread_local AccessObserver* t_access_observer = nullptr;
}  // namespace detail

namespace {

// What a step touched, as canonical object numbers (see ExploringChoices::canonical):
// numbers below 64 as bits of a mask, the rest in a sorted list. A small world numbers
// all its objects below 64, so its footprints are copied into sleep sets and compared
// without touching the heap.
struct Footprint {
  static constexpr uint32_t kMaskBits = 64;
  bool everything = false;
  uint64_t mask = 0;
  std::vector<uint32_t> objects;  // numbers from kMaskBits on; sorted, unique once finished

  void clear() {
    everything = false;
    mask = 0;
    objects.clear();
  }
  void add(uint32_t number) {
    if (number < kMaskBits) mask |= uint64_t{1} << number;
    else objects.push_back(number);
  }
  void finish() {
    if (objects.empty()) return;
    std::sort(objects.begin(), objects.end());
    objects.erase(std::unique(objects.begin(), objects.end()), objects.end());
  }
  bool intersects(const Footprint& other) const {
    if (everything || other.everything) return true;
    if (mask & other.mask) return true;
    auto a = objects.begin();
    auto b = other.objects.begin();
    while (a != objects.end() && b != other.objects.end()) {
      if (*a == *b) return true;
      if (*a < *b) ++a;
      else ++b;
    }
    return false;
  }
};

// A thread whose next step need not be taken here: every schedule that takes it
// before a step dependent on it is equivalent to one already run.
struct Asleep {
  uint32_t thread;
  Footprint footprint;
};

bool asleep(const std::vector<Asleep>& sleep, uint32_t thread) {
  return std::any_of(sleep.begin(), sleep.end(), [thread](const Asleep& a) { return a.thread == thread; });
}

// A schedule's slice is fixed by its first kSliceDepth non-zero decisions (explore.h).
constexpr uint32_t kSliceDepth = 2;
constexpr uint64_t kSliceKeySeed = 0x5eed5eed5eed5eedULL;

// The key after a non-zero decision: index and value mixed in (SplitMix64's finaliser).
uint64_t fold_slice_key(uint64_t key, size_t index, uint64_t value) {
  uint64_t z = key ^ ((static_cast<uint64_t>(index) << 16) + value) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool in_slice(const ExploreOptions& options, uint64_t key) { return key % options.slices == options.slice; }

// One scheduling decision on the path of the depth-first search.
struct Node {
  uint64_t bound = 0;               // values it has
  bool at_yield = false;            // every value but 0 is a preemption
  std::vector<uint32_t> threads;    // the thread each value picks
  uint64_t value = 0;               // taken on the current path
  uint32_t preemptions_before = 0;  // on the path up to here
  std::vector<Asleep> sleep;        // sleep set on arrival
  std::vector<Asleep> done;         // children explored with no schedule left out for the bound
  uint64_t cuts_at_child_start = 0;
  Footprint footprint;              // of the step the current value starts
  // Slices (explore.h): the non-zero decisions before it (counted up to kSliceDepth)
  // and the key of the first kSliceDepth of them.
  uint32_t nonzero_before = 0;
  uint64_t key_before = 0;

  uint32_t preemptions_after() const { return preemptions_before + (at_yield && value != 0 ? 1 : 0); }
};

// Whether schedules that take `value` at decision `index` (`node`) can be this slice's:
// the kSliceDepth-th non-zero decision settles the slice of every schedule below it;
// before that, the schedules below belong to several slices and are run.
bool owned(const ExploreOptions& options, const Node& node, size_t index, uint64_t value) {
  if (options.slices <= 1 || value == 0 || node.nonzero_before + 1 != kSliceDepth) return true;
  return in_slice(options, fold_slice_key(node.key_before, index, value));
}

// Whether the child that the node's current value leads to holds one slice's schedules
// only (so that a search of this slice covers it whole).
bool whole_child(const ExploreOptions& options, const Node& node) {
  return options.slices <= 1 || node.nonzero_before + (node.value != 0 ? 1 : 0) >= kSliceDepth;
}

// The decisions of the current path. Nodes past the end keep their lists' storage for
// the next run (a run adds a node at every decision past its prefix).
class Path {
 public:
  size_t size() const { return length_; }
  bool empty() const { return length_ == 0; }
  Node& operator[](size_t i) { return nodes_[i]; }
  Node& back() { return nodes_[length_ - 1]; }
  // A node at the end, emptied.
  Node& push() {
    if (length_ == nodes_.size()) nodes_.emplace_back();
    Node& node = nodes_[length_++];
    node.threads.clear();
    node.sleep.clear();
    node.done.clear();
    node.footprint.clear();
    node.value = 0;
    node.preemptions_before = 0;
    node.cuts_at_child_start = 0;
    node.nonzero_before = 0;
    node.key_before = 0;
    return node;
  }
  void pop_back() { --length_; }

 private:
  std::vector<Node> nodes_;
  size_t length_ = 0;
};

// Object numbers of one run (ExploringChoices::canonical): an open-addressing table of
// addresses kept from run to run and emptied by a generation stamp, so a run numbers
// its objects without allocating. A number is the count of objects before it, as
// before; the table's layout never shows.
class ObjectNumbers {
 public:
  void clear() {
    count_ = 0;
    if (++generation_ == 0) {  // wrapped: stamps of 2^32 runs ago would look current
      for (Slot& slot : slots_) slot.generation = 0;
      generation_ = 1;
    }
  }
  uint32_t number(const void* object) {
    if ((static_cast<size_t>(count_) + 1) * 2 > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash(object) & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.generation != generation_) {
        slot = Slot{object, count_, generation_};
        return count_++;
      }
      if (slot.object == object) return slot.number;
    }
  }

 private:
  struct Slot {
    const void* object = nullptr;
    uint32_t number = 0;
    uint32_t generation = 0;  // current only when equal to generation_
  };
  static size_t hash(const void* object) {
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(object) >> 3) * 0x9e3779b97f4a7c15ULL >> 20);
  }
  void grow() {
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(std::max<size_t>(64, slots_.size() * 2)));
    const size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.generation != generation_) continue;
      size_t i = hash(slot.object) & mask;
      while (slots_[i].generation == generation_) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }

  std::vector<Slot> slots_;  // a power of two in size, at most half full
  uint32_t count_ = 0;
  uint32_t generation_ = 1;
};

// What one run needs and the next can reuse: kept by the explorer, so the runs of a
// search allocate only while their storage grows.
struct RunScratch {
  ObjectNumbers numbers;
  std::vector<Rng> streams;
  Footprint step;
  std::vector<Choice> recorded;  // the ChoiceSource's recording
};

// The ChoiceSource of one explored run, and the observer of its steps' footprints.
class ExploringChoices final : public ChoiceSource, public AccessObserver {
 public:
  ExploringChoices(Path& path, const ExploreOptions& options, uint32_t bound, uint64_t& cuts, RunScratch& scratch)
      : path_(path),
        replayed_(path.size()),
        options_(options),
        bound_(bound),
        cuts_(cuts),
        step_(scratch.step),
        numbers_(scratch.numbers),
        streams_(scratch.streams),
        recorded_scratch_(scratch.recorded) {
    adopt_recording_storage(std::move(recorded_scratch_));
    numbers_.clear();
    streams_.clear();
    step_.clear();
    // Footprints are only needed by the reduction.
    if (options_.sleep_sets) previous_observer_ = std::exchange(detail::t_access_observer, this);
  }
  ~ExploringChoices() override {
    if (options_.sleep_sets) detail::t_access_observer = previous_observer_;
    recorded_scratch_ = release_recording_storage();
  }
  ExploringChoices(const ExploringChoices&) = delete;
  ExploringChoices& operator=(const ExploringChoices&) = delete;

  // Ends the last step (call when the run is over).
  void finish() {
    if (!blocked_) close_step();
  }
  // Every thread it could pick at some decision was asleep: the run continued with
  // value 0, a schedule equivalent to one already run.
  bool blocked() const { return blocked_; }
  const std::optional<std::string>& mismatch() const { return mismatch_; }

  void accessed(const void* object) override {
    // A step names the same object several times in a row (a lock before and after its
    // yield point): the repeats would only be sorted out again in finish().
    if (blocked_ || object == last_object_) return;
    last_object_ = object;
    step_.add(canonical(object));
  }
  void accessed_everything() override { step_.everything = true; }

 protected:
  uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) override {
    Scheduler* scheduler = Scheduler::running();
    Thread* current = scheduler ? scheduler->current() : nullptr;
    if (kind == ChoiceKind::Pick && scheduler && bias == Bias::Uniform) return decide(*scheduler, current, site, bound);
    Rng& rng = stream(current ? current->id() : 0);
    if (bias == Bias::Probability) return rng.chance(p) ? 1 : 0;
    return rng.below(bound);
  }

 private:
  uint64_t decide(const Scheduler& scheduler, const Thread* current, Site site, uint64_t bound) {
    if (blocked_) return 0;
    close_step();
    const size_t index = decisions_++;
    // The running thread still runnable: a yield point, where value 0 keeps it and
    // value i is the i-th other runnable thread. Otherwise (it blocked or exited, or
    // the scheduler's loop picks) value i is the i-th runnable thread.
    const bool at_yield = current && current->state() == ThreadState::Runnable;
    const Thread* running = at_yield ? current : nullptr;
    const std::vector<Thread*>& runnable = scheduler.runnable();  // the running thread included
    if (runnable.size() != bound)
      mismatch(fmt::format("decision {} at {}: {} values, {} threads", index, site.name, bound, runnable.size()));
    if (index < replayed_) {
      // The prefix's decisions are compared in place: most decisions of a run are
      // replayed, and listing their threads first was most of a decision's cost.
      const Node& node = path_[index];
      if (node.bound != bound || node.at_yield != at_yield || !same_threads(node.threads, runnable, running))
        mismatch(fmt::format("decision {} at {} differs from the run this prefix came from", index, site.name));
      return node.value < bound ? node.value : 0;
    }
    Node& node = path_.push();
    node.bound = bound;
    node.at_yield = at_yield;
    list_threads(node.threads, runnable, running);
    if (index > 0) {
      const Node& parent = path_[index - 1];
      node.preemptions_before = parent.preemptions_after();
      const bool counted = parent.value != 0 && parent.nonzero_before < kSliceDepth;
      node.nonzero_before = parent.nonzero_before + (counted ? 1 : 0);
      node.key_before = counted ? fold_slice_key(parent.key_before, index - 1, parent.value) : parent.key_before;
      if (options_.sleep_sets) carry_sleep(parent, node.sleep);
    } else {
      node.nonzero_before = 0;
      node.key_before = kSliceKeySeed;
    }
    // The first value whose thread is awake and whose preemption the bound allows.
    bool cut = false;
    for (uint64_t value = 0; value < bound; ++value) {
      if (asleep(node.sleep, node.threads[value])) continue;
      if (node.at_yield && value != 0 && node.preemptions_before + 1 > bound_) {
        cut = true;
        continue;
      }
      if (!owned(options_, node, index, value)) continue;  // another slice's
      node.value = value;
      node.cuts_at_child_start = cuts_;
      return value;
    }
    // Nothing left to run here that is not covered: the rest of the run is redundant.
    path_.pop_back();
    blocked_ = true;
    if (cut) ++cuts_;
    return 0;
  }

  // The thread of each value of a decision: at a yield point the running thread first
  // (value 0 keeps it), then every other runnable thread in the order they became
  // runnable (strategy.h's uniform picks).
  static void list_threads(std::vector<uint32_t>& out, const std::vector<Thread*>& runnable, const Thread* running) {
    out.clear();
    if (running) out.push_back(running->id());
    for (const Thread* thread : runnable)
      if (thread != running) out.push_back(thread->id());
  }
  // Whether `listed` is what list_threads would list now.
  static bool same_threads(const std::vector<uint32_t>& listed, const std::vector<Thread*>& runnable,
                           const Thread* running) {
    size_t i = 0;
    if (running && (listed.empty() || listed[i++] != running->id())) return false;
    for (const Thread* thread : runnable)
      if (thread != running && (i == listed.size() || listed[i++] != thread->id())) return false;
    return i == listed.size();
  }

  // Godefroid's rule: the threads asleep at the parent, and its children already
  // explored, stay asleep after the parent's step when that step is independent of
  // theirs.
  static void carry_sleep(const Node& parent, std::vector<Asleep>& sleep) {
    for (const auto* list : {&parent.sleep, &parent.done})
      for (const Asleep& entry : *list)
        if (!entry.footprint.intersects(parent.footprint)) sleep.push_back(entry);
  }

  // Ends the step that began at the last decision on the path.
  void close_step() {
    if (!options_.sleep_sets) return;
    if (options_.unnamed_state) step_.everything = true;
    step_.finish();
    // The node takes the step; its old storage comes back for the next step.
    if (decisions_ > 0 && decisions_ - 1 < path_.size()) std::swap(path_[decisions_ - 1].footprint, step_);
    step_.clear();
    last_object_ = nullptr;
  }

  // Objects are numbered in the order a run first touches them (addresses differ from
  // run to run: each run builds its world afresh). Runs that share a prefix touch the
  // same objects in the same order within it, so the numbers agree there — including
  // what the program and spawn() name before the first decision; objects first touched
  // after the shared prefix get numbers from the same next value in both runs, so two
  // steps that both touch such objects share at least that number (dependent:
  // conservative, never the other way).
  uint32_t canonical(const void* object) { return numbers_.number(object); }

  Rng& stream(uint32_t thread_id) {
    while (streams_.size() <= thread_id) {
      SplitMix64 mix(options_.data_seed ^ (0x9e3779b97f4a7c15ULL * (streams_.size() + 1)));
      streams_.emplace_back(mix.next());
    }
    return streams_[thread_id];
  }

  void mismatch(std::string what) {
    if (!mismatch_) mismatch_ = std::move(what);
  }

  Path& path_;
  const size_t replayed_;  // decisions whose values the path gives
  const ExploreOptions& options_;
  const uint32_t bound_;
  uint64_t& cuts_;
  AccessObserver* previous_observer_ = nullptr;
  size_t decisions_ = 0;
  bool blocked_ = false;
  const void* last_object_ = nullptr;  // the last object the current step named
  Footprint& step_;
  ObjectNumbers& numbers_;
  std::vector<Rng>& streams_;
  std::vector<Choice>& recorded_scratch_;
  std::optional<std::string> mismatch_;
};

// Outcome of exploring one bound.
enum class Level { Exhausted, Failed, Limited };

class Explorer {
 public:
  Explorer(const ExploredProgram& program, const ExploreOptions& options, ExploreResult& result)
      : program_(program), options_(options), result_(result) {}

  // Depth-first over every schedule with ≤ bound preemptions.
  Level explore(uint32_t bound) {
    cuts_ = 0;
    result_.schedules_at_bound = 0;
    result_.redundant_at_bound = 0;
    Path path;
    for (;;) {
      if (options_.max_schedules && result_.schedules >= options_.max_schedules) return Level::Limited;
      ExploringChoices choices(path, options_, bound, cuts_, scratch_);
      const RunResult run = program_(choices);
      choices.finish();
      if (choices.mismatch())
        throw std::logic_error("explore: the program is not a function of its choices: " + *choices.mismatch());
      if (!run_in_slice(path)) {  // another slice's schedule, run to lay out where ours begin
        ++result_.probes;
        if (!backtrack(path, bound)) return Level::Exhausted;
        continue;
      }
      ++result_.schedules;
      ++result_.schedules_at_bound;
      if (options_.on_schedule) options_.on_schedule(bound, run);
      if (choices.blocked()) ++result_.redundant_at_bound;
      if (run.failure) {
        result_.failure = run.failure;
        result_.failing_preemptions = path.empty() ? 0 : path.back().preemptions_after();
        result_.failing_choices = choices.recorded();
        result_.failing_trace_hash = run.trace_hash;
        return Level::Failed;
      }
      if (!backtrack(path, bound)) return Level::Exhausted;
    }
  }

  // No value was left out for the bound in the last level explored.
  bool cut() const { return cuts_ != 0; }

 private:
  // Whether the schedule just run (its decisions on the path, 0 after the path's end)
  // is this slice's: settled by its first kSliceDepth non-zero decisions, or by the
  // fewer it has.
  bool run_in_slice(Path& path) const {
    if (options_.slices <= 1) return true;
    if (path.empty()) return in_slice(options_, kSliceKeySeed);
    const Node& last = path.back();
    const bool counted = last.value != 0 && last.nonzero_before < kSliceDepth;
    if (last.nonzero_before + (counted ? 1 : 0) >= kSliceDepth) return true;  // entered only when ours
    return in_slice(options_, counted ? fold_slice_key(last.key_before, path.size() - 1, last.value) : last.key_before);
  }

  // Moves the deepest decision with a value still to explore to that value.
  bool backtrack(Path& path, uint32_t bound) {
    while (!path.empty()) {
      Node& node = path.back();
      // The child just finished covers its schedules only if none was left out below it,
      // for the bound or for another slice.
      if (options_.sleep_sets && cuts_ == node.cuts_at_child_start && whole_child(options_, node))
        node.done.push_back(Asleep{node.threads[node.value], node.footprint});
      for (uint64_t value = node.value + 1; value < node.bound; ++value) {
        if (options_.sleep_sets && asleep(node.sleep, node.threads[value])) continue;
        if (node.at_yield && node.preemptions_before + 1 > bound) {  // every value past 0 preempts
          ++cuts_;
          break;
        }
        if (!owned(options_, node, path.size() - 1, value)) continue;  // another slice's
        node.value = value;
        node.cuts_at_child_start = cuts_;
        return true;
      }
      path.pop_back();
    }
    return false;
  }

  const ExploredProgram& program_;
  const ExploreOptions& options_;
  ExploreResult& result_;
  uint64_t cuts_ = 0;
  RunScratch scratch_;
};

}  // namespace

ExploreResult explore_bounded(const ExploredProgram& program, const ExploreOptions& options) {
  if (options.slices == 0 || options.slice >= options.slices)
    throw std::invalid_argument(fmt::format("explore: slice {} of {} does not exist", options.slice, options.slices));
  ExploreResult result;
  Explorer explorer(program, options, result);
  for (uint32_t bound = 0; bound <= options.preemption_bound; ++bound) {
    result.bound = bound;
    const Level level = explorer.explore(bound);
    if (level != Level::Exhausted) return result;  // failed, or the schedule limit
    if (!explorer.cut()) {
      result.complete = true;
      break;
    }
  }
  result.exhausted = true;
  return result;
}

}  // namespace mmt::sched
