// The wall clock, injected so tests can stand after an expiry date, and
// the system one, which no preloaded library can set back.
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

// The wall clock coffer goes by: the process's clock (which tests move
// forward with libfaketime), but never earlier than the kernel's.
const Clock& system_clock();

// The kernel's CLOCK_REALTIME in nanoseconds, read by a system call this
// binary issues itself (x86_64, aarch64), so no LD_PRELOAD library can fake
// it; nothing on other architectures or if the call fails. Setting the
// kernel's clock needs root (CAP_SYS_TIME).
std::optional<std::int64_t> kernel_realtime_ns();

// Local calendar days, as expiries are stated (the end of a local day).
// "YYYY-MM-DD" -> unix seconds of 23:59:59 local time that day; nothing for
// anything else (including 2026-02-30).
std::optional<std::int64_t> end_of_local_day(std::string_view date);
std::string local_day(std::int64_t unix_seconds);       // YYYY-MM-DD
std::string local_day_time(std::int64_t unix_seconds);  // YYYY-MM-DD HH:MM

}  // namespace coffer::vault
