// Lockdep (see lockdep.h): held-lock bookkeeping, the per-run class-order graph with
// cycle detection on every new edge, and the reclaim rule.
#include "mmtorture/sched/lockdep.h"

#include "mmtorture/sched/access.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "held_locks_spare.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"
#include "report.h"

namespace mmt::sched {

namespace {
// Epochs tell each scheduler's dependency graph apart (node_of's GraphSlot), so
// they are unique across the process: each OS thread takes a block of them from an
// atomic at a time, and numbers its schedulers within its block (no atomic operation
// per scheduler).
std::atomic<uint64_t> next_epoch_block{0};
constexpr uint64_t kEpochBlock = uint64_t{1} << 20;
constinit thread_local uint64_t t_next_epoch = 0;
constinit thread_local uint64_t t_epoch_end = 0;

uint64_t next_graph_epoch() {
  if (t_next_epoch == t_epoch_end) {
    t_next_epoch = next_epoch_block.fetch_add(kEpochBlock, std::memory_order_relaxed) + 1;  // 0: never a graph's
    t_epoch_end = t_next_epoch + kEpochBlock - 1;
  }
  return t_next_epoch++;
}

std::string lock_name(const LockClass& lock_class, unsigned subclass) {
  return subclass ? fmt::format("{}/{}", lock_class.name(), subclass) : lock_class.name();
}

// The event-log record of a take or release, off the hot path.
[[gnu::cold, gnu::noinline]] void note_lock(EventLog& log, bool taken, const void* lock, const LockClass& lock_class,
                                            LockMode mode, Site site) {
  if (taken) log.note_lock_taken(lock, lock_class.name(), lock_mode_name(mode), site);
  else log.note_lock_released(lock, lock_class.name(), lock_mode_name(mode), site);
}

}  // namespace

LockClass& lock_class(std::string_view name) {
  // Interned by name; a std::map so nothing depends on addresses. Process-wide (a class
  // outlives any scheduler), so schedulers on two OS threads take the mutex.
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<LockClass>, std::less<>> classes;
  const std::lock_guard<std::mutex> guard(mutex);
  auto it = classes.find(name);
  if (it == classes.end()) {
    const auto index = static_cast<uint32_t>(classes.size());
    it = classes.emplace(std::string(name), std::make_unique<LockClass>(std::string(name), index)).first;
  }
  return *it->second;
}

namespace {
// `text == name`, by hand: the names are a few bytes long, and the library's strcmp
// (vector loads behind page-boundary checks, reached through the PLT) cost a small
// world's schedule a few percent at two lock constructions.
bool same_text(const std::string& text, const char* name) {
  const char* a = text.c_str();
  while (*a && *a == *name) ++a, ++name;
  return *a == *name;
}
}  // namespace

LockClass& lock_class(const char* name) {
  // Locks are built with literal names, many per world and schedule: a small cache by
  // the name's address answers most of them with one string compare instead of a walk
  // of the map. The compare keeps it right for a name whose address is reused with
  // other text; which class a name gets is decided by the map alone. Per OS thread, so
  // that schedulers on two OS threads never read an entry the other is writing.
  struct Entry {
    const char* name;
    LockClass* lock_class;
  };
  constinit static thread_local std::array<Entry, 64> cache{};
  Entry& entry = cache[(reinterpret_cast<uintptr_t>(name) >> 3) % cache.size()];
  if (entry.name == name && same_text(entry.lock_class->name(), name)) return *entry.lock_class;
  LockClass& found = lock_class(std::string_view(name));
  entry = Entry{name, &found};
  return found;
}

Lockdep::Lockdep() : epoch_(next_graph_epoch()) {}

namespace {
// A lock class's node in a dependency graph, valid while `epoch` is that graph's. One
// per class and subclass (LockClass::index() * kSubclasses + subclass), per OS thread:
// the graph of the scheduler running on that thread is the only one that reads or
// writes it, and a new graph's epoch invalidates every entry at once, without a pass.
struct GraphSlot {
  uint64_t epoch = 0;
  uint32_t node = 0;
};
thread_local std::vector<GraphSlot> t_graph_slots;
}  // namespace

uint32_t Lockdep::node_of(LockClass& lock_class, unsigned subclass) {
  const size_t index = size_t{lock_class.index()} * LockClass::kSubclasses + subclass;
  std::vector<GraphSlot>& slots = t_graph_slots;
  if (index >= slots.size()) slots.resize(std::max<size_t>(index + 1, 2 * slots.size()));
  GraphSlot& slot = slots[index];
  if (slot.epoch != epoch_) {
    slot.epoch = epoch_;
    slot.node = static_cast<uint32_t>(node_names_.size());
    node_names_.push_back(lock_name(lock_class, subclass));
    successors_.emplace_back();
  }
  return slot.node;
}

std::vector<uint32_t> Lockdep::find_path(uint32_t from, uint32_t to) const {
  // Breadth-first over edges in the order they were added: deterministic, and the
  // shortest chain is the clearest report.
  std::vector<uint32_t> parent(successors_.size(), UINT32_MAX);
  std::vector<uint32_t> queue{from};
  parent[from] = from;
  for (size_t i = 0; i < queue.size(); ++i) {
    const uint32_t node = queue[i];
    if (node == to) {
      std::vector<uint32_t> path{to};
      while (path.back() != from) path.push_back(parent[path.back()]);
      std::reverse(path.begin(), path.end());
      return path;
    }
    for (uint32_t next : successors_[node]) {
      if (parent[next] != UINT32_MAX) continue;
      parent[next] = node;
      queue.push_back(next);
    }
  }
  return {};
}

void Lockdep::add_edge(Thread& thread, const HeldLock& held, uint32_t to, LockClass& to_class,
                       unsigned to_subclass, Site site) {
  const uint32_t from = node_of(*held.lock_class, held.subclass);
  if (from == to) return;
  const uint64_t key = (uint64_t{from} << 32) | to;
  if (edge_sites_.count(key)) return;
  const std::vector<uint32_t> reverse = find_path(to, from);
  if (!reverse.empty()) {
    std::string chain;
    for (uint32_t node : reverse) chain += (chain.empty() ? "'" : " -> '") + node_names_[node] + "'";
    const EdgeOrigin& origin = edge_sites_.at((uint64_t{reverse[0]} << 32) | reverse[1]);
    detail::report_check(
        "lockdep.circular", site,
        fmt::format("possible circular locking dependency detected: acquiring '{}' while holding '{}', but the "
                    "order {} was established earlier",
                    lock_name(to_class, to_subclass), node_names_[from], chain),
        fmt::format("'{}' taken at {}; the order's first step by T{} '{}' at {}", node_names_[from], held.site.name,
                    origin.thread_id, origin.thread_name, origin.site.name));
    return;
  }
  edge_sites_.emplace(key, EdgeOrigin{thread.id(), thread.name(), site});
  successors_[from].push_back(to);
}

void Lockdep::check_acquire(Thread& thread, const void* lock, LockClass& lock_class, unsigned subclass,
                            LockMode mode, Site site) {
  if (subclass >= LockClass::kSubclasses) subclass = LockClass::kSubclasses - 1;
  for (const HeldLock& held : thread.held_) {
    if (held.lock == lock) {
      detail::report_check("lockdep.recursive", site,
                           fmt::format("possible recursive locking detected: acquiring '{}' ({}), which the thread "
                                       "already holds",
                                       lock_name(lock_class, subclass), lock_mode_name(mode)),
                           fmt::format("taken at {}", held.site.name));
      return;
    }
    if (held.lock_class == &lock_class && held.subclass == subclass) {
      detail::report_check("lockdep.recursive", site,
                           fmt::format("possible recursive locking detected: acquiring a second '{}' lock without a "
                                       "nesting annotation",
                                       lock_name(lock_class, subclass)),
                           fmt::format("the first taken at {}", held.site.name));
      return;
    }
  }
  Scheduler* scheduler = detail::t_active;
  if (!scheduler || thread.held_.empty() || thread.id() == 0 || !scheduler->options().lockdep_order) return;
  Lockdep& graph = scheduler->lockdep();
  note_access(&graph);  // the order graph: what the next nested acquisition is checked against
  const uint32_t to = graph.node_of(lock_class, subclass);
  for (const HeldLock& held : thread.held_) graph.add_edge(thread, held, to, lock_class, subclass, site);
}

void Lockdep::acquired(Thread& thread, const void* lock, LockClass& lock_class, unsigned subclass, LockMode mode,
                       Site site) {
  if (subclass >= LockClass::kSubclasses) subclass = LockClass::kSubclasses - 1;
  if (thread.held_.capacity() == 0) [[unlikely]]
    detail::take_held_locks_storage(thread.held_);
  thread.held_.push_back(HeldLock{lock, &lock_class, static_cast<uint8_t>(subclass), mode, site});
  if (thread.event_log_) [[unlikely]]
    note_lock(*thread.event_log_, true, lock, lock_class, mode, site);
}

void Lockdep::released(Thread& thread, const void* lock, const LockClass& lock_class, Site site) {
  for (auto it = thread.held_.rbegin(); it != thread.held_.rend(); ++it) {
    if (it->lock != lock) continue;
    if (thread.event_log_) [[unlikely]]
      note_lock(*thread.event_log_, false, lock, lock_class, it->mode, site);
    thread.held_.erase(std::next(it).base());
    return;
  }
  detail::report_check("lockdep.bad_unlock", site,
                       fmt::format("bad unlock balance detected: releasing '{}', which the thread does not hold",
                                   lock_class.name()));
}

void Lockdep::downgraded(Thread& thread, const void* lock) {
  for (HeldLock& held : thread.held_)
    if (held.lock == lock) held.mode = LockMode::Shared;
}

bool Lockdep::holds(const Thread& thread, const void* lock) {
  return std::any_of(thread.held_.begin(), thread.held_.end(), [lock](const HeldLock& h) { return h.lock == lock; });
}

void check_reclaim_safe(gfp_t flags, Site site) {
  if (!(flags & gfp::kDirectReclaim)) return;
  const Thread& thread = current_or_host();
  for (const HeldLock& held : thread.held_locks()) {
    if (!held.lock_class->taken_by_reclaim()) continue;
    detail::report_check(
        "lockdep.reclaim", site,
        fmt::format("allocation that may enter direct reclaim while holding '{}', a lock that reclaim takes: "
                    "reclaim can deadlock on it; allocate before taking it or without __GFP_DIRECT_RECLAIM",
                    held.lock_class->name()),
        fmt::format("'{}' taken at {}", held.lock_class->name(), held.site.name));
    return;
  }
}

}  // namespace mmt::sched
