// The Microsoft School Data Sync (SDS) v2.1 CSV importer (research §2.3,
// docs/IMPORT.md "SDS v2.1"). Pupils are the users roles.csv gives the role
// student (users.csv has no role column: teachers and parents are users
// too, and never become pupils); their contacts are the parent, guardian
// and relative users relationships.csv links to them; their groups are the
// classes of their student enrolments. userFlags.csv (IEP, 504, free lunch)
// is never read, and of demographics.csv only birthDate and sex are.
// Headers are case-sensitive, as SDS's own are. A pupil's key and classes
// are worked out first, so the cells of pupils who are not selected are
// never read.
#include <algorithm>
#include <cctype>
#include <map>
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

// The columns of each file SDS v2.1 documents (and its MIT samples carry).
// Anything else is reported as unmapped, or as dropped when the deny-list
// names it. middleName and the preferred names are optional columns some
// exports add: read when present.
const std::vector<std::string_view> kUsers = {"sourcedId",
                                              "username",
                                              "givenName",
                                              "familyName",
                                              "middleName",
                                              "preferredGivenName",
                                              "preferredMiddleName",
                                              "preferredFamilyName",
                                              "password",
                                              "activeDirectoryMatchId",
                                              "email",
                                              "phone",
                                              "sms"};
const std::vector<std::string_view> kRoles = {"userSourcedId", "orgSourcedId", "role",          "sessionSourcedId",
                                              "grade",         "isPrimary",    "roleStartDate", "roleEndDate"};
const std::vector<std::string_view> kClasses = {"sourcedId", "orgSourcedId", "title", "sessionSourcedIds",
                                                "courseSourcedId"};
const std::vector<std::string_view> kEnrollments = {"classSourcedId", "userSourcedId", "role"};
const std::vector<std::string_view> kRelationships = {"userSourcedId", "relationshipUserSourcedId", "relationshipRole"};
const std::vector<std::string_view> kDemographics = {"userSourcedId", "sex",          "birthDate",      "birthCity",
                                                     "birthState",    "birthCountry", "ethnicityCodes", "raceCodes"};
// Of demographics.csv only these are read; every other column is dropped
// whatever its name (the file is special-category data).
const std::vector<std::string_view> kDemographicsRead = {"userSourcedId", "sex", "birthDate"};

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string base_name(std::string_view path) {
  auto slash = path.find_last_of("/\\");
  return lower(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// The file name part, as written ("dir/userFlags.csv" -> "userFlags.csv").
std::string leaf(std::string_view path) {
  auto slash = path.find_last_of("/\\");
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string capitalised(std::string word) {
  if (!word.empty()) word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
  return word;
}

// One parsed file, its columns looked up by (case-sensitive) name.
class Table {
 public:
  Table(const SourceFile& f, const std::vector<std::string_view>& spec,
        std::initializer_list<std::string_view> required, SourceData& data,
        const std::vector<std::string_view>* only = nullptr)
      : t_(detail::parse_csv(f)) {
    for (std::size_t i = 0; i < t_.header.size(); ++i) {
      const std::string& name = t_.header[i];
      if (detail::is_denied_column(name) || (only && std::find(only->begin(), only->end(), name) == only->end()))
        data.dropped.insert(name);  // never read
      else if (std::find(spec.begin(), spec.end(), name) != spec.end()) idx_.emplace(name, i);
      else data.unmapped.insert(name);
    }
    for (auto r : required) {
      if (idx_.contains(std::string(r))) continue;
      std::string hint;
      for (auto& h : t_.header)
        if (lower(h) == lower(r)) hint = " (the header has " + h + ": SDS headers are case-sensitive)";
      throw Error(ErrorCode::kUsage, t_.file + ":" + std::to_string(t_.header_line) + ": the required column " +
                                         std::string(r) + " is missing from the header row" + hint + "; export " +
                                         base_name(t_.file) + " with the SDS v2.1 column names");
    }
  }
  const std::vector<CsvRow>& rows() const { return t_.rows; }
  bool has(std::string_view col) const { return idx_.contains(std::string(col)); }
  const std::string& file() const { return t_.file; }
  std::string cell(const CsvRow& r, std::string_view col) const {
    auto it = idx_.find(std::string(col));
    return it == idx_.end() ? std::string() : detail::trim(r.cells[it->second]);
  }
  std::string where(const CsvRow& r, std::string_view col) const {
    auto it = idx_.find(std::string(col));
    return it == idx_.end() ? t_.where(r) : t_.where(r, it->second);
  }

 private:
  detail::CsvTable t_;
  std::map<std::string, std::size_t, std::less<>> idx_;
};

struct Files {
  const SourceFile* users = nullptr;
  const SourceFile* roles = nullptr;
  const SourceFile* classes = nullptr;
  const SourceFile* enrollments = nullptr;
  const SourceFile* relationships = nullptr;
  const SourceFile* demographics = nullptr;
  const SourceFile* user_flags = nullptr;  // never parsed
};

Files sort_files(const std::vector<SourceFile>& files) {
  Files f;
  const std::pair<std::string_view, const SourceFile * Files::*> kinds[] = {
      {"users.csv", &Files::users},
      {"roles.csv", &Files::roles},
      {"classes.csv", &Files::classes},
      {"enrollments.csv", &Files::enrollments},
      {"relationships.csv", &Files::relationships},
      {"demographics.csv", &Files::demographics},
      {"userflags.csv", &Files::user_flags}};
  for (auto& file : files) {
    std::string base = base_name(file.name);
    for (auto [name, member] : kinds) {
      if (base != name) continue;
      if (f.*member)
        throw Error(ErrorCode::kUsage, file.name + ": a second " + std::string(name) + " (the first is " +
                                           (f.*member)->name + "); give the files of one SDS export");
      f.*member = &file;
    }
  }  // orgs, academicSessions and courses carry nothing a coffer keeps
  if (!f.users)
    throw Error(ErrorCode::kUsage,
                "the SDS set has no users.csv; export the full SDS v2.1 set (users.csv, "
                "roles.csv and orgs.csv are required)");
  if (!f.roles)
    throw Error(ErrorCode::kUsage, f.users->name +
                                       ": the SDS set has no roles.csv, and without it no user can be told to be "
                                       "a pupil; export the full SDS v2.1 set");
  return f;
}

bool is_contact_role(const std::string& role) { return role == "parent" || role == "guardian" || role == "relative"; }

struct User {
  const CsvRow* row = nullptr;
  bool student = false;
  std::string staff_role;  // the first non-student role, if any
  std::string grade;       // the student role's grade
  std::size_t grade_line = 0;
};

struct Link {
  std::string contact;  // relationshipUserSourcedId
  std::string role;     // parent, guardian or relative
};

class Importer {
 public:
  Importer(const Files& f, const Selection& sel, SourceData& data) : f_(f), sel_(sel), data_(data) {}

  void run() {
    Table users(*f_.users, kUsers, {"sourcedId", "givenName", "familyName"}, data_);
    // What this set can say (the trip sheets say "not provided" for the
    // rest): never health or diet, no UPN or registration group.
    data_.provided = {"names", "year_group", "classes"};
    if (users.has("preferredGivenName") || users.has("preferredFamilyName")) data_.provided.insert("preferred_names");
    if (f_.relationships) {
      data_.provided.insert("contacts");
      if (users.has("phone") || users.has("sms")) data_.provided.insert("contact_phones");
    }
    if (f_.demographics) data_.provided.insert({"dob", "sex"});
    read_users(users);
    read_roles();
    read_classes();
    read_relationships();
    if (f_.user_flags) data_.dropped.insert(leaf(f_.user_flags->name) + " (the whole file)");
    std::optional<Table> demographics;
    std::unordered_map<std::string, const CsvRow*> demo_rows;
    if (f_.demographics) {
      demographics.emplace(*f_.demographics, kDemographics, std::initializer_list<std::string_view>{"userSourcedId"},
                           data_, &kDemographicsRead);
      std::unordered_map<std::string, std::size_t> line_of;
      for (auto& r : demographics->rows()) {
        errors_.row(demographics->file(), [&] {
          std::string id = demographics->cell(r, "userSourcedId");
          if (auto [it, fresh] = line_of.emplace(id, r.line); !fresh)
            throw Error(ErrorCode::kUsage, demographics->where(r, "userSourcedId") + "the user " + id +
                                               " also has demographics on line " + std::to_string(it->second) +
                                               "; give one row per user");
          demo_rows.emplace(std::move(id), &r);
        });
      }
    }

    std::unordered_map<std::string, std::size_t> first_grade_line;  // unknown grade -> first line
    std::size_t staff_students = 0;
    for (auto& id : order_) {
      const User& u = users_.at(id);
      if (!u.student) continue;
      if (!u.staff_role.empty()) {  // a teacher never becomes a pupil
        ++staff_students;
        continue;
      }
      ++data_.source_pupils;
      Pupil p;
      p.key = id;
      for (auto& cls : enrolled_[id]) {
        auto it = classes_.find(cls);
        if (it != classes_.end() && std::find(p.classes.begin(), p.classes.end(), it->second) == p.classes.end())
          p.classes.push_back(it->second);
      }
      if (!detail::select_pupil(data_, sel_, p)) continue;
      p.surname = users.cell(*u.row, "familyName");
      p.forename = users.cell(*u.row, "givenName");
      p.preferred_surname = users.cell(*u.row, "preferredFamilyName");
      p.preferred_forename = users.cell(*u.row, "preferredGivenName");
      year_group(u, p, first_grade_line);
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
                                                   "not a date in YYYY-MM-DD form or an impossible date; SDS "
                                                   "dates are YYYY-MM-DD, correct it in the MIS");
              });
          }
          p.sex = errors_.cell(
              [&] { return detail::parse_sex(demographics->cell(r, "sex"), demographics->where(r, "sex")); });
        });
      }
      add_contacts(users, p);
      data_.pupils.push_back(std::move(p));
    }
    if (staff_students)
      data_.warnings.push_back(f_.roles->name + ": " + std::to_string(staff_students) +
                               " user(s) have a student role and a staff role; not taken as pupils (check their "
                               "roles in the MIS)");
    errors_.throw_if_any();  // every bad row of every file; nothing is imported
    detail::require_selection_found(data_, sel_, f_.users->name);
  }

 private:
  void read_users(const Table& users) {
    for (auto& r : users.rows()) {
      errors_.row(users.file(), [&] {
        std::string id = users.cell(r, "sourcedId");
        if (id.empty()) throw Error(ErrorCode::kUsage, users.where(r, "sourcedId") + "every user needs a sourcedId");
        if (auto [it, fresh] = line_of_.emplace(id, r.line); !fresh)
          throw Error(ErrorCode::kUsage, users.where(r, "sourcedId") + "the sourcedId " + id +
                                             " is also used on line " + std::to_string(it->second) +
                                             "; sourcedIds must be unique");
        order_.push_back(id);
        User u;
        u.row = &r;
        users_.emplace(std::move(id), std::move(u));
      });
    }
  }

  void read_roles() {
    Table roles(*f_.roles, kRoles, {"userSourcedId", "role"}, data_);
    std::size_t strangers = 0;
    for (auto& r : roles.rows()) {
      auto it = users_.find(roles.cell(r, "userSourcedId"));
      if (it == users_.end()) {
        ++strangers;
        continue;
      }
      std::string role = lower(roles.cell(r, "role"));
      User& u = it->second;
      if (role == "student") {
        if (!u.student || u.grade.empty()) {
          u.grade = roles.cell(r, "grade");
          u.grade_line = r.line;
        }
        u.student = true;
      } else if (!role.empty() && !is_contact_role(role) && u.staff_role.empty()) {
        u.staff_role = role;
      }
    }
    if (strangers)
      data_.warnings.push_back(roles.file() + ": " + std::to_string(strangers) +
                               " row(s) name a userSourcedId that is not in users.csv; skipped");
  }

  void read_classes() {
    if (!f_.enrollments) return;
    if (!f_.classes)
      throw Error(ErrorCode::kUsage, f_.enrollments->name +
                                         ": needs classes.csv to name the classes; export classes.csv too "
                                         "(or leave enrollments.csv out)");
    Table classes(*f_.classes, kClasses, {"sourcedId", "title"}, data_);
    for (auto& r : classes.rows()) {
      std::string id = classes.cell(r, "sourcedId"), title = classes.cell(r, "title");
      classes_.emplace(id, title.empty() ? id : title);
    }
    Table enrollments(*f_.enrollments, kEnrollments, {"classSourcedId", "userSourcedId", "role"}, data_);
    std::unordered_set<std::string> unknown;
    for (auto& r : enrollments.rows()) {
      if (lower(enrollments.cell(r, "role")) != "student") continue;
      std::string cls = enrollments.cell(r, "classSourcedId");
      if (!classes_.contains(cls)) {
        if (unknown.insert(cls).second)
          data_.warnings.push_back(enrollments.where(r, "classSourcedId") + "class " + cls +
                                   " is not in classes.csv; its enrolments are skipped");
        continue;
      }
      enrolled_[enrollments.cell(r, "userSourcedId")].push_back(std::move(cls));
    }
  }

  // relationships.csv: userSourcedId is the pupil, relationshipUserSourcedId
  // the adult, relationshipRole what the adult is to the pupil.
  void read_relationships() {
    if (!f_.relationships) return;
    Table rel(*f_.relationships, kRelationships, {"userSourcedId", "relationshipUserSourcedId", "relationshipRole"},
              data_);
    std::map<std::string, std::size_t> other_roles;  // role -> rows (doctor, aide, other, ...)
    std::size_t strangers = 0;
    for (auto& r : rel.rows()) {
      std::string pupil = rel.cell(r, "userSourcedId"), adult = rel.cell(r, "relationshipUserSourcedId");
      std::string role = lower(rel.cell(r, "relationshipRole"));
      if (!is_contact_role(role)) {
        ++other_roles[role.empty() ? "(none)" : role.substr(0, 20)];
        continue;
      }
      if (!users_.contains(adult) || !users_.contains(pupil)) {
        ++strangers;
        continue;
      }
      auto& links = links_[pupil];
      if (std::none_of(links.begin(), links.end(), [&](const Link& l) { return l.contact == adult; }))
        links.push_back({adult, role});
    }
    if (!other_roles.empty()) {
      std::string list;
      for (auto& [role, n] : other_roles) list += (list.empty() ? "" : ", ") + role + " " + std::to_string(n);
      data_.warnings.push_back(rel.file() + ": relationships other than parent, guardian or relative (" + list +
                               ") are not emergency contacts; skipped");
    }
    if (strangers)
      data_.warnings.push_back(rel.file() + ": " + std::to_string(strangers) +
                               " row(s) name a user that is not in users.csv; skipped");
  }

  // SDS grades are CEDS codes (as OneRoster's), in any case and sometimes
  // unpadded ("kg", "4", "04").
  void year_group(const User& u, Pupil& p, std::unordered_map<std::string, std::size_t>& first_grade_line) {
    if (u.grade.empty()) return;
    std::string code;
    for (char c : u.grade) code += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (code.size() == 1 && std::isdigit(static_cast<unsigned char>(code[0]))) code = "0" + code;
    if (auto year = detail::england_year(code)) {
      p.year_group = *year;
      return;
    }
    p.year_group = u.grade;
    if (first_grade_line.emplace(u.grade, u.grade_line).second)
      data_.warnings.push_back(f_.roles->name + ":" + std::to_string(u.grade_line) + ": grade " +
                               u.grade.substr(0, 20) +
                               " is not a CEDS grade this importer maps to an England year (01-12, KG, PK, PR); "
                               "kept as written for every pupil who has it");
  }

  // In relationships.csv's order; OneRoster-like, SDS has no contact order
  // or parental responsibility.
  void add_contacts(const Table& users, Pupil& p) {
    auto it = links_.find(p.key);
    if (it == links_.end()) return;
    int priority = 0;
    for (auto& link : it->second) {
      const CsvRow& r = *users_.at(link.contact).row;
      Contact c;
      c.priority = ++priority;
      c.ranked = false;
      for (const auto& part : {users.cell(r, "givenName"), users.cell(r, "familyName")})
        if (!part.empty()) c.name += (c.name.empty() ? "" : " ") + part;
      c.relationship = capitalised(link.role);
      std::string phone = users.cell(r, "phone"), sms = users.cell(r, "sms");
      if (!phone.empty() && phone != sms && display_phone(phone) != display_phone(sms))
        c.phones.push_back({"", phone, display_phone(phone)});
      if (!sms.empty()) c.phones.push_back({"mobile", sms, display_phone(sms)});
      p.contacts.push_back(std::move(c));
    }
  }

  const Files& f_;
  const Selection& sel_;
  SourceData& data_;
  std::unordered_map<std::string, std::size_t> line_of_;  // every sourcedId, for duplicates
  std::vector<std::string> order_;                        // users in file order
  std::unordered_map<std::string, User> users_;
  std::unordered_map<std::string, std::string> classes_;                // class id -> title
  std::unordered_map<std::string, std::vector<std::string>> enrolled_;  // user -> class ids
  std::unordered_map<std::string, std::vector<Link>> links_;            // pupil -> contacts
  detail::RowErrors errors_;  // every bad row of every file, thrown at the end of run()
};

}  // namespace

SourceData parse_sds(const std::vector<SourceFile>& files, const Selection& selection) {
  SourceData data;
  Files f = sort_files(files);
  data.format = "SDS v2.1";
  Importer(f, selection, data).run();
  return data;
}

}  // namespace coffer::vault
