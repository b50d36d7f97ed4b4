// The school's system policy (/etc/coffer/policy.toml): failed-unlock
// limits, retention warnings and grace, clock tolerance, the audit drop
// directory. Like every system policy file it is trusted only when owned by
// root and not writable by group or others, so a teacher cannot substitute
// their own; without a file the defaults below apply.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

namespace coffer::vault {

struct SchoolPolicy {
  // Failed unlocks: from `free_attempts` on, each attempt waits first; at
  // `max_failures` the coffer is locked out (or, opt-in, wiped).
  std::uint32_t max_failures = 10;
  std::uint32_t free_attempts = 3;
  bool wipe_at_limit = false;
  // Retention: warnings from `warn_days` before expiry; a sealed coffer can
  // still be checked in by IT for `grace_days`, then it is wiped.
  int warn_days = 3;
  int grace_days = 7;
  // A clock this far behind the coffer's high-water mark refuses to open.
  std::int64_t clock_tolerance_seconds = 600;
  // Where the audit sidecar is copied at open and lock when reachable.
  std::optional<std::filesystem::path> audit_drop_dir;
};

// Loads `file` (under the trust rule) or returns the defaults when absent.
// Errors name the file and line (kUsage) or the trust problem (kPolicy).
SchoolPolicy load_school_policy(const std::optional<std::filesystem::path>& file);

inline constexpr const char* kSystemPolicyPath = "/etc/coffer/policy.toml";

}  // namespace coffer::vault
