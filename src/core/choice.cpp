// ChoiceSource implementations: replay (with divergence detection) and fuzz bytes.
#include "mmtorture/core/choice.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

#include "mmtorture/core/thread_local_spare.h"

namespace mmt {

std::optional<size_t> first_difference(const std::vector<Choice>& a, const std::vector<Choice>& b) {
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i)
    if (a[i].kind != b[i].kind || !(a[i].site == b[i].site) || a[i].bound != b[i].bound || a[i].value != b[i].value)
      return i;
  if (a.size() != b.size()) return n;
  return std::nullopt;
}

namespace {
constexpr std::array<const char*, kChoiceKindCount> kKindNames = {
    "pick", "preempt", "alloc_fail", "op", "arg", "swarm", "priority", "misc"};

// Bytes FuzzChoices consumes for a bound: enough to cover every value below it.
size_t bytes_for_bound(uint64_t bound) {
  size_t bytes = 1;
  uint64_t covered = 256;
  while (bytes < 8 && covered < bound) {
    ++bytes;
    covered = bytes == 8 ? UINT64_MAX : (uint64_t{1} << (8 * bytes));
  }
  return bytes;
}
}  // namespace

const char* choice_kind_name(ChoiceKind kind) {
  const auto index = static_cast<size_t>(kind);
  return index < kKindNames.size() ? kKindNames[index] : "invalid";
}

std::optional<ChoiceKind> choice_kind_from_name(std::string_view name) {
  for (size_t i = 0; i < kKindNames.size(); ++i)
    if (name == kKindNames[i]) return static_cast<ChoiceKind>(i);
  return std::nullopt;
}

std::string Divergence::describe() const {
  return fmt::format("replay diverged at choice #{}: expected {}@{}, got {}@{}", index,
                     choice_kind_name(expected.kind), expected.site.name,
                     choice_kind_name(got.kind), got.site.name);
}

namespace {
// The recording's storage is kept per OS thread between sources (ChoiceSource::record);
// a large one is not kept, so a long run's recording does not stay allocated.
struct RecordingSpare;
constexpr size_t kSpareRecordingMax = 4096;
}  // namespace

ChoiceSource::~ChoiceSource() { keep_spare_storage<RecordingSpare>(recorded_, kSpareRecordingMax); }

void ChoiceSource::start_recording() { take_spare_storage<RecordingSpare>(recorded_, kFirstRecording); }

ReplayChoices::ReplayChoices(std::vector<Choice> recorded) : script_(std::move(recorded)) { replays_ = true; }

ReplayChoices::ReplayChoices(std::vector<Choice> recorded, std::vector<std::unique_ptr<std::string>> names)
    : script_(std::move(recorded)), names_(std::move(names)) {
  replays_ = true;
}

uint64_t ReplayChoices::produce(ChoiceKind kind, Site site, uint64_t bound, Bias, double) {
  if (next_ >= script_.size()) return 0;
  const Choice& expected = script_[next_];
  const size_t index = next_++;
  if (expected.kind != kind || !(expected.site == site)) {
    if (!divergence_) divergence_ = Divergence{index, expected, Choice{kind, site, bound, 0}};
    return expected.value < bound ? expected.value : 0;
  }
  return expected.value < bound ? expected.value : 0;
}

uint64_t FuzzChoices::produce(ChoiceKind, Site, uint64_t bound, Bias, double) {
  const size_t want = bytes_for_bound(bound);
  uint64_t value = 0;
  for (size_t i = 0; i < want && pos_ < size_; ++i) value |= uint64_t{data_[pos_++]} << (8 * i);
  return value % bound;
}

std::vector<uint8_t> choices_to_fuzz_bytes(const std::vector<Choice>& choices) {
  std::vector<uint8_t> bytes;
  for (const Choice& c : choices) {
    const size_t want = bytes_for_bound(c.bound);
    for (size_t i = 0; i < want; ++i) bytes.push_back(static_cast<uint8_t>(c.value >> (8 * i)));
  }
  return bytes;
}

}  // namespace mmt
