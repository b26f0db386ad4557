// The mmtorture command line: `mmtorture run ...`. Exit codes are part of the
// interface: 0 clean, 1 failures found (replay: reproduced), 2 bad input (one line
// naming the file, line and key, or the flag), 3 mmtorture itself failed (an internal
// error or an I/O error: not a verdict on the code under test); a campaign stopped by
// SIGINT or SIGTERM exits 128 + the signal.
#pragma once

#include <functional>

namespace mmt::cli {

inline constexpr int kExitClean = 0;
inline constexpr int kExitFailures = 1;
inline constexpr int kExitBadInput = 2;   // a config, repro, journal or flag the user gave
inline constexpr int kExitToolError = 3;  // our bug or the machine's (I/O): never the input's fault

int main(int argc, char** argv);

// Runs one subcommand and turns what escapes it into its exit code, printing one line
// to stderr: ConfigError (bad input) 2, IoError and every other exception 3.
int guarded(const std::function<int()>& command);

}  // namespace mmt::cli
