// Running Graphviz's dot for replay --dump-tree=svg: no shell (paths are passed as
// arguments), the Graphviz text on a temporary file, dot's messages kept for the error.
#include "mmtorture/cli/graphviz.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/repro.h"

extern char** environ;

namespace mmt::cli {

std::string find_graphviz_dot() {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::string_view dirs(path);
  while (!dirs.empty()) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    const std::string candidate = fmt::format("{}/dot", dir.empty() ? "." : dir);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

namespace {

// Removes the temporary files however render_dot_svg leaves.
struct TempFiles {
  std::string dot, svg, messages;
  ~TempFiles() {
    for (const std::string* path : {&dot, &svg, &messages}) std::remove(path->c_str());
  }
};

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

void render_dot_svg(const std::string& dot_executable, const std::string& dot_text, const std::string& out) {
  const unsigned long pid = static_cast<unsigned long>(::getpid());
  TempFiles temp{fmt::format("{}.dot.tmp.{}", out, pid), fmt::format("{}.tmp.{}", out, pid),
                 fmt::format("{}.log.tmp.{}", out, pid)};
  campaign::write_file_atomic(temp.dot, dot_text);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, temp.messages.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::string arg0 = dot_executable, format = "-Tsvg", output = "-o" + temp.svg, input = temp.dot;
  char* argv[] = {arg0.data(), format.data(), output.data(), input.data(), nullptr};
  ::pid_t child = 0;
  const int spawned = ::posix_spawn(&child, dot_executable.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0)
    throw campaign::IoError(fmt::format("{}: cannot run {}: {}", out, dot_executable, std::strerror(spawned)));
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw campaign::IoError(fmt::format("{}: {} -Tsvg failed ({}): {}", out, dot_executable,
                                        WIFEXITED(status) ? fmt::format("exit {}", WEXITSTATUS(status))
                                                          : fmt::format("signal {}", WTERMSIG(status)),
                                        first_line(temp.messages)));
  if (std::rename(temp.svg.c_str(), out.c_str()) != 0)
    throw campaign::IoError(fmt::format("{}: rename failed: {}", out, std::strerror(errno)));
}

}  // namespace mmt::cli
