// The CLI's wording of library errors (cli/src/remedy.cpp): the libraries
// say what happened and name a remedy as data; these tests hold the words a
// user sees, with the flags, to what they were when the libraries wrote them.
// Each case makes the real error through the library, then words it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/records/import.h"
#include "coffer/vault/records/profile.h"
#include "import_report.h"
#include "remedy.h"
#include "test_support.h"

namespace coffer::cli {
namespace {

namespace fs = std::filesystem;
using vault::Selection;
using vault::SourceFormat;

const fs::path kFixture = fs::path(COFFER_FIXTURES_DIR) / "import" / "coffer-csv";

template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no coffer::Error thrown";
  return Error(ErrorCode::kOther, "none");
}

const vault::Profile& profile(const std::string& name) {
  static const vault::ProfileSet set = vault::ProfileSet::load(std::nullopt);
  return *set.find(name);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

TEST(ErrorText, MissingContactNamesAllowMissing) {
  Selection s{{"F001", "F005"}, {}};
  auto data = [&] { return vault::read_source(SourceFormat::kCofferCsv, kFixture, std::nullopt, s); };
  Error e = error_of([&] { vault::prepare_import(data(), profile("trip"), s, {}); });
  const std::string text = error_text(e);
  EXPECT_NE(text.find("F005"), std::string::npos) << text;
  EXPECT_NE(text.find("--allow-missing"), std::string::npos) << text;
  EXPECT_TRUE(ends_with(text,
                        "; add a contact in the MIS and export again, or allow them with --allow-missing "
                        "(allow_missing = true in a plan) to import them anyway (the trip leader must then get the "
                        "numbers)"))
      << text;
  // Allowed: the warning says why they came in anyway.
  vault::PreparedImport p = vault::prepare_import(data(), profile("trip"), s, {true});
  auto warnings = import_warnings(p);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("F005"), std::string::npos) << warnings[0];
  EXPECT_TRUE(ends_with(warnings[0], " (imported anyway: --allow-missing)")) << warnings[0];
}

TEST(ErrorText, MappedCsvWithoutMapNamesMap) {
  Error e = error_of(
      [&] { vault::read_source(SourceFormat::kMappedCsv, kFixture / "pupils.csv", std::nullopt, Selection{}); });
  EXPECT_EQ(error_text(e), "--format csv needs --map FILE (the column mapping)");
}

TEST(ErrorText, UndetectableFormatNamesFormat) {
  test::TempDir dir;
  Error e = error_of([&] { vault::detect_format(dir.path()); });
  EXPECT_TRUE(ends_with(error_text(e), "(OneRoster or SDS v2.1); name the format with --format")) << error_text(e);
}

TEST(ErrorText, WholeSchoolTripNamesTheSelectionFlags) {
  for (auto name : {"trip", "trip-local", "marking"}) {
    auto data = vault::read_source(SourceFormat::kCofferCsv, kFixture, std::nullopt, {});
    Error e = error_of([&] { vault::prepare_import(data, profile(name), {}, {true}); });
    const std::string text = error_text(e);
    EXPECT_NE(text.find(name), std::string::npos) << text;
    EXPECT_NE(text.find("--pupil"), std::string::npos) << text;
    EXPECT_TRUE(ends_with(text, "; a whole-school import is refused; name them with --pupil, --pupils-file or --group"))
        << text;
  }
}

TEST(ErrorText, LockedOutNamesCofferRecover) {
  test::TempDir dir;
  test::FixedClock clock(1795000000);
  auto& random = keystore::system_random();
  vault::CreateParams p;
  p.profile = "trip";
  p.owner = "Ms Smith";
  p.expires = 1795000000 + 10 * 86400;
  p.kdf_cost = keystore::KdfCost::kTest;
  const fs::path path = dir / "t.coffer";
  vault::Coffer::create(path, p, test::passphrase("first pass phrase"), random, clock);
  vault::UnlockPolicy policy;
  policy.clock = &clock;
  policy.max_failures = 1;
  Error e = error_of([&] { vault::Coffer::unlock(path, test::passphrase("wrong"), random, policy); });
  EXPECT_EQ(e.code(), ErrorCode::kLockedOut);
  EXPECT_TRUE(
      ends_with(error_text(e), " wrong passphrases; IT can reopen it with the school's recovery key (coffer recover)"))
      << error_text(e);
}

// Every remedy is worded, and its words name something the user can run.
TEST(ErrorText, EveryRemedyNamesACommandOrFlag) {
  for (int r = static_cast<int>(Remedy::kRecoverLockedOut); r <= static_cast<int>(kLastRemedy); ++r) {
    Error e(ErrorCode::kUsage, "MESSAGE", static_cast<Remedy>(r));
    const std::string text = error_text(e);
    EXPECT_NE(text, "MESSAGE") << r;
    EXPECT_TRUE(text.find("--") != std::string::npos || text.find("coffer ") != std::string::npos) << r << text;
  }
  EXPECT_EQ(error_text(Error(ErrorCode::kUsage, "MESSAGE")), "MESSAGE");
}

}  // namespace
}  // namespace coffer::cli
