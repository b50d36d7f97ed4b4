// vault: the Microsoft SDS v2.1 importer on the project's synthetic set
// (tests/fixtures/import/sds-v2.1) and on sets built here: students by
// role only (a teacher and a parent never become pupils), guardians as
// contacts with their phones, classes as groups, userFlags.csv and the
// sensitive columns of users.csv and demographics.csv dropped by name with
// their values nowhere in the result, detection against OneRoster, and
// errors that name file, line and column. The cases every importer shares
// are import_contract_test.cpp's.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "error_capture.h"
#include "source_dump.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

namespace fs = std::filesystem;

std::string message_of(const std::function<void()>& f) { return test::message_of(f, ErrorCode::kUsage); }

const fs::path kSet = fs::path(COFFER_FIXTURES_DIR) / "import" / "sds-v2.1";

std::vector<SourceFile> fixture_set() {
  std::vector<SourceFile> files;
  for (auto& e : fs::directory_iterator(kSet)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    files.push_back({"sds-v2.1/" + e.path().filename().string(), s.str()});
  }
  EXPECT_EQ(files.size(), 8u) << "missing tests/fixtures/import/sds-v2.1";
  return files;
}

SourceFile* find(std::vector<SourceFile>& files, const std::string& base) {
  for (auto& f : files)
    if (f.name.ends_with("/" + base)) return &f;
  return nullptr;
}

const Pupil& pupil(const SourceData& d, const std::string& key) {
  for (auto& p : d.pupils)
    if (p.key == key) return p;
  throw std::runtime_error("no pupil " + key);
}

TEST(sds, StudentsByRoleOnlyWithTheirFields) {
  SourceData d = parse_sds(fixture_set(), {});
  EXPECT_EQ(d.format, "SDS v2.1");
  EXPECT_EQ(d.source_pupils, 4u);  // 9 users: 4 students, a teacher, 4 parents
  std::vector<std::string> keys;
  for (auto& p : d.pupils) keys.push_back(p.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"stu-001", "stu-002", "stu-003", "stu-004"}));
  const Pupil& a = pupil(d, "stu-001");
  EXPECT_EQ(a.surname, "Ashdown");
  EXPECT_EQ(a.forename, "Amelia");
  EXPECT_TRUE(a.upn.empty());
  EXPECT_EQ(a.year_group, "7");  // CEDS 06
  EXPECT_TRUE(a.reg_group.empty());
  EXPECT_EQ(a.classes, std::vector<std::string>{"7A Geography"});
  ASSERT_TRUE(a.dob.has_value());
  EXPECT_EQ(format_date(*a.dob), "2014-03-14");
  EXPECT_EQ(a.sex, "F");
  EXPECT_EQ(pupil(d, "stu-004").year_group, "8");
  EXPECT_EQ(pupil(d, "stu-004").classes, std::vector<std::string>{"8B Science"});
}

TEST(sds, GuardiansAreContactsWithTheirPhones) {
  SourceData d = parse_sds(fixture_set(), {});
  const Pupil& a = pupil(d, "stu-001");
  ASSERT_EQ(a.contacts.size(), 1u);  // the aide (the teacher) is not an emergency contact
  EXPECT_EQ(a.contacts[0].name, "Gina Ashdown");
  EXPECT_EQ(a.contacts[0].relationship, "Guardian");
  EXPECT_FALSE(a.contacts[0].ranked);
  EXPECT_FALSE(a.contacts[0].parental_responsibility.has_value());
  ASSERT_EQ(a.contacts[0].phones.size(), 2u);
  EXPECT_EQ(a.contacts[0].phones[0].number, "01632 960111");
  EXPECT_EQ(a.contacts[0].phones[1].kind, "mobile");
  EXPECT_EQ(a.contacts[0].phones[1].number, "07700 900111");
  // Two contacts in relationships.csv's order; phone = sms is one phone.
  const Pupil& b = pupil(d, "stu-002");
  ASSERT_EQ(b.contacts.size(), 2u);
  EXPECT_EQ(b.contacts[0].name, "Huw Brown");
  EXPECT_EQ(b.contacts[0].relationship, "Relative");
  EXPECT_EQ(b.contacts[0].priority, 1);
  ASSERT_EQ(b.contacts[0].phones.size(), 1u);
  EXPECT_EQ(b.contacts[0].phones[0].kind, "mobile");
  EXPECT_EQ(b.contacts[1].name, "Gina Ashdown");
  EXPECT_EQ(b.contacts[1].relationship, "Parent");
  EXPECT_EQ(b.contacts[1].priority, 2);
  // The skipped aide link is said once, by role, never by person.
  bool said = false;
  for (auto& w : d.warnings)
    if (w.find("relationships.csv") != std::string::npos && w.find("aide 1") != std::string::npos) said = true;
  EXPECT_TRUE(said);
}

TEST(sds, TeachersAndParentsNeverBecomePupils) {
  // Selected by key, a teacher or a parent is "not in" the source.
  for (const char* key : {"tch-001", "par-001"}) {
    std::string m = message_of([&] { parse_sds(fixture_set(), Selection{{key}, {}}); });
    EXPECT_NE(m.find(std::string("not in sds-v2.1/users.csv: ") + key), std::string::npos) << m;
  }
  // A user with a student role and a teacher role is not taken either.
  auto files = fixture_set();
  find(files, "roles.csv")->text += "stu-004,org-1,teacher,SY2026,,FALSE,,\n";
  SourceData d = parse_sds(files, {});
  EXPECT_EQ(d.pupils.size(), 3u);
  bool said = false;
  for (auto& w : d.warnings) said |= w.find("student role and a staff role") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST(sds, SelectsByClass) {
  SourceData d = parse_sds(fixture_set(), Selection{{}, {"7A Geography"}});
  EXPECT_EQ(d.pupils.size(), 3u);
  EXPECT_EQ(d.matched_groups, std::set<std::string>{"7A Geography"});
  std::string m = message_of([&] { parse_sds(fixture_set(), Selection{{}, {"cls-7a"}}); });
  EXPECT_NE(m.find("cls-7a"), std::string::npos) << m;  // by title, not by sourcedId
}

TEST(sds, FlagsDemographicsAndCredentialsAreDroppedByName) {
  SourceData d = parse_sds(fixture_set(), {});
  for (const char* name : {"userFlags.csv (the whole file)", "password", "email", "birthCity", "birthState",
                           "birthCountry", "ethnicityCodes", "raceCodes"})
    EXPECT_TRUE(d.dropped.count(name)) << name;
  // SDS's other columns (username, activeDirectoryMatchId, orgSourcedId...)
  // are known and not carried; nothing here is an unknown extension.
  EXPECT_TRUE(d.unmapped.empty());
  std::string all = testing::dump(d);
  for (const char* value : {"iep", "freeLunch", "504", "Synthetic-Pass", "@", "Leakcity", "LEAK"})
    EXPECT_EQ(all.find(value), std::string::npos) << value;
}

TEST(sds, UserFlagsIsNeverParsed) {
  // Not even a malformed userFlags.csv stops an import: it is never read.
  auto files = fixture_set();
  find(files, "userFlags.csv")->text = "\"broken,\n\xff\xfe";
  SourceData d = parse_sds(files, {});
  EXPECT_EQ(d.pupils.size(), 4u);
  EXPECT_TRUE(d.dropped.count("userFlags.csv (the whole file)"));
}

TEST(sds, OnlyBirthDateAndSexOfDemographicsAreRead) {
  auto files = fixture_set();
  auto* demo = find(files, "demographics.csv");
  demo->text = "userSourcedId,sex,birthDate,houseColour,freeLunchStatus\nstu-001,female,2014-03-14,LEAKBLUE,LEAKY\n";
  SourceData d = parse_sds(files, {});
  EXPECT_TRUE(d.dropped.count("houseColour"));  // any other column of the file, whatever its name
  EXPECT_TRUE(d.dropped.count("freeLunchStatus"));
  EXPECT_EQ(testing::dump(d).find("LEAK"), std::string::npos);
  EXPECT_FALSE(pupil(d, "stu-002").dob.has_value());
}

TEST(sds, HeadersAreCaseSensitive) {
  auto files = fixture_set();
  auto* users = find(files, "users.csv");
  users->text.replace(0, 9, "SourcedId");
  std::string m = message_of([&] { parse_sds(files, {}); });
  EXPECT_NE(m.find("sds-v2.1/users.csv:1: the required column sourcedId is missing"), std::string::npos) << m;
  EXPECT_NE(m.find("the header has SourcedId: SDS headers are case-sensitive"), std::string::npos) << m;
}

TEST(sds, RolesCsvIsRequired) {
  auto files = fixture_set();
  files.erase(std::remove_if(files.begin(), files.end(), [](auto& f) { return f.name.ends_with("/roles.csv"); }),
              files.end());
  std::string m = message_of([&] { parse_sds(files, {}); });
  EXPECT_NE(m.find("no roles.csv"), std::string::npos) << m;
}

TEST(sds, BadBirthDateNamesTheCellNotTheDate) {
  auto files = fixture_set();
  auto* demo = find(files, "demographics.csv");
  demo->text.replace(demo->text.find("2014-07-01"), 10, "07/01/2014");
  std::string m = message_of([&] { parse_sds(files, Selection{{"stu-002"}, {}}); });
  EXPECT_EQ(m.rfind("sds-v2.1/demographics.csv:3: column birthDate (3): not a date", 0), 0u) << m;
  EXPECT_EQ(m.find("07/01"), std::string::npos) << m;
}

TEST(sds, UnknownGradeIsKeptWithOneWarning) {
  auto files = fixture_set();
  auto* roles = find(files, "roles.csv");
  for (std::size_t at; (at = roles->text.find(",06,")) != std::string::npos;) roles->text.replace(at, 4, ",Y7,");
  SourceData d = parse_sds(files, {});
  EXPECT_EQ(pupil(d, "stu-001").year_group, "Y7");
  std::size_t n = 0;
  for (auto& w : d.warnings) n += w.find("grade Y7") != std::string::npos;
  EXPECT_EQ(n, 1u);
  // Unpadded and lower-case CEDS codes are mapped.
  for (std::size_t at; (at = roles->text.find(",Y7,")) != std::string::npos;) roles->text.replace(at, 4, ",kg,");
  roles->text.replace(roles->text.find(",07,"), 4, ",4,");
  d = parse_sds(files, {});
  EXPECT_EQ(pupil(d, "stu-001").year_group, "1");
  EXPECT_EQ(pupil(d, "stu-004").year_group, "5");
}

// ---------------------------------------------------------------------------
// Detection: the file set and headers tell SDS from OneRoster.

void copy_dir(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (auto& e : fs::directory_iterator(from)) fs::copy_file(e.path(), to / e.path().filename());
}

TEST(sds, DetectedByFileSetAndHeaders) {
  test::TempDir dir;
  copy_dir(kSet, dir.path() / "sds");
  EXPECT_EQ(detect_format(dir.path() / "sds"), SourceFormat::kSds);
  EXPECT_EQ(detect_format(dir.path() / "sds" / "users.csv"), SourceFormat::kSds);
  // Without relationships.csv and userFlags.csv: still the headers.
  fs::remove(dir.path() / "sds" / "relationships.csv");
  fs::remove(dir.path() / "sds" / "userFlags.csv");
  EXPECT_EQ(detect_format(dir.path() / "sds"), SourceFormat::kSds);
  copy_dir(fs::path(COFFER_FIXTURES_DIR) / "import" / "oneroster-v1p2", dir.path() / "or12");
  EXPECT_EQ(detect_format(dir.path() / "or12"), SourceFormat::kOneRoster);
  copy_dir(fs::path(COFFER_FIXTURES_DIR) / "import" / "oneroster-v1p1", dir.path() / "or11");
  EXPECT_EQ(detect_format(dir.path() / "or11"), SourceFormat::kOneRoster);
  // And read_source loads the set (userFlags.csv not even read).
  copy_dir(kSet, dir.path() / "sds2");
  SourceData d = read_source(SourceFormat::kSds, dir.path() / "sds2", std::nullopt, {});
  EXPECT_EQ(d.pupils.size(), 4u);
  EXPECT_TRUE(d.dropped.count("userFlags.csv (the whole file)"));
}

TEST(sds, AmbiguousSetNamesSds) {
  test::TempDir dir;
  copy_dir(kSet, dir.path() / "mixed");
  // A OneRoster manifest beside SDS's files: both kinds of sign.
  std::ofstream(dir.path() / "mixed" / "manifest.csv") << "propertyName,value\noneroster.version,1.2\n";
  std::string m = message_of([&] { detect_format(dir.path() / "mixed"); });
  EXPECT_NE(m.find("cannot tell OneRoster from Microsoft School Data Sync (SDS v2.1)"), std::string::npos) << m;
  EXPECT_NE(m.find("--format sds"), std::string::npos) << m;
  EXPECT_NE(m.find("manifest.csv"), std::string::npos) << m;
  // A bare users.csv with neither's signs.
  fs::create_directories(dir.path() / "bare");
  std::ofstream(dir.path() / "bare" / "users.csv") << "sourcedId,givenName,familyName\n";
  m = message_of([&] { detect_format(dir.path() / "bare"); });
  EXPECT_NE(m.find("--format oneroster or --format sds"), std::string::npos) << m;
}

TEST(sds, FormatNames) {
  EXPECT_EQ(parse_format("sds"), SourceFormat::kSds);
  EXPECT_EQ(format_name(SourceFormat::kSds), "sds");
}

}  // namespace
}  // namespace coffer::vault
