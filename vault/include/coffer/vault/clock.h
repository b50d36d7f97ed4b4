// The wall clock, injected so tests can stand after an expiry date.
#pragma once

#include <cstdint>

namespace coffer::vault {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now() const = 0;  // unix seconds
  // Nanoseconds since the epoch, for file timestamps.
  virtual std::int64_t now_ns() const { return now() * 1000000000; }
};

const Clock& system_clock();

}  // namespace coffer::vault
