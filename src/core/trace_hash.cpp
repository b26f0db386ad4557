// TraceHash folding. xxHash's XXH3 is specified byte-for-byte, so the digest does not
// depend on the compiler; the event is packed into four 64-bit words first (host byte order; we build
// for x86-64 only).
#include "mmtorture/core/trace_hash.h"

// Inlined (the same XXH3, specified byte for byte): a fold is on every thread switch,
// and with the size known here the compiler keeps only XXH3's 17..128-byte path.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace mmt {

void TraceHash::fold(TraceEvent event, uint64_t a, uint64_t b, uint64_t c) {
  const uint64_t words[4] = {static_cast<uint64_t>(event), a, b, c};
  hash_ = XXH3_64bits_withSeed(words, sizeof(words), hash_);
  ++events_;
}

void TraceHash::fold_string(TraceEvent event, std::string_view text) {
  const uint64_t text_hash = XXH3_64bits(text.data(), text.size());
  fold(event, text_hash, text.size());
}

}  // namespace mmt
