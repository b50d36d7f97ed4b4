// The school's system policy (/etc/coffer/policy.toml): failed-unlock
// limits, retention warnings and grace, clock tolerance, the audit drop
// directory. Like every system policy file it is trusted only when owned by
// root and not writable by group or others, so a teacher cannot substitute
// their own; without a file the defaults below apply.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "coffer/paths.h"

namespace coffer::vault {

// The copy guard's part ([copy]; docs/GUARD.md). Where coffer data may be
// written outside a coffer, which encrypted school sticks are exempt, and
// the least protection any coffer on this machine needs.
struct CopyPolicy {
  // Absolute prefixes (the school's encrypted share...). Unset: no system
  // list, so a coffer's own list (from its profile) stands; set: a coffer
  // may write only where both lists agree.
  std::optional<std::vector<std::filesystem::path>> approved_destinations;
  // Application-state files an editor may keep open for writing while it
  // reads coffer data; "~/" is the owner's home.
  std::vector<std::string> app_state = {"~/.cache", "~/.config", "~/.local/state", "~/.local/share",
                                        "~/.xsession-errors"};
  // Encrypted school sticks exempt from the guard: LUKS UUIDs, USB serials.
  std::vector<std::string> allowed_luks_uuids;
  std::vector<std::string> allowed_usb_serials;
  // Mount-point prefixes that count as removable whatever they are (IT's
  // way to treat an unusual device, and the tests' way to make a tmpfs a
  // stick). Nothing can make a stick count as internal.
  std::vector<std::filesystem::path> declared_removable;
  std::string minimum_protection = "standard";
  // A sandboxed session refuses to start unless the kernel keeps other
  // programs of the same user from reading its memory (Yama ptrace_scope
  // >= 1); without it any such program can read what the session shows.
  bool session_requires_ptrace_restricted = false;
};

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
  // The longest hold a teacher may set with their passphrase (after an
  // incident); only the school's recovery key holds longer.
  int max_hold_days = 14;
  // How long IT keeps its own copies naming pupils (manifests, audit
  // copies, check-in reports) after a coffer's expiry, return or reported
  // loss, whichever is latest: `coffer sweep --manifests` removes them
  // after that. Unset: the school has not decided, and that sweep refuses.
  std::optional<int> school_copies_days;
  // A clock this far behind the coffer's high-water mark refuses to open.
  std::int64_t clock_tolerance_seconds = 600;
  // Where the audit sidecar is copied at open and lock when reachable.
  std::optional<std::filesystem::path> audit_drop_dir;
  // IT's manifest store, where audit anchors are filed (audit, checkin).
  std::optional<std::filesystem::path> manifest_store;
  CopyPolicy copy;
  // [memory] unencrypted_swap: what `open` does on a machine where decrypted
  // data could be paged to unencrypted swap or written into a hibernation
  // image on an unencrypted device: "refuse" (the default) or "warn".
  bool refuse_unencrypted_swap = true;
  // [pupil_caps] profile = N: the most pupils a coffer of that profile may
  // hold, instead of the profile's built-in cap (Profile::max_pupils).
  std::map<std::string, int> pupil_caps;
};

// What one coffer may do on this machine: its own level and destinations
// (from its profile, kept inside it), narrowed by the system policy, never
// widened.
struct EffectiveCopyRules {
  std::string protection;  // standard, guarded or sandboxed
  std::vector<std::filesystem::path> approved_destinations;
};
EffectiveCopyRules effective_copy_rules(const std::string& coffer_protection,
                                        const std::optional<std::vector<std::filesystem::path>>& coffer_destinations,
                                        const CopyPolicy& system);
// At or below one of a list of directories (common/include/coffer/paths.h).
inline bool path_within(const std::filesystem::path& path, const std::vector<std::filesystem::path>& prefixes) {
  return coffer::path_within_any(path.native(), prefixes);
}

// Loads `file` (under the trust rule) or returns the defaults when absent.
// Errors name the file and line (kUsage) or the trust problem (kPolicy).
SchoolPolicy load_school_policy(const std::optional<std::filesystem::path>& file);

inline constexpr const char* kSystemPolicyPath = "/etc/coffer/policy.toml";

}  // namespace coffer::vault
