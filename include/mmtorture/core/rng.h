// Deterministic pseudo-random numbers: SplitMix64 seeds xoshiro256**. Both are fully
// specified integer algorithms, so the same seed gives the same stream with every
// compiler, optimisation level and sanitizer.
#pragma once

#include <cstdint>

namespace mmt {

// SplitMix64 (Steele, Lea, Flood 2014): used to expand one 64-bit seed into the
// 256-bit xoshiro state and to derive independent sub-seeds.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// xoshiro256** (Blackman, Vigna 2018).
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    SplitMix64 sm(seed);
    for (auto& word : s_) word = sm.next();
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // A value in [0, bound) without modulo bias (Lemire's multiply-and-reject).
  // bound must be non-zero.
  uint64_t below(uint64_t bound) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * bound;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < bound) {
      const uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(next()) * bound;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // True with probability p (p in [0, 1]); integer comparison so it is exact and
  // identical on every platform.
  bool chance(double p) {
    if (p <= 0.0) return false;
    if (p >= 1.0) return true;
    const uint64_t threshold = static_cast<uint64_t>(p * 9007199254740992.0);  // 2^53
    return (next() >> 11) < threshold;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace mmt
