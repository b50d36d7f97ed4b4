// Sweeping a directory for coffers whose grace period has passed, from the
// cleartext header alone (no passphrase): what `coffer sweep` and the
// daily user timer run. Symbolic links are never followed, neither as the
// directory nor as an entry; files that are not coffers are left alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "coffer/error.h"
#include "coffer/keystore/random.h"

namespace coffer::vault {

struct SweepItem {
  std::filesystem::path path;
  enum class Action { kWiped, kWouldWipe, kKept, kHeld, kFailed } action = Action::kKept;
  std::int64_t expires = 0;
  std::int64_t grace_ends = 0;
  std::optional<Error> failure;  // for kFailed: why, and what would help
};

// Looks at each regular file directly in `dir` (a missing `dir` has nothing
// to sweep). Throws Error when `dir` cannot be read or is a symbolic link.
std::vector<SweepItem> sweep_directory(const std::filesystem::path& dir, std::int64_t now, int grace_days, bool dry_run,
                                       keystore::Random& random);

}  // namespace coffer::vault
