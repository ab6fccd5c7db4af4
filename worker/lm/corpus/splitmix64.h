#pragma once
// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose output is fully
// specified by its seed on every platform, unlike the std:: distributions,
// whose algorithms are left to each standard library.

#include <cstdint>

namespace expsvc::lm {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) for bound > 0: the high 64 bits of a 128-bit
  // product (Lemire's reduction without the rejection step, whose bias is
  // below 2^-40 for the bounds used here).
  uint64_t Below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * bound) >> 64);
  }

 private:
  uint64_t state_;
};

}  // namespace expsvc::lm
