// The generator's only source of randomness: xoshiro256** seeded through
// splitmix64, with our own range mapping. Everything here is fully specified
// integer arithmetic, so a seed gives byte-identical output on every machine
// (std::uniform_int_distribution and friends are implementation-defined).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>

namespace coffer::demo_school {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    // splitmix64 spreads a small seed (1, 2, ...) over the whole state,
    // which xoshiro needs: it must not be all zero.
    for (auto& word : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n), n > 0. Rejecting the lowest 2^64 mod n values leaves
  // a multiple of n outcomes, so the modulo is unbiased.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t threshold = (0 - n) % n;
    for (;;) {
      const std::uint64_t r = next();
      if (r >= threshold) return r % n;
    }
  }

  // True with probability per_mille / 1000.
  bool chance(unsigned per_mille) { return below(1000) < per_mille; }

  // An index into weights, chosen with probability weight / sum.
  std::size_t weighted(std::initializer_list<unsigned> weights) {
    std::uint64_t total = 0;
    for (unsigned w : weights) total += w;
    std::uint64_t r = below(total);
    std::size_t i = 0;
    for (unsigned w : weights) {
      if (r < w) return i;
      r -= w;
      ++i;
    }
    return i - 1;  // unreachable: r < total
  }

  // One element of a non-empty array or vector, uniformly.
  template <class Container>
  const auto& pick(const Container& items) {
    return items[below(std::size(items))];
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace coffer::demo_school
