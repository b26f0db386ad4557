// Where a worker crashed, named by the worker itself before it dies:
// every SIGSEGV shared one signature, so different crash bugs merged. A fatal signal's
// handler (and, in ASan builds, the sanitizer's death callback) takes the innermost
// frame of the stack that is a function of ours — namespace mmt, looked up in this
// executable's own ELF symbol table, read before the worker was forked — and writes it
// as one line to the worker's report pipe; the parent makes it part of the crash's
// site ("SIGSEGV in mmt::vma::dump_mm"). No address enters the signature, so it is the
// same on every run of one binary (inlining may name the caller in another build).
#pragma once

#include <optional>
#include <string>

namespace mmt::campaign {

// Reads this executable's function symbols (once per process; call before fork so
// every worker inherits them). Cheap when done already.
void prepare_crash_symbols();

// In a worker child: on SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (and on an ASan
// report), write the crash line to `fd`, then die of the same signal as before.
void install_crash_reporter(int fd);

// What a crash line in a dead worker's output says.
struct CrashFrame {
  std::string function;  // demangled, without its parameter list: "mmt::vma::dump_mm"
  std::string sanitizer;  // the ASan report's kind ("heap-use-after-free"), or ""
};
// The crash line in `text` (what the worker wrote before it died), if there is one.
std::optional<CrashFrame> find_crash_frame(const std::string& text);

// The demangled name of a mangled symbol, cut before its parameter list and without
// ABI tags ("_ZN3mmt3vma7dump_mmB5cxx11ERNS0_2MmE" -> "mmt::vma::dump_mm").
std::string short_function_name(const std::string& mangled);

}  // namespace mmt::campaign
