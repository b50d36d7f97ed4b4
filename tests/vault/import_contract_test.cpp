// vault: the importer contract, one typed suite run against every importer
// (as KeePassXC's TestKeePass2Format and CryFS's BlockStoreTest): selection
// by key and by group, unknown keys and groups, a BOM, CRLF, a bad UPN check
// letter, a deny-listed column, an empty file, and file:line in every error.
// A new importer gets all of it by writing an adapter
// (import_contract_adapters.h) and adding it to kImporters below. A case an
// importer has no concept for is skipped with the adapter's reason, never
// passed silently. What only one importer does stays in its own test file.
#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "error_capture.h"
#include "import_contract.h"
#include "import_contract_adapters.h"
#include "source_dump.h"

namespace coffer::vault::contract {
namespace {

using Importers = ::testing::Types<CofferCsvAdapter, MappedCsvAdapter, OneRosterAdapter, CtfAdapter, SdsAdapter>;

class ImporterName {
 public:
  template <class T>
  static std::string GetName(int) {
    std::string n = T::kName;
    for (char& c : n)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
  }
};

// Three pupils with valid UPNs, in two groups.
NeutralSource three_pupils() {
  NeutralSource s;
  s.pupils = {
      {"K1", "R999888824001", "Ashdown", "Amelia", "2012-03-14", "9A"},
      {"K2", "F999888824002", "Brown", "Ben", "2012-07-01", "9B"},
      {"K3", "V999888824003", "Cole", "Cara", "2011-12-31", "9A"},
  };
  return s;
}

// Every error here is a usage error.
std::string usage_error(const std::function<void()>& f) { return test::message_of(f, ErrorCode::kUsage); }

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Skips the running case, giving the adapter's reason, when the importer
// has no such concept (a macro: GTEST_SKIP returns from the test body).
#define SKIP_UNLESS(concept)                                               \
  if (auto why = TypeParam::lacks(concept)) {                              \
    GTEST_SKIP() << TypeParam::kName << ": case does not apply: " << *why; \
  }

template <class A>
class ImporterContract : public ::testing::Test {
 protected:
  static std::vector<std::string> keys(const SourceData& d) {
    std::vector<std::string> out;
    for (auto& p : d.pupils) out.push_back(p.key);
    return out;
  }
  static std::vector<std::string> keys_of(const NeutralSource& s, std::initializer_list<std::size_t> which) {
    std::vector<std::string> out;
    for (auto i : which) out.push_back(A::key_of(s.pupils.at(i)));
    return out;
  }
};

TYPED_TEST_SUITE(ImporterContract, Importers, ImporterName);

TYPED_TEST(ImporterContract, ReadsEveryPupilWithItsFields) {
  NeutralSource s = three_pupils();
  SourceData d = TypeParam::parse(s, {});
  EXPECT_EQ(d.format, TypeParam::format());
  EXPECT_EQ(d.source_pupils, 3u);
  ASSERT_EQ(this->keys(d), this->keys_of(s, {0, 1, 2}));
  EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
  for (std::size_t i = 0; i < 3; ++i) {
    const Pupil& p = d.pupils[i];
    if (!TypeParam::lacks(Concept::kUpn)) {
      EXPECT_EQ(p.upn, s.pupils[i].upn);
    }
    EXPECT_EQ(p.surname, s.pupils[i].surname);
    EXPECT_EQ(p.forename, s.pupils[i].forename);
    ASSERT_TRUE(p.dob.has_value());
    EXPECT_EQ(format_date(*p.dob), s.pupils[i].dob);
  }
}

TYPED_TEST(ImporterContract, SelectsByKey) {
  NeutralSource s = three_pupils();
  SourceData d = TypeParam::parse(s, Selection{{TypeParam::key_of(s.pupils[1])}, {}});
  EXPECT_EQ(d.source_pupils, 3u);
  ASSERT_EQ(this->keys(d), this->keys_of(s, {1}));
  EXPECT_EQ(d.pupils[0].forename, "Ben");
  EXPECT_TRUE(d.matched_groups.empty());
  // Several keys come back in the source's order.
  d = TypeParam::parse(s, Selection{{TypeParam::key_of(s.pupils[2]), TypeParam::key_of(s.pupils[0])}, {}});
  EXPECT_EQ(this->keys(d), this->keys_of(s, {0, 2}));
}

TYPED_TEST(ImporterContract, SelectsByGroup) {
  SKIP_UNLESS(Concept::kGroups)
  NeutralSource s = three_pupils();
  SourceData d = TypeParam::parse(s, Selection{{}, {"9A"}});
  EXPECT_EQ(this->keys(d), this->keys_of(s, {0, 2}));
  EXPECT_EQ(d.matched_groups, std::set<std::string>{"9A"});
  if (TypeParam::lacks(Concept::kRegGroup)) {
    EXPECT_EQ(d.pupils[0].classes, std::vector<std::string>{"9A"});
  } else {
    EXPECT_EQ(d.pupils[0].reg_group, "9A");
  }
  // Keys and groups together: their union.
  d = TypeParam::parse(s, Selection{{TypeParam::key_of(s.pupils[0])}, {"9B"}});
  EXPECT_EQ(this->keys(d), this->keys_of(s, {0, 1}));
}

TYPED_TEST(ImporterContract, UnknownKeyIsNamed) {
  NeutralSource s = three_pupils();
  std::string known = TypeParam::key_of(s.pupils[0]);
  std::string m = usage_error([&] { TypeParam::parse(s, Selection{{known, "ZZ999"}, {}}); });
  EXPECT_NE(m.find("ZZ999"), std::string::npos) << m;
  EXPECT_EQ(m.find(known), std::string::npos) << m;                   // only the missing one
  EXPECT_NE(m.find(TypeParam::main_file()), std::string::npos) << m;  // where it looked
}

TYPED_TEST(ImporterContract, UnknownGroupIsNamed) {
  SKIP_UNLESS(Concept::kGroups)
  NeutralSource s = three_pupils();
  std::string m = usage_error([&] { TypeParam::parse(s, Selection{{}, {"9A", "13Z"}}); });
  EXPECT_NE(m.find("13Z"), std::string::npos) << m;
  EXPECT_EQ(m.find("9A"), std::string::npos) << m;
  // Group names match exactly: "9a" is not "9A".
  m = usage_error([&] { TypeParam::parse(s, Selection{{}, {"9a"}}); });
  EXPECT_NE(m.find("9a"), std::string::npos) << m;
}

TYPED_TEST(ImporterContract, ToleratesABom) {
  SKIP_UNLESS(Concept::kBom)
  NeutralSource s = three_pupils();
  s.bom = true;
  SourceData d = TypeParam::parse(s, {});
  EXPECT_EQ(d.format, TypeParam::format());
  ASSERT_EQ(this->keys(d), this->keys_of(s, {0, 1, 2}));  // not "\xEF\xBB\xBF" + the first column's name
  EXPECT_EQ(d.pupils[0].surname, "Ashdown");
  for (std::size_t i = 0; i < 3; ++i) {  // every file's first column still joins (OneRoster's are several)
    ASSERT_TRUE(d.pupils[i].dob.has_value());
    EXPECT_EQ(format_date(*d.pupils[i].dob), s.pupils[i].dob);
  }
  EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
}

TYPED_TEST(ImporterContract, AcceptsCrlf) {
  SKIP_UNLESS(Concept::kCrlf)
  NeutralSource s = three_pupils();
  s.crlf = true;
  SourceData d = TypeParam::parse(s, {});
  ASSERT_EQ(this->keys(d), this->keys_of(s, {0, 1, 2}));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(d.pupils[i].forename, s.pupils[i].forename);  // no trailing \r
    ASSERT_TRUE(d.pupils[i].dob.has_value());
    EXPECT_EQ(format_date(*d.pupils[i].dob), s.pupils[i].dob);
  }
}

TYPED_TEST(ImporterContract, LineNumbersSurviveBomAndCrlf) {
  SKIP_UNLESS(Concept::kCrlf)
  NeutralSource s = three_pupils();
  s.bom = !TypeParam::lacks(Concept::kBom).has_value();
  s.crlf = true;
  s.pupils[2].dob = "2012-13-01";
  std::string m = usage_error([&] { TypeParam::parse(s, {}); });
  EXPECT_TRUE(starts_with(m, TypeParam::where(s, 2, Field::kDob) + ": ")) << m;
}

TYPED_TEST(ImporterContract, BadUpnCheckLetterWarnsAndKeepsThePupil) {
  SKIP_UNLESS(Concept::kUpn)
  NeutralSource s = three_pupils();
  s.pupils[1].upn = "B999888824002";  // F999888824002 with the wrong check letter
  SourceData d = TypeParam::parse(s, {});
  ASSERT_EQ(d.pupils.size(), 3u);
  EXPECT_EQ(d.pupils[1].upn, "B999888824002");  // kept as written
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_TRUE(starts_with(d.warnings[0], TypeParam::where(s, 1, Field::kUpn) + ": UPN check letter is wrong"))
      << d.warnings[0];
  EXPECT_EQ(d.warnings[0].find("999888824002"), std::string::npos) << d.warnings[0];  // no personal data
}

TYPED_TEST(ImporterContract, DenyListedColumnIsDroppedByNameNeverByValue) {
  NeutralSource s = three_pupils();
  s.denied = true;
  SourceData d = TypeParam::parse(s, {});
  ASSERT_EQ(d.pupils.size(), 3u);
  EXPECT_TRUE(d.dropped.count(TypeParam::denied_name())) << TypeParam::denied_name();
  EXPECT_EQ(testing::dump(d).find(kDeniedValue), std::string::npos);
  EXPECT_EQ(d.pupils[0].surname, "Ashdown");  // the other columns are still read
}

// Every stem of the deny-list (issue 16: the US/SDS flags too), under the
// names real exports use, is dropped by name by every importer, and its
// value goes nowhere. (Names that are valid XML element names, for CTF.)
TYPED_TEST(ImporterContract, EveryDenyListStemIsDroppedByName) {
  for (const char* column : {"userFlags",
                             "iep",
                             "IEPStatus",
                             "hasIep",
                             "has504Plan",
                             "section_504",
                             "ell_status",
                             "isELL",
                             "LEPStatus",
                             "lep",
                             "freeLunch",
                             "FreeLunchEligible",
                             "free_reduced_lunch",
                             "reducedLunch",
                             "specialEducation",
                             "special_ed_status",
                             "economicallyDisadvantaged",
                             "migrantStatus",
                             "migrant",
                             "homeless",
                             "isHomeless",
                             "fosterCare",
                             "raceCodes",
                             "ethnicityCodes",
                             "birthCity",
                             "birthState",
                             "birthCountry",
                             "birthPlace",
                             "guardianEmail",
                             "userPassword",
                             "Ethnicity",
                             "FSMeligible",
                             "SENProvision",
                             "LookedAfter"}) {
    NeutralSource s = three_pupils();
    s.denied = true;
    s.denied_column = column;
    SourceData d = TypeParam::parse(s, {});
    ASSERT_EQ(d.pupils.size(), 3u) << column;
    EXPECT_TRUE(d.dropped.count(column)) << column;
    EXPECT_EQ(testing::dump(d).find(kDeniedValue), std::string::npos) << column;
    EXPECT_FALSE(d.unmapped.count(column)) << column;
  }
}

TYPED_TEST(ImporterContract, NoPupilsReadsAsNone) {
  SourceData d = TypeParam::parse(NeutralSource{}, {});
  EXPECT_TRUE(d.pupils.empty());
  EXPECT_EQ(d.source_pupils, 0u);
}

TYPED_TEST(ImporterContract, EmptyFileIsRefusedNamingIt) {
  // (The file that holds the pupils: for OneRoster, users.csv.)
  std::string m = usage_error([] { TypeParam::parse_empty(); });
  EXPECT_NE(m.find(TypeParam::main_file()), std::string::npos) << m;
}

TYPED_TEST(ImporterContract, BadDateNamesFileLineAndColumnNotTheDate) {
  NeutralSource s = three_pupils();
  for (std::string bad : {"2015-02-30", "2015-13-01", "2015-04-31", "2015-00-10", "2015-1-01", "1st May"}) {
    s.pupils[1].dob = bad;
    std::string m = usage_error([&] { TypeParam::parse(s, {}); });
    EXPECT_TRUE(starts_with(m, TypeParam::where(s, 1, Field::kDob) + ": " + TypeParam::kNotADate)) << bad << ": " << m;
    EXPECT_EQ(m.find(bad), std::string::npos) << m;
    if (bad == "2015-02-30") {
      EXPECT_EQ(m.find("02-30"), std::string::npos) << m;
    }
  }
}

TYPED_TEST(ImporterContract, DuplicateKeyNamesBothLines) {
  NeutralSource s = three_pupils();
  s.pupils[2].key = s.pupils[0].key;
  s.pupils[2].upn = s.pupils[0].upn;
  std::string m = usage_error([&] { TypeParam::parse(s, {}); });
  EXPECT_TRUE(starts_with(m, TypeParam::where(s, 2, Field::kKey) + ": ")) << m;
  EXPECT_NE(m.find(TypeParam::key_of(s.pupils[0])), std::string::npos) << m;  // which key (not personal data)
  // Also when neither is selected.
  std::string unselected = usage_error([&] { TypeParam::parse(s, Selection{{TypeParam::key_of(s.pupils[1])}, {}}); });
  EXPECT_TRUE(starts_with(unselected, TypeParam::where(s, 2, Field::kKey) + ": ")) << unselected;
  // The earlier line, by number (last: an importer that does not say it
  // skips only this).
  SKIP_UNLESS(Concept::kEarlierLineOfDuplicate)
  EXPECT_NE(m.find("line " + std::to_string(TypeParam::line_of(s, 0, Field::kKey))), std::string::npos) << m;
}

// Rows of pupils who are not selected are not read beyond their key: a bad
// cell of another pupil does not stop the import.
TYPED_TEST(ImporterContract, UnselectedPupilsAreNotRead) {
  NeutralSource s = three_pupils();
  s.pupils[1].dob = "2012-02-30";
  SourceData d = TypeParam::parse(s, Selection{{TypeParam::key_of(s.pupils[0])}, {}});
  EXPECT_EQ(this->keys(d), this->keys_of(s, {0}));
  EXPECT_EQ(d.source_pupils, 3u);
  // ... but selected, it is refused.
  std::string m = usage_error([&] { TypeParam::parse(s, Selection{{TypeParam::key_of(s.pupils[1])}, {}}); });
  EXPECT_TRUE(starts_with(m, TypeParam::where(s, 1, Field::kDob) + ": ")) << m;
}

// Every bad row in one run (issue 16): each bad pupil's error, on a line
// of its own starting with where it is, then one summary; the importer
// returns nothing (it throws), so nothing is imported.
std::vector<std::string> lines_of(const std::string& m) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t end; (end = m.find('\n', start)) != std::string::npos; start = end + 1)
    out.push_back(m.substr(start, end - start));
  out.push_back(m.substr(start));
  return out;
}

// "x/users.csv:3: column ..." -> "x/users.csv"
std::string file_of(const std::string& where) { return where.substr(0, where.find(':')); }

TYPED_TEST(ImporterContract, EveryBadRowIsReportedAndNothingImported) {
  NeutralSource s = three_pupils();
  s.pupils.push_back({"K4", "J999888824004", "Dale", "Dev", "2012-05-05", "9B"});
  s.pupils.push_back({"K5", "Y999888824005", "Eves", "Eli", "2012-06-06", "9A"});
  for (std::size_t bad : {0, 2, 4}) s.pupils[bad].dob = "2012-02-30";
  std::string m = usage_error([&] { TypeParam::parse(s, {}); });
  auto lines = lines_of(m);
  ASSERT_EQ(lines.size(), 4u) << m;  // three errors and the summary
  for (std::size_t i = 0; i < 3; ++i) {
    std::size_t pupil = std::vector<std::size_t>{0, 2, 4}[i];
    EXPECT_TRUE(starts_with(lines[i], TypeParam::where(s, pupil, Field::kDob) + ": " + TypeParam::kNotADate))
        << lines[i];
  }
  const std::string file = file_of(TypeParam::where(s, 0, Field::kDob));
  EXPECT_TRUE(lines[3] == "3 rows in " + file + " could not be read; nothing was imported" ||
              lines[3] == "3 pupils in " + file + " could not be read; nothing was imported")
      << lines[3];
  EXPECT_EQ(m.find("02-30"), std::string::npos) << m;  // never the value
  // The good rows alone import.
  for (std::size_t bad : {0, 2, 4}) s.pupils[bad].dob = "2012-02-28";
  EXPECT_EQ(TypeParam::parse(s, {}).pupils.size(), 5u);
}

// At most 100 errors are listed; the rest are counted, and the summary
// counts every bad row.
TYPED_TEST(ImporterContract, OverAHundredBadRowsAreCounted) {
  NeutralSource s;
  for (int i = 1; i <= 130; ++i) {
    std::string n = std::to_string(1000 + i);                                                   // 4 digits
    s.pupils.push_back({"K" + n, "A99988882" + n, "Surname", "Forename", "2015-13-01", "9A"});  // a UPN (a CTF's key)
  }
  std::string m = usage_error([&] { TypeParam::parse(s, {}); });
  auto lines = lines_of(m);
  ASSERT_EQ(lines.size(), 102u) << m.substr(0, 400);
  EXPECT_TRUE(starts_with(lines[0], TypeParam::where(s, 0, Field::kDob) + ": ")) << lines[0];
  EXPECT_TRUE(starts_with(lines[99], TypeParam::where(s, 99, Field::kDob) + ": ")) << lines[99];
  EXPECT_EQ(lines[100], "and 30 more errors");
  const std::string file = file_of(TypeParam::where(s, 0, Field::kDob));
  EXPECT_TRUE(lines[101] == "130 rows in " + file + " could not be read; nothing was imported" ||
              lines[101] == "130 pupils in " + file + " could not be read; nothing was imported")
      << lines[101];
}

}  // namespace
}  // namespace coffer::vault::contract
