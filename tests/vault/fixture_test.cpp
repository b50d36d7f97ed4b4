// vault: the frozen format-v1 fixture must open with every later build.
// tests/fixtures/README.md says how it was made and with which secrets.
#include <gtest/gtest.h>

#include "coffer/keystore/encoding.h"
#include "coffer/keystore/school_key.h"
#include "coffer/vault/coffer.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

const std::filesystem::path kDir = COFFER_FIXTURES_DIR;

TEST(FormatV1Fixture, OpensWithPassphraseAndChecksClean) {
  test::TempDir dir;
  // Work on a copy: unlocking may rewrite the header (attempt counter).
  auto path = dir / "v1.coffer";
  std::filesystem::copy_file(kDir / "format-v1.coffer", path);
  Coffer c = Coffer::unlock(path, test::passphrase("Fixture-Lantern-Meadow-42"),
                            keystore::system_random());
  EXPECT_EQ(c.header().version, 1);
  EXPECT_EQ(c.header().owner, "Fixture Owner");
  EXPECT_EQ(c.header().profile, "trip");
  EXPECT_EQ(c.header().slots_in_use(), 1u);
  EXPECT_TRUE(c.header().recovery.has_value());
  EXPECT_TRUE(c.warnings().empty());
  auto report = c.check();
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
}

TEST(FormatV1Fixture, OpensWithTheRecoveryKey) {
  test::TempDir dir;
  auto path = dir / "v1.coffer";
  std::filesystem::copy_file(kDir / "format-v1.coffer", path);
  auto key = keystore::open_secret_key_file(
      std::string(std::istreambuf_iterator<char>(std::ifstream(kDir / "format-v1-school.key").rdbuf()), {}),
      test::passphrase("Fixture-Recovery-Harbour-7"), "format-v1-school.key");
  Coffer c = Coffer::unlock_with_recovery(path, key, keystore::system_random());
  EXPECT_TRUE(c.check().ok());
}

}  // namespace
}  // namespace coffer::vault
