// Running one seed (or one replay) in a forked worker process, so a crash, sanitizer
// abort or timeout loses nothing: the worker streams every choice it draws into a
// shared-memory capture buffer that outlives it, and reports its result as one JSON
// line on a pipe. The parent turns a death by signal into a "crash" failure and a kill
// after the time limit into a "timeout" failure, each with the captured choices.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/core/choice.h"

namespace mmt::campaign {

// A choice buffer in MAP_SHARED memory (reserved, filled lazily).
class CaptureBuffer {
 public:
  explicit CaptureBuffer(size_t capacity = size_t{1} << 23);
  ~CaptureBuffer();
  CaptureBuffer(const CaptureBuffer&) = delete;
  CaptureBuffer& operator=(const CaptureBuffer&) = delete;
  void clear();
  void push(const Choice& choice);
  // The captured choices; site names point at the binary's static strings (the worker
  // is a fork of this process) or at names this process owned before the fork.
  std::vector<Choice> choices() const;
  bool overflowed() const;

 private:
  struct Header;
  Header* header_;
  Choice* slots_;
  size_t capacity_;
  size_t bytes_;
};

// Forwards every draw to `inner` and copies it into a CaptureBuffer as it happens.
class CapturingChoices final : public ChoiceSource {
 public:
  CapturingChoices(ChoiceSource& inner, CaptureBuffer& buffer) : inner_(inner), buffer_(buffer) {}

 protected:
  uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) override;

 private:
  ChoiceSource& inner_;
  CaptureBuffer& buffer_;
};

enum class Outcome { Clean, Fail, Crash, Timeout, Nondeterministic };
const char* outcome_name(Outcome outcome);

// A seed's result as the worker reports it (and as the journal records it).
struct WorkerReport {
  Outcome outcome = Outcome::Clean;
  SeedResult result;
  std::string repro_path;  // set when the worker wrote a repro
};

// A running worker process.
class Worker {
 public:
  // Forks; the child runs `body` (with the capture buffer, or null) and sends the
  // text it returns, then exits without running destructors of the parent's state.
  static std::unique_ptr<Worker> start(const std::function<std::string(CaptureBuffer*)>& body, CaptureBuffer* capture);
  ~Worker();
  int fd() const { return fd_; }
  pid_t pid() const { return pid_; }
  // Reads what is available; false once the worker closed its end.
  bool read_some();
  void kill_now();
  // Waits for the worker; returns its wait status.
  int wait();
  const std::string& text() const { return text_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string text_;
};

// Encodes / decodes the report line.
std::string encode_report(const WorkerReport& report);
WorkerReport decode_report(const std::string& line);
// Interprets a finished worker: its report, or a crash/timeout failure from the status.
WorkerReport finish_worker(Worker& worker, bool timed_out, uint64_t timeout_s);

// Runs `choices` (replay) in a worker with capture; the captured choices come back
// even when the worker crashed. Blocks; timeout in wall seconds. Exact replay reads the
// list by position (ReplayChoices); OpAligned realigns it at operation boundaries
// (aligned_replay.h, for shrink candidates).
struct IsolatedReplay {
  WorkerReport report;
  std::vector<Choice> recorded;
};
enum class ReplayAlignment { Exact, OpAligned };
// `hooks` run in the worker (a fork: an EventLog they name records in the worker's copy
// of memory, so it must mirror into a SharedEventLog for the parent to read it).
IsolatedReplay replay_isolated(const Config& config, const std::vector<Choice>& choices, uint64_t timeout_s,
                               ReplayAlignment alignment = ReplayAlignment::Exact, const SeedHooks& hooks = {});
// Runs seed `seed` in a worker with capture (the crash re-run).
IsolatedReplay seed_isolated(const Config& config, uint64_t seed, uint64_t timeout_s);

}  // namespace mmt::campaign
