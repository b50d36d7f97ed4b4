// Date parsing and printing; see dates.h.
#include "dates.h"

#include <fmt/core.h>

#include <array>
#include <cstdio>
#include <ctime>

#include "coffer/error.h"
#include "coffer/vault/container/clock.h"

namespace coffer::cli {

std::int64_t end_of_local_day(const std::string& date) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (date.size() != 10 || std::sscanf(date.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
    throw Error(ErrorCode::kUsage, "'" + date + "' is not a date in the form YYYY-MM-DD");
  auto t = vault::end_of_local_day(date);
  if (!t) throw Error(ErrorCode::kUsage, "'" + date + "' is not a real calendar date");
  return *t;
}

std::string local_date(std::int64_t s) { return vault::local_day(s); }
std::string local_datetime(std::int64_t s) { return vault::local_day_time(s); }

namespace {

std::tm local_tm(std::int64_t s) {
  const auto t = static_cast<std::time_t>(s);
  std::tm tm{};
  if (!::localtime_r(&t, &tm)) ::gmtime_r(&t, &tm);
  return tm;
}

std::string offset_of(const std::tm& tm, const char* sep) {
  const long off = tm.tm_gmtoff;
  const long a = off < 0 ? -off : off;
  return fmt::format("{}{:02}{}{:02}", off < 0 ? '-' : '+', a / 3600, sep, (a % 3600) / 60);
}

}  // namespace

std::string iso_datetime(std::int64_t s) {
  const std::tm tm = local_tm(s);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, offset_of(tm, ":"));
}

std::string local_time_with_offset(std::int64_t s) {
  const std::tm tm = local_tm(s);
  return fmt::format("{:02}:{:02}:{:02} {}", tm.tm_hour, tm.tm_min, tm.tm_sec, offset_of(tm, ":"));
}

std::string local_day_heading(std::int64_t s) {
  static constexpr std::array<const char*, 7> kDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
  static constexpr std::array<const char*, 12> kMonths = {"January",   "February", "March",    "April",
                                                          "May",       "June",     "July",     "August",
                                                          "September", "October",  "November", "December"};
  const std::tm tm = local_tm(s);
  return fmt::format("{} {} {} {}", kDays.at(static_cast<std::size_t>(tm.tm_wday) % 7), tm.tm_mday,
                     kMonths.at(static_cast<std::size_t>(tm.tm_mon) % 12), tm.tm_year + 1900);
}

}  // namespace coffer::cli
