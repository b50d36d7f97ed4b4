// The wall clock, injected so tests can stand after an expiry date.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coffer::vault {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now() const = 0;  // unix seconds
  // Nanoseconds since the epoch, for file timestamps.
  virtual std::int64_t now_ns() const { return now() * 1000000000; }
};

const Clock& system_clock();

// Local calendar days, as expiries are stated (the end of a local day).
// "YYYY-MM-DD" -> unix seconds of 23:59:59 local time that day; nothing for
// anything else (including 2026-02-30).
std::optional<std::int64_t> end_of_local_day(std::string_view date);
std::string local_day(std::int64_t unix_seconds);       // YYYY-MM-DD
std::string local_day_time(std::int64_t unix_seconds);  // YYYY-MM-DD HH:MM

}  // namespace coffer::vault
