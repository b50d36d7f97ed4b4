// Purpose profiles on the command line: which profiles file applies, the
// profile a name refers to, and the expiry a new coffer gets (shared by
// create and provision).
#pragma once

#include <cstdint>
#include <string>

#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/records/profile.h"

namespace coffer::cli {

// The built-in profiles plus the school's: `file` when given, else
// /etc/coffer/profiles.toml when present (both under the root-owned rule).
vault::ProfileSet load_profiles(const std::string& file);
// Throws Error(kUsage) listing the known names.
const vault::Profile& find_profile(const vault::ProfileSet& set, const std::string& name);
// The expiry date (YYYY-MM-DD) for a new coffer: `expires` if given and
// within the profile's maximum, else the profile's default; trips count
// from trip_end. Throws kUsage/kPolicy with what to do.
std::string choose_expiry(const vault::Profile& p, const std::string& expires, const std::string& trip_end,
                          std::int64_t now);
// The profile an existing coffer was made for: its stored field list, and
// the named profile's other rules (a coffer whose profile is no longer
// known keeps its fields and requires a selection).
vault::Profile coffer_profile(vault::Coffer& c, const vault::ProfileSet& set);
// The account running the command, for manifests and import logs.
std::string current_user();

}  // namespace coffer::cli
