// vault: every bad row of an import in one run (issue 16). The collector
// (vault/records/src/row_errors.h) on its own, then each importer with
// several bad rows: every one reported with file, line and column, one
// summary, nothing returned; the 100-error cap; unpadded DD/MM/YYYY dates
// and the hint naming the mapping's date_format; a mapping column read into
// several fields; and the census fixture (tests/fixtures/import/census).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "error_capture.h"
#include "row_errors.h"

namespace coffer::vault {
namespace {

namespace fs = std::filesystem;

#define EXPECT_HAS(hay, needle) EXPECT_NE(std::string(hay).find(needle), std::string::npos) << (hay)
#define EXPECT_LACKS(hay, needle) EXPECT_EQ(std::string(hay).find(needle), std::string::npos) << (hay)

std::string usage_error(const std::function<void()>& f) { return test::message_of(f, ErrorCode::kUsage); }

std::vector<std::string> lines_of(const std::string& m) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t end; (end = m.find('\n', start)) != std::string::npos; start = end + 1)
    out.push_back(m.substr(start, end - start));
  out.push_back(m.substr(start));
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

[[noreturn]] void bad(const std::string& what) { throw Error(ErrorCode::kUsage, what); }

// ---------------------------------------------------------------------------
// The collector.

TEST(RowErrors, NothingRecordedThrowsNothing) {
  detail::RowErrors e;
  EXPECT_TRUE(e.row("a.csv", [] {}));
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(e.message(), "");
  EXPECT_NO_THROW(e.throw_if_any());
}

TEST(RowErrors, ListsEveryErrorThenOneSummary) {
  detail::RowErrors e;
  EXPECT_FALSE(e.row("a.csv", [] { bad("a.csv:2: column DOB (3): not a date"); }));
  EXPECT_TRUE(e.row("a.csv", [] {}));
  // Two bad cells of one row: both listed, one bad row.
  EXPECT_FALSE(e.row("a.csv", [&] {
    e.cell([] { bad("a.csv:4: column DOB (3): not a date"); });
    int v = e.cell([]() -> int { bad("a.csv:4: column Sex (4): expected M, F or U"); });
    EXPECT_EQ(v, 0);  // value-initialised: the row goes on
  }));
  EXPECT_FALSE(e.row("b.csv", [] { bad("b.csv:7: no name"); }));
  EXPECT_EQ(e.errors(), 4u);
  EXPECT_EQ(e.rows(), 3u);
  std::string m = usage_error([&] { e.throw_if_any(); });
  EXPECT_EQ(m,
            "a.csv:2: column DOB (3): not a date\n"
            "a.csv:4: column DOB (3): not a date\n"
            "a.csv:4: column Sex (4): expected M, F or U\n"
            "b.csv:7: no name\n"
            "2 rows in a.csv and 1 row in b.csv could not be read; nothing was imported");
}

TEST(RowErrors, CapsTheListAtAHundred) {
  detail::RowErrors e("pupil");
  for (int i = 0; i < 250; ++i) e.row("t.xml", [&] { bad("t.xml:" + std::to_string(i + 1) + ": bad"); });
  auto lines = lines_of(e.message());
  ASSERT_EQ(lines.size(), 102u);
  EXPECT_EQ(lines[0], "t.xml:1: bad");
  EXPECT_EQ(lines[99], "t.xml:100: bad");
  EXPECT_EQ(lines[100], "and 150 more errors");
  EXPECT_EQ(lines[101], "250 pupils in t.xml could not be read; nothing was imported");
  EXPECT_EQ(e.errors(), 250u);
  // Exactly one over: "1 more error".
  detail::RowErrors one;
  for (int i = 0; i < 101; ++i) one.row("a.csv", [] { bad("x"); });
  EXPECT_EQ(lines_of(one.message())[100], "and 1 more error");
}

TEST(RowErrors, OtherErrorsPassThroughAndNewlinesStayInTheirLine) {
  detail::RowErrors e;
  EXPECT_THROW(e.row("a.csv", [] { throw Error(ErrorCode::kIo, "disk"); }), Error);
  EXPECT_THROW(e.row("a.csv", [] { throw std::runtime_error("bug"); }), std::runtime_error);
  EXPECT_TRUE(e.empty());
  // Outside row(), cell() does not catch.
  EXPECT_THROW(e.cell([] { bad("x"); }), Error);
  EXPECT_TRUE(e.empty());
  e.row("a.csv", [] { bad("a.csv:2: column Two\nLines (1): bad\r"); });
  e.add("a.csv", "a.csv:3: found by the importer");
  auto lines = lines_of(e.message());
  ASSERT_EQ(lines.size(), 3u) << e.message();
  EXPECT_EQ(lines[0], "a.csv:2: column Two Lines (1): bad ");
  EXPECT_EQ(lines[2], "2 rows in a.csv could not be read; nothing was imported");
}

// ---------------------------------------------------------------------------
// coffer-csv: bad rows of both files, each cell named.

const std::string kHeader = "PupilKey,UPN,Surname,Forename,DOB,Sex\n";

TEST(CofferCsvRowErrors, EveryBadRowOfBothFilesIsReported) {
  SourceFile pupils{"pupils.csv", kHeader +
                                      "A1,,Quillfeather,Ann,2012-02-30,F\n"  // 2: bad date
                                      "A2,,Marrowby,Bo,2012-01-01,M\n"       // 3: fine
                                      "A3,,Fennimore,Cy,2012-13-01,Q\n"      // 4: bad date and sex
                                      ",,Larkspur,Di,2012-01-01,F\n"         // 5: no key
                                      "A2,,Wetherly,Ed,2012-01-01,M\n"};     // 6: repeated key
  SourceFile contacts{"contacts.csv",
                      "PupilKey,Order,Forename,MobilePhone,Responsibility\n"
                      "A1,1,Mum,07700900001,yes\n"
                      "A2,tenth,Dad,07700900002,yes\n"     // 3: bad order
                      "Z9,1,Gran,07700900003,yes\n"        // 4: no such pupil
                      "A2,2,Aunt,07700900004,perhaps\n"};  // 5: bad flag
  std::string m = usage_error([&] { parse_coffer_csv(pupils, contacts, {}); });
  auto lines = lines_of(m);
  ASSERT_EQ(lines.size(), 9u) << m;
  EXPECT_EQ(lines[0].rfind("pupils.csv:2: column DOB (5): not a date in YYYY-MM-DD form", 0), 0u) << m;
  EXPECT_EQ(lines[1].rfind("pupils.csv:4: column DOB (5): ", 0), 0u) << m;
  EXPECT_EQ(lines[2].rfind("pupils.csv:4: column Sex (6): expected M, F or U", 0), 0u) << m;
  EXPECT_EQ(lines[3].rfind("pupils.csv:5: column PupilKey (1): every pupil needs a PupilKey", 0), 0u) << m;
  EXPECT_EQ(lines[4].rfind("pupils.csv:6: column PupilKey (1): the PupilKey A2 is also used on line 3", 0), 0u) << m;
  EXPECT_EQ(lines[5].rfind("contacts.csv:3: column Order (2): expected a whole number", 0), 0u) << m;
  EXPECT_EQ(lines[6].rfind("contacts.csv:4: column PupilKey (1): no pupil in pupils.csv", 0), 0u) << m;
  EXPECT_EQ(lines[7].rfind("contacts.csv:5: column Responsibility (5): expected true or false", 0), 0u) << m;
  EXPECT_EQ(lines[8], "4 rows in pupils.csv and 3 rows in contacts.csv could not be read; nothing was imported");
  for (auto v : {"Quillfeather", "Fennimore", "Larkspur", "Wetherly", "perhaps", "tenth", "02-30"}) EXPECT_LACKS(m, v);
}

TEST(CofferCsvRowErrors, UnselectedBadRowsAreNotReported) {
  SourceFile pupils{"pupils.csv", kHeader +
                                      "A1,,Quillfeather,Ann,2012-02-30,F\n"
                                      "A2,,Marrowby,Bo,2012-01-01,M\n"
                                      "A3,,Fennimore,Cy,2012-13-01,F\n"};
  SourceData d = parse_coffer_csv(pupils, std::nullopt, Selection{{"A2"}, {}});
  EXPECT_EQ(d.pupils.size(), 1u);
  std::string m = usage_error([&] { parse_coffer_csv(pupils, std::nullopt, Selection{{"A2", "A3"}, {}}); });
  EXPECT_EQ(lines_of(m).size(), 2u) << m;
  EXPECT_HAS(m, "pupils.csv:4: column DOB (5)");
  EXPECT_HAS(m, "1 row in pupils.csv could not be read; nothing was imported");
}

TEST(CofferCsvRowErrors, UnpaddedUkDatesAndUsDates) {
  SourceFile pupils{"pupils.csv", "# dates: DD/MM/YYYY\n" + kHeader +
                                      "A1,,Quillfeather,Ann,1/1/2005,F\n"
                                      "A2,,Marrowby,Bo,14/3/2012,M\n"
                                      "A3,,Fennimore,Cy,7/09/2012,M\n"};
  SourceData d = parse_coffer_csv(pupils, std::nullopt, {});
  ASSERT_EQ(d.pupils.size(), 3u);
  EXPECT_EQ(d.pupils[0].dob, (Date{2005, 1, 1}));
  EXPECT_EQ(d.pupils[1].dob, (Date{2012, 3, 14}));
  EXPECT_EQ(d.pupils[2].dob, (Date{2012, 9, 7}));
  // A US date (month first, the day over 12) is named as one, without the value.
  pupils.text = "# dates: DD/MM/YYYY\n" + kHeader + "A1,,Quillfeather,Ann,3/14/2012,F\nA2,,Marrowby,Bo,31/4/2012,M\n";
  std::string m = usage_error([&] { parse_coffer_csv(pupils, std::nullopt, {}); });
  auto lines = lines_of(m);
  ASSERT_EQ(lines.size(), 3u) << m;
  EXPECT_EQ(lines[0],
            "pupils.csv:3: column DOB (5): not a date in DD/MM/YYYY form (as declared) or an impossible date; its "
            "month is over 12: it looks like a US MM/DD/YYYY date, export the dates as DD/MM/YYYY");
  EXPECT_EQ(lines[1],
            "pupils.csv:4: column DOB (5): not a date in DD/MM/YYYY form (as declared) or an impossible date");
  EXPECT_LACKS(m, "3/14");
  // ISO mode still names the coffer-csv comment.
  pupils.text = kHeader + "A1,,Quillfeather,Ann,14/03/2012,F\n";
  EXPECT_HAS(usage_error([&] { parse_coffer_csv(pupils, std::nullopt, {}); }), "# dates: DD/MM/YYYY");
}

// ---------------------------------------------------------------------------
// Mapped CSV.

const SourceFile kMap{"school/trip-map.toml",
                      "[columns]\n\"Adno\" = \"PupilKey\"\n\"Legal Surname\" = \"Surname\"\n"
                      "\"Legal Forename\" = \"Forename\"\n\"Birth Date\" = \"DOB\"\n\"Gender\" = \"Sex\"\n"
                      "\"Contact 1\" = \"Contact1.Forename\"\n\"Contact 1 PR\" = \"Contact1.Responsibility\"\n"};

TEST(MappedCsvRowErrors, EveryBadRowIsReported) {
  SourceFile csv{"report.csv",
                 "Adno,Legal Surname,Legal Forename,Birth Date,Gender,Contact 1,Contact 1 PR\n"
                 "1,Quillfeather,Ann,2012-02-30,F,Mum,yes\n"
                 "2,Marrowby,Bo,2012-01-01,M,Dad,yes\n"
                 "3,Fennimore,Cy,2012-01-01,Q,Gran,sometimes\n"
                 "1,Larkspur,Di,2012-01-01,F,Mum,yes\n"};
  std::string m = usage_error([&] { parse_mapped_csv(csv, kMap, {}); });
  auto lines = lines_of(m);
  ASSERT_EQ(lines.size(), 5u) << m;
  // The hint names the mapping's date_format, not the coffer-csv comment.
  EXPECT_EQ(lines[0],
            "report.csv:2: column Birth Date (4): not a date in YYYY-MM-DD form or an impossible date; for "
            "DD/MM/YYYY dates set date_format = \"DD/MM/YYYY\" in the mapping school/trip-map.toml");
  EXPECT_EQ(lines[1].rfind("report.csv:4: column Gender (5): expected M, F or U", 0), 0u) << m;
  EXPECT_EQ(lines[2].rfind("report.csv:4: column Contact 1 PR (7): expected true or false", 0), 0u) << m;
  EXPECT_EQ(lines[3].rfind("report.csv:5: column Adno (1): the pupil key 1 appears on an earlier line", 0), 0u) << m;
  EXPECT_EQ(lines[4], "3 rows in report.csv could not be read; nothing was imported");
  EXPECT_LACKS(m, "# dates");
  EXPECT_LACKS(m, "sometimes");
}

TEST(MappedCsvRowErrors, DeclaredUkDatesNameTheMapping) {
  SourceFile map{"map.toml", "date_format = \"DD/MM/YYYY\"\n" + kMap.text};
  SourceFile csv{"report.csv",
                 "Adno,Legal Surname,Legal Forename,Birth Date\n"
                 "1,Quillfeather,Ann,1/9/2012\n"
                 "2,Marrowby,Bo,09/13/2012\n"};
  std::string m = usage_error([&] { parse_mapped_csv(csv, map, {}); });
  EXPECT_EQ(lines_of(m).at(0),
            "report.csv:3: column Birth Date (4): not a date in DD/MM/YYYY form (as date_format in map.toml says) or "
            "an impossible date; its month is over 12: it looks like a US MM/DD/YYYY date, export the dates as "
            "DD/MM/YYYY");
  EXPECT_LACKS(m, "# dates");
  csv.text = "Adno,Legal Surname,Legal Forename,Birth Date\n1,Quillfeather,Ann,1/9/2012\n";
  EXPECT_EQ(parse_mapped_csv(csv, map, {}).pupils.at(0).dob, (Date{2012, 9, 1}));
}

// One column, several fields: a census's UPN is the pupil key and the UPN.
TEST(MappedCsvTargets, OneColumnIntoSeveralFields) {
  SourceFile map{"map.toml",
                 "[columns]\n\"UPN\" = [\"PupilKey\", \"UPN\"]\n\"Surname\" = \"Surname\"\n"
                 "\"Forename\" = [\"Forename\"]\n\"Phone\" = [\"Contact1.MobilePhone\", \"Contact2.HomePhone\"]\n"
                 "\"Carer\" = [\"Contact1.Forename\", \"Contact2.Forename\"]\n"};
  SourceFile csv{"census.csv",
                 "UPN,Surname,Forename,Phone,Carer\n"
                 "R999888824001,Quillfeather,Ann,07700900001,Pat\n"
                 "B999888824002,Marrowby,Bo,,\n"};  // wrong check letter (F is right)
  SourceData d = parse_mapped_csv(csv, map, {});
  ASSERT_EQ(d.pupils.size(), 2u);
  EXPECT_EQ(d.pupils[0].key, "R999888824001");
  EXPECT_EQ(d.pupils[0].upn, "R999888824001");
  EXPECT_EQ(d.pupils[0].forename, "Ann");
  ASSERT_EQ(d.pupils[0].contacts.size(), 2u);
  EXPECT_EQ(d.pupils[0].contacts[1].phones.at(0).kind, "home");
  EXPECT_EQ(d.pupils[1].key, "B999888824002");
  ASSERT_EQ(d.warnings.size(), 1u);  // the check letter is checked
  EXPECT_HAS(d.warnings[0], "census.csv:3: column UPN (1): UPN check letter is wrong");
  EXPECT_TRUE(d.unmapped.empty());
  // Selection by the key read from that column.
  EXPECT_EQ(parse_mapped_csv(csv, map, Selection{{"B999888824002"}, {}}).pupils.size(), 1u);
}

TEST(MappedCsvTargets, BadListsAreNamed) {
  SourceFile csv{"census.csv", "UPN,Surname,Forename\nR999888824001,Quillfeather,Ann\n"};
  auto error_for = [&](const std::string& upn_line) {
    SourceFile map{"map.toml", "[columns]\n\"Surname\" = \"Surname\"\n\"Forename\" = \"Forename\"\n" + upn_line + "\n"};
    return usage_error([&] { parse_mapped_csv(csv, map, {}); });
  };
  std::string m = error_for("\"UPN\" = []");
  EXPECT_HAS(m, "map.toml:4: the list of targets of \"UPN\" is empty");
  m = error_for("\"UPN\" = [\"PupilKey\", \"UniquePupilNo\"]");
  EXPECT_HAS(m, "map.toml:4: UniquePupilNo is not a canonical field");
  m = error_for("\"UPN\" = [\"PupilKey\", \"UPN\", \"PupilKey\"]");
  EXPECT_HAS(m, "map.toml:4: \"UPN\" lists PupilKey twice; give each field once");
  m = error_for("\"UPN\" = [\"PupilKey\", 3]");
  EXPECT_HAS(m, "map.toml:4: the targets of \"UPN\" must be strings");
  m = error_for("\"UPN\" = 3");
  EXPECT_HAS(m, "map.toml:4: the target of \"UPN\" must be a string or a list of strings");
  m = error_for("\"UPN\" = [\"PupilKey\", \"Religion\"]");
  EXPECT_HAS(m, "map.toml:4: Religion");
  // Two columns onto one field, one of them through a list.
  SourceFile two{"census.csv", "UPN,Adno,Surname,Forename\nR999888824001,1,Quillfeather,Ann\n"};
  SourceFile map{"map.toml",
                 "[columns]\n\"UPN\" = [\"PupilKey\", \"UPN\"]\n\"Adno\" = \"PupilKey\"\n\"Surname\" = \"Surname\"\n"
                 "\"Forename\" = \"Forename\"\n"};
  EXPECT_HAS(usage_error([&] { parse_mapped_csv(two, map, {}); }),
             "census.csv:1: two columns map to PupilKey; map only one of them");
}

// ---------------------------------------------------------------------------
// OneRoster and CTF: several bad rows of several files.

TEST(OneRosterRowErrors, EveryBadRowOfEveryFileIsReported) {
  const std::string users =
      "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
      "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
      "s1,,,true,o1,student,,,Ann,Quillfeather,,,,,,,04,\n"
      "s2,,,maybe,o1,student,,,Bo,Marrowby,,,,,,,04,\n"  // 3: enabledUser
      "s3,,,true,o1,student,,,Cy,Fennimore,,,,,,,04,\n"
      "s4,gone,,true,o1,student,,,Di,Larkspur,,,,,,,04,\n";  // 5: status
  const std::string demo_header =
      "sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican,"
      "nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity,"
      "countryOfBirthCode,stateOfBirthAbbreviation,cityOfBirth,publicSchoolResidenceStatus\n";
  const std::string demo = demo_header +
                           "s1,,,2015-02-30,Q,,,,,,,,,,,\n"  // 2: date and sex
                           "s3,,,2015-03-01,F,,,,,,,,,,,\n";
  std::vector<SourceFile> files = {{"x/manifest.csv", "propertyName,value\noneroster.version,1.1\n"},
                                   {"x/users.csv", users},
                                   {"x/demographics.csv", demo}};
  std::string m = usage_error([&] { parse_oneroster(files, {}); });
  auto lines = lines_of(m);
  ASSERT_EQ(lines.size(), 5u) << m;
  EXPECT_EQ(lines[0].rfind("x/users.csv:3: column enabledUser (4): expected true or false", 0), 0u) << m;
  EXPECT_EQ(lines[1].rfind("x/users.csv:5: column status (2): expected active or tobedeleted", 0), 0u) << m;
  EXPECT_EQ(lines[2].rfind("x/demographics.csv:2: column birthDate (4): not a date", 0), 0u) << m;
  EXPECT_EQ(lines[3].rfind("x/demographics.csv:2: column sex (5): expected M, F or U", 0), 0u) << m;
  EXPECT_EQ(lines[4], "2 rows in x/users.csv and 1 row in x/demographics.csv could not be read; nothing was imported");
}

TEST(CtfRowErrors, EveryBadPupilIsReported) {
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<CTfile><Header><CTFversion>25.0</CTFversion></Header>\n"
      "<CTFpupilData>\n"
      "<Pupil><UPN>R999888824001</UPN><Surname>Quillfeather</Surname><Forename>Ann</Forename>\n"
      "<DOB>2015-02-30</DOB><Sex>Q</Sex></Pupil>\n"  // 5: date and sex
      "<Pupil><UPN>F999888824002</UPN><Surname>Marrowby</Surname><Forename>Bo</Forename></Pupil>\n"
      "<Pupil><Surname>Fennimore</Surname><Forename>Cy</Forename></Pupil>\n"  // 7: no UPN
      "<Pupil><UPN>V999888824003</UPN><Surname>Larkspur</Surname><Forename>Di</Forename>\n"
      "<Contacts><Contact><Order>tenth</Order><Surname>Larkspur</Surname></Contact></Contacts></Pupil>\n"  // 9
      "</CTFpupilData></CTfile>\n";
  std::string m = usage_error([&] { parse_ctf({"ctf.xml", xml}, {}); });
  auto lines = lines_of(m);
  ASSERT_EQ(lines.size(), 5u) << m;
  EXPECT_EQ(lines[0].rfind("ctf.xml:5: element DOB: not a date", 0), 0u) << m;
  EXPECT_EQ(lines[1].rfind("ctf.xml:5: element Sex: expected M, F or U", 0), 0u) << m;
  EXPECT_EQ(lines[2].rfind("ctf.xml:7: a Pupil has no UPN", 0), 0u) << m;
  EXPECT_EQ(lines[3].rfind("ctf.xml:9: element Order: expected a whole number", 0), 0u) << m;
  EXPECT_EQ(lines[4], "3 pupils in ctf.xml could not be read; nothing was imported");
  for (auto v : {"Quillfeather", "Fennimore", "Larkspur", "tenth"}) EXPECT_LACKS(m, v);
}

// ---------------------------------------------------------------------------
// The census fixture: a DfE census-style list (CRLF, US dates) and its
// mapping, which reads the UPN column as both the key and the UPN.

const fs::path kCensus = fs::path(COFFER_FIXTURES_DIR) / "import" / "census";

TEST(CensusFixture, EveryUsDateIsReportedAndNothingIsRead) {
  SourceFile csv{"census.csv", slurp(kCensus / "census.csv")};
  SourceFile map{"census-map.toml", slurp(kCensus / "census-map.toml")};
  std::string m = usage_error([&] { parse_mapped_csv(csv, map, {}); });
  auto lines = lines_of(m);
  ASSERT_EQ(lines.size(), 44u) << m.substr(0, 500);
  // The bad lines are exactly those whose DOB has a middle part over 12.
  std::istringstream in(csv.text);
  std::string line;
  std::vector<std::string> expected;
  for (int n = 1; std::getline(in, line); ++n) {
    if (n == 1) continue;
    std::vector<std::string> cells;
    std::istringstream row(line);
    for (std::string c; std::getline(row, c, ',');) cells.push_back(c);
    std::string dob = cells.at(7);
    int middle = std::stoi(dob.substr(dob.find('/') + 1));
    if (middle > 12) expected.push_back("census.csv:" + std::to_string(n) + ": column DOB (8): ");
  }
  ASSERT_EQ(expected.size(), 43u);
  for (std::size_t i = 0; i < 43; ++i) {
    EXPECT_EQ(lines[i].rfind(expected[i], 0), 0u) << lines[i];
    EXPECT_HAS(lines[i], "date_format in census-map.toml");
    EXPECT_HAS(lines[i], "US MM/DD/YYYY");
  }
  EXPECT_EQ(lines[43], "43 rows in census.csv could not be read; nothing was imported");
  EXPECT_LACKS(m, "Quillfeather");
}

TEST(CensusFixture, GoodRowsOfTheBadFileWarnAboutTheirUpns) {
  SourceFile csv{"census.csv", slurp(kCensus / "census.csv")};
  SourceFile map{"census-map.toml", slurp(kCensus / "census-map.toml")};
  // Lines 6-8 have wrong check letters, line 14 a digit for its check
  // letter (their dates read, as UK dates).
  Selection sel{{"B999777715005", "Q999777715006", "E999777715007", "1999777715013"}, {}};
  SourceData d = parse_mapped_csv(csv, map, sel);
  ASSERT_EQ(d.pupils.size(), 4u);
  ASSERT_EQ(d.warnings.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_HAS(d.warnings[static_cast<std::size_t>(i)], "UPN check letter is wrong");
  EXPECT_EQ(d.warnings[3], "census.csv:14: column UPN (3): UPN must start with a letter (check letter); kept");
  EXPECT_EQ(d.dropped, (std::set<std::string>{"FSMeligible", "Language", "SENProvision"}));
  EXPECT_EQ(d.unmapped, (std::set<std::string>{"EnrolStatus", "Estab", "LEA", "Middlenames"}));
}

TEST(CensusFixture, TheCleanFileImportsWithCheckLettersVerified) {
  SourceFile csv{"census-clean.csv", slurp(kCensus / "census-clean.csv")};
  SourceFile map{"census-map.toml", slurp(kCensus / "census-map.toml")};
  SourceData d = parse_mapped_csv(csv, map, {});
  ASSERT_EQ(d.pupils.size(), 60u);
  EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
  for (auto& p : d.pupils) {
    EXPECT_EQ(p.key, p.upn);
    EXPECT_TRUE(p.dob.has_value()) << p.key;
  }
  EXPECT_EQ(d.pupils[0].dob, (Date{2016, 5, 22}));  // "22/5/2016": unpadded
}

}  // namespace
}  // namespace coffer::vault
