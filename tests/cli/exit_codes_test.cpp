// The exit codes are part of the interface (cli.h): what escapes a subcommand decides
// between "your input" (2) and "mmtorture itself" (3), never the other way round.
#include <gtest/gtest.h>

#include <stdexcept>

#include "mmtorture/campaign/config.h"
#include "mmtorture/cli/cli.h"

namespace mmt::cli {

TEST(ExitCodes, EachOutcomeHasItsCode) {
  EXPECT_EQ(guarded([] { return kExitClean; }), 0);
  EXPECT_EQ(guarded([] { return kExitFailures; }), 1);
  EXPECT_EQ(guarded([]() -> int { throw campaign::ConfigError("x.toml", 3, "world.mm_slots", "99 is out of range"); }),
            2);
  EXPECT_EQ(guarded([]() -> int { throw campaign::IoError("out/journal.jsonl: write failed: No space left"); }), 3);
  EXPECT_EQ(guarded([]() -> int { throw std::logic_error("an invariant of the tool itself"); }), 3);
  EXPECT_EQ(guarded([]() -> int { throw std::runtime_error("fork failed"); }), 3);
  EXPECT_EQ(guarded([]() -> int { throw 42; }), 3);
}

TEST(ExitCodes, OneLineNamesWhatWentWrong) {
  testing::internal::CaptureStderr();
  guarded([]() -> int { throw campaign::ConfigError("x.toml", 3, "world.mm_slots", "99 is out of range 1..64"); });
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "mmtorture: x.toml:3: world.mm_slots: 99 is out of range 1..64\n");
  testing::internal::CaptureStderr();
  guarded([]() -> int { throw std::logic_error("knob table range is wrong"); });
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "mmtorture: internal error: knob table range is wrong\n");
}

}  // namespace mmt::cli
