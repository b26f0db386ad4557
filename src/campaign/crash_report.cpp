// The crash reporter of worker processes (crash_report.h). The handler runs on a stack
// that just faulted, maybe with the heap broken: it allocates nothing, calls only
// backtrace() (loaded before, at install) and write(2), and looks names up in a table
// built before the fork. Names go out mangled; the parent demangles them.
#include "mmtorture/campaign/crash_report.h"

#include <cxxabi.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMT_CRASH_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MMT_CRASH_ASAN 1
#endif
#if MMT_CRASH_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace mmt::campaign {

namespace {

constexpr char kCrashTag[] = "\n#mmtorture-crash ";

struct Symbol {
  uintptr_t start;  // run-time address
  uintptr_t end;
  const char* name;  // mangled, inside the mapped executable
};

// Function symbols of this executable, sorted by address; filled before any fork.
std::vector<Symbol>* g_symbols = nullptr;
int g_fd = -1;

uintptr_t load_bias() {
  uintptr_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        *static_cast<uintptr_t*>(out) = info->dlpi_addr;
        return 1;  // the first object is the executable
      },
      &bias);
  return bias;
}

// The .symtab (or, stripped, .dynsym) functions of /proc/self/exe; the file stays
// mapped for the process's life because the names point into it.
std::vector<Symbol> read_symbols() {
  std::vector<Symbol> symbols;
  const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return symbols;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    ::close(fd);
    return symbols;
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return symbols;
  const auto* base = static_cast<const unsigned char*>(map);
  const auto* ehdr = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (std::memcmp(ehdr->e_ident, ELFMAG, SELFMAG) != 0 || ehdr->e_ident[EI_CLASS] != ELFCLASS64 ||
      ehdr->e_shoff + size_t{ehdr->e_shnum} * sizeof(Elf64_Shdr) > size)
    return symbols;
  const auto* sections = reinterpret_cast<const Elf64_Shdr*>(base + ehdr->e_shoff);
  const uintptr_t bias = load_bias();
  for (unsigned want : {unsigned{SHT_SYMTAB}, unsigned{SHT_DYNSYM}}) {
    for (size_t i = 0; i < ehdr->e_shnum; ++i) {
      const Elf64_Shdr& section = sections[i];
      if (section.sh_type != want || section.sh_link >= ehdr->e_shnum) continue;
      const Elf64_Shdr& strings = sections[section.sh_link];
      if (section.sh_offset + section.sh_size > size || strings.sh_offset + strings.sh_size > size) continue;
      const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + section.sh_offset);
      const size_t count = section.sh_size / sizeof(Elf64_Sym);
      const char* names = reinterpret_cast<const char*>(base + strings.sh_offset);
      for (size_t s = 0; s < count; ++s) {
        const Elf64_Sym& sym = syms[s];
        if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_value == 0 || sym.st_size == 0) continue;
        if (sym.st_name >= strings.sh_size) continue;
        symbols.push_back(Symbol{bias + sym.st_value, bias + sym.st_value + sym.st_size, names + sym.st_name});
      }
    }
    if (!symbols.empty()) break;
  }
  std::sort(symbols.begin(), symbols.end(), [](const Symbol& a, const Symbol& b) { return a.start < b.start; });
  return symbols;
}

// The symbol containing `pc`, or null. No allocation.
const Symbol* lookup(uintptr_t pc) {
  if (!g_symbols || g_symbols->empty()) return nullptr;
  const auto& table = *g_symbols;
  size_t low = 0, high = table.size();
  while (low < high) {
    const size_t mid = low + (high - low) / 2;
    if (table[mid].start <= pc) low = mid + 1;
    else high = mid;
  }
  if (low == 0) return nullptr;
  const Symbol& symbol = table[low - 1];
  return pc < symbol.end ? &symbol : nullptr;
}

// Ours: a function of namespace mmt (its mangled name nests in "3mmt"), which is what a
// signature should name — not libc, libstdc++, Boost or the sanitizer runtime.
bool ours(const Symbol* symbol) {
  if (!symbol) return false;
  const char* name = symbol->name;
  return std::strncmp(name, "_ZN3mmt", 7) == 0 || std::strncmp(name, "_ZNK3mmt", 8) == 0 ||
         std::strncmp(name, "_ZZN3mmt", 8) == 0 || std::strncmp(name, "_ZZNK3mmt", 9) == 0;
}

bool in_reporter(const Symbol* symbol) {
  return symbol && std::strstr(symbol->name, "crash_report_detail") != nullptr;
}

void write_all(const char* text, size_t length) {
  while (length > 0) {
    const ssize_t n = ::write(g_fd, text, length);
    if (n <= 0) return;
    text += n;
    length -= static_cast<size_t>(n);
  }
}

void write_text(const char* text) { write_all(text, std::strlen(text)); }

}  // namespace

// The reporter's own frames carry this namespace so a stack walk can skip them.
namespace crash_report_detail {

// The innermost function of ours at or above `pc` (the faulting instruction; 0 when
// unknown) on the current stack; skips the reporter's frames and, before the first
// function of ours is found, everything that is not ours (the signal trampoline,
// libc's abort, the sanitizer runtime).
[[gnu::noinline]] const Symbol* faulting_function(uintptr_t pc) {
  if (const Symbol* at_pc = lookup(pc); ours(at_pc) && !in_reporter(at_pc)) return at_pc;
  void* frames[128];
  const int count = backtrace(frames, 128);
  bool past_pc = pc == 0;
  for (int i = 0; i < count; ++i) {
    const auto address = reinterpret_cast<uintptr_t>(frames[i]);
    if (!past_pc) {
      past_pc = address == pc;
      continue;
    }
    // A return address: the call instruction is just before it.
    const Symbol* symbol = lookup(address - 1);
    if (ours(symbol) && !in_reporter(symbol)) return symbol;
  }
  if (!past_pc) return faulting_function(0);  // the unwinder did not pass the signal frame
  return nullptr;
}

[[gnu::noinline]] void report(const Symbol* symbol, const char* sanitizer) {
  write_text(kCrashTag);
  write_text(symbol ? symbol->name : "?");
  if (sanitizer && *sanitizer) {
    write_text(" ");
    write_text(sanitizer);
  }
  write_text("\n");
}

void on_fatal_signal(int signal, siginfo_t*, void* context) {
  uintptr_t pc = 0;
#if defined(__x86_64__)
  pc = static_cast<uintptr_t>(static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  pc = static_cast<uintptr_t>(static_cast<ucontext_t*>(context)->uc_mcontext.pc);
#else
  (void)context;
#endif
  report(faulting_function(pc), nullptr);
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

#if MMT_CRASH_ASAN
void on_sanitizer_death() {
  const uintptr_t pc = __asan_report_present() ? reinterpret_cast<uintptr_t>(__asan_get_report_pc()) : 0;
  report(faulting_function(pc), __asan_report_present() ? __asan_get_report_description() : nullptr);
}
#endif

}  // namespace crash_report_detail

void prepare_crash_symbols() {
  if (g_symbols) return;
  g_symbols = new std::vector<Symbol>(read_symbols());  // for the process's life
}

void install_crash_reporter(int fd) {
  prepare_crash_symbols();
  g_fd = fd;
  void* warm[2];
  backtrace(warm, 2);  // loads the unwinder now, not inside a handler
  struct sigaction action {};
  action.sa_sigaction = crash_report_detail::on_fatal_signal;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::sigaction(signal, &action, nullptr);
#if MMT_CRASH_ASAN
  __sanitizer_set_death_callback(crash_report_detail::on_sanitizer_death);
#endif
}

std::string short_function_name(const std::string& mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status),
                                                   std::free);
  std::string name = status == 0 && demangled ? demangled.get() : mangled;
  // Cut the parameter list of the outermost function: the first '(' outside template
  // brackets that does not open "(anonymous namespace)".
  int angle = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++angle;
    else if (name[i] == '>') --angle;
    else if (name[i] == '(' && angle == 0 && name.compare(i, 21, "(anonymous namespace)") != 0) {
      name.resize(i);
      break;
    }
  }
  for (size_t at; (at = name.find("[abi:")) != std::string::npos;) {
    const size_t end = name.find(']', at);
    name.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
  }
  return name;
}

std::optional<CrashFrame> find_crash_frame(const std::string& text) {
  const std::string tag = kCrashTag + 1;  // without the leading newline
  const size_t at = text.rfind(tag);
  if (at == std::string::npos || (at > 0 && text[at - 1] != '\n')) return std::nullopt;
  const size_t end = text.find('\n', at);
  const std::string line =
      text.substr(at + tag.size(), end == std::string::npos ? std::string::npos : end - at - tag.size());
  CrashFrame frame;
  const size_t space = line.find(' ');
  const std::string symbol = line.substr(0, space);
  if (space != std::string::npos) frame.sanitizer = line.substr(space + 1);
  frame.function = symbol == "?" ? "" : short_function_name(symbol);
  return frame;
}

}  // namespace mmt::campaign
