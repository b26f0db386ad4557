// StackPool: our own stack allocator for green threads, so that (1) creating a thread
// reuses a stack instead of mapping one — spawn stays cheap — and (2) we know every
// stack's bounds, which sanitizer builds pass to __sanitizer_start_switch_fiber on
// each switch. Each stack is mmap'ed with a PROT_NONE guard page below it, so an
// overflow faults instead of corrupting a neighbour. A returned stack is unpoisoned for
// ASan before reuse (frames of a finished thread may leave poisoned redzones behind).
#pragma once

#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <vector>

namespace mmt::sched {

class StackPool {
 public:
  // `stack_size` usable bytes per stack (rounded up to whole pages).
  explicit StackPool(size_t stack_size);
  // Unmaps the free stacks. Stacks still handed out are a bug (checked).
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A stack in Boost.Context's convention: sp is the top (highest address), the
  // usable range is [sp - size, sp).
  boost::context::stack_context allocate();
  void deallocate(boost::context::stack_context& stack) noexcept;

  size_t stack_size() const { return stack_size_; }
  size_t free_stacks() const { return free_.size(); }
  size_t live_stacks() const { return live_; }

  // The calling OS thread's pool for stacks of `stack_size` bytes (created on first use,
  // destroyed when the OS thread exits). A pool is not thread-safe: each OS thread that
  // runs schedulers has its own.
  static StackPool& shared(size_t stack_size);
  // 64 KiB, or 256 KiB in sanitizer builds.
  static size_t default_stack_size();

 private:
  static StackPool& find_or_create(size_t stack_size);

  size_t stack_size_;
  size_t live_ = 0;
  std::vector<void*> free_;  // tops (sp) of stacks ready for reuse, LIFO for cache warmth
};

}  // namespace mmt::sched
