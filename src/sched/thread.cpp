// Thread descriptions for failure reports, and the host pseudo-thread.
#include "mmtorture/sched/thread.h"

#include <fmt/format.h>

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

std::string Thread::label() const {
  if (id_ == 0) return "host";
  return fmt::format("T{} '{}'", id_, name_);
}

std::string Thread::held_locks_text() const {
  if (held_.empty()) return "none";
  std::string text;
  for (const HeldLock& held : held_) {
    if (!text.empty()) text += ", ";
    text += fmt::format("'{}'", held.lock_class->name());
    if (held.subclass) text += fmt::format("/{}", held.subclass);
    text += fmt::format(" ({}, at {})", lock_mode_name(held.mode), held.site.name);
  }
  return text;
}

std::string Thread::describe() const { return fmt::format("{} {}", label(), describe_state()); }

std::string Thread::describe_state() const {
  std::string text = thread_state_name(state_);
  if (state_ == ThreadState::Blocked) {
    text += fmt::format(": waits for {}", wait_.what);
    if (wait_.object && *wait_.object) text += fmt::format(" '{}'", wait_.object);
    if (wait_.owner) text += fmt::format(" held by {}", wait_.owner->label());
    text += fmt::format(" at {}", wait_.site.name);
    if (killable_) text += " (killable)";
  }
  if (op_name_) text += fmt::format("; in op '{}'", op_name_);
  text += fmt::format("; holds {}", held_locks_text());
  if (rcu_depth_) text += fmt::format("; in rcu_read_lock (depth {})", rcu_depth_);
  if (fatal_signal_) text += "; fatal signal pending";
  return text;
}

Thread& host_thread() {
  // Process-wide; held-lock and atomic-context bookkeeping only (it never parks).
  static Thread host(nullptr, 0, "host", true);
  return host;
}

}  // namespace mmt::sched
