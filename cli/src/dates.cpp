// Date parsing and printing; see dates.h.
#include "dates.h"

#include <cstdio>

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

}  // namespace coffer::cli
