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
// In local time (TZ) with its offset: "2026-12-08T09:15:02+01:00" (ISO 8601).
std::string iso_datetime(std::int64_t unix_seconds);
// "09:15:02 +01:00": the time of day with the zone offset in force then.
std::string local_time_with_offset(std::int64_t unix_seconds);
// "Tuesday 8 December 2026" (English whatever the locale).
std::string local_day_heading(std::int64_t unix_seconds);

}  // namespace coffer::cli
