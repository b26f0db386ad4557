// Failure: what a run reports when a check, a BUG or a detector fires, and its
// signature — (check, site, message with numbers normalised) — which decides whether
// two runs failed "the same way" (design.md §1).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mmt {

// What a failed check names, as data rather than text (replay --dump-tree draws it): the
// address space and the part of a maple tree's index space — a tree node, by its
// [first, last] range and depth, or an entry (a VMA, a model entry, a free range), by
// the inclusive range it covers. Not part of the signature: the same bug names another
// node in another run.
struct FailureSubject {
  enum class Kind : uint8_t { None, Node, Entry };
  uint64_t mm_id = 0;  // the address space the check named (0: none, or a job without mms)
  Kind kind = Kind::None;
  uint64_t first = 0;  // the node's or entry's range, inclusive (Kind::Node, Kind::Entry)
  uint64_t last = 0;
  uint32_t depth = 0;  // Kind::Node: the node's depth (the root is 0)

  static FailureSubject node(uint64_t first, uint64_t last, uint32_t depth, uint64_t mm_id = 0) {
    return {mm_id, Kind::Node, first, last, depth};
  }
  static FailureSubject entry(uint64_t first, uint64_t last, uint64_t mm_id = 0) {
    return {mm_id, Kind::Entry, first, last, 0};
  }
  static FailureSubject mm(uint64_t mm_id) { return {mm_id, Kind::None, 0, 0, 0}; }
  bool empty() const { return mm_id == 0 && kind == Kind::None; }
  // "mm 4, node [0x0-0xff] depth 1", "entry [0x1000-0x1fff]", "" when empty.
  std::string text() const;
};

struct Failure {
  std::string check;    // which check or detector fired, e.g. "maple.mt_validate.gaps"
  std::string site;     // where, e.g. "mas_store_prealloc"
  std::string message;  // one line, may contain numbers (normalised in the signature)
  std::string dump;     // the subject (tree dump, mm dump, ...) printed with the failure
  uint64_t op_index = 0;
  uint64_t virtual_ms = 0;
  // Who and when: the thread, the locks it held and where they were taken, the
  // operation after which a check ran. Printed with the failure but not part of the
  // signature: one bug hit by another thread or after another operation is one bug.
  std::string detail;
  // The node, VMA or mm the check named, when it named one (see FailureSubject).
  FailureSubject subject;

  // "check|site|normalised message". Hex and decimal numbers become '#', so the same
  // bug at another address or index has the same signature. The message and the site
  // name what broke (check, failing operation or lock class, the rule); who and when
  // go to `detail`.
  std::string signature() const;
  // 16 hex digits of the signature's hash: a directory name for failures/<sig>/.
  std::string signature_id() const;
  // The one failure grammar: "mmtorture: FAIL <check> (<signature>)", the message and,
  // in brackets, the detail.
  std::string headline() const;
};

// Numbers normalised as in Failure::signature().
std::string normalise_numbers(const std::string& text);

// Thrown to abandon a run when a check fails. The scheduler catches it at the green
// thread's entry, the run loop at the top; nothing in the simulation swallows it.
//
// Every FailureError alive is counted: while one is on its way up (raised, not yet
// caught and destroyed), the run has failed, and destructors that would tear the
// world down through kernel-model code abandon it instead (failure_in_flight()).
// what() is the headline, built on first use: a failing schedule that nobody prints
// (a campaign seed, a shrink candidate) does not pay for the signature hash.
class FailureError : public std::runtime_error {
 public:
  explicit FailureError(Failure failure) : std::runtime_error(std::string()), failure_(std::move(failure)) {
    ++live_;
  }
  // The same, built in place from its parts (raise_failure): the raising frame then holds
  // no Failure of its own, and the unwinder has one cleanup fewer to stop at.
  FailureError(std::string&& check, std::string&& site, std::string&& message, std::string&& dump, std::string&& detail,
               const FailureSubject& subject)
      : std::runtime_error(std::string()),
        failure_{std::move(check),  std::move(site), std::move(message), std::move(dump), 0, 0,
                 std::move(detail), subject} {
    ++live_;
  }
  FailureError(const FailureError& other)
      : std::runtime_error(other), failure_(other.failure_), what_(other.what_) {
    ++live_;
  }
  FailureError& operator=(const FailureError&) = default;
  ~FailureError() override { --live_; }
  const Failure& failure() const { return failure_; }
  // Moves the failure out (the catcher that keeps it); failure() is empty after.
  Failure take() { return std::move(failure_); }
  const char* what() const noexcept override;
  // FailureErrors alive now (the simulation is single-OS-threaded).
  static uint64_t live() { return live_; }

 private:
  Failure failure_;
  mutable std::string what_;
  static inline thread_local uint64_t live_ = 0;
};

// True while a FailureError is alive: a check has failed and its error is unwinding
// the stack towards the catch that records it (or is being handled there).
inline bool failure_in_flight() { return FailureError::live() > 0; }

namespace detail {
// Somewhere other than a throw for raise_failure's failures: the scheduler, while a green
// thread runs whose frames own nothing (sched::SpawnOptions::discard_stack), ends that
// thread there without unwinding its stack — a throw and its walk cost several times a
// whole small schedule. raise_failure offers each failure to the sink set on this OS
// thread, and throws it when there is none or the sink declines.
class FailureSink {
 public:
  // True when a failure raised now is to be taken rather than thrown.
  virtual bool wants_failure() const = 0;
  // Takes the failure (moving its parts out) and never returns to the raising code.
  [[noreturn]] virtual void take_failure(Failure&& failure) = 0;

 protected:
  ~FailureSink() = default;
};
extern constinit thread_local FailureSink* t_failure_sink;
}  // namespace detail

[[noreturn]] void raise_failure(std::string check, std::string site, std::string message,
                                std::string dump = {}, std::string detail = {});
// The same, for a check that names its subject (a node, a VMA, an mm).
[[noreturn]] void raise_failure(FailureSubject subject, std::string check, std::string site, std::string message,
                                std::string dump = {});

}  // namespace mmt
