#pragma once
// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose output is fully
// specified by its seed on every platform, unlike std::shuffle and the std::
// distributions, whose algorithms are left to each standard library. Every
// seeded choice the studies make (splits, batches, samples) uses it, so a
// seed names one result everywhere.

#include <cstdint>

namespace expsvc {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) for bound > 0, by rejection: no modulo bias.
  uint64_t UniformBelow(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t value;
    do {
      value = Next();
    } while (value >= limit);
    return value % bound;
  }

  // Uniform in [0, bound) for bound > 0 with one draw: the high 64 bits of a
  // 128-bit product (Lemire's reduction without the rejection step; bias
  // below 2^-40 for bounds under 2^24).
  uint64_t FastBelow(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * bound) >> 64);
  }

  // Uniform in [0, 1) with 53 random bits.
  double UniformDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace expsvc
