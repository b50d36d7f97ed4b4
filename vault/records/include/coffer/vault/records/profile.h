// Purpose profiles: which pupil fields a purpose may carry and how long a
// coffer for it may live. Four are built in (docs/reference: school data
// research §6.4-6.5); a school may add or narrow profiles in a root-owned
// TOML file, but never allow a deny-listed field or lengthen a built-in's
// limits. A coffer carries its profile's fields, level and destinations
// inside (CreateParams), so imports are checked against it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace coffer::vault {

struct Profile {
  std::string name;
  std::string description;
  std::set<std::string> fields;         // canonical field names (see known_fields())
  int default_days = 0;                 // default expiry, counted from the base date
  int max_days = 0;                     // hard maximum, from the same base date
  bool from_trip_end = false;           // base date is --trip-end instead of today
  bool cap_at_august_31 = false;        // never past 31 August of the academic year
  bool selection_required = true;       // a whole-school import is refused
  std::string protection = "standard";  // copy-protection level it needs
  // Where its data may be copied out; unset: the school policy's list.
  std::optional<std::vector<std::filesystem::path>> approved_destinations;
  // The most pupils a coffer of this profile may hold (0: no cap); the
  // school policy's [pupil_caps] may set another (docs/ADMIN.md).
  int max_pupils = 0;
};

// Copy-protection levels, weakest first: standard (0), guarded (1, the
// root copy-guard service), sandboxed (2, `coffer run`); nullopt for any
// other name.
std::optional<int> protection_rank(std::string_view level);

// Canonical pupil fields a profile may name.
const std::set<std::string>& known_fields();
// Fields and source columns no profile may ever carry (special-category or
// unnecessary: ethnicity, religion, FSM, SEN history, addresses, ...).
const std::set<std::string>& denied_fields();
const std::vector<Profile>& builtin_profiles();

class ProfileSet {
 public:
  // The built-in profiles, plus those of a trusted TOML file if given.
  // Throws Error(kPolicy) for an untrusted file, Error(kUsage) naming the
  // file and line for bad content.
  static ProfileSet load(const std::optional<std::filesystem::path>& school_file);
  const Profile* find(std::string_view name) const;
  const std::vector<Profile>& all() const { return profiles_; }

 private:
  std::vector<Profile> profiles_;
};

// A calendar date (local); expiry is the end of that day.
struct Date {
  int year = 0, month = 0, day = 0;
  auto operator<=>(const Date&) const = default;
};
Date add_days(Date d, int days);
// The latest expiry date the profile allows, counted from base.
Date max_expiry(const Profile& p, Date base);
Date default_expiry(const Profile& p, Date base);

}  // namespace coffer::vault
