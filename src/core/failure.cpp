// Failure signatures and the one failure grammar.
#include "mmtorture/core/failure.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cctype>

namespace mmt {

std::string normalise_numbers(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const bool starts_hex = c == '0' && i + 1 < text.size() && (text[i + 1] == 'x' || text[i + 1] == 'X');
    const bool word_start = i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1]));
    if (std::isdigit(static_cast<unsigned char>(c)) && word_start) {
      // A number token: decimal, or 0x-prefixed hex, or a bare hex word made of
      // digits and a-f (pointer dumps print those).
      size_t j = starts_hex ? i + 2 : i;
      while (j < text.size() && std::isxdigit(static_cast<unsigned char>(text[j]))) ++j;
      if (j == text.size() || !std::isalnum(static_cast<unsigned char>(text[j]))) {
        out.push_back('#');
        i = j;
        continue;
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

std::string Failure::signature() const {
  // The site too: sites may name an address or a pfn ("... at pfn 3197"), which the same
  // bug has at another place.
  return fmt::format("{}|{}|{}", check, normalise_numbers(site), normalise_numbers(message));
}

std::string Failure::signature_id() const {
  const std::string sig = signature();
  return fmt::format("{:016x}", XXH3_64bits(sig.data(), sig.size()));
}

const char* FailureError::what() const noexcept {
  if (what_.empty()) {
    try {
      what_ = failure_.headline();
    } catch (...) {
      return "mmtorture: FAIL (the headline could not be built)";
    }
  }
  return what_.c_str();
}

std::string Failure::headline() const {
  return fmt::format("mmtorture: FAIL {} ({}) at {}: {}{}", check, signature_id(), site, message,
                     detail.empty() ? "" : " [" + detail + "]");
}

namespace detail {
constinit thread_local FailureSink* t_failure_sink = nullptr;
}  // namespace detail

// Both raise_failures offer the failure to the sink first; the parts are moved out, so the
// caller's strings (by-value parameters live in its frame) own nothing when the sink never
// returns to it. The Failure is built only on that branch: the throw keeps building it in
// place in its exception, with no cleanup of its own for the unwinder to stop at.
void raise_failure(std::string check, std::string site, std::string message, std::string dump, std::string detail) {
  if (detail::FailureSink* sink = detail::t_failure_sink; sink && sink->wants_failure()) [[unlikely]]
    sink->take_failure(Failure{std::move(check), std::move(site), std::move(message), std::move(dump), 0, 0,
                               std::move(detail), FailureSubject{}});
  throw FailureError(std::move(check), std::move(site), std::move(message), std::move(dump), std::move(detail),
                     FailureSubject{});
}

void raise_failure(FailureSubject subject, std::string check, std::string site, std::string message,
                   std::string dump) {
  if (detail::FailureSink* sink = detail::t_failure_sink; sink && sink->wants_failure()) [[unlikely]]
    sink->take_failure(
        Failure{std::move(check), std::move(site), std::move(message), std::move(dump), 0, 0, std::string(), subject});
  throw FailureError(std::move(check), std::move(site), std::move(message), std::move(dump), std::string(), subject);
}

std::string FailureSubject::text() const {
  std::string out = mm_id ? fmt::format("mm {}", mm_id) : "";
  if (kind == Kind::None) return out;
  if (!out.empty()) out += ", ";
  if (kind == Kind::Node) return out + fmt::format("node [{:#x}-{:#x}] depth {}", first, last, depth);
  return out + fmt::format("entry [{:#x}-{:#x}]", first, last);
}

}  // namespace mmt
