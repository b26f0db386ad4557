// Failure signatures: numbers are normalised so the same bug at another address,
// index or seed has the same signature.
#include <gtest/gtest.h>

#include "mmtorture/core/failure.h"

namespace mmt {

TEST(Failure, NumbersAreNormalised) {
  EXPECT_EQ(normalise_numbers("node 0x7f00ab12 at 12-4095 depth 3"), "node # at #-# depth #");
  EXPECT_EQ(normalise_numbers("mas_store_prealloc"), "mas_store_prealloc");
  EXPECT_EQ(normalise_numbers("pfn 4096 pinned, x86 arch"), "pfn # pinned, x86 arch");
}

TEST(Failure, SameBugSameSignature) {
  Failure a{"maple.mt_validate.gaps", "mas_store", "gap 12 != 15 in node 0xdead00", "", 1, 0};
  Failure b{"maple.mt_validate.gaps", "mas_store", "gap 3 != 4 in node 0xbeef00", "", 9, 4};
  Failure c{"maple.mt_validate.limits", "mas_store", "gap 3 != 4 in node 0xbeef00", "", 9, 4};
  EXPECT_EQ(a.signature(), b.signature());
  EXPECT_EQ(a.signature_id(), b.signature_id());
  EXPECT_NE(a.signature(), c.signature());
  EXPECT_EQ(a.signature_id().size(), 16u);
}

TEST(Failure, RaiseThrowsWithTheFailure) {
  try {
    raise_failure("maple.bug", "mas_store_prealloc", "short by 2 nodes", "dump");
    FAIL() << "raise_failure returned";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "maple.bug");
    EXPECT_EQ(e.failure().dump, "dump");
    EXPECT_NE(std::string(e.what()).find("mmtorture: FAIL maple.bug"), std::string::npos);
  }
}

}  // namespace mmt
