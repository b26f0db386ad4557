// Trees rebuilt from the oracle recordings (tests/maple/oracle), for tests that ask the
// model and the kernel's tree the same question about one recorded state.
#pragma once

#include <array>
#include <utility>

namespace mmt::maple::test {

// The tree before seed 1001's op 32, as [first, last] ranges in the recording's store
// order (which decides where the leaves split): two leaves split at 0xfffffffffffffb1f,
// the right one's gaps all below 0xd9, the left one's last slot the empty
// [0x7f000000e76f, 0xfffffffffffffa3a]. Op 32 is mas_empty_area_rev(0xfffffffffffe78cd,
// ULONG_MAX, 0xd9), which 6.12 answers -EBUSY.
inline constexpr std::array<std::pair<unsigned long, unsigned long>, 12> kSeed1001Op32Entries{{
    {0xfffffffffffffcc1, 0xfffffffffffffe16},
    {0x17e, 0x226},
    {0x7f000000034e, 0x7f0000000411},
    {0x7f000000e76c, 0x7f000000e76e},
    {0xfffffffffffffe8c, 0xffffffffffffff8b},
    {0xfffffffffffffc90, 0xfffffffffffffc91},
    {0xfffffffffffffa3b, 0xfffffffffffffb1f},
    {0x7f00000056a7, 0x7f000000578b},
    {0x21, 0x27},
    {0xfffffffffffffbd3, 0xfffffffffffffc6c},
    {0x7f000000e592, 0x7f000000e593},
    {0x7f0000007e2b, 0x7f0000007e31},
}};

}  // namespace mmt::maple::test
