// Purpose profiles on the command line; see purpose.h.
#include "purpose.h"

#include <fmt/core.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdio>

#include "app.h"
#include "coffer/error.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/records/record.h"
#include "dates.h"

namespace coffer::cli {
namespace {

constexpr const char* kSystemProfiles = "/etc/coffer/profiles.toml";

vault::Date to_date(const std::string& text) {
  end_of_local_day(text);  // validates, with its usage error
  vault::Date d;
  std::sscanf(text.c_str(), "%d-%d-%d", &d.year, &d.month, &d.day);
  return d;
}

}  // namespace

vault::ProfileSet load_profiles(const std::string& file) {
  std::optional<std::filesystem::path> school_file;
  if (!file.empty()) {
    require_root_for("--profiles", kSystemProfiles);
    school_file = file;
  } else if (::access(kSystemProfiles, F_OK) == 0) school_file = kSystemProfiles;
  return vault::ProfileSet::load(school_file);
}

const vault::Profile& find_profile(const vault::ProfileSet& set, const std::string& name) {
  if (const vault::Profile* p = set.find(name)) return *p;
  std::string names;
  for (auto& p : set.all()) names += (names.empty() ? "" : ", ") + p.name;
  throw Error(ErrorCode::kUsage, "unknown purpose " + name + "; the profiles are: " + names);
}

std::string choose_expiry(const vault::Profile& p, const std::string& expires, const std::string& trip_end,
                          std::int64_t now) {
  if (p.from_trip_end && trip_end.empty() && expires.empty())
    throw Error(ErrorCode::kUsage, "a " + p.name + " coffer needs --trip-end DATE (or --expires DATE)");
  if (!p.from_trip_end && !trip_end.empty())
    throw Error(ErrorCode::kUsage, "--trip-end is for trip profiles, not " + p.name);
  vault::Date base = trip_end.empty() ? to_date(local_date(now)) : to_date(trip_end);
  vault::Date max = vault::max_expiry(p, base);
  if (expires.empty()) return vault::format_date(vault::default_expiry(p, base));
  if (max < to_date(expires))
    throw Error(ErrorCode::kPolicy, "the " + p.name + " profile allows an expiry up to " + vault::format_date(max) +
                                        " (from " + (trip_end.empty() ? "today" : "the trip's end") + "); " + expires +
                                        " is later");
  return expires;
}

vault::Profile coffer_profile(vault::Coffer& c, const vault::ProfileSet& set) {
  vault::Profile p;
  std::string name = vault::get_meta(c.database(), "profile").value_or(c.header().profile);
  if (const vault::Profile* known = set.find(name)) p = *known;
  p.name = name;
  auto stored = vault::split_fields(vault::get_meta(c.database(), "profile_fields").value_or(""));
  p.fields = std::set<std::string>(stored.begin(), stored.end());
  return p;
}

std::string current_user() {
  if (struct passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) return pw->pw_name;
  return "uid " + std::to_string(::getuid());
}

}  // namespace coffer::cli
