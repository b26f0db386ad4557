// Lock classes, as lockdep sees them: every lock of one kind (every mm's mmap_lock,
// every anon_vma's rwsem) shares a class, and ordering rules are about classes, not
// objects. A class is interned by name for the life of the process, so locks built
// before a scheduler exists (in fixtures, in long-lived structures) still carry one.
// Whether reclaim takes the class is a property of the class: it is what makes
// holding it across a GFP_KERNEL allocation a deadlock (the fs_reclaim rule).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mmt::sched {

class LockClass {
 public:
  // Nesting annotations (mutex_lock_nested, down_write_nested): subclass 0..7 of one
  // class are distinct lockdep nodes, as SINGLE_DEPTH_NESTING is in the kernel.
  static constexpr unsigned kSubclasses = 8;

  explicit LockClass(std::string name) : name_(std::move(name)) {}
  LockClass(const LockClass&) = delete;
  LockClass& operator=(const LockClass&) = delete;

  const std::string& name() const { return name_; }
  // True when reclaim (direct or kswapd) takes locks of this class: holding one across
  // an allocation that may enter direct reclaim can deadlock on itself.
  bool taken_by_reclaim() const { return taken_by_reclaim_; }
  void set_taken_by_reclaim(bool taken) { taken_by_reclaim_ = taken; }

 private:
  friend class Lockdep;
  std::string name_;
  bool taken_by_reclaim_ = false;
  // Cache of this class's node in the running scheduler's dependency graph, per
  // subclass; valid while `graph_epoch_` matches that graph (ids are assigned in the
  // order classes are first seen in a run, so they are deterministic).
  std::array<uint64_t, kSubclasses> graph_epoch_{};
  std::array<uint32_t, kSubclasses> graph_node_{};
};

// The class named `name`, created on first use. References stay valid for the
// process's life.
LockClass& lock_class(std::string_view name);
// The same, for a NUL-terminated name (what lock constructors pass): cached by address.
LockClass& lock_class(const char* name);

// Options when constructing a lock.
enum class LockFlags : uint8_t {
  None = 0,
  TakenByReclaim = 1,  // marks the lock's class as taken by reclaim
};

}  // namespace mmt::sched
