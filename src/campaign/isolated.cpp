// Worker processes with crash-proof choice capture (isolated.h).
#include "mmtorture/campaign/isolated.h"
#include "mmtorture/campaign/interrupt.h"

#include "coverage_json.h"
#include "mmtorture/campaign/aligned_replay.h"
#include "mmtorture/campaign/crash_report.h"
#include "mmtorture/campaign/seed_metrics.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace mmt::campaign {

struct CaptureBuffer::Header {
  volatile uint64_t count;
  volatile uint64_t overflowed;
};

CaptureBuffer::CaptureBuffer(size_t capacity) : capacity_(capacity) {
  bytes_ = sizeof(Header) + 64 + capacity * sizeof(Choice);
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("capture buffer: mmap failed");
  header_ = static_cast<Header*>(p);
  slots_ = reinterpret_cast<Choice*>(static_cast<char*>(p) + 64);
  clear();
}

CaptureBuffer::~CaptureBuffer() { ::munmap(header_, bytes_); }

void CaptureBuffer::clear() {
  header_->count = 0;
  header_->overflowed = 0;
}

void CaptureBuffer::push(const Choice& choice) {
  const uint64_t n = header_->count;
  if (n >= capacity_) {
    header_->overflowed = 1;
    return;
  }
  slots_[n] = choice;
  header_->count = n + 1;  // after the slot: a crash never exposes a half-written choice
}

std::vector<Choice> CaptureBuffer::choices() const {
  return std::vector<Choice>(slots_, slots_ + header_->count);
}

bool CaptureBuffer::overflowed() const { return header_->overflowed != 0; }

uint64_t CapturingChoices::produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) {
  const uint64_t value =
      bias == Bias::Probability ? (inner_.flip(kind, site, p) ? 1 : 0) : inner_.draw(kind, site, bound);
  buffer_.push(Choice{kind, site, bound, value});
  return value;
}

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::Clean: return "clean";
    case Outcome::Fail: return "fail";
    case Outcome::Crash: return "crash";
    case Outcome::Timeout: return "timeout";
    case Outcome::Nondeterministic: return "nondeterministic";
  }
  return "?";
}

std::unique_ptr<Worker> Worker::start(const std::function<std::string(CaptureBuffer*)>& body, CaptureBuffer* capture) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  // Whatever stdout and the log file hold unwritten would be written twice, by this
  // process and by the child that inherits the buffers.
  std::fflush(stdout);
  std::fflush(stderr);
  spdlog::default_logger()->flush();
  prepare_crash_symbols();  // read once, inherited by every worker
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    reset_interrupt_handlers_in_child();
    ::close(fds[0]);
    install_crash_reporter(fds[1]);
    std::string text;
    try {
      text = body(capture);
    } catch (const std::exception& e) {
      fmt::print(stderr, "mmtorture: worker: {}\n", e.what());
      ::_exit(3);
    }
    text += "\n";
    const char* p = text.data();
    size_t left = text.size();
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(4);
      p += n;
      left -= static_cast<size_t>(n);
    }
    std::fflush(stdout);
    ::_exit(0);
  }
  ::close(fds[1]);
  auto worker = std::unique_ptr<Worker>(new Worker);
  worker->pid_ = pid;
  worker->fd_ = fds[0];
  return worker;
}

Worker::~Worker() {
  if (fd_ >= 0) ::close(fd_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

bool Worker::read_some() {
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text_.append(buffer, static_cast<size_t>(n));
    return true;
  }
}

void Worker::kill_now() {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
}

int Worker::wait() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

std::string encode_report(const WorkerReport& report) {
  nlohmann::json j;
  j["outcome"] = outcome_name(report.outcome);
  j["ops"] = report.result.ops;
  j["virtual_ms"] = report.result.virtual_ms;
  j["trace_hash"] = report.result.trace_hash;
  j["stats"] = report.result.stats;
  j["swarm"] = report.result.swarm;
  j["pct_guarantee"] = report.result.pct_guarantee;
  j["repro"] = report.repro_path;
  if (!report.result.trees_dot.empty()) j["trees_dot"] = report.result.trees_dot;
  if (!report.result.metrics.empty()) j["metrics"] = seed_metrics_json(report.result.metrics);
  if (report.result.bounded) j["bounded"] = bounded_slice_json(*report.result.bounded);
  if (!report.result.coverage.empty()) j["coverage"] = coverage_to_json(report.result.coverage);
  if (const auto& f = report.result.failure) {
    j["failure"] = {{"check", f->check},   {"site", f->site},         {"message", f->message},
                    {"dump", f->dump},     {"op_index", f->op_index}, {"virtual_ms", f->virtual_ms},
                    {"detail", f->detail}};
    if (!f->subject.empty())
      j["failure"]["subject"] = {{"mm_id", f->subject.mm_id},
                                 {"kind", static_cast<int>(f->subject.kind)},
                                 {"first", f->subject.first},
                                 {"last", f->subject.last},
                                 {"depth", f->subject.depth}};
  }
  return j.dump();
}

WorkerReport decode_report(const std::string& line) {
  const auto j = nlohmann::json::parse(line);
  WorkerReport report;
  const std::string outcome = j.at("outcome").get<std::string>();
  for (Outcome o : {Outcome::Clean, Outcome::Fail, Outcome::Crash, Outcome::Timeout, Outcome::Nondeterministic})
    if (outcome == outcome_name(o)) report.outcome = o;
  report.result.ops = j.at("ops").get<uint64_t>();
  report.result.virtual_ms = j.at("virtual_ms").get<uint64_t>();
  report.result.trace_hash = j.at("trace_hash").get<uint64_t>();
  report.result.stats = j.at("stats").get<std::string>();
  report.result.swarm = j.at("swarm").get<std::string>();
  report.result.pct_guarantee = j.value("pct_guarantee", 0.0);
  report.repro_path = j.at("repro").get<std::string>();
  report.result.trees_dot = j.value("trees_dot", std::string{});
  report.result.metrics = seed_metrics_from_json(j.value("metrics", std::string{}));
  if (j.contains("bounded")) report.result.bounded = bounded_slice_from_json(j["bounded"].get<std::string>());
  if (j.contains("coverage")) report.result.coverage = coverage_from_json(j["coverage"]);
  if (j.contains("failure")) {
    const auto& f = j["failure"];
    Failure failure;
    failure.check = f.at("check").get<std::string>();
    failure.site = f.at("site").get<std::string>();
    failure.message = f.at("message").get<std::string>();
    failure.dump = f.at("dump").get<std::string>();
    failure.op_index = f.at("op_index").get<uint64_t>();
    failure.virtual_ms = f.at("virtual_ms").get<uint64_t>();
    failure.detail = f.value("detail", std::string{});
    if (f.contains("subject")) {
      const auto& subject = f["subject"];
      failure.subject.mm_id = subject.at("mm_id").get<uint64_t>();
      failure.subject.kind = static_cast<FailureSubject::Kind>(subject.at("kind").get<int>());
      failure.subject.first = subject.at("first").get<uint64_t>();
      failure.subject.last = subject.at("last").get<uint64_t>();
      failure.subject.depth = subject.at("depth").get<uint32_t>();
    }
    report.result.failure = failure;
  }
  return report;
}

WorkerReport finish_worker(Worker& worker, bool timed_out, uint64_t timeout_s) {
  while (worker.read_some()) {
  }
  const int status = worker.wait();
  const std::string& text = worker.text();
  if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !text.empty()) {
    try {
      return decode_report(text.substr(0, text.find('\n')));
    } catch (const std::exception&) {
    }
  }
  WorkerReport report;
  Failure failure;
  if (timed_out) {
    report.outcome = Outcome::Timeout;
    failure.check = "timeout";
    failure.site = "worker";
    failure.message = fmt::format("seed ran longer than {} s of wall time and was killed", timeout_s);
  } else {
    report.outcome = Outcome::Crash;
    failure.check = "crash";
    // Where it crashed, as the worker named it before it died: the site, so different
    // crash bugs have different signatures.
    const std::optional<CrashFrame> frame = find_crash_frame(text);
    const std::string where = frame && !frame->function.empty() ? " in " + frame->function : "";
    if (WIFSIGNALED(status)) {
      failure.site =
          fmt::format("SIG{}{}", sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?", where);
      failure.message =
          fmt::format("worker process killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (frame && !frame->sanitizer.empty()) {
      failure.site = fmt::format("{}{}", frame->sanitizer, where);
      failure.message = fmt::format("AddressSanitizer: {} (worker exited with status {})", frame->sanitizer,
                                    WEXITSTATUS(status));
    } else {
      failure.site = fmt::format("exit{}", where);
      failure.message = fmt::format("worker process exited with status {} without a report", WEXITSTATUS(status));
    }
  }
  report.result.failure = failure;
  return report;
}

namespace {

IsolatedReplay run_captured(const std::function<std::string(CaptureBuffer*)>& body, uint64_t timeout_s) {
  CaptureBuffer buffer;
  auto worker = Worker::start(body, &buffer);
  const auto started = std::chrono::steady_clock::now();  // timeout detection only
  bool timed_out = false;
  for (;;) {
    pollfd pfd{worker->fd(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 200);
    if (ready > 0 && !worker->read_some()) break;
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(timeout_s)) {
      timed_out = true;
      worker->kill_now();
      break;
    }
  }
  IsolatedReplay out;
  out.report = finish_worker(*worker, timed_out, timeout_s);
  out.recorded = buffer.choices();
  // A worker that died sent no report: its op count is the operations it had begun, one
  // Op draw each, from the choices it shared (a job that draws no Op counts none).
  if (out.report.outcome == Outcome::Crash || out.report.outcome == Outcome::Timeout) {
    out.report.result.ops = static_cast<uint64_t>(std::count_if(
        out.recorded.begin(), out.recorded.end(), [](const Choice& c) { return c.kind == ChoiceKind::Op; }));
    out.report.result.failure->op_index = out.report.result.ops;
  }
  return out;
}

WorkerReport report_of(const SeedResult& result) {
  WorkerReport report;
  report.result = result;
  report.outcome = result.failure ? Outcome::Fail : Outcome::Clean;
  return report;
}

}  // namespace

IsolatedReplay replay_isolated(const Config& config, const std::vector<Choice>& choices, uint64_t timeout_s,
                               ReplayAlignment alignment, const SeedHooks& hooks) {
  return run_captured(
      [&](CaptureBuffer* buffer) {
        if (alignment == ReplayAlignment::OpAligned) {
          OpAlignedChoices replay(choices);
          CapturingChoices capture(replay, *buffer);
          return encode_report(report_of(run_seed(config, capture, hooks)));
        }
        ReplayChoices replay(choices);
        CapturingChoices capture(replay, *buffer);
        return encode_report(report_of(run_seed(config, capture, hooks)));
      },
      timeout_s);
}

IsolatedReplay seed_isolated(const Config& config, uint64_t seed, uint64_t timeout_s) {
  return run_captured(
      [&](CaptureBuffer* buffer) {
        SeededChoices seeded(seed);
        CapturingChoices capture(seeded, *buffer);
        return encode_report(report_of(run_seed(config, capture)));
      },
      timeout_s);
}

}  // namespace mmt::campaign
