// GFP flags: how an allocation may behave. The bit values follow the kernel's meaning
// (not its numbers): GFP_KERNEL may sleep and enter direct reclaim; GFP_NOWAIT never
// sleeps and may fail under pressure; __GFP_NOWARN silences the failure warning;
// __GFP_NOFAIL loops until it succeeds. The kernel spellings live in the facade
// (maple/kernel_api.h); simulation code uses these.
#pragma once

#include <cstdint>

namespace mmt {

using gfp_t = unsigned int;

namespace gfp {
inline constexpr gfp_t kIo = 0x40u;
inline constexpr gfp_t kFs = 0x80u;
inline constexpr gfp_t kHigh = 0x20u;
inline constexpr gfp_t kDirectReclaim = 0x400u;
inline constexpr gfp_t kKswapdReclaim = 0x800u;
inline constexpr gfp_t kNowarn = 0x2000u;
inline constexpr gfp_t kNofail = 0x8000u;
inline constexpr gfp_t kZero = 0x100u;
inline constexpr gfp_t kMovable = 0x08u;
inline constexpr gfp_t kReclaim = kDirectReclaim | kKswapdReclaim;

inline constexpr gfp_t kKernel = kReclaim | kIo | kFs;
inline constexpr gfp_t kNowait = kKswapdReclaim | kNowarn;
inline constexpr gfp_t kAtomic = kHigh | kKswapdReclaim;

// True when an allocation with these flags may sleep (and so must not be made in
// atomic context), as the kernel's gfpflags_allow_blocking().
constexpr bool allows_blocking(gfp_t flags) { return (flags & kDirectReclaim) != 0; }
}  // namespace gfp

}  // namespace mmt
