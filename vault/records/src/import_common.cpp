// Shared importer helpers; see import_common.h.
#include "import_common.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "coffer/error.h"
#include "coffer/vault/records/upn.h"

namespace coffer::vault::detail {
namespace {

std::string fold(std::string_view s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The words of a header, lower-cased: split at anything not a letter or
// digit, between letters and digits, and at camelCase boundaries
// ("Ever6FSM" -> ever, 6, fsm; "SENType" -> sen, type; "isLAC" -> is, lac).
std::vector<std::string> words(std::string_view s) {
  auto up = [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; };
  auto lo = [](char c) { return std::islower(static_cast<unsigned char>(c)) != 0; };
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  std::vector<std::string> out;
  std::string w;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      if (!w.empty()) out.push_back(std::move(w)), w.clear();
      continue;
    }
    if (!w.empty()) {
      char prev = s[i - 1];
      bool next_lower = i + 1 < s.size() && lo(s[i + 1]);
      if ((lo(prev) && up(c)) || (digit(prev) != digit(c)) || (up(prev) && up(c) && next_lower))
        out.push_back(std::move(w)), w.clear();
    }
    w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool is_denied_column(std::string_view name) {
  // Stems found anywhere in the folded name (research §6.2): special-category
  // and high-risk data no profile may carry, whatever a report calls it
  // ("Home Address", "Parent Email", "FSM Eligible"). A false match only
  // drops a column, and the drop is reported by name.
  static constexpr std::array<std::string_view, 60> kContains = {
      "ethnic", "religio", "faith", "nationalit", "countryofbirth", "birthcountry", "cityofbirth", "birthcity",
      "stateofbirth", "birthstate", "freeschoolmeal", "pupilpremium", "premium", "senprovision", "senneed", "senstatus",
      "senhistory", "sencode", "sensupport", "lookedafter", "careauthority", "childlookedafter", "everincare",
      "attendance", "assessment", "keystage", "address", "postcode", "password", "email", "language", "disabilit",
      "publicschoolresidence", "nawdetails", "uniquelearnernumber", "schoolhistory", "admission", "exclusion",
      // High-risk, not needed by any purpose: care and adoption history
      // (a former name can reveal an adoption), child protection, funding,
      // immigration status, gender identity.
      "adoptedfromcare", "postlookedafter", "servicechild", "topupfunding", "senunit", "resourcedprovision",
      "youngcarer", "childprotection", "childinneed", "immigration", "refugee", "asylum", "formersurname",
      "formerforename", "formername", "genderidentity", "pronoun",
      // Other spellings seen in MIS reports: "Free Meals", "Place of Birth",
      // "Exam Results", "Test Results".
      "freemeal", "placeofbirth", "birthplace", "examresult", "testresult"};
  // Short stems only at the start ("FSMeligible", "SEN status", "EAL").
  static constexpr std::array<std::string_view, 9> kPrefixes = {"fsm", "ehcp", "send",   "eal", "uci",
                                                                "uln", "race", "incare", "ks"};
  // Exact folded names (OneRoster's race columns and other short ones).
  static constexpr std::array<std::string_view, 14> kExact = {"sen",
                                                              "cin",
                                                              "asian",
                                                              "white",
                                                              "americanindianoralaskanative",
                                                              "blackorafricanamerican",
                                                              "nativehawaiianorotherpacificislander",
                                                              "demographicracetwoormoreraces",
                                                              "hispanicorlatinoethnicity",
                                                              "aln",
                                                              "speakwelsh",
                                                              "homewelsh",
                                                              "nationalidentity",
                                                              "cla"};
  // Short codes only as a whole word, so "LAC" and "Is LAC" match but
  // "Lactose" does not ("Ever 6 FSM", "SEN Type", "CLA status", "EAL").
  static constexpr std::array<std::string_view, 6> kWords = {"fsm", "sen", "lac", "cla", "cin", "eal"};
  std::string f = fold(name);
  if (f.empty()) return false;
  for (auto& w : words(name))
    if (std::find(kWords.begin(), kWords.end(), w) != kWords.end()) return true;
  for (auto c : kContains)
    if (f.find(c) != std::string::npos) return true;
  for (auto p : kPrefixes)
    if (f.starts_with(p)) return true;
  for (auto e : kExact)
    if (f == e) return true;
  return false;
}

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

std::optional<Date> parse_date_cell(std::string_view text, bool uk, const std::string& where) {
  if (text.empty()) return std::nullopt;
  if (auto d = parse_date(text, uk)) return d;
  throw Error(ErrorCode::kUsage, where + (uk ? "not a date in DD/MM/YYYY form (as declared) or an impossible date"
                                             : "not a date in YYYY-MM-DD form or an impossible date; "
                                               "for DD/MM/YYYY dates put \"# dates: DD/MM/YYYY\" above the header"));
}

std::string check_upn_cell(std::string_view text, const std::string& where, std::vector<std::string>& warnings) {
  if (text.empty()) return "";
  UpnCheck c = check_upn(text);
  if (!c.well_formed) warnings.push_back(where + "UPN is not in the 13-character UPN format; kept");
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

void sort_contacts(Pupil& pupil) {
  std::stable_sort(pupil.contacts.begin(), pupil.contacts.end(),
                   [](const Contact& a, const Contact& b) { return a.priority < b.priority; });
}

}  // namespace coffer::vault::detail
