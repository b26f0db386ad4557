// ThreadLocalSpare: storage that one user leaves behind for the next on the same OS
// thread.
//
// A campaign, an exploration or a benchmark builds a ChoiceSource, a Scheduler and its
// Threads per schedule, and each of them allocated what the previous schedule had just
// freed: a recording, the thread and runnable lists, the Thread objects. A
// ThreadLocalSpare keeps up to N values of T per OS thread (a vector with its capacity,
// a raw block): a user takes one when it starts and gives it back when it is done. It
// is per OS thread, so two schedulers on two OS threads never share a value, and it
// only decides where storage comes from, never what a run computes.
//
// The pool of each OS thread is allocated on its first keep and freed, with what it
// holds, when that OS thread exits (so an OS thread that ran schedulers and ended leaves
// nothing behind). A user destroyed later than that in the thread's exit (after its
// thread_local destructors ran, as a static object destroyed at the process's exit is)
// finds no pool and keeps nothing: it frees what it would have kept. What a pool holds
// is bounded by N and, for vectors, by the capacity the caller lets it keep.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace mmt {

// Up to N values of T kept per OS thread, last kept first taken. `Tag` tells apart two
// users that keep the same type. T must be default-constructible and movable.
template <class T, size_t N = 1, class Tag = void>
class ThreadLocalSpare {
 public:
  static_assert(N >= 1);

  // Moves the last value kept into `out` and returns true; false (and `out` untouched)
  // when none is kept.
  static bool take(T& out) noexcept {
    Pool* pool = t_pool;
    if (!pool || pool == dead() || pool->count == 0) return false;
    out = std::move(pool->values[--pool->count]);
    return true;
  }

  // Keeps `value` (moved from) and returns true when fewer than N are kept; returns
  // false and leaves `value` as it was otherwise (also when the pool cannot be
  // allocated: a spare is never worth a failure, and operator delete keeps blocks here).
  static bool keep(T& value) noexcept {
    static_assert(std::is_nothrow_move_assignable_v<T>);
    Pool* pool = t_pool;
    if (!pool) pool = create_pool();
    if (!pool || pool == dead() || pool->count == N) return false;
    pool->values[pool->count++] = std::move(value);
    return true;
  }

  // The value the next take() returns, or null when none is kept.
  static const T* peek() {
    const Pool* pool = t_pool;
    return pool && pool != dead() && pool->count ? &pool->values[pool->count - 1] : nullptr;
  }

 private:
  struct Pool {
    T values[N]{};
    size_t count = 0;
  };
  // Frees the OS thread's pool when the thread exits, and marks it gone.
  struct PoolOwner {
    ~PoolOwner() {
      delete t_pool;
      t_pool = dead();
    }
  };
  // What t_pool holds once its OS thread's pool was freed (never dereferenced).
  static Pool* dead() noexcept { return reinterpret_cast<Pool*>(alignof(Pool)); }
  [[gnu::noinline]] static Pool* create_pool() noexcept {
    Pool* pool = new (std::nothrow) Pool;
    if (!pool) return nullptr;
    // Constructed here, on the first keep: its destructor runs at the thread's exit.
    static thread_local PoolOwner owner;
    (void)owner;
    t_pool = pool;
    return pool;
  }

  static constinit inline thread_local Pool* t_pool = nullptr;
};

// A vector's storage between users of one OS thread (one spare per Tag and element type):
// `to` (empty) takes the kept storage when it holds at least `reserve` elements, and
// reserves `reserve` otherwise.
template <class Tag, class E>
void take_spare_storage(std::vector<E>& to, size_t reserve) {
  using Spare = ThreadLocalSpare<std::vector<E>, 1, Tag>;
  const std::vector<E>* kept = Spare::peek();
  if (kept && kept->capacity() >= reserve && Spare::take(to)) return;
  to.reserve(reserve);
}

// Empties `from` (destroying its elements) and keeps its storage for the next
// take_spare_storage when it is larger than the storage kept now and at most
// `max_capacity` elements; `from` is left empty either way.
template <class Tag, class E>
void keep_spare_storage(std::vector<E>& from, size_t max_capacity) {
  using Spare = ThreadLocalSpare<std::vector<E>, 1, Tag>;
  from.clear();
  if (from.capacity() == 0 || from.capacity() > max_capacity) return;
  std::vector<E> spare;
  if (Spare::take(spare) && spare.capacity() >= from.capacity()) {
    Spare::keep(spare);  // the one kept is at least as large: it stays
    return;
  }
  Spare::keep(from);  // the smaller one kept before (if any) is freed with `spare`
  from = std::vector<E>();
}

}  // namespace mmt
