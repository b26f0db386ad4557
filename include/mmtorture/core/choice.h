// The ChoiceSource family (design.md §1): every source of nondeterminism in a run —
// which green thread runs next, whether to preempt, whether an allocation fails,
// which operation a workload does and with what arguments — is one draw from one
// ChoiceSource. A run is a function of its config and its choice sequence.
//
// Convention: 0 is always the simplest choice (keep running, do not fail, pick the
// first/smallest option). Replay and fuzz sources return 0 once exhausted, which is
// what makes generic shrinking (delete chunks, lower values) and "a fuzz input is a
// repro" work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/core/rng.h"
#include "mmtorture/core/site.h"

namespace mmt {

// What a choice decides. The names appear in repro files: append, never renumber.
enum class ChoiceKind : uint8_t {
  Pick = 0,       // scheduler: which runnable thread runs next
  Preempt = 1,    // scheduler: switch away at a yield point
  AllocFail = 2,  // fault plan: fail this allocation
  Op = 3,         // workload: which operation
  Arg = 4,        // workload: an argument of the operation
  Swarm = 5,      // per-seed feature switch (swarm testing)
  Priority = 6,   // PCT: initial priorities and change points
  Misc = 7,
};
inline constexpr int kChoiceKindCount = 8;

const char* choice_kind_name(ChoiceKind kind);
std::optional<ChoiceKind> choice_kind_from_name(std::string_view name);

// One recorded decision. `site` points at a static string (compiled-in sites) or at a
// string owned by the ReplayChoices that read it from a file.
struct Choice {
  ChoiceKind kind;
  Site site;
  uint64_t bound;
  uint64_t value;
};

// The first position where two recorded sequences differ (in kind, site, bound or
// value, or where the shorter one ends); nullopt when they are equal. How replay and
// the determinism check name the choice where two runs parted.
std::optional<size_t> first_difference(const std::vector<Choice>& a, const std::vector<Choice>& b);

// Base class: produces values and records every draw that had more than one option.
class ChoiceSource {
 public:
  // Hands the recording's storage to the next source on this OS thread (see record).
  virtual ~ChoiceSource();

  // A value in [0, bound). A bound of 0 or 1 is no choice at all: it returns 0 and is
  // not recorded, so recorded sequences hold only real decisions.
  // (Inlined wherever it is called: the scheduler draws at every scheduling point.)
  [[gnu::always_inline]] inline uint64_t draw(ChoiceKind kind, Site site, uint64_t bound);

  // A yes/no decision where "no" (0) is the simple outcome and "yes" has probability p
  // under a seeded source. Replay and fuzz sources ignore p.
  [[gnu::always_inline]] inline bool flip(ChoiceKind kind, Site site, double p);

  const std::vector<Choice>& recorded() const { return recorded_; }
  size_t draws() const { return recorded_.size(); }

  // True once a finite source has handed out everything it holds: every recorded
  // choice of a replay, every byte of a fuzz input. Draws after that return 0 (the
  // simplest choice), so fuzzers and replays stop their op loops here rather than run
  // on zeros. A seeded source never runs out. A replayed choice whose label differs
  // from the draw is not exhaustion: ReplayChoices::divergence() reports it.
  virtual bool exhausted() const { return false; }

  // True for a ReplayChoices (the scheduler reads its divergence without a dynamic_cast).
  bool replays() const { return replays_; }

 protected:
  enum class Bias { Uniform, Probability };
  virtual uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) = 0;

  // For a source that runs many times (explore.cpp's runs): record into `storage`
  // (emptied first) instead of a new vector, and hand the storage back at the end.
  void adopt_recording_storage(std::vector<Choice>&& storage) {
    storage.clear();
    recorded_ = std::move(storage);
  }
  std::vector<Choice> release_recording_storage() { return std::move(recorded_); }

 private:
  // The first draw makes room for a small run's draws at once, rather than growing the
  // recording 1, 2, 4, ... (a schedule of a small world makes a few dozen): it takes the
  // storage the last source destroyed on this OS thread left behind, or reserves
  // kFirstRecording. A campaign or benchmark that runs one source per schedule then
  // allocates no recording at all after the first.
  // The fields are passed apart and stored into the recording's new entry: a Choice
  // built on the stack and copied in stalls on the 16-byte reload of its separately
  // stored fields at every draw (store forwarding fails), which was most of a draw's
  // time. (Not emplace_back of the fields: an aggregate built from parentheses is
  // C++20 that clang before 16 lacks.)
  [[gnu::always_inline]] void record(ChoiceKind kind, Site site, uint64_t bound, uint64_t value) {
    if (recorded_.capacity() == 0) [[unlikely]]
      start_recording();
    Choice& entry = recorded_.emplace_back();
    entry.kind = kind;
    entry.site = site;
    entry.bound = bound;
    entry.value = value;
  }
  void start_recording();
  static constexpr size_t kFirstRecording = 32;

  std::vector<Choice> recorded_;

 protected:
  bool replays_ = false;
  // A SeededChoices's generator, whose draws the inline draw() and flip() make without
  // a virtual call (the scheduler draws at every scheduling point); null otherwise.
  Rng* seeded_rng_ = nullptr;
};

// A seeded PRNG source (SplitMix64 → xoshiro256**).
class SeededChoices final : public ChoiceSource {
 public:
  explicit SeededChoices(uint64_t seed) : rng_(seed) { seeded_rng_ = &rng_; }
  SeededChoices(const SeededChoices& other) : ChoiceSource(other), rng_(other.rng_) { seeded_rng_ = &rng_; }
  SeededChoices& operator=(const SeededChoices& other) {
    ChoiceSource::operator=(other);
    rng_ = other.rng_;
    seeded_rng_ = &rng_;
    return *this;
  }

 protected:
  uint64_t produce(ChoiceKind, Site, uint64_t bound, Bias bias, double p) override {
    if (bias == Bias::Probability) return rng_.chance(p) ? 1 : 0;
    return rng_.below(bound);
  }

 private:
  Rng rng_;
};

inline uint64_t ChoiceSource::draw(ChoiceKind kind, Site site, uint64_t bound) {
  if (bound <= 1) return 0;
  uint64_t value = seeded_rng_ ? seeded_rng_->below(bound) : produce(kind, site, bound, Bias::Uniform, 0.0);
  if (value >= bound) value %= bound;
  record(kind, site, bound, value);
  return value;
}

inline bool ChoiceSource::flip(ChoiceKind kind, Site site, double p) {
  uint64_t value = (seeded_rng_ ? (seeded_rng_->chance(p) ? 1 : 0) : produce(kind, site, 2, Bias::Probability, p)) & 1;
  record(kind, site, 2, value);
  return value != 0;
}

// Where a replay first stopped matching its recording.
struct Divergence {
  size_t index;
  Choice expected;  // as recorded
  Choice got;       // as asked for by the code now
  std::string describe() const;
};

// Replays a recorded sequence; 0 once exhausted. A draw whose kind or site differs
// from the recording is a divergence: the first one is remembered and the replay
// carries on best-effort (recorded value if it fits, else 0).
class ReplayChoices final : public ChoiceSource {
 public:
  explicit ReplayChoices(std::vector<Choice> recorded);
  // Takes ownership of site names read from a file.
  ReplayChoices(std::vector<Choice> recorded, std::vector<std::unique_ptr<std::string>> names);

  bool exhausted() const override { return next_ >= script_.size(); }
  const std::optional<Divergence>& divergence() const { return divergence_; }
  size_t consumed() const { return next_; }

 protected:
  uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) override;

 private:
  std::vector<Choice> script_;
  std::vector<std::unique_ptr<std::string>> names_;
  size_t next_ = 0;
  std::optional<Divergence> divergence_;
};

// Reads values from libFuzzer's bytes: one byte for bounds up to 256, otherwise the
// fewest little-endian bytes that cover the bound; 0 once the bytes run out.
class FuzzChoices final : public ChoiceSource {
 public:
  FuzzChoices(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool exhausted() const override { return pos_ >= size_; }
  size_t consumed_bytes() const { return pos_; }

 protected:
  uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) override;

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Encodes a choice list as fuzz bytes that FuzzChoices decodes to the same values
// (the repro → fuzz-input direction of the round trip).
std::vector<uint8_t> choices_to_fuzz_bytes(const std::vector<Choice>& choices);

}  // namespace mmt
