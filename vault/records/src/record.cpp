// The canonical pupil record; see record.h. Field groups and tiers follow
// the research's §5 table: special-category groups are marked so views and
// the manifest can treat them with care (the manifest never lists their
// values).
#include "coffer/vault/records/record.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace coffer::vault {

const std::vector<FieldGroup>& field_groups() {
  static const std::vector<FieldGroup> g = {
      {"names", "legal surname and forename", Tier::kS1, false},
      {"preferred_names", "preferred names", Tier::kS1, false},
      {"year_group", "year group", Tier::kS0, false},
      {"reg_group", "registration group", Tier::kS0, false},
      {"classes", "class memberships", Tier::kS0, false},
      {"upn", "unique pupil number", Tier::kS1, false},
      {"dob", "date of birth", Tier::kS1, false},
      {"sex", "sex", Tier::kS1, false},
      {"photo", "photo reference", Tier::kS1, false},
      {"emergency_contacts", "emergency contacts (priority, relationship, responsibility, phones)", Tier::kS1, false},
      {"medical", "medical conditions, allergies, medication, care plan, emergency-treatment consent", Tier::kS2, true},
      {"dietary", "dietary needs", Tier::kS2, true},
      {"activity_notes", "activity notes (swimming ability, trip-relevant needs)", Tier::kS1, false},
      {"support_note", "support note written for this purpose", Tier::kS2, true},
      {"pupil_work", "pupils' work", Tier::kS1, false},
  };
  return g;
}

const FieldGroup* find_field_group(std::string_view name) {
  for (auto& g : field_groups())
    if (g.name == name) return &g;
  return nullptr;
}

const std::vector<SourceField>& source_fields() {
  static const std::vector<SourceField> f = {
      {"names", "names", "names", false},
      {"preferred_names", "preferred names", "preferred_names", false},
      {"year_group", "year group", "year_group", false},
      {"reg_group", "registration group", "reg_group", false},
      {"classes", "classes", "classes", false},
      {"upn", "UPN", "upn", false},
      {"dob", "date of birth", "dob", false},
      {"sex", "sex", "sex", false},
      {"photo", "photo", "photo", false},
      {"contacts", "emergency contacts", "emergency_contacts", false},
      {"contact_phones", "contact phone numbers", "emergency_contacts", false},
      {"allergies", "allergies", "medical", true},
      {"conditions", "medical conditions", "medical", true},
      {"medication", "medication", "medical", true},
      {"care_plan", "care plan", "medical", true},
      {"emergency_consent", "emergency treatment consent", "medical", false},  // yes/no, not health data
      {"dietary", "dietary needs", "dietary", true},
      {"swimming", "swimming ability", "activity_notes", false},
      {"activity_notes", "activity notes", "activity_notes", false},
      {"support_note", "support note", "support_note", true},
  };
  return f;
}

const SourceField* find_source_field(std::string_view name) {
  for (auto& f : source_fields())
    if (f.name == name) return &f;
  return nullptr;
}

const SourceField* source_field_of_column(std::string_view c, bool contact) {
  if (contact) {
    if (c == "MobilePhone" || c == "HomePhone" || c == "WorkPhone") return find_source_field("contact_phones");
    if (c == "Forename" || c == "Surname" || c == "Title") return find_source_field("contacts");
    return nullptr;
  }
  static const std::pair<std::string_view, std::string_view> kColumns[] = {
      {"Surname", "names"},
      {"Forename", "names"},
      {"PreferredSurname", "preferred_names"},
      {"PreferredForename", "preferred_names"},
      {"NCyearActual", "year_group"},
      {"RegGroup", "reg_group"},
      {"Classes", "classes"},
      {"UPN", "upn"},
      {"DOB", "dob"},
      {"Sex", "sex"},
      {"PhotoFile", "photo"},
      {"Allergies", "allergies"},
      {"MedicalSummary", "conditions"},
      {"Medication", "medication"},
      {"CarePlan", "care_plan"},
      {"EmergencyTreatmentConsent", "emergency_consent"},
      {"DietaryNeeds", "dietary"},
      {"SwimmingAbility", "swimming"},
      {"ActivityNotes", "activity_notes"},
      {"SupportNote", "support_note"},
  };
  for (auto& [column, field] : kColumns)
    if (column == c) return find_source_field(field);
  return nullptr;
}

std::optional<bool> source_provides(const Pupil& p, std::string_view field) {
  if (!p.provided) return std::nullopt;
  return p.provided->count(std::string(field)) > 0;
}

std::vector<std::string> special_category_present(const Pupil& p) {
  std::vector<std::string> out;
  auto add = [&](bool present, std::string_view field) {
    if (present) out.emplace_back(find_source_field(field)->label);
  };
  add(!p.allergies.empty(), "allergies");
  add(!p.conditions.empty(), "conditions");
  add(!p.medication.empty(), "medication");
  add(!p.care_plan.empty(), "care_plan");
  add(!p.dietary.empty(), "dietary");
  add(!p.support_note.empty(), "support_note");
  return out;
}

std::string Pupil::display_name() const {
  const std::string& s = preferred_surname.empty() ? surname : preferred_surname;
  const std::string& f = preferred_forename.empty() ? forename : preferred_forename;
  if (f.empty()) return s;
  if (s.empty()) return f;
  return s + ", " + f;
}

void minimise(Pupil& p, const std::vector<std::string>& allowed) {
  auto has = [&](std::string_view g) { return std::find(allowed.begin(), allowed.end(), g) != allowed.end(); };
  // Legal names identify the record; a profile always carries them.
  if (!has("preferred_names")) p.preferred_surname.clear(), p.preferred_forename.clear();
  if (!has("year_group")) p.year_group.clear();
  if (!has("reg_group")) p.reg_group.clear();
  if (!has("classes")) p.classes.clear();
  if (!has("upn")) p.upn.clear();
  if (!has("dob")) p.dob.reset();
  if (!has("sex")) p.sex.clear();
  if (!has("photo")) p.photo.clear();
  if (!has("emergency_contacts")) p.contacts.clear();
  if (!has("medical")) {
    p.conditions.clear(), p.allergies.clear(), p.medication.clear();
    p.care_plan.clear(), p.emergency_consent.clear();
  }
  if (!has("dietary")) p.dietary.clear();
  if (!has("activity_notes")) p.swimming.clear(), p.activity_notes.clear();
  if (!has("support_note")) p.support_note.clear();
}

std::vector<std::string> groups_present(const Pupil& p) {
  std::vector<std::string> g;
  if (!p.surname.empty() || !p.forename.empty()) g.emplace_back("names");
  if (!p.preferred_surname.empty() || !p.preferred_forename.empty()) g.emplace_back("preferred_names");
  if (!p.year_group.empty()) g.emplace_back("year_group");
  if (!p.reg_group.empty()) g.emplace_back("reg_group");
  if (!p.classes.empty()) g.emplace_back("classes");
  if (!p.upn.empty()) g.emplace_back("upn");
  if (p.dob) g.emplace_back("dob");
  if (!p.sex.empty()) g.emplace_back("sex");
  if (!p.photo.empty()) g.emplace_back("photo");
  if (!p.contacts.empty()) g.emplace_back("emergency_contacts");
  if (!p.conditions.empty() || !p.allergies.empty() || !p.medication.empty() || !p.care_plan.empty() ||
      !p.emergency_consent.empty())
    g.emplace_back("medical");
  if (!p.dietary.empty()) g.emplace_back("dietary");
  if (!p.swimming.empty() || !p.activity_notes.empty()) g.emplace_back("activity_notes");
  if (!p.support_note.empty()) g.emplace_back("support_note");
  return g;
}

std::string display_phone(std::string_view number) {
  std::string digits;
  bool plus = false;
  for (char c : number) {
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    else if (c == '+' && digits.empty()) plus = true;
    else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') return std::string(number);
  }
  if (plus || digits.starts_with("00")) {
    if (digits.starts_with("00")) digits.erase(0, 2);
    if (!digits.starts_with("44")) return std::string(number);  // not a UK number
    digits = "0" + digits.substr(2);
    if (digits.starts_with("00")) digits.erase(0, 1);  // +44 (0)7700 ...
  }
  if (digits.size() != 11 || digits[0] != '0') return std::string(number);
  // Ofcom's usual groupings: 020 xxxx xxxx, 011x/01x1 xxx xxxx, else 0xxxx xxxxxx.
  if (digits.starts_with("02")) return digits.substr(0, 3) + " " + digits.substr(3, 4) + " " + digits.substr(7);
  if (digits.starts_with("011") || (digits.starts_with("01") && digits[3] == '1'))
    return digits.substr(0, 4) + " " + digits.substr(4, 3) + " " + digits.substr(7);
  return digits.substr(0, 5) + " " + digits.substr(5);
}

std::string format_date(const Date& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

std::optional<Date> parse_date(std::string_view t, bool uk) {
  auto num = [](std::string_view s, int& out) {
    if (s.empty() || s.size() > 4) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc{};
  };
  Date d;
  if (uk) {
    // D/M/YYYY with or without the leading zeros (Excel writes 1/1/2005);
    // the year always in full.
    auto first = t.find('/');
    auto second = first == std::string_view::npos ? first : t.find('/', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    std::string_view day = t.substr(0, first), month = t.substr(first + 1, second - first - 1),
                     year = t.substr(second + 1);
    if (day.size() > 2 || month.size() > 2 || year.size() != 4) return std::nullopt;
    if (!num(day, d.day) || !num(month, d.month) || !num(year, d.year)) return std::nullopt;
  } else {
    if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
    if (!num(t.substr(0, 4), d.year) || !num(t.substr(5, 2), d.month) || !num(t.substr(8, 2), d.day))
      return std::nullopt;
  }
  if (d.year < 1900 || d.month < 1 || d.month > 12 || d.day < 1) return std::nullopt;
  // The day exists if it survives a round trip through day arithmetic.
  if (add_days(d, 0) != d) return std::nullopt;
  return d;
}

}  // namespace coffer::vault
