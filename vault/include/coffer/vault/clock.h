// The wall clock, injected so tests can stand after an expiry date.
#pragma once

#include <cstdint>

namespace coffer::vault {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now() const = 0;  // unix seconds
};

const Clock& system_clock();

}  // namespace coffer::vault
