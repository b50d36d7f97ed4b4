// vault: which source fields each importer says its source provides (issue
// 16 item 1), read from the real fixtures, and what prepare_import makes
// of them for a profile (the "not provided" list and its one warning).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include <unistd.h>

#include <fstream>

#include "coffer/error.h"
#include "coffer/vault/policy/policy.h"
#include "coffer/vault/records/import.h"
#include "coffer/vault/records/profile.h"
#include "coffer/vault/records/record.h"

namespace coffer::vault {
namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(COFFER_FIXTURES_DIR) / "import";

const Profile& profile(const std::string& name) {
  for (auto& p : builtin_profiles())
    if (p.name == name) return p;
  throw std::runtime_error("no builtin profile " + name);
}

using Names = std::set<std::string>;

TEST(SourceFields, CofferCsvByItsColumnsAndContactsFile) {
  SourceData d = read_source(SourceFormat::kCofferCsv, kDir / "coffer-csv", std::nullopt, {});
  for (auto f :
       {"names", "upn", "dob", "allergies", "conditions", "medication", "dietary", "contacts", "contact_phones"})
    EXPECT_TRUE(d.provided.count(f)) << f;

  // Without contacts.csv the contacts are not provided; a pupils file
  // without an Allergies column does not provide allergies.
  SourceFile pupils{"pupils.csv", "PupilKey,Surname,Forename,DietaryNeeds\nK1,Ames,Al,\n"};
  d = parse_coffer_csv(pupils, std::nullopt, {});
  EXPECT_EQ(d.provided, (Names{"names", "dietary"}));
}

TEST(SourceFields, MappedCsvByItsMappingTargets) {
  SourceData d =
      read_source(SourceFormat::kMappedCsv, kDir / "mapped-csv" / "report.csv", kDir / "mapped-csv" / "map.toml", {});
  EXPECT_EQ(d.provided,
            (Names{"names", "reg_group", "year_group", "dob", "sex", "conditions", "contacts", "contact_phones"}));
}

TEST(SourceFields, OneRosterNeverProvidesHealthOrDiet) {
  SourceData d = read_source(SourceFormat::kOneRoster, kDir / "oneroster-v1p1", std::nullopt, {});
  EXPECT_EQ(d.provided, (Names{"names", "upn", "year_group", "reg_group", "classes", "contacts", "contact_phones",
                               "dob", "sex"}));  // dob and sex: the set has demographics.csv
}

TEST(SourceFields, CtfNeverProvidesHealthOrDiet) {
  SourceData d = read_source(SourceFormat::kCtf, kDir / "ctf_synthetic_minimal.xml", std::nullopt, {});
  for (auto f : {"allergies", "conditions", "medication", "dietary", "care_plan", "support_note", "swimming"})
    EXPECT_FALSE(d.provided.count(f)) << f;
  EXPECT_TRUE(d.provided.count("contacts"));
}

TEST(SourceFields, PrepareImportListsWhatTheProfileWantsAndTheSourceLacks) {
  Selection all, one;
  one.pupils = {"stu-1"};
  SourceData d = read_source(SourceFormat::kOneRoster, kDir / "oneroster-v1p1", std::nullopt, one);
  PreparedImport p = prepare_import(std::move(d), profile("trip"), one, {true});
  EXPECT_EQ(p.provided.count("allergies"), 0u);
  ASSERT_FALSE(p.not_provided.empty());
  EXPECT_EQ(p.not_provided.front(), "preferred names");  // 1.1 has none; source_fields() order
  for (auto f : {"allergies", "medical conditions", "medication", "care plan", "dietary needs", "support note"})
    EXPECT_NE(std::find(p.not_provided.begin(), p.not_provided.end(), f), p.not_provided.end()) << f;
  auto w = not_provided_warning(p);
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("OneRoster 1.1 does not provide preferred names, photo, allergies, medical conditions"),
            std::string::npos)
      << *w;

  // A marking coffer carries no health data: nothing it wants is missing
  // but preferred names, so no word about allergies.
  d = read_source(SourceFormat::kOneRoster, kDir / "oneroster-v1p1", std::nullopt, one);
  p = prepare_import(std::move(d), profile("marking"), one, {true});
  EXPECT_EQ(p.not_provided, std::vector<std::string>{"preferred names"});

  // Every column: nothing missing, no warning.
  d = read_source(SourceFormat::kCofferCsv, kDir / "coffer-csv", std::nullopt, all);
  p = prepare_import(std::move(d), profile("home-working"), all, {true});
  EXPECT_TRUE(p.not_provided.empty());
  EXPECT_FALSE(not_provided_warning(p));
}

// Issue 16 item 7: pupil caps, built in per profile and set by the policy.
TEST(PupilCaps, BuiltInPerProfile) {
  EXPECT_EQ(profile("trip-local").max_pupils, 90);
  EXPECT_EQ(profile("trip").max_pupils, 150);
  EXPECT_EQ(profile("marking").max_pupils, 240);
  EXPECT_EQ(profile("home-working").max_pupils, 240);
  for (auto& p : builtin_profiles()) EXPECT_GT(p.max_pupils, 0) << p.name;
  EXPECT_TRUE(load_school_policy(std::nullopt).pupil_caps.empty());
}

TEST(PupilCaps, PolicySectionIsStrict) {
  if (::geteuid() != 0) GTEST_SKIP() << "a trusted policy file must be owned by root";
  fs::path f = fs::temp_directory_path() / ("coffer-caps-" + std::to_string(::getpid()) + ".toml");
  auto load = [&](const std::string& text) {
    {
      std::ofstream out(f);
      out << text;
    }
    ::chmod(f.c_str(), 0644);
    return load_school_policy(f);
  };
  SchoolPolicy p = load("[pupil_caps]\ntrip = 200\nhome-working = 30\n");
  EXPECT_EQ(p.pupil_caps.at("trip"), 200);
  EXPECT_EQ(p.pupil_caps.at("home-working"), 30);
  for (const char* bad :
       {"[pupil_caps]\ntrip = 0\n", "[pupil_caps]\ntrip = \"many\"\n", "[pupil_caps]\ntrip = 100001\n"}) {
    try {
      load(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUsage) << bad;
      EXPECT_NE(std::string(e.what()).find(":2"), std::string::npos) << e.what();
    }
  }
  fs::remove(f);
}

}  // namespace
}  // namespace coffer::vault
