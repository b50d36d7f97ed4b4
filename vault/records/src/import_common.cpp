// Shared importer helpers; see import_common.h.
#include "import_common.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "coffer/error.h"
#include "coffer/vault/records/upn.h"

namespace coffer::vault::detail {
namespace {

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<bool> parse_flag(std::string_view text, const std::string& where) {
  std::string t = lower(text);
  if (t.empty()) return std::nullopt;
  if (t == "true" || t == "yes" || t == "y" || t == "1") return true;
  if (t == "false" || t == "no" || t == "n" || t == "0") return false;
  throw Error(ErrorCode::kUsage, where + "expected true or false (or yes/no)");
}

std::string parse_sex(std::string_view text, const std::string& where) {
  std::string t = lower(text);
  if (t.empty()) return "";
  if (t == "m" || t == "male") return "M";
  if (t == "f" || t == "female") return "F";
  if (t == "u" || t == "unknown" || t == "not known" || t == "other" || t == "unspecified" || t == "x") return "U";
  throw Error(ErrorCode::kUsage, where + "expected M, F or U");
}

std::string parse_severity(std::string_view text, const std::string& where) {
  std::string t = lower(text);
  if (t.empty() || t == "mild" || t == "moderate" || t == "severe" || t == "anaphylaxis") return t;
  if (t == "anaphylactic") return "anaphylaxis";
  throw Error(ErrorCode::kUsage, where + "expected mild, moderate, severe or anaphylaxis");
}

std::string parse_administered_by(std::string_view text, const std::string& where) {
  std::string t = lower(text);
  if (t.empty() || t == "self" || t == "staff") return t;
  if (t == "pupil") return "self";
  if (t == "school" || t == "teacher") return "staff";
  throw Error(ErrorCode::kUsage, where + "expected self or staff");
}

std::optional<Date> parse_date_cell(std::string_view text, bool uk, const std::string& where,
                                    std::string_view mapping) {
  if (text.empty()) return std::nullopt;
  if (auto d = parse_date(text, uk)) return d;
  const std::string m(mapping);
  if (!uk)
    throw Error(ErrorCode::kUsage, where +
                                       "not a date in YYYY-MM-DD form or an impossible date; for DD/MM/YYYY dates " +
                                       (m.empty() ? "put \"# dates: DD/MM/YYYY\" above the header"
                                                  : "set date_format = \"DD/MM/YYYY\" in the mapping " + m));
  std::string what = where + "not a date in DD/MM/YYYY form (as " +
                     (m.empty() ? std::string("declared") : "date_format in " + m + " says") +
                     ") or an impossible date";
  // US order (MM/DD/YYYY) read as UK: the "month" is over 12 but would do as
  // a day, and the "day" as a month. Said without the value.
  auto first = text.find('/');
  auto second = first == std::string_view::npos ? first : text.find('/', first + 1);
  if (second != std::string_view::npos) {
    auto day = text.substr(0, first), month = text.substr(first + 1, second - first - 1);
    if (auto swapped =
            parse_date(std::string(month) + "/" + std::string(day) + "/" + std::string(text.substr(second + 1)), true);
        swapped && swapped->day > 12)
      what += "; its month is over 12: it looks like a US MM/DD/YYYY date, export the dates as DD/MM/YYYY";
  }
  throw Error(ErrorCode::kUsage, what);
}

std::string check_upn_cell(std::string_view text, const std::string& where, std::vector<std::string>& warnings) {
  if (text.empty()) return "";
  UpnCheck c = check_upn(text);
  if (c.leading_digit) warnings.push_back(where + "UPN must start with a letter (check letter); kept");
  else if (!c.well_formed) warnings.push_back(where + "UPN is not in the 13-character UPN format; kept");
  else if (!c.valid())
    warnings.push_back(where + "UPN check letter is wrong (the digits give " + std::string(1, c.expected) +
                       "); kept, check it in the MIS");
  return c.normalised.empty() ? std::string(text) : c.normalised;
}

bool select_pupil(SourceData& data, const Selection& selection, const Pupil& p) {
  if (selection.empty()) return true;
  bool taken = selection.pupils.contains(p.key);
  if (selection.groups.contains(p.reg_group)) {
    data.matched_groups.insert(p.reg_group);
    taken = true;
  }
  for (auto& c : p.classes)
    if (selection.groups.contains(c)) {
      data.matched_groups.insert(c);
      taken = true;
    }
  return taken;
}

void require_selection_found(const SourceData& data, const Selection& selection, const std::string& source_name) {
  std::vector<std::string> missing;
  for (auto& key : selection.pupils) {
    bool found = std::any_of(data.pupils.begin(), data.pupils.end(), [&](const Pupil& p) { return p.key == key; });
    if (!found) missing.push_back(key);
  }
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 10) list += " and " + std::to_string(missing.size() - 10) + " more";
    throw Error(ErrorCode::kUsage, std::to_string(missing.size()) + " selected pupil" +
                                       (missing.size() == 1 ? " is" : "s are") + " not in " + source_name + ": " +
                                       list + "; check the pupil keys (the source's own key column)");
  }
  std::string groups;
  for (auto& g : selection.groups)
    if (!data.matched_groups.contains(g)) groups += (groups.empty() ? "" : ", ") + g;
  if (!groups.empty())
    throw Error(ErrorCode::kUsage, "no pupil in " + source_name + " is in the registration group or class " + groups +
                                       "; check the group names (they must match exactly)");
}

std::optional<std::string> england_year(std::string_view ceds) {
  if (ceds == "KG") return "1";
  if (ceds == "PK") return "R";
  if (ceds == "PR") return "N";
  if (ceds.size() == 2 && std::isdigit(static_cast<unsigned char>(ceds[0])) &&
      std::isdigit(static_cast<unsigned char>(ceds[1]))) {
    int g = (ceds[0] - '0') * 10 + (ceds[1] - '0');
    if (g >= 1 && g <= 12) return std::to_string(g + 1);
  }
  return std::nullopt;
}

void sort_contacts(Pupil& pupil) {
  std::stable_sort(pupil.contacts.begin(), pupil.contacts.end(),
                   [](const Contact& a, const Contact& b) { return a.priority < b.priority; });
}

}  // namespace coffer::vault::detail
