// The coffer-csv importer, and the mapped-CSV importer that reads any
// other MIS report through a mapping onto the same vocabulary. coffer-csv is our two-file contract (pupils.csv,
// contacts.csv, CBDS-style column names; docs/IMPORT.md). Strict: a column that is not in the contract is an error (it
// catches typos such as "Allergy"), except a deny-listed one, which is dropped and reported by name. Rows of pupils who
// are not selected are skipped before any of their cells are read.
#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "csv_table.h"
#include "import_common.h"
#include "row_errors.h"

namespace coffer::vault {
namespace {

using detail::CsvRow;
using detail::CsvTable;

const std::vector<std::string_view> kPupilColumns = {"PupilKey",
                                                     "UPN",
                                                     "Surname",
                                                     "Forename",
                                                     "PreferredSurname",
                                                     "PreferredForename",
                                                     "DOB",
                                                     "Sex",
                                                     "NCyearActual",
                                                     "RegGroup",
                                                     "Classes",
                                                     "MedicalSummary",
                                                     "Allergies",
                                                     "AllergySeverity",
                                                     "Medication",
                                                     "MedicationAdministeredBy",
                                                     "CarePlan",
                                                     "EmergencyTreatmentConsent",
                                                     "DietaryNeeds",
                                                     "SwimmingAbility",
                                                     "ActivityNotes",
                                                     "SupportNote",
                                                     "PhotoFile"};
const std::vector<std::string_view> kContactColumns = {"PupilKey",  "Order",        "Title",          "Forename",
                                                       "Surname",   "Relationship", "Responsibility", "MobilePhone",
                                                       "HomePhone", "WorkPhone",    "DoNotRelease"};

// "# dates: DD/MM/YYYY" above the header declares UK dates.
bool declares_uk_dates(const CsvTable& t) {
  for (auto& c : t.comments) {
    auto colon = c.find(':');
    if (colon == std::string::npos) continue;
    std::string key = detail::trim(c.substr(0, colon)), value = detail::trim(c.substr(colon + 1));
    if (key != "dates") continue;
    if (value == "DD/MM/YYYY") return true;
    if (value == "YYYY-MM-DD") return false;
    throw Error(ErrorCode::kUsage, t.file + ": the dates comment must say YYYY-MM-DD or DD/MM/YYYY");
  }
  return false;
}

// Column name -> index for the columns of the contract present in the file;
// deny-listed columns are noted as dropped, others refused.
std::map<std::string_view, std::size_t> columns(const CsvTable& t, const std::vector<std::string_view>& contract,
                                                std::initializer_list<std::string_view> required, SourceData& data) {
  std::map<std::string_view, std::size_t> idx;
  for (std::size_t i = 0; i < t.header.size(); ++i) {
    auto it = std::find(contract.begin(), contract.end(), t.header[i]);
    if (it != contract.end()) {
      idx[*it] = i;
    } else if (detail::is_denied_column(t.header[i])) {
      data.dropped.insert(t.header[i]);
    } else {
      throw Error(ErrorCode::kUsage,
                  t.file + ":" + std::to_string(t.header_line) + ": column " + t.header[i] +
                      " is not part of the coffer-csv contract (see docs/IMPORT.md)",
                  Remedy::kUseMapping);
    }
  }
  for (auto r : required)
    if (!idx.contains(r))
      throw Error(ErrorCode::kUsage, t.file + ":" + std::to_string(t.header_line) + ": the required column " +
                                         std::string(r) + " is missing from the header row");
  return idx;
}

// A row seen through a column map (canonical name -> index in the file);
// messages name the file's own column.
class Row {
 public:
  Row(const CsvTable& t, const CsvRow& r, const std::map<std::string_view, std::size_t>& idx)
      : t_(t), r_(r), idx_(idx) {}
  std::string cell(std::string_view name) const {
    auto it = idx_.find(name);
    return it == idx_.end() ? std::string() : detail::trim(r_.cells[it->second]);
  }
  std::string where(std::string_view name) const {
    auto it = idx_.find(name);
    return it == idx_.end() ? t_.where(r_) : t_.where(r_, it->second);
  }
  std::string where() const { return t_.where(r_); }

 private:
  const CsvTable& t_;
  const CsvRow& r_;
  const std::map<std::string_view, std::size_t>& idx_;
};

// Two parallel ';' lists: the second may be empty, one value for all, or
// one value per item of the first.
std::vector<std::string> parallel(const Row& row, std::string_view items_col, std::string_view detail_col,
                                  std::size_t count) {
  auto details = detail::split_list(row.cell(detail_col));
  if (details.empty()) return std::vector<std::string>(count);
  if (details.size() == 1) return std::vector<std::string>(count, details[0]);
  if (details.size() != count)
    throw Error(ErrorCode::kUsage, row.where(detail_col) + "has " + std::to_string(details.size()) + " values but " +
                                       std::string(items_col) + " has " + std::to_string(count) +
                                       "; give one value per item, in the same order, separated by ;");
  return details;
}

// How DD/MM/YYYY dates are declared, for a bad date's hint: `mapping` is
// the mapping file of a mapped CSV (its date_format key), empty for
// coffer-csv (its "# dates:" comment).
struct Dates {
  bool uk = false;
  std::string mapping;
};

// Each cell's error is recorded in `errors` and the row goes on, so a row
// shows all of its bad cells.
Pupil read_pupil(const Row& row, const Dates& dates, Pupil p, SourceData& data, detail::RowErrors& errors) {
  p.upn = detail::check_upn_cell(row.cell("UPN"), row.where("UPN"), data.warnings);
  p.surname = row.cell("Surname");
  p.forename = row.cell("Forename");
  p.preferred_surname = row.cell("PreferredSurname");
  p.preferred_forename = row.cell("PreferredForename");
  p.dob =
      errors.cell([&] { return detail::parse_date_cell(row.cell("DOB"), dates.uk, row.where("DOB"), dates.mapping); });
  if (p.dob) data.dob_where[p.key] = row.where("DOB");
  p.sex = errors.cell([&] { return detail::parse_sex(row.cell("Sex"), row.where("Sex")); });
  p.year_group = row.cell("NCyearActual");
  p.conditions = detail::split_list(row.cell("MedicalSummary"));
  errors.cell([&] {
    auto allergies = detail::split_list(row.cell("Allergies"));
    auto severities = parallel(row, "Allergies", "AllergySeverity", allergies.size());
    for (std::size_t i = 0; i < allergies.size(); ++i)
      p.allergies.push_back({allergies[i], detail::parse_severity(severities[i], row.where("AllergySeverity"))});
  });
  errors.cell([&] {
    auto meds = detail::split_list(row.cell("Medication"));
    auto by = parallel(row, "Medication", "MedicationAdministeredBy", meds.size());
    for (std::size_t i = 0; i < meds.size(); ++i)
      p.medication.push_back({meds[i], detail::parse_administered_by(by[i], row.where("MedicationAdministeredBy"))});
  });
  p.care_plan = row.cell("CarePlan");
  if (auto consent = errors.cell([&] {
        return detail::parse_flag(row.cell("EmergencyTreatmentConsent"), row.where("EmergencyTreatmentConsent"));
      }))
    p.emergency_consent = *consent ? "yes" : "no";
  p.dietary = detail::split_list(row.cell("DietaryNeeds"));
  p.swimming = row.cell("SwimmingAbility");
  p.activity_notes = detail::split_list(row.cell("ActivityNotes"));
  p.support_note = row.cell("SupportNote");
  p.photo = row.cell("PhotoFile");
  return p;
}

Contact read_contact(const Row& row, detail::RowErrors& errors, int given_priority = 0) {
  Contact c;
  std::string order = given_priority ? std::to_string(given_priority) : row.cell("Order");
  errors.cell([&] {
    try {
      std::size_t used = 0;
      c.priority = std::stoi(order, &used);
      if (used != order.size() || c.priority < 1) throw std::invalid_argument("order");
    } catch (const std::exception&) {
      throw Error(ErrorCode::kUsage, row.where("Order") + "expected a whole number from 1 (1 = call first)");
    }
  });
  if (row.cell("Forename").empty() && row.cell("Surname").empty())
    errors.cell([&] { throw Error(ErrorCode::kUsage, row.where() + "the contact has no name (Forename or Surname)"); });
  for (const auto& part : {row.cell("Title"), row.cell("Forename"), row.cell("Surname")})
    if (!part.empty()) c.name += (c.name.empty() ? "" : " ") + part;
  c.relationship = row.cell("Relationship");
  c.parental_responsibility =
      errors.cell([&] { return detail::parse_flag(row.cell("Responsibility"), row.where("Responsibility")); });
  c.do_not_release =
      errors.cell([&] { return detail::parse_flag(row.cell("DoNotRelease"), row.where("DoNotRelease")); })
          .value_or(false);
  for (auto [col, kind] : {std::pair{"MobilePhone", "mobile"}, {"HomePhone", "home"}, {"WorkPhone", "work"}}) {
    for (auto& n : detail::split_list(row.cell(col))) c.phones.push_back({kind, n, display_phone(n)});
  }
  return c;
}

}  // namespace

SourceData parse_coffer_csv(const SourceFile& pupils_file, const std::optional<SourceFile>& contacts_file,
                            const Selection& selection) {
  SourceData data;
  data.format = "coffer-csv";
  CsvTable pupils = detail::parse_csv(pupils_file);
  auto pidx = columns(pupils, kPupilColumns, {"PupilKey", "Surname", "Forename"}, data);
  detail::note_provided(data, pidx);
  const Dates dates{declares_uk_dates(pupils), ""};

  // Every bad row of both files is reported; nothing is imported if any.
  detail::RowErrors errors;
  std::unordered_map<std::string, std::size_t> line_of;  // every key, for duplicates and contacts
  std::unordered_map<std::string, std::size_t> taken;    // key -> index in data.pupils
  for (auto& r : pupils.rows) {
    errors.row(pupils.file, [&] {
      Row row(pupils, r, pidx);
      std::string key = row.cell("PupilKey");
      if (key.empty()) throw Error(ErrorCode::kUsage, row.where("PupilKey") + "every pupil needs a PupilKey");
      if (auto [it, fresh] = line_of.emplace(key, r.line); !fresh)
        throw Error(ErrorCode::kUsage, row.where("PupilKey") + "the PupilKey " + key + " is also used on line " +
                                           std::to_string(it->second) + "; pupil keys must be unique");
      ++data.source_pupils;
      Pupil p;
      p.key = key;
      p.reg_group = row.cell("RegGroup");
      p.classes = detail::split_list(row.cell("Classes"));
      if (!detail::select_pupil(data, selection, p)) return;
      p = read_pupil(row, dates, std::move(p), data, errors);
      taken.emplace(key, data.pupils.size());
      data.pupils.push_back(std::move(p));
    });
  }
  if (contacts_file) {
    CsvTable contacts = detail::parse_csv(*contacts_file);
    auto cidx = columns(contacts, kContactColumns, {"PupilKey", "Order"}, data);
    detail::note_provided(data, cidx, /*contact=*/true);
    for (auto& r : contacts.rows) {
      errors.row(contacts.file, [&] {
        Row row(contacts, r, cidx);
        std::string key = row.cell("PupilKey");
        if (!line_of.contains(key))
          throw Error(ErrorCode::kUsage, row.where("PupilKey") + "no pupil in " + pupils.file +
                                             " has this PupilKey; export both files from the same report");
        auto it = taken.find(key);
        if (it == taken.end()) return;  // not selected (or its row is bad): never read
        data.pupils[it->second].contacts.push_back(read_contact(row, errors));
      });
    }
  }
  errors.throw_if_any();
  for (auto& p : data.pupils) detail::sort_contacts(p);
  detail::require_selection_found(data, selection, pupils.file);
  return data;
}

namespace {

// The canonical name in `contract` equal to `name` (a stable string_view).
std::optional<std::string_view> canonical(const std::vector<std::string_view>& contract, std::string_view name) {
  auto it = std::find(contract.begin(), contract.end(), name);
  if (it == contract.end()) return std::nullopt;
  return *it;
}

}  // namespace

SourceData parse_mapped_csv(const SourceFile& csv, const SourceFile& mapping, const Selection& selection) {
  // The mapping (docs/IMPORT.md): date_format, and [columns] "Their header"
  // = "CanonicalName" or "Contact<N>.<ContactColumn>" for N = 1..9, or a
  // list of them (one column read into several fields).
  toml::table doc;
  try {
    doc = toml::parse(mapping.text, mapping.name);
  } catch (const toml::parse_error& e) {
    throw Error(ErrorCode::kUsage,
                mapping.name + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  auto bad = [&](const toml::node* n, const std::string& what) -> Error {
    return Error(ErrorCode::kUsage, mapping.name + ":" + std::to_string(n ? n->source().begin.line : 1) + ": " + what);
  };
  bool uk = false;
  if (auto* n = doc.get("date_format")) {
    auto v = n->value<std::string>();
    if (!v || (*v != "DD/MM/YYYY" && *v != "YYYY-MM-DD"))
      throw bad(n, "date_format must be \"YYYY-MM-DD\" or \"DD/MM/YYYY\"");
    uk = *v == "DD/MM/YYYY";
  }
  for (auto& [k, v] : doc)
    if (k.str() != "date_format" && k.str() != "columns")
      throw bad(&v, "unknown setting " + std::string(k.str()) + " (a mapping has date_format and [columns])");
  auto* columns_table = doc.get("columns") ? doc.get("columns")->as_table() : nullptr;
  if (!columns_table) throw bad(nullptr, "the mapping has no [columns] table");

  // Their header -> its targets: (contact number or 0, canonical name).
  std::map<std::string, std::vector<std::pair<int, std::string_view>>> map;
  for (auto& [k, v] : *columns_table) {
    const std::string header(k.str());
    // Their header is checked as well as the target: "Religion" =
    // "DietaryNeeds" would otherwise carry religion under another name.
    if (auto why = detail::deny_reason(header))
      throw bad(&v, "column " + header + " is on the deny-list and can never be imported (" + *why +
                        "); remove this line from the mapping");
    // One target, or a list: "UPN" = ["PupilKey", "UPN"].
    std::vector<std::string> targets;
    if (auto one = v.value<std::string>()) {
      targets.push_back(*one);
    } else if (auto* list = v.as_array()) {
      if (list->empty())
        throw bad(&v, "the list of targets of \"" + header +
                          "\" is empty; give at least one field, or remove the line to leave the column out");
      for (auto& item : *list) {
        auto t = item.value<std::string>();
        if (!t) throw bad(&item, "the targets of \"" + header + "\" must be strings (field names such as \"UPN\")");
        targets.push_back(*t);
      }
    } else {
      throw bad(&v, "the target of \"" + header +
                        "\" must be a string or a list of strings (\"UPN\" or [\"PupilKey\", \"UPN\"])");
    }
    auto& into = map[header];
    for (auto& target : targets) {
      int contact = 0;
      std::string name = target;
      if (name.size() > 9 && name.starts_with("Contact") && name[7] >= '1' && name[7] <= '9' && name[8] == '.') {
        contact = name[7] - '0';
        name = name.substr(9);
      }
      auto c = canonical(contact ? kContactColumns : kPupilColumns, name);
      if (!c || (contact && (*c == "PupilKey" || *c == "Order")))
        throw bad(&v, target +
                          " is not a canonical field; use a coffer-csv column name (docs/IMPORT.md) or "
                          "Contact<N>.<Forename|Surname|Title|Relationship|Responsibility|MobilePhone|"
                          "HomePhone|WorkPhone|DoNotRelease>");
      if (detail::is_denied_column(target)) throw bad(&v, target + " may never be imported");
      if (std::find(into.begin(), into.end(), std::pair{contact, *c}) != into.end())
        throw bad(
            &v,
            std::string("\"").append(header).append("\" lists ").append(target).append(" twice; give each field once"));
      into.emplace_back(contact, *c);
    }
  }

  SourceData data;
  data.format = "csv (mapped)";
  CsvTable table = detail::parse_csv(csv);
  std::map<std::string_view, std::size_t> pidx;
  std::array<std::map<std::string_view, std::size_t>, 10> cidx;
  for (std::size_t i = 0; i < table.header.size(); ++i) {
    auto it = map.find(table.header[i]);
    if (it == map.end()) {
      (detail::is_denied_column(table.header[i]) ? data.dropped : data.unmapped).insert(table.header[i]);
      continue;
    }
    for (auto [contact, name] : it->second) {
      auto& idx = contact ? cidx[static_cast<std::size_t>(contact)] : pidx;
      if (!idx.emplace(name, i).second)
        throw Error(ErrorCode::kUsage, table.file + ":" + std::to_string(table.header_line) + ": two columns map to " +
                                           (contact ? "Contact" + std::to_string(contact) + "." : std::string()) +
                                           std::string(name) + "; map only one of them");
    }
  }
  detail::note_provided(data, pidx);
  for (auto& idx : cidx) detail::note_provided(data, idx, /*contact=*/true);
  for (auto required : {"PupilKey", "Surname", "Forename"})
    if (!pidx.contains(required))
      throw Error(ErrorCode::kUsage, mapping.name + ": no column of " + table.file + " is mapped to " + required +
                                         "; add \"<their header>\" = \"" + required + "\" under [columns]");

  // Every bad row is reported; nothing is imported if any.
  const Dates dates{uk, mapping.name};
  detail::RowErrors errors;
  std::set<std::string> keys;
  for (auto& r : table.rows) {
    errors.row(table.file, [&] {
      Row row(table, r, pidx);
      std::string key = row.cell("PupilKey");
      if (key.empty()) throw Error(ErrorCode::kUsage, row.where("PupilKey") + "every pupil needs a key");
      if (!keys.insert(key).second)
        throw Error(ErrorCode::kUsage,
                    row.where("PupilKey") + "the pupil key " + key + " appears on an earlier line too");
      ++data.source_pupils;
      Pupil p;
      p.key = key;
      p.reg_group = row.cell("RegGroup");
      p.classes = detail::split_list(row.cell("Classes"));
      if (!detail::select_pupil(data, selection, p)) return;
      p = read_pupil(row, dates, std::move(p), data, errors);
      for (int n = 1; n <= 9; ++n) {
        auto& idx = cidx[static_cast<std::size_t>(n)];
        if (idx.empty()) continue;
        Row crow(table, r, idx);
        bool any =
            std::any_of(idx.begin(), idx.end(), [&](auto& e) { return !detail::trim(r.cells[e.second]).empty(); });
        if (any) p.contacts.push_back(read_contact(crow, errors, n));
      }
      data.pupils.push_back(std::move(p));
    });
  }
  errors.throw_if_any();
  detail::require_selection_found(data, selection, table.file);
  return data;
}

}  // namespace coffer::vault
