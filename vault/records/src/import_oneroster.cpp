// The OneRoster importer: a 1.1 or 1.2/1.2.1 CSV set (users, roles,
// demographics, enrollments, classes, manifest; research §2.2 and §6.3).
// Pupils are student users keyed by sourcedId; their classes come from
// enrollments, their contacts from parent/guardian/relative users linked by
// agentSourcedIds. A pupil's key, registration group and classes are worked
// out first, so the cells of pupils who are not selected are never read.
#include <algorithm>
#include <cctype>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "coffer/vault/records/upn.h"
#include "csv_table.h"
#include "import_common.h"
#include "row_errors.h"

namespace coffer::vault {
namespace {

using detail::CsvRow;
using detail::CsvTable;

// The columns each file has in the spec (1.1 and 1.2 differ only in users.csv
// and the new roles.csv). Anything else is an extension column: reported as
// unmapped, or as dropped when the deny-list names it.
const std::vector<std::string_view> kUsers11 = {
    "sourcedId", "status",          "dateLastModified", "enabledUser", "orgSourcedIds", "role",  "username",
    "userIds",   "givenName",       "familyName",       "middleName",  "identifier",    "email", "sms",
    "phone",     "agentSourcedIds", "grades",           "password"};
const std::vector<std::string_view> kUsers12 = {"sourcedId",
                                                "status",
                                                "dateLastModified",
                                                "enabledUser",
                                                "username",
                                                "userIds",
                                                "givenName",
                                                "familyName",
                                                "middleName",
                                                "identifier",
                                                "email",
                                                "sms",
                                                "phone",
                                                "agentSourcedIds",
                                                "grades",
                                                "password",
                                                "userMasterIdentifier",
                                                "resourceSourcedIds",
                                                "preferredGivenName",
                                                "preferredMiddleName",
                                                "preferredFamilyName",
                                                "primaryOrgSourcedId",
                                                "pronouns"};
const std::vector<std::string_view> kRoles = {
    "sourcedId", "status",    "dateLastModified", "userSourcedId", "roleType",
    "role",      "beginDate", "endDate",          "orgSourcedId",  "userProfileSourcedId"};
const std::vector<std::string_view> kDemographics = {"sourcedId",
                                                     "status",
                                                     "dateLastModified",
                                                     "birthDate",
                                                     "sex",
                                                     "americanIndianOrAlaskaNative",
                                                     "asian",
                                                     "blackOrAfricanAmerican",
                                                     "nativeHawaiianOrOtherPacificIslander",
                                                     "white",
                                                     "demographicRaceTwoOrMoreRaces",
                                                     "hispanicOrLatinoEthnicity",
                                                     "countryOfBirthCode",
                                                     "stateOfBirthAbbreviation",
                                                     "cityOfBirth",
                                                     "publicSchoolResidenceStatus"};
const std::vector<std::string_view> kEnrollments = {
    "sourcedId",     "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
    "userSourcedId", "role",   "primary",          "beginDate",      "endDate"};
const std::vector<std::string_view> kClasses = {
    "sourcedId", "status",   "dateLastModified", "title",          "grades",   "courseSourcedId", "classCode",
    "classType", "location", "schoolSourcedId",  "termSourcedIds", "subjects", "subjectCodes",    "periods"};
const std::vector<std::string_view> kManifest = {"propertyName", "value"};

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "dir/users.csv" -> "users.csv" (either slash: the set may come from Windows).
std::string base_name(std::string_view path) {
  auto slash = path.find_last_of("/\\");
  return lower(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// OneRoster's multi-value cells are comma-separated ("par-1,par-2").
std::vector<std::string> split_commas(std::string_view cell) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= cell.size()) {
    std::size_t end = cell.find(',', pos);
    if (end == std::string_view::npos) end = cell.size();
    auto item = detail::trim(cell.substr(pos, end - pos));
    if (!item.empty()) out.push_back(std::move(item));
    pos = end + 1;
  }
  return out;
}

// Misspellings real exports carry (a learning platform's OneRoster 1.2
// set writes prefferedGivenName; others write preferredFirstName), read as
// the spec's column with a warning naming both.
const std::map<std::string_view, std::string_view> kAliases = {
    {"prefferedGivenName", "preferredGivenName"},   {"prefferedFamilyName", "preferredFamilyName"},
    {"prefferedMiddleName", "preferredMiddleName"}, {"preferredFirstName", "preferredGivenName"},
    {"preferredLastName", "preferredFamilyName"},   {"prefferedFirstName", "preferredGivenName"},
    {"prefferedLastName", "preferredFamilyName"}};

// One parsed file with its columns looked up by name. With `only`, every
// column not in it is dropped as deny-listed whatever its name
// (demographics.csv: only birthDate and sex are read, the rest of the file
// is special-category data).
class Table {
 public:
  Table(const SourceFile& f, const std::vector<std::string_view>& spec,
        std::initializer_list<std::string_view> required, std::string_view what_to_do, SourceData& data,
        const std::vector<std::string_view>* only = nullptr)
      : t_(detail::parse_csv(f)) {
    for (std::size_t i = 0; i < t_.header.size(); ++i) {
      const std::string& name = t_.header[i];
      auto alias = kAliases.find(name);
      if (detail::is_denied_column(name) || (only && std::find(only->begin(), only->end(), name) == only->end())) {
        data.dropped.insert(name);  // never read, whether in the spec or not
      } else if (std::find(spec.begin(), spec.end(), name) != spec.end()) {
        idx_.emplace(name, i);
      } else if (alias != kAliases.end() && std::find(spec.begin(), spec.end(), alias->second) != spec.end() &&
                 !std::count(t_.header.begin(), t_.header.end(), std::string(alias->second))) {
        idx_.emplace(std::string(alias->second), i);
        data.warnings.push_back(t_.file + ":" + std::to_string(t_.header_line) + ": column " + name +
                                " is not a OneRoster name; read as " + std::string(alias->second));
      } else {
        data.unmapped.insert(name);
      }
    }
    for (auto r : required)
      if (!idx_.contains(std::string(r)))
        throw Error(ErrorCode::kUsage, t_.file + ":" + std::to_string(t_.header_line) + ": the required column " +
                                           std::string(r) + " is missing from the header row; " +
                                           std::string(what_to_do));
  }
  const CsvTable& table() const { return t_; }
  const std::string& file() const { return t_.file; }
  bool has(std::string_view col) const { return idx_.contains(std::string(col)); }
  std::string cell(const CsvRow& r, std::string_view col) const {
    auto it = idx_.find(std::string(col));
    return it == idx_.end() ? std::string() : detail::trim(r.cells[it->second]);
  }
  std::string where(const CsvRow& r, std::string_view col) const {
    auto it = idx_.find(std::string(col));
    return it == idx_.end() ? t_.where(r) : t_.where(r, it->second);
  }
  std::string where(const CsvRow& r) const { return t_.where(r); }

  // Rows a delta export marks tobedeleted are gone from the MIS; counted
  // (call once per row), so the import can say how many it skipped.
  bool deleted(const CsvRow& r) {
    std::string s = lower(cell(r, "status"));
    if (s.empty() || s == "active") return false;
    if (s == "tobedeleted") {
      ++deleted_rows_;
      return true;
    }
    throw Error(ErrorCode::kUsage, where(r, "status") + "expected active or tobedeleted (or empty in a bulk file)");
  }
  std::size_t deleted_rows() const { return deleted_rows_; }

 private:
  CsvTable t_;
  std::map<std::string, std::size_t, std::less<>> idx_;
  std::size_t deleted_rows_ = 0;
};

// The columns of demographics.csv this importer reads; the others (race,
// ethnicity, birth place, residence status, any extension) are dropped.
const std::vector<std::string_view> kDemographicsRead = {"sourcedId", "status", "dateLastModified", "birthDate", "sex"};

// "{UPN:R999...},{MIS:123}" -> "R999..."; empty if there is no UPN token.
std::string upn_token(std::string_view user_ids) {
  std::size_t pos = 0;
  while ((pos = user_ids.find('{', pos)) != std::string_view::npos) {
    std::size_t end = user_ids.find('}', pos);
    if (end == std::string_view::npos) break;
    std::string_view token = user_ids.substr(pos + 1, end - pos - 1);
    auto colon = token.find(':');
    if (colon != std::string_view::npos && lower(detail::trim(token.substr(0, colon))) == "upn")
      return detail::trim(token.substr(colon + 1));
    pos = end + 1;
  }
  return "";
}

std::string capitalised(std::string word) {
  if (!word.empty()) word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
  return word;
}

bool is_contact_role(const std::string& role) { return role == "parent" || role == "guardian" || role == "relative"; }

struct Files {
  const SourceFile* manifest = nullptr;
  const SourceFile* users = nullptr;
  const SourceFile* roles = nullptr;
  const SourceFile* demographics = nullptr;
  const SourceFile* enrollments = nullptr;
  const SourceFile* classes = nullptr;
};

Files sort_files(const std::vector<SourceFile>& files) {
  Files f;
  const std::pair<std::string_view, const SourceFile * Files::*> kinds[] = {{"manifest.csv", &Files::manifest},
                                                                            {"users.csv", &Files::users},
                                                                            {"roles.csv", &Files::roles},
                                                                            {"demographics.csv", &Files::demographics},
                                                                            {"enrollments.csv", &Files::enrollments},
                                                                            {"classes.csv", &Files::classes}};
  for (auto& file : files) {
    std::string base = base_name(file.name);
    for (auto [name, member] : kinds) {
      if (base != name) continue;
      if (f.*member)
        throw Error(ErrorCode::kUsage, file.name + ": a second " + std::string(name) + " (the first is " +
                                           (f.*member)->name + "); give the files of one OneRoster export");
      f.*member = &file;
    }
  }  // other files (orgs, academicSessions, courses, results...) carry nothing we keep
  return f;
}

struct Version {
  std::string number;  // "1.1", "1.2", "1.2.1"
  bool v11() const { return number == "1.1"; }
};

// oneroster.version from manifest.csv, else inferred from the files; also
// warns when users.csv is a delta (it then holds only changed users).
Version read_manifest(const Files& f, SourceData& data) {
  Version v;
  if (f.manifest) {
    Table m(*f.manifest, kManifest, {"propertyName", "value"}, "manifest.csv has the columns propertyName,value", data);
    for (auto& r : m.table().rows) {
      std::string prop = m.cell(r, "propertyName"), value = m.cell(r, "value");
      if (prop == "oneroster.version") {
        auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
        bool ok = value == "1.1" || value == "1.2" ||
                  (value.starts_with("1.2.") && value.size() > 4 && std::all_of(value.begin() + 4, value.end(), digit));
        if (!ok)
          throw Error(ErrorCode::kUsage, m.where(r, "value") + "OneRoster version " + value.substr(0, 20) +
                                             " is not supported (1.1, 1.2 and 1.2.x are); "
                                             "export OneRoster 1.1 or 1.2");
        v.number = value;
      } else if (prop == "file.users" && lower(value) == "delta") {
        data.warnings.push_back(m.where(r, "value") +
                                "users.csv is a delta file: it holds only the users changed since the last "
                                "export, so pupils may be missing; export a bulk set for a full roster");
      }
    }
  }
  if (!f.users)
    throw Error(ErrorCode::kUsage, std::string(f.manifest ? f.manifest->name + ": " : "") +
                                       "the OneRoster set has no users.csv; export the full set "
                                       "(users.csv is required)");
  if (v.number.empty()) {
    std::string why;
    if (f.roles) {
      v.number = "1.2", why = "roles.csv is present";
    } else {
      CsvTable users = detail::parse_csv(*f.users);
      if (!users.column("role"))
        throw Error(ErrorCode::kUsage, f.users->name + ":" + std::to_string(users.header_line) +
                                           ": cannot tell the OneRoster version (no manifest.csv, no role column, "
                                           "no roles.csv); include manifest.csv from the export");
      v.number = "1.1", why = "users.csv has a role column";
    }
    data.warnings.push_back(f.users->name + ": no oneroster.version in a manifest.csv; read as OneRoster " + v.number +
                            " because " + why);
  }
  if (!v.v11() && !f.roles)
    throw Error(ErrorCode::kUsage, "the OneRoster " + v.number +
                                       " set has no roles.csv (1.2 keeps users' roles "
                                       "there); export the full set");
  return v;
}

struct User {
  const CsvRow* row;
  std::string role;  // student, parent, guardian, relative, other or "" (none)
  std::vector<std::string> agents;
};

struct ClassInfo {
  std::string name;  // title, else classCode
  std::string code;  // classCode, else title
  bool homeroom = false;
};

class Importer {
 public:
  Importer(const Files& f, const Version& v, const Selection& sel, SourceData& data)
      : f_(f), v_(v), sel_(sel), data_(data) {}

  void run() {
    Table users(*f_.users, v_.v11() ? kUsers11 : kUsers12,
                v_.v11() ? std::initializer_list<std::string_view>{"sourcedId", "givenName", "familyName", "role"}
                         : std::initializer_list<std::string_view>{"sourcedId", "givenName", "familyName"},
                "export users.csv with the OneRoster " + v_.number + " column names", data_);
    read_users(users);
    tally(users);
    if (!v_.v11()) read_roles();
    for (auto& id : order_) {  // the reverse links: a contact naming its pupils
      const User& u = users_.at(id);
      if (is_contact_role(u.role))
        for (auto& pupil : u.agents) named_by_[pupil].push_back(id);
    }
    read_classes();
    std::optional<Table> demographics;
    std::unordered_map<std::string, const CsvRow*> demo_rows;
    if (f_.demographics) {
      demographics.emplace(*f_.demographics, kDemographics, std::initializer_list<std::string_view>{"sourcedId"},
                           "export demographics.csv with the OneRoster column names", data_, &kDemographicsRead);
      std::unordered_map<std::string, std::size_t> line_of;
      for (auto& r : demographics->table().rows) {
        errors_.row(demographics->file(), [&] {
          if (demographics->deleted(r)) return;
          std::string id = demographics->cell(r, "sourcedId");
          if (auto [it, fresh] = line_of.emplace(id, r.line); !fresh)
            throw Error(ErrorCode::kUsage, demographics->where(r, "sourcedId") + "the user " + id +
                                               " also has demographics on line " + std::to_string(it->second) +
                                               "; give one row per user");
          demo_rows.emplace(std::move(id), &r);
        });
      }
      tally(*demographics);
    }

    std::unordered_map<std::string, std::size_t> first_grade_line;  // unknown grade -> first line
    for (auto& id : order_) {
      User& u = users_.at(id);
      if (u.role != "student") continue;
      ++data_.source_pupils;
      Pupil p;
      p.key = id;
      for (auto& cls : enrolled_[id]) {
        auto it = classes_.find(cls);
        if (it == classes_.end()) continue;
        if (std::find(p.classes.begin(), p.classes.end(), it->second.name) == p.classes.end())
          p.classes.push_back(it->second.name);
        if (it->second.homeroom) {
          if (p.reg_group.empty()) p.reg_group = it->second.code;
          else if (p.reg_group != it->second.code)
            data_.warnings.push_back(users.where(*u.row) + "pupil " + id +
                                     " is in more than one homeroom class; took " + p.reg_group +
                                     " as the registration group");
        }
      }
      if (!detail::select_pupil(data_, sel_, p)) continue;
      read_pupil(users, *u.row, p, first_grade_line);
      if (auto d = demo_rows.find(id); d != demo_rows.end()) {
        const CsvRow& r = *d->second;
        // A bad date and a bad sex on one row are both reported.
        errors_.row(demographics->file(), [&] {
          std::string birth = demographics->cell(r, "birthDate");
          if (!birth.empty()) {
            p.dob = parse_date(birth);
            data_.dob_where[p.key] = demographics->where(r, "birthDate");
            if (!p.dob)
              errors_.cell([&] {
                throw Error(ErrorCode::kUsage, demographics->where(r, "birthDate") +
                                                   "not a date in YYYY-MM-DD form or an impossible date; "
                                                   "OneRoster dates are YYYY-MM-DD, correct it in the MIS");
              });
          }
          p.sex = errors_.cell(
              [&] { return detail::parse_sex(demographics->cell(r, "sex"), demographics->where(r, "sex")); });
        });
      }
      add_contacts(users, u, p);
      detail::sort_contacts(p);
      data_.pupils.push_back(std::move(p));
    }
    errors_.throw_if_any();  // every bad row of every file; nothing is imported
    detail::require_selection_found(data_, sel_, f_.users->name);
    report_deleted();
  }

 private:
  // Rows marked tobedeleted: counted per file, reported once.
  void tally(const Table& t) {
    if (t.deleted_rows()) deleted_.emplace_back(t.file(), t.deleted_rows());
  }
  void report_deleted() {
    if (deleted_.empty() && !in_deleted_class_) return;
    std::size_t total = 0;
    std::string per_file;
    for (auto& [file, n] : deleted_) {
      total += n;
      per_file += (per_file.empty() ? "" : ", ") + file + " " + std::to_string(n);
    }
    std::string w = std::to_string(total) + " row(s) marked tobedeleted were skipped";
    if (!per_file.empty()) w += " (" + per_file + ")";
    if (in_deleted_class_)
      w +=
          (total ? ", and " : ": ") + std::to_string(in_deleted_class_) + " enrolment(s) in classes marked tobedeleted";
    data_.warnings.push_back(w + "; they are gone from the MIS");
  }

  void read_users(Table& users) {
    for (auto& r : users.table().rows) {
      errors_.row(users.file(), [&] {
        std::string id = users.cell(r, "sourcedId");
        if (id.empty()) throw Error(ErrorCode::kUsage, users.where(r, "sourcedId") + "every user needs a sourcedId");
        if (auto [it, fresh] = line_of_.emplace(id, r.line); !fresh)
          throw Error(ErrorCode::kUsage, users.where(r, "sourcedId") + "the sourcedId " + id +
                                             " is also used on line " + std::to_string(it->second) +
                                             "; sourcedIds must be unique");
        if (users.deleted(r) ||
            !detail::parse_flag(users.cell(r, "enabledUser"), users.where(r, "enabledUser")).value_or(true)) {
          gone_.insert(id);
          return;
        }
        User u{&r, "", split_commas(users.cell(r, "agentSourcedIds"))};
        if (v_.v11()) u.role = role_word(lower(users.cell(r, "role")));
        order_.push_back(id);
        users_.emplace(std::move(id), std::move(u));
      });
    }
  }

  // Collapses a OneRoster role to the three kinds this importer cares about.
  static std::string role_word(const std::string& role) {
    if (role == "student" || is_contact_role(role)) return role;
    return role.empty() ? "" : "other";
  }

  void read_roles() {
    Table roles(*f_.roles, kRoles, {"userSourcedId", "role"}, "export roles.csv with the OneRoster 1.2 column names",
                data_);
    for (auto& r : roles.table().rows) {
      errors_.row(roles.file(), [&] {
        if (roles.deleted(r)) return;  // counted below
        std::string type = lower(roles.cell(r, "roleType"));
        if (!type.empty() && type != "primary" && type != "secondary")
          throw Error(ErrorCode::kUsage, roles.where(r, "roleType") + "expected primary or secondary");
        auto it = users_.find(roles.cell(r, "userSourcedId"));
        if (it == users_.end()) return;  // a deleted or disabled user, or none
        std::string role = role_word(lower(roles.cell(r, "role")));
        std::string& have = it->second.role;
        // A user with several roles: student first, then the first contact role.
        if (have.empty() || have == "other" || (role == "student" && have != "student")) have = role;
      });
    }
    tally(roles);
  }

  void read_classes() {
    if (!f_.enrollments) return;
    if (!f_.classes)
      throw Error(ErrorCode::kUsage, f_.enrollments->name +
                                         ": needs classes.csv to name the classes; export classes.csv too "
                                         "(or leave enrollments.csv out)");
    Table classes(*f_.classes, kClasses, {"sourcedId"}, "export classes.csv with the OneRoster column names", data_);
    for (auto& r : classes.table().rows) {
      errors_.row(classes.file(), [&] {
        if (classes.deleted(r)) {
          deleted_classes_.insert(classes.cell(r, "sourcedId"));
          return;
        }
        ClassInfo c;
        std::string title = classes.cell(r, "title"), code = classes.cell(r, "classCode");
        std::string id = classes.cell(r, "sourcedId");
        c.name = !title.empty() ? title : !code.empty() ? code : id;
        c.code = !code.empty() ? code : c.name;
        c.homeroom = lower(classes.cell(r, "classType")) == "homeroom";
        classes_.emplace(std::move(id), std::move(c));
      });
    }
    Table enrollments(*f_.enrollments, kEnrollments, {"classSourcedId", "userSourcedId", "role"},
                      "export enrollments.csv with the OneRoster column names", data_);
    std::unordered_set<std::string> unknown;
    for (auto& r : enrollments.table().rows) {
      errors_.row(enrollments.file(), [&] {
        if (enrollments.deleted(r) || lower(enrollments.cell(r, "role")) != "student") return;
        std::string cls = enrollments.cell(r, "classSourcedId");
        if (!classes_.contains(cls) && deleted_classes_.contains(cls)) {
          ++in_deleted_class_;  // the class is gone, not missing
          return;
        }
        if (!classes_.contains(cls)) {
          if (unknown.insert(cls).second)
            data_.warnings.push_back(enrollments.where(r, "classSourcedId") + "class " + cls +
                                     " is not in classes.csv; its enrollments are skipped");
          return;
        }
        enrolled_[enrollments.cell(r, "userSourcedId")].push_back(std::move(cls));
      });
    }
    tally(classes);
    tally(enrollments);
  }

  void read_pupil(const Table& users, const CsvRow& r, Pupil& p,
                  std::unordered_map<std::string, std::size_t>& first_grade_line) {
    p.surname = users.cell(r, "familyName");
    p.forename = users.cell(r, "givenName");
    p.preferred_surname = users.cell(r, "preferredFamilyName");  // 1.2 only: absent in 1.1
    p.preferred_forename = users.cell(r, "preferredGivenName");
    if (std::string upn = upn_token(users.cell(r, "userIds")); !upn.empty()) {
      p.upn = detail::check_upn_cell(upn, users.where(r, "userIds"), data_.warnings);
    } else if (std::string ident = users.cell(r, "identifier"); check_upn(ident).well_formed) {
      p.upn = detail::check_upn_cell(ident, users.where(r, "identifier"), data_.warnings);
    }
    auto grades = split_commas(users.cell(r, "grades"));
    if (!grades.empty()) {
      if (auto year = detail::england_year(grades.front())) {
        p.year_group = *year;
      } else {
        p.year_group = grades.front();
        if (first_grade_line.emplace(grades.front(), r.line).second)
          data_.warnings.push_back(users.where(r, "grades") + "grade " + grades.front().substr(0, 20) +
                                   " is not a CEDS grade this importer maps to an England year (01-12, KG, PK, PR); "
                                   "kept as written for every pupil who has it");
      }
    }
  }

  // Contacts in the order the pupil's agentSourcedIds lists them, then those
  // that name the pupil only from their own agentSourcedIds, in file order.
  void add_contacts(const Table& users, const User& pupil, Pupil& p) {
    std::vector<std::string> ids, strangers;
    std::unordered_set<std::string> seen;
    for (auto& id : pupil.agents) {
      if (!seen.insert(id).second) continue;
      auto it = users_.find(id);
      if (it != users_.end() && is_contact_role(it->second.role)) ids.push_back(id);
      else if (!gone_.contains(id)) strangers.push_back(id);
    }
    if (!strangers.empty())
      data_.warnings.push_back(users.where(*pupil.row, "agentSourcedIds") + "pupil " + p.key + ": " +
                               (strangers.size() == 1
                                    ? strangers[0] + " is"
                                    : std::to_string(strangers.size()) + " ids (the first " + strangers[0] + ") are") +
                               " not a parent, guardian or relative in the set; skipped");
    if (auto it = named_by_.find(p.key); it != named_by_.end())
      for (auto& id : it->second)
        if (seen.insert(id).second) ids.push_back(id);
    int priority = 0;
    for (auto& id : ids) {
      const User& u = users_.at(id);
      const CsvRow& r = *u.row;
      Contact c;
      c.priority = ++priority;
      c.ranked = false;  // OneRoster has no contact order: this is the list's order
      for (const auto& part : {users.cell(r, "givenName"), users.cell(r, "familyName")})
        if (!part.empty()) c.name += (c.name.empty() ? "" : " ") + part;
      c.relationship = capitalised(u.role);
      std::string phone = users.cell(r, "phone"), sms = users.cell(r, "sms");
      if (!phone.empty() && phone != sms && display_phone(phone) != display_phone(sms))
        c.phones.push_back({"", phone, display_phone(phone)});
      if (!sms.empty()) c.phones.push_back({"mobile", sms, display_phone(sms)});
      p.contacts.push_back(std::move(c));
    }
  }

  const Files& f_;
  const Version& v_;
  const Selection& sel_;
  SourceData& data_;
  std::unordered_map<std::string, std::size_t> line_of_;      // every sourcedId, for duplicates
  std::unordered_set<std::string> gone_;                      // tobedeleted or disabled users
  std::unordered_set<std::string> deleted_classes_;           // classes marked tobedeleted
  std::size_t in_deleted_class_ = 0;                          // student enrolments in them
  std::vector<std::pair<std::string, std::size_t>> deleted_;  // file -> rows marked tobedeleted
  std::vector<std::string> order_;                            // live users in file order
  std::unordered_map<std::string, User> users_;
  std::unordered_map<std::string, ClassInfo> classes_;
  std::unordered_map<std::string, std::vector<std::string>> enrolled_;  // user -> class ids
  std::unordered_map<std::string, std::vector<std::string>> named_by_;  // pupil -> contacts naming it
  detail::RowErrors errors_;  // every bad row of every file, thrown at the end of run()
};

}  // namespace

SourceData parse_oneroster(const std::vector<SourceFile>& files, const Selection& selection) {
  SourceData data;
  Files f = sort_files(files);
  Version v = read_manifest(f, data);
  data.format = "OneRoster " + v.number;
  // users.csv (names, ids, grades, agents with phone/sms), classes and
  // enrollments; demographics.csv when present. Never health or diet.
  data.provided = {"names", "upn", "year_group", "reg_group", "classes", "contacts", "contact_phones"};
  if (!v.v11()) data.provided.insert("preferred_names");
  if (f.demographics) data.provided.insert({"dob", "sex"});
  Importer(f, v, selection, data).run();
  return data;
}

}  // namespace coffer::vault
