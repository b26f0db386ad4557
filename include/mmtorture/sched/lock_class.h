// Lock classes, as lockdep sees them: every lock of one kind (every mm's mmap_lock,
// every anon_vma's rwsem) shares a class, and ordering rules are about classes, not
// objects. A class is interned by name for the life of the process, so locks built
// before a scheduler exists (in fixtures, in long-lived structures) still carry one.
// Whether reclaim takes the class is a property of the class: it is what makes
// holding it across a GFP_KERNEL allocation a deadlock (the fs_reclaim rule).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace mmt::sched {

class LockClass {
 public:
  // Nesting annotations (mutex_lock_nested, down_write_nested): subclass 0..7 of one
  // class are distinct lockdep nodes, as SINGLE_DEPTH_NESTING is in the kernel.
  static constexpr unsigned kSubclasses = 8;

  LockClass(std::string name, uint32_t index) : name_(std::move(name)), index_(index) {}
  LockClass(const LockClass&) = delete;
  LockClass& operator=(const LockClass&) = delete;

  const std::string& name() const { return name_; }
  // The class's number in the process's table, in the order classes were first named
  // (which differs between processes whose OS threads race to name them: a key for
  // per-OS-thread tables, never part of what a run computes).
  uint32_t index() const { return index_; }
  // True when reclaim (direct or kswapd) takes locks of this class: holding one across
  // an allocation that may enter direct reclaim can deadlock on itself. (Atomic: locks
  // built on two OS threads may both mark their class.)
  bool taken_by_reclaim() const { return taken_by_reclaim_.load(std::memory_order_relaxed); }
  void set_taken_by_reclaim(bool taken) { taken_by_reclaim_.store(taken, std::memory_order_relaxed); }

 private:
  std::string name_;
  uint32_t index_;
  std::atomic<bool> taken_by_reclaim_{false};
  // A class is shared by every OS thread, so it holds nothing a run writes: lockdep
  // keeps each graph's node numbers for it in a per-OS-thread table (lockdep.cpp).
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
