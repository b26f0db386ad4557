// Thread descriptions for failure reports, and the host pseudo-thread.
#include "mmtorture/sched/thread.h"

#include <charconv>
#include <memory>
#include <new>

#include "mmtorture/core/thread_local_spare.h"

namespace mmt::sched {

const char* thread_state_name(ThreadState state) {
  switch (state) {
    case ThreadState::Runnable: return "runnable";
    case ThreadState::Blocked: return "blocked";
    case ThreadState::Finished: return "finished";
  }
  return "invalid";
}

const char* lock_mode_name(LockMode mode) {
  switch (mode) {
    case LockMode::Exclusive: return "exclusive";
    case LockMode::Shared: return "shared";
    case LockMode::Spin: return "spin";
  }
  return "invalid";
}

std::vector<Site> Thread::last_sites() const {
  std::vector<Site> sites;
  const uint64_t count = site_next_ < sites_.size() ? site_next_ : sites_.size();
  for (uint64_t i = site_next_ - count; i < site_next_; ++i) sites.push_back(sites_[i % sites_.size()]);
  return sites;
}

namespace {

// Failure reports build these lines on every failing schedule: appended into one
// string piece by piece (no format string parsed at run time, no temporaries).
void append_text(std::string& out, const char* text) {
  if (text) out += text;
}

void append_number(std::string& out, uint64_t value) {
  char digits[20];
  const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  (void)error;  // 20 digits hold any uint64_t
  out.append(digits, end);
}

void append_label(std::string& out, uint32_t id, const std::string& name) {
  if (id == 0) {
    out += "host";
    return;
  }
  out += 'T';
  append_number(out, id);
  out += " '";
  out += name;
  out += '\'';
}

void append_held_locks(std::string& out, const std::vector<HeldLock>& held_locks) {
  if (held_locks.empty()) {
    out += "none";
    return;
  }
  bool first = true;
  for (const HeldLock& held : held_locks) {
    if (!first) out += ", ";
    first = false;
    out += '\'';
    out += held.lock_class->name();
    out += '\'';
    if (held.subclass) {
      out += '/';
      append_number(out, held.subclass);
    }
    out += " (";
    out += lock_mode_name(held.mode);
    out += ", at ";
    append_text(out, held.site.name);
    out += ')';
  }
}

}  // namespace

std::string Thread::label() const {
  std::string text;
  append_label(text, id_, name_);
  return text;
}

std::string Thread::held_locks_text() const {
  std::string text;
  append_held_locks(text, held_);
  return text;
}

std::string Thread::describe() const {
  std::string text;
  text.reserve(96);
  append_description(text);
  return text;
}

void Thread::append_description(std::string& text) const {
  append_label(text, id_, name_);
  text += ' ';
  append_state(text);
}

std::string Thread::describe_state() const {
  std::string text;
  append_state(text);
  return text;
}

void Thread::append_state(std::string& text) const {
  text += thread_state_name(state_);
  if (state_ == ThreadState::Blocked) {
    text += ": waits for ";
    append_text(text, wait_.what);
    if (wait_.object && *wait_.object) {
      text += " '";
      text += wait_.object;
      text += '\'';
    }
    if (wait_.owner) {
      text += " held by ";
      append_label(text, wait_.owner->id_, wait_.owner->name_);
    }
    text += " at ";
    append_text(text, wait_.site.name);
    if (killable_) text += " (killable)";
  }
  if (op_name_) {
    text += "; in op '";
    text += op_name_;
    text += '\'';
  }
  text += "; holds ";
  append_held_locks(text, held_);
  if (rcu_depth_) {
    text += "; in rcu_read_lock (depth ";
    append_number(text, rcu_depth_);
    text += ')';
  }
  if (fatal_signal_) text += "; fatal signal pending";
}

namespace {
// Freed Threads' memory, kept for the next spawn on this OS thread (thread_local_spare.h):
// at most kSpareThreadsMax blocks of sizeof(Thread).
struct FreeBlock {
  void operator()(void* memory) const noexcept { ::operator delete(memory); }
};
using ThreadBlock = std::unique_ptr<void, FreeBlock>;
constexpr size_t kSpareThreadsMax = 64;
using SpareThreads = ThreadLocalSpare<ThreadBlock, kSpareThreadsMax>;
// Sanitizer builds free them, so that ASan still sees a use after the scheduler's end.
#if MMT_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
}  // namespace

void* Thread::operator new(size_t size) {
  if (!kSanitized && size == sizeof(Thread)) {
    ThreadBlock block;
    if (SpareThreads::take(block)) return block.release();
  }
  return ::operator new(size);
}

void Thread::operator delete(void* memory) noexcept {
  ThreadBlock block(memory);  // freed here unless kept
  if (!kSanitized && block) SpareThreads::keep(block);
}

Thread& host_thread() {
  // One per OS thread (what runs outside green threads on one OS thread is not what
  // runs on another); held-lock and atomic-context bookkeeping only (it never parks).
  thread_local Thread host(nullptr, 0, "host", true);
  return host;
}

}  // namespace mmt::sched
