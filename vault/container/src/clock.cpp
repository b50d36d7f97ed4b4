// The system wall clock; see clock.h.
#include "coffer/vault/container/clock.h"

#include <sys/syscall.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace coffer::vault {

std::optional<std::int64_t> kernel_realtime_ns() {
  timespec ts{};
  long ret = 0;
  // The system call itself, issued here: libc's clock_gettime and time()
  // go through the vDSO and libc's syscall() is an exported symbol, and an
  // LD_PRELOAD library (libfaketime) can replace any of them; an
  // instruction in this binary it cannot.
#if defined(__x86_64__)
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "0"(static_cast<long>(SYS_clock_gettime)), "D"(static_cast<long>(CLOCK_REALTIME)), "S"(&ts)
                   : "rcx", "r11", "memory");
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = SYS_clock_gettime;
  register long x0 __asm__("x0") = CLOCK_REALTIME;
  register timespec* x1 __asm__("x1") = &ts;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
  ret = x0;
#else
  // No direct system call written for this architecture: only the process
  // clock counts here, so a preloaded library can set it back.
  return std::nullopt;
#endif
  if (ret != 0) return std::nullopt;
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

namespace {
// Never earlier than the kernel's clock: a process clock faked forward
// (the tests' libfaketime) still counts, one faked back does not.
class SystemClock final : public Clock {
 public:
  std::int64_t now() const override {
    const auto process = static_cast<std::int64_t>(std::time(nullptr));
    const auto kernel = kernel_realtime_ns();
    return kernel ? std::max(process, *kernel / 1000000000) : process;
  }
  std::int64_t now_ns() const override {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const std::int64_t process = static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    const auto kernel = kernel_realtime_ns();
    return kernel ? std::max(process, *kernel) : process;
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
