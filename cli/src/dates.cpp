// Date parsing and printing; see dates.h.
#include "dates.h"

#include <cstdio>
#include <ctime>

#include "coffer/error.h"
#include "coffer/vault/clock.h"

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

namespace {
std::string format(std::int64_t s, const char* fmt) {
  std::time_t t = static_cast<std::time_t>(s);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}
}  // namespace

std::string local_date(std::int64_t s) { return format(s, "%Y-%m-%d"); }
std::string local_datetime(std::int64_t s) { return format(s, "%Y-%m-%d %H:%M"); }

}  // namespace coffer::cli
