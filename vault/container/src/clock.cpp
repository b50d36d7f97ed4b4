// The system wall clock; see clock.h.
#include "coffer/vault/container/clock.h"

#include <cstdio>
#include <ctime>

namespace coffer::vault {
namespace {
class SystemClock final : public Clock {
 public:
  std::int64_t now() const override { return static_cast<std::int64_t>(std::time(nullptr)); }
  std::int64_t now_ns() const override {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }
};
}  // namespace

std::optional<std::int64_t> end_of_local_day(std::string_view date) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  std::string text(date);
  if (text.size() != 10 || std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  tm.tm_hour = 23;
  tm.tm_min = 59;
  tm.tm_sec = 59;
  tm.tm_isdst = -1;
  std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1) || tm.tm_year != y - 1900 || tm.tm_mon != m - 1 || tm.tm_mday != d)
    return std::nullopt;
  return static_cast<std::int64_t>(t);
}

namespace {
std::string format_local(std::int64_t s, const char* fmt) {
  std::time_t t = static_cast<std::time_t>(s);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}
}  // namespace

std::string local_day(std::int64_t s) { return format_local(s, "%Y-%m-%d"); }
std::string local_day_time(std::int64_t s) { return format_local(s, "%Y-%m-%d %H:%M"); }

const Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace coffer::vault
