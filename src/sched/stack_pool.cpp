// Pooled, guard-paged fiber stacks (see stack_pool.h).
#include "mmtorture/sched/stack_pool.h"

#include <fmt/format.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>

#if MMT_SANITIZED
#include <sanitizer/asan_interface.h>
#endif

namespace mmt::sched {
namespace {

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

StackPool::StackPool(size_t stack_size) {
  const size_t page = page_size();
  stack_size_ = (stack_size + page - 1) / page * page;
}

StackPool::~StackPool() {
  if (live_ != 0) {
    // A fiber still owns one of our stacks: unmapping would pull it from under it.
    fmt::print(stderr, "mmtorture: StackPool destroyed with {} stacks in use\n", live_);
    std::abort();
  }
  const size_t page = page_size();
  for (void* top : free_) {
    char* base = static_cast<char*>(top) - stack_size_ - page;
    munmap(base, stack_size_ + page);
  }
}

boost::context::stack_context StackPool::allocate() {
  boost::context::stack_context stack;
  stack.size = stack_size_;
  if (!free_.empty()) {
    stack.sp = free_.back();
    free_.pop_back();
  } else {
    const size_t page = page_size();
    void* base = mmap(nullptr, stack_size_ + page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    mprotect(base, page, PROT_NONE);  // guard page: an overflow faults at once
    stack.sp = static_cast<char*>(base) + page + stack_size_;
  }
#if MMT_SANITIZED
  ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(stack.sp) - stack.size, stack.size);
#endif
  ++live_;
  return stack;
}

void StackPool::deallocate(boost::context::stack_context& stack) noexcept {
  --live_;
  free_.push_back(stack.sp);
}

StackPool& StackPool::shared(size_t stack_size) {
  // Every scheduler asks, with the size the last one asked for: the answer is kept in
  // trivially destructible thread-locals (no guard, no TLS call), which every
  // scheduler of a small world's campaign or exploration would otherwise pay for.
  constinit thread_local size_t last_size = 0;
  constinit thread_local StackPool* last_pool = nullptr;
  if (last_pool && last_size == stack_size) return *last_pool;
  last_pool = &find_or_create(stack_size);
  last_size = stack_size;
  return *last_pool;
}

StackPool& StackPool::find_or_create(size_t stack_size) {
  // One set of pools per OS thread, one pool per size (a handful at most), kept in a
  // vector (not keyed by address) and freed when the OS thread exits: a pool is not
  // thread-safe, and schedulers on two OS threads each take their own. (The pools
  // never move: shared()'s remembered pointer stays valid until the OS thread exits,
  // when nothing on it asks any more.)
  thread_local std::vector<std::unique_ptr<StackPool>> pools;
  const size_t page = page_size();
  const size_t rounded = (stack_size + page - 1) / page * page;
  for (auto& pool : pools)
    if (pool->stack_size() == rounded) return *pool;
  pools.push_back(std::make_unique<StackPool>(rounded));
  return *pools.back();
}

size_t StackPool::default_stack_size() {
#if MMT_SANITIZED
  return 256 * 1024;
#else
  return 64 * 1024;
#endif
}

}  // namespace mmt::sched
