// Calendar dates on the command line. An expiry date means the end of that
// day in local time.
#pragma once

#include <cstdint>
#include <string>

namespace coffer::cli {

// "YYYY-MM-DD" -> unix seconds of 23:59:59 local time that day. Throws
// Error(kUsage) for anything else (including 2026-02-30).
std::int64_t end_of_local_day(const std::string& date);
std::string local_date(std::int64_t unix_seconds);      // YYYY-MM-DD
std::string local_datetime(std::int64_t unix_seconds);  // YYYY-MM-DD HH:MM

}  // namespace coffer::cli
