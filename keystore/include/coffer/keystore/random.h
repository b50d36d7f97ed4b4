// The random source, injected so tests can make it deterministic. Production
// code uses system_random() (libsodium's randombytes, i.e. getrandom(2)).
#pragma once

#include <cstdint>
#include <span>

namespace coffer::keystore {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

Random& system_random();

}  // namespace coffer::keystore
