// SPDX-License-Identifier: GPL-2.0-only
// mmtorture-conformance: the kernel's own maple tree tests as a conformance suite.
//
// The provisioned kernel tree's lib/test_maple_tree.c (scripts/kernel-source extracts it;
// it is compiled as it is, never edited) is split at build time into the checks its
// maple_tree_seed() runs (src/conformance/split_seed.py), and this program runs each
// check on its own, in a child process with a fresh tree, memory and node cache, so
// one failure, crash or hang hides none of the others. Each check is reported as
// passed, failed (its first failing assertion: file:line, function, the assertion's
// text and value, or the kernel BUG/WARN, crash or CPU limit that ended it) or not
// applicable (the preprocessor left it out, e.g. the benchmarks), with the number of
// assertions it ran.
//
// The checks of the userspace suite's tools/testing/radix-tree/maple.c that use only
// the tree's public and advanced API follow, named maple.c:<functions>
// (src/conformance/split_userspace.py); its checks that use the tree's internals are
// not applicable, with the internal named.
//
// Two trees can be under test (--tree): the kernel's lib/maple_tree.c on mmtorture's
// shim (the kernel backend: a check failing there is a harness problem), and the model
// (src/maple), for which the test file is compiled as C++ against the model's facade
// (src/conformance/model/linux/maple_tree.h). A list of the checks known to fail on the
// model, each with its reason (--expect), turns the run into a gate: a failure not on
// the list, or a listed check that passes, fails the run.
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/kernel/kernel_tree.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"
#include "model_env.h"

extern "C" {
// The generated table's layout (conformance.h, which is C for the kernel's headers).
struct mmtk_conformance_check {
  const char* name;
  void (*run)(void);
  unsigned int line;
  const char* condition;
  int present;
  const char* not_applicable;
};
extern const mmtk_conformance_check mmtk_conformance_kernel_checks[];
extern const unsigned int mmtk_conformance_kernel_nr_checks;
void mmtk_conformance_kernel_init(void);
unsigned int mmtk_conformance_kernel_assertions(int passed);
#ifdef MMTK_CONFORMANCE_MODEL
extern const mmtk_conformance_check mmtk_conformance_model_checks[];
extern const unsigned int mmtk_conformance_model_nr_checks;
void mmtk_conformance_model_init(void);
unsigned int mmtk_conformance_model_assertions(int passed);
#endif
#ifdef MMTK_CONFORMANCE_USERSPACE
extern const mmtk_conformance_check mmtk_conformance_kernel_userspace_checks[];
extern const unsigned int mmtk_conformance_kernel_userspace_nr_checks;
void mmtk_conformance_kernel_userspace_init(void);
unsigned int mmtk_conformance_kernel_userspace_assertions(int passed);
#endif
#if defined(MMTK_CONFORMANCE_USERSPACE) && defined(MMTK_CONFORMANCE_MODEL)
extern const mmtk_conformance_check mmtk_conformance_model_userspace_checks[];
extern const unsigned int mmtk_conformance_model_userspace_nr_checks;
void mmtk_conformance_model_userspace_init(void);
unsigned int mmtk_conformance_model_userspace_assertions(int passed);
#endif
}

namespace {

using Clock = std::chrono::steady_clock;  // timing for the report only

// One test file compiled against one tree: its generated table and accessors.
struct Suite {
  const char* tree;  // "kernel" or "model"
  const char* file;  // the kernel's test file, relative to the tree
  bool kernel;       // the kernel's tree: runs in a KernelEnv, its log is the env's
  const mmtk_conformance_check* checks;
  unsigned count;
  void (*init)();
  unsigned (*assertions)(int passed);
};

constexpr const char* kLibFile = "lib/test_maple_tree.c";
constexpr const char* kUserspaceFile = "tools/testing/radix-tree/maple.c";

// The test files compiled against a tree: lib/test_maple_tree.c, then (when the kernel
// tree the build was configured with had it) the userspace suite's maple.c.
std::vector<Suite> suites_for(const std::string& tree) {
  std::vector<Suite> out;
  if (tree == "kernel") {
    out.push_back({"kernel", kLibFile, true, mmtk_conformance_kernel_checks, mmtk_conformance_kernel_nr_checks,
                   mmtk_conformance_kernel_init, mmtk_conformance_kernel_assertions});
#ifdef MMTK_CONFORMANCE_USERSPACE
    out.push_back({"kernel", kUserspaceFile, true, mmtk_conformance_kernel_userspace_checks,
                   mmtk_conformance_kernel_userspace_nr_checks, mmtk_conformance_kernel_userspace_init,
                   mmtk_conformance_kernel_userspace_assertions});
#endif
  } else {
#ifdef MMTK_CONFORMANCE_MODEL
    out.push_back({"model", kLibFile, false, mmtk_conformance_model_checks, mmtk_conformance_model_nr_checks,
                   mmtk_conformance_model_init, mmtk_conformance_model_assertions});
#endif
#if defined(MMTK_CONFORMANCE_USERSPACE) && defined(MMTK_CONFORMANCE_MODEL)
    out.push_back({"model", kUserspaceFile, false, mmtk_conformance_model_userspace_checks,
                   mmtk_conformance_model_userspace_nr_checks, mmtk_conformance_model_userspace_init,
                   mmtk_conformance_model_userspace_assertions});
#endif
  }
  return out;
}

// ---- the child's side: the assertion hooks and the run of one check ----------------

// --fail CHECK:N inverts the Nth assertion of CHECK (tests the harness: a failing check
// is reported with its assertion, and the other checks still run).
unsigned long invert_at = 0;
unsigned long assertions_seen = 0;
// --budget N: a check stops at the first of its assertions after N were counted.
unsigned long assertion_budget = 0;
struct BudgetReached {};
int report_fd = -1;
unsigned (*child_assertions)(int) = nullptr;

struct AssertionFailure {
  std::string file;
  int line = 0;
  std::string func;
  std::string assertion;
  unsigned long value = 0;
};
std::optional<AssertionFailure> failed_assertion;

std::string basename_of(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

// SIGXCPU: the check used its CPU time (a hang, e.g. a loop that never ends). Reports
// what it had run, with async-signal-safe calls only, and ends the child.
void on_cpu_limit(int) {
  char buffer[96];
  const char prefix[] = "{\"status\":\"cpu-limit\",\"run\":";
  size_t n = sizeof prefix - 1;
  std::memcpy(buffer, prefix, n);
  char digits[24];
  size_t d = 0;
  unsigned long run = child_assertions ? child_assertions(0) : assertions_seen;
  do {
    digits[d++] = static_cast<char>('0' + run % 10);
    run /= 10;
  } while (run);
  while (d) buffer[n++] = digits[--d];
  buffer[n++] = '}';
  ssize_t ignored = write(report_fd, buffer, n);
  (void)ignored;
  _exit(3);
}

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// The world a check runs in: memory, the kernel's node cache and the environment that
// routes the kernel code's kmem_cache, locks and printk to them. GFP_KERNEL requests
// succeed (a 1 GiB machine, no fault plan rules), as in the kernel's module.
struct World {
  static mmt::mem::MemConfig config() {
    mmt::mem::MemConfig c;
    c.pages = uint64_t{1} << 18;
    return c;
  }
  World() : choices(1), memory(config(), choices, &plan), nodes(memory, "maple_node", 256, 256), env(nodes) {}
  mmt::SeededChoices choices;
  mmt::mem::FaultPlan plan;
  mmt::mem::Memory memory;
  mmt::mem::KmemCache nodes;
  mmt::kernel::KernelEnv env;
};

[[noreturn]] void run_child(const Suite& suite, const mmtk_conformance_check& check, int fd, unsigned cpu_limit_s,
                            unsigned long invert, unsigned long budget) {
  report_fd = fd;
  invert_at = invert;
  assertion_budget = budget;
  child_assertions = suite.assertions;
  rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  rlimit cpu{cpu_limit_s, cpu_limit_s + 2};
  setrlimit(RLIMIT_CPU, &cpu);
  signal(SIGXCPU, on_cpu_limit);

  nlohmann::json out;
  std::string log;
  try {
    std::optional<World> world;
    if (suite.kernel) world.emplace();
    try {
      suite.init();
      check.run();
      out["status"] = "passed";
    } catch (const BudgetReached&) {
      out["status"] = "budget";
    } catch (const mmt::FailureError& error) {
      const mmt::Failure& failure = error.failure();
      out["status"] = "failed";
      if (failed_assertion) {
        out["where"] = fmt::format("{}:{}", failed_assertion->file, failed_assertion->line);
        out["function"] = failed_assertion->func;
        out["what"] = fmt::format("{} [value {}]", failed_assertion->assertion, failed_assertion->value);
      } else {
        out["where"] = failure.site;
        out["function"] = failure.site;
        out["what"] = fmt::format("{}: {}", failure.check, failure.message);
      }
      log = failure.dump;
    }
    if (world) {
      log += world->env.take_log();
      world->env.release_held();
    } else {
#ifdef MMTK_CONFORMANCE_MODEL
      log += mmtk_model_take_log();
#endif
    }
  } catch (const mmt::FailureError& error) {
    out["status"] = "failed";
    out["where"] = error.failure().site;
    out["function"] = error.failure().site;
    out["what"] =
        fmt::format("{}: {} (setting up or tearing down the world)", error.failure().check, error.failure().message);
  } catch (const std::exception& error) {
    out["status"] = "failed";
    out["where"] = "";
    out["function"] = "";
    out["what"] = fmt::format("exception: {}", error.what());
  }
  out["run"] = suite.assertions(0);
  out["passed"] = suite.assertions(1);
  out["log"] = log;
  write_all(fd, out.dump());
  _exit(0);
}

}  // namespace

extern "C" int mmtk_conformance_verdict(int failed) {
  ++assertions_seen;
  // Thrown through the kernel's test frames (compiled with -fexceptions); the child
  // ends right after, so what the check held is never used again.
  if (assertion_budget != 0 && child_assertions(0) >= assertion_budget) throw BudgetReached{};
  if (invert_at != 0 && assertions_seen == invert_at) return !failed;
  return failed;
}

extern "C" void mmtk_conformance_failed(const char* file, int line, const char* func, const char* assertion,
                                        unsigned long value) {
  failed_assertion = AssertionFailure{basename_of(file), line, func, assertion, value};
  mmt::raise_failure("conformance.assertion", func,
                     fmt::format("{}:{}: {} [value {}]", basename_of(file), line, assertion, value));
}

namespace {

// ---- the parent's side ---------------------------------------------------------------

struct Result {
  std::string status;  // passed, failed, not applicable
  std::string detail;  // failed: the first failure; not applicable: why
  unsigned long run = 0;
  unsigned long passed = 0;
  double seconds = 0;
  std::string log;
};

Result run_isolated(const Suite& suite, const mmtk_conformance_check& check, unsigned cpu_limit_s, unsigned long invert,
                    unsigned long budget) {
  Result result;
  if (!check.present) {
    result.status = "not applicable";
    result.detail = fmt::format("compiled out: #if {}", check.condition);
    return result;
  }
  if (check.not_applicable && *check.not_applicable) {
    result.status = "not applicable";
    result.detail = check.not_applicable;
    return result;
  }
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  std::fflush(nullptr);
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    close(fds[0]);
    run_child(suite, check, fds[1], cpu_limit_s, invert, budget);
  }
  close(fds[1]);
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();

  nlohmann::json report = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (report.is_object() && report.contains("status")) {
    result.run = report.value("run", 0ul);
    result.passed = report.value("passed", 0ul);
    const std::string status = report["status"];
    if (status == "passed") {
      result.status = "passed";
    } else if (status == "budget") {
      result.status = "passed";
      result.detail = "(stopped at the assertion budget)";
    } else if (status == "cpu-limit") {
      result.status = "failed";
      result.detail = fmt::format("CPU limit of {} s reached (a loop that does not end?) after {} assertions",
                                  cpu_limit_s, result.run);
    } else {
      result.status = "failed";
      const std::string where = report.value("where", "");
      const std::string function = report.value("function", "");
      result.detail = where == function || function.empty()
                          ? fmt::format("{}: {}", where, report.value("what", ""))
                          : fmt::format("{} {}: {}", where, function, report.value("what", ""));
      result.log = report.value("log", "");
    }
  } else {
    result.status = "failed";
    if (WIFSIGNALED(wstatus))
      result.detail = fmt::format("the check died of signal {} ({})", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
    else result.detail = fmt::format("the check exited with status {} without a report", WEXITSTATUS(wstatus));
  }
  return result;
}

std::string with_commas(unsigned long n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

struct Options {
  std::string tree = "kernel";
  std::string expect;
  bool list = false;
  std::vector<std::string> only;
  std::vector<std::string> skip;
  std::string fail;
  unsigned cpu_limit_s = 60;
  unsigned long budget = 0;
  bool verbose = false;
};

[[noreturn]] void bad_input(const std::string& line) {
  fmt::print(stderr, "mmtorture-conformance: {}\n", line);
  std::exit(2);
}

// --expect FILE: "<check> <reason>" a line ('#' starts a comment line): the checks known
// to fail on this tree, each with why.
std::map<std::string, std::string> read_expected(const std::string& path,
                                                 const std::map<std::string, const mmtk_conformance_check*>& checks) {
  std::ifstream in(path);
  if (!in) bad_input(fmt::format("--expect {}: cannot read it", path));
  std::map<std::string, std::string> expected;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const size_t end = line.find_first_of(" \t", start);
    const std::string name = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const size_t reason_at = end == std::string::npos ? std::string::npos : line.find_first_not_of(" \t", end);
    if (reason_at == std::string::npos) bad_input(fmt::format("{}:{}: {}: no reason given", path, number, name));
    if (!checks.count(name))
      bad_input(fmt::format("{}:{}: {}: no such check in this test file (--list shows them)", path, number, name));
    if (!expected.emplace(name, line.substr(reason_at)).second)
      bad_input(fmt::format("{}:{}: {}: listed twice", path, number, name));
  }
  return expected;
}

// --fail CHECK[:N]: fail the Nth assertion (from 1; 1 without :N) of CHECK.
struct FailAt {
  std::string check;
  unsigned long at = 0;
};
FailAt parse_fail(const std::string& fail) {
  FailAt out;
  if (fail.empty()) return out;
  const size_t colon = fail.rfind(':');
  out.check = fail.substr(0, colon);
  out.at = 1;
  if (colon != std::string::npos) {
    const std::string n = fail.substr(colon + 1);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 9 || std::stoul(n) == 0)
      bad_input(fmt::format("--fail {}: N must be a number from 1", fail));
    out.at = std::stoul(n);
  }
  return out;
}

// A check of a suite.
struct Entry {
  const Suite* suite;
  const mmtk_conformance_check* check;
};

// --list: every check of the test files, with the line it starts at and, for one that
// does not run, why.
void print_list(const std::vector<Entry>& entries) {
  for (const Entry& entry : entries) {
    const auto& check = *entry.check;
    std::string why;
    if (!check.present) why = fmt::format("  (compiled out: #if {})", check.condition);
    else if (check.not_applicable && *check.not_applicable)
      why = fmt::format("  (not applicable: {})", check.not_applicable);
    fmt::print("{:<48} line {}{}\n", check.name, check.line, why);
  }
}

// The test files compiled against --tree; bad input when it names no tree or one this
// build has not got.
std::vector<Suite> suites_of(const Options& options) {
  if (options.tree != "kernel" && options.tree != "model")
    bad_input(fmt::format("--tree {}: unknown tree (kernel or model)", options.tree));
#ifndef MMTK_CONFORMANCE_MODEL
  if (options.tree == "model")
    bad_input(
        fmt::format("--tree model: not built for linux {}: its tests use the cursor of its own API (states "
                    "encoded in mas->node: MAS_START, MAS_NONE, ...), the model has 6.12's (mas->status)",
                    mmt::kernel::kernel_version()));
#endif
  return suites_for(options.tree);
}

// Per test file, when the run had more than one: passed, failed, not applicable, assertions.
void print_per_file(const std::vector<Suite>& suites, std::map<const Suite*, std::array<unsigned long, 4>>& per_file) {
  if (per_file.size() <= 1) return;
  for (const Suite& suite : suites) {
    const auto& counts = per_file[&suite];
    fmt::print("{}: {} passed, {} failed, {} not applicable; {} assertions\n", suite.file, counts[0], counts[1],
               counts[2], with_commas(counts[3]));
  }
}

int run(const Options& options) {
  const std::vector<Suite> suites = suites_of(options);
  std::vector<Entry> entries;
  std::map<std::string, const mmtk_conformance_check*> by_name;
  for (const Suite& suite : suites)
    for (unsigned i = 0; i < suite.count; ++i) {
      entries.push_back({&suite, &suite.checks[i]});
      by_name[suite.checks[i].name] = &suite.checks[i];
    }
  auto known = [&](const std::string& name, const char* flag) {
    if (!by_name.count(name)) bad_input(fmt::format("{} {}: no such check (--list shows them)", flag, name));
  };
  for (const auto& name : options.only) known(name, "--check");
  for (const auto& name : options.skip) known(name, "--skip");
  const FailAt fail = parse_fail(options.fail);
  if (!fail.check.empty()) known(fail.check, "--fail");
  const std::map<std::string, std::string> expected =
      options.expect.empty() ? std::map<std::string, std::string>{} : read_expected(options.expect, by_name);

  std::string files;
  for (const Suite& suite : suites) files += fmt::format("{}{}", files.empty() ? "" : " and ", suite.file);
  fmt::print("mmtorture-conformance: {} of linux {} against the {} tree: {} checks\n", files,
             mmt::kernel::kernel_version(), options.tree, entries.size());
  if (options.list) {
    print_list(entries);
    return 0;
  }
  const int label_width = expected.empty() ? 4 : 5;  // room for XPASS/XFAIL
  const std::set<std::string> only(options.only.begin(), options.only.end());
  const std::set<std::string> skip(options.skip.begin(), options.skip.end());
  unsigned passed = 0, failed = 0, not_applicable = 0, expected_failures = 0, new_failures = 0, unexpected_passes = 0;
  unsigned long assertions = 0;
  // Per test file: passed, failed, not applicable, assertions.
  std::map<const Suite*, std::array<unsigned long, 4>> per_file;
  const auto start = Clock::now();
  for (const Entry& entry : entries) {
    const Suite& suite = *entry.suite;
    const auto& check = *entry.check;
    if ((!only.empty() && !only.count(check.name)) || skip.count(check.name)) continue;
    const Result result =
        run_isolated(suite, check, options.cpu_limit_s, check.name == fail.check ? fail.at : 0, options.budget);
    assertions += result.run;
    auto& file_counts = per_file[&suite];
    file_counts[result.status == "passed" ? 0 : result.status == "failed" ? 1 : 2]++;
    file_counts[3] += result.run;
    const auto listed = expected.find(check.name);
    if (result.status == "passed") {
      ++passed;
      if (listed != expected.end()) ++unexpected_passes;
      fmt::print(
          "{:<{}} {:<44} {:>12} assertions {:8.2f} s{}{}{}\n", listed == expected.end() ? "PASS" : "XPASS", label_width,
          check.name, with_commas(result.run), result.seconds, result.detail.empty() ? "" : "  ", result.detail,
          listed == expected.end() ? ""
                                   : fmt::format("  (listed as failing in {}: take it off the list)", options.expect));
    } else if (result.status == "failed") {
      ++failed;
      if (listed != expected.end()) ++expected_failures;
      else ++new_failures;
      fmt::print("{:<{}} {:<44} {:>12} assertions {:8.2f} s  {}{}\n", listed == expected.end() ? "FAIL" : "XFAIL",
                 label_width, check.name, with_commas(result.run), result.seconds, result.detail,
                 listed == expected.end() ? "" : fmt::format("  (expected: {})", listed->second));
      if (options.verbose && !result.log.empty()) fmt::print("{}\n", result.log);
    } else {
      ++not_applicable;
      fmt::print("{:<{}} {:<44} {}\n", "N/A", label_width, check.name, result.detail);
    }
    std::fflush(stdout);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  print_per_file(suites, per_file);
  fmt::print("SUMMARY: {} passed, {} failed, {} not applicable; {} assertions; {:.1f} s\n", passed, failed,
             not_applicable, with_commas(assertions), seconds);
  if (options.expect.empty()) return failed ? 1 : 0;
  fmt::print("EXPECTED: {} of the failures are listed in {}; {} new failure(s); {} listed check(s) passed\n",
             expected_failures, options.expect, new_failures, unexpected_passes);
  return new_failures || unexpected_passes ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{
      "mmtorture-conformance: runs the kernel's own maple tree tests (lib/test_maple_tree.c of the kernel tree "
      "this build was configured with, then the checks of tools/testing/radix-tree/maple.c that use only the "
      "public and advanced API), each check alone in a child process, and reports each as passed, failed "
      "(its first failing assertion) or not applicable (with why). Exit 0 when none "
      "failed (with --expect: none but those listed, and every listed one), 1 otherwise, 2 on bad input."};
  app.add_option("--tree", options.tree,
                 "The tree under test: kernel (the kernel's lib/maple_tree.c) or model (mmtorture's, src/maple)");
  app.add_option("--expect", options.expect,
                 "FILE: the checks known to fail on this tree, '<check> <reason>' a line; the run fails on a "
                 "failure not listed there or a listed check that passes");
  app.add_flag("--list", options.list, "List the checks (name, line in the test file) and exit");
  app.add_option("--check", options.only, "Run only this check (repeatable; names as --list prints them)");
  app.add_option("--skip", options.skip, "Do not run this check (repeatable)");
  app.add_option("--cpu-limit-s", options.cpu_limit_s,
                 "CPU seconds a check may use before it is ended and reported failed (a hang)")
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--budget", options.budget,
                 "Stop each check at its first assertion after N assertions were counted (the test's and the "
                 "tree's own debug checks, as the kernel counts them); a check stopped there passed so far. "
                 "0: no budget")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--fail", options.fail,
                 "CHECK[:N]: invert CHECK's Nth assertion (default the first), to see the harness report a "
                 "failure and run the other checks");
  app.add_flag("--verbose", options.verbose, "Print what the kernel printed (its tree dump) for each failed check");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  try {
    return run(options);
  } catch (const std::exception& error) {
    fmt::print(stderr, "mmtorture-conformance: {}\n", error.what());
    return 2;
  }
}
