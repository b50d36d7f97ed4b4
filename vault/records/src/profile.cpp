// Purpose profiles; see profile.h. Limits come from the research's tables
// (IRMS toolkit, OEAP guidance): trips count from the trip's end, marking
// and home working from today and never past 31 August.
#include "coffer/vault/records/profile.h"

#include <toml++/toml.h>
#include <algorithm>

#include "coffer/error.h"
#include "coffer/paths.h"
#include "coffer/vault/records/school_toml.h"

namespace coffer::vault {
namespace {

const std::set<std::string> kCore = {"names", "preferred_names", "year_group", "reg_group", "classes"};

std::set<std::string> with_core(std::initializer_list<const char*> more) {
  std::set<std::string> s = kCore;
  for (auto* f : more) s.insert(f);
  return s;
}

// Howard Hinnant's days-from-civil and its inverse.
long days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

Date civil_from_days(long z) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long y = static_cast<long>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return Date{static_cast<int>(y + (m <= 2)), static_cast<int>(m), static_cast<int>(d)};
}

}  // namespace

std::optional<int> protection_rank(std::string_view level) {
  if (level == "standard") return 0;
  if (level == "guarded") return 1;
  if (level == "sandboxed") return 2;
  return std::nullopt;
}

const std::set<std::string>& known_fields() {
  static const std::set<std::string> k = {
      "names", "preferred_names",    "year_group", "reg_group", "classes",        "upn",          "dob",       "sex",
      "photo", "emergency_contacts", "medical",    "dietary",   "activity_notes", "support_note", "pupil_work"};
  return k;
}

const std::set<std::string>& denied_fields() {
  static const std::set<std::string> d = {
      "ethnicity", "religion", "nationality", "country_of_birth", "free_school_meals", "pupil_premium", "sen",
      "sen_history", "looked_after", "attendance", "assessment", "address", "password",
      // OneRoster demographics race/ethnicity columns
      "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican", "nativeHawaiianOrOtherPacificIslander",
      "white", "demographicRaceTwoOrMoreRaces", "hispanicOrLatinoEthnicity"};
  return d;
}

// Pupil caps (max_pupils): a coffer holds the pupils one member of staff
// needs, never a school. trip-local 90 (three classes out for the day),
// trip 150 (a five-form year group's residential), marking and home-working
// 240 (a secondary teacher's timetable, about eight classes of 30). A school
// sets others in its policy's [pupil_caps].
const std::vector<Profile>& builtin_profiles() {
  static const std::vector<Profile> p = {
      {"trip-local", "a local visit in school hours (the base keeps emergency contacts)",
       with_core({"photo", "medical", "dietary", "activity_notes", "support_note"}), 1, 7, true, false, true,
       "standard", std::nullopt, 90},
      {"trip", "a day out of the area, residential or abroad",
       with_core({"upn", "dob", "sex", "photo", "emergency_contacts", "medical", "dietary", "activity_notes",
                  "support_note"}),
       7, 90, true, false, true, "standard", std::nullopt, 150},
      {"marking", "marking pupils' work at home", with_core({"pupil_work"}), 28, 365, false, true, true, "standard",
       std::nullopt, 240},
      {"home-working", "working from home with a class list", with_core({"support_note", "pupil_work"}), 30, 92, false,
       true, false, "standard", std::nullopt, 240},
  };
  return p;
}

ProfileSet ProfileSet::load(const std::optional<std::filesystem::path>& file) {
  ProfileSet set;
  set.profiles_ = builtin_profiles();
  if (!file) return set;
  toml::table doc = load_trusted_toml(*file);
  auto* profiles = doc["profile"].as_table();
  if (!profiles) return set;
  for (auto& [key, node] : *profiles) {
    std::string name(key.str());
    auto* t = node.as_table();
    if (!t) toml_error(*file, node.source(), "[profile." + name + "] must be a table");
    // Every key is known: a typo ("field =", "max_day =") would otherwise be
    // ignored and the profile keep its base's fields or limits unnoticed.
    for (auto& [k, v] : *t) {
      static const std::set<std::string_view> kKeys = {
          "based_on", "description", "fields", "default_days", "max_days", "protection", "approved_destinations"};
      if (!kKeys.contains(k.str()))
        toml_error(*file, v.source(),
                   "unknown key " + std::string(k.str()) + " in [profile." + name +
                       "] (the keys are based_on, description, fields, default_days, max_days, protection, "
                       "approved_destinations)");
    }
    auto based_on = (*t)["based_on"].value<std::string>();
    if (!based_on) toml_error(*file, t->source(), "profile " + name + " needs based_on = \"<profile>\"");
    const Profile* base = set.find(*based_on);
    if (!base) toml_error(*file, t->source(), "profile " + name + " is based on unknown profile " + *based_on);
    Profile p = *base;
    p.name = name;
    if (auto* d = t->get("description"); d && !d->is_string())
      toml_error(*file, d->source(), "description must be a string");
    p.description = (*t)["description"].value_or(base->description);
    if (auto* fields = t->get("fields"); fields && !fields->is_array())
      toml_error(*file, fields->source(), "fields must be a list of field names, e.g. [\"names\", \"medical\"]");
    if (auto* prot = t->get("protection")) {
      auto v = prot->value<std::string>();
      auto level = v ? protection_rank(*v) : std::nullopt;
      if (!level) toml_error(*file, prot->source(), "protection must be \"standard\", \"guarded\" or \"sandboxed\"");
      // A school may ask for more protection than the base, never less.
      if (*level < protection_rank(base->protection).value_or(0))
        toml_error(*file, prot->source(),
                   "protection " + *v + " is lower than " + base->name + "'s (" + base->protection +
                       "); a profile may only raise it");
      p.protection = *v;
    }
    if (auto* dests = t->get("approved_destinations")) {
      auto* a = dests->as_array();
      if (!a) toml_error(*file, dests->source(), "approved_destinations must be a list of absolute paths");
      std::vector<std::filesystem::path> list;
      for (auto& d : *a) {
        auto s = d.value<std::string>();
        if (!s || s->empty() || (*s)[0] != '/')
          toml_error(*file, d.source(), "approved_destinations must hold absolute paths");
        list.push_back(std::filesystem::path(*s).lexically_normal());
      }
      // Based on a profile with its own list: only within that list.
      if (base->approved_destinations)
        for (auto& d : list)
          if (!coffer::path_within_any(d.native(), *base->approved_destinations))
            toml_error(*file, dests->source(),
                       d.string() + " is not within " + base->name + "'s approved destinations");
      p.approved_destinations = std::move(list);
    }
    if (auto* fields = (*t)["fields"].as_array()) {
      p.fields.clear();
      for (auto& f : *fields) {
        auto s = f.value<std::string>();
        if (!s) toml_error(*file, f.source(), "fields must be strings");
        if (denied_fields().contains(*s))
          toml_error(*file, f.source(), "field " + *s + " may never be carried by any profile");
        if (!known_fields().contains(*s)) toml_error(*file, f.source(), "unknown field " + *s);
        // A school may narrow, never widen: only fields of the base.
        if (!base->fields.contains(*s))
          toml_error(*file, f.source(),
                     "field " + *s + " is not allowed by " + base->name + ", so " + name + " may not add it");
        p.fields.insert(*s);
      }
    }
    for (auto [field, target] : {std::pair{"default_days", &p.default_days}, {"max_days", &p.max_days}}) {
      if (auto* n = t->get(field); n && !n->is_integer())
        toml_error(*file, n->source(), std::string(field) + " must be a whole number of days");
      if (auto v = (*t)[field].value<std::int64_t>()) {
        if (*v < 1 || *v > *target)
          toml_error(
              *file, (*t)[field].node()->source(),
              std::string(field) + " must be 1 to " + std::to_string(*target) + " (the limit of " + base->name + ")");
        *target = static_cast<int>(*v);
      }
    }
    p.default_days = std::min(p.default_days, p.max_days);
    auto it =
        std::find_if(set.profiles_.begin(), set.profiles_.end(), [&](const Profile& q) { return q.name == name; });
    if (it != set.profiles_.end()) *it = p;
    else set.profiles_.push_back(p);
  }
  return set;
}

const Profile* ProfileSet::find(std::string_view name) const {
  for (auto& p : profiles_)
    if (p.name == name) return &p;
  return nullptr;
}

Date add_days(Date d, int days) {
  return civil_from_days(days_from_civil(d.year, static_cast<unsigned>(d.month), static_cast<unsigned>(d.day)) + days);
}

Date max_expiry(const Profile& p, Date base) {
  Date limit = add_days(base, p.max_days);
  if (p.cap_at_august_31) {
    Date august{base.month >= 9 ? base.year + 1 : base.year, 8, 31};
    if (august < limit) limit = august;
  }
  return limit;
}

Date default_expiry(const Profile& p, Date base) {
  Date d = add_days(base, p.default_days);
  Date limit = max_expiry(p, base);
  return d < limit ? d : limit;
}

}  // namespace coffer::vault
