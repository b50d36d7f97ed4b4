// vault: the frozen format-v1 fixture must open with every later build.
// tests/fixtures/README.md says how it was made and with which secrets.
#include <gtest/gtest.h>

#include "coffer/keystore/encoding.h"
#include "coffer/keystore/school_key.h"
#include "coffer/vault/coffer.h"
#include "coffer/vault/filestore.h"
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

namespace coffer::vault {
namespace {

TEST(Schema2Fixture, FilesReadBackExactly) {
  test::TempDir dir;
  auto path = dir / "s2.coffer";
  std::filesystem::copy_file(kDir / "format-v1-schema2.coffer", path);
  Coffer c = Coffer::unlock(path, test::passphrase("Fixture-Lantern-Meadow-42"),
                            keystore::system_random());
  EXPECT_TRUE(c.check().ok());
  FileStore files(c.database(), c.chunk_mac_key(), system_clock());
  auto pattern = files.lookup(kFilesRootIno, "pattern.bin");
  ASSERT_TRUE(pattern.has_value());
  ASSERT_EQ(pattern->size, 300u * 1024);
  std::vector<std::uint8_t> data(pattern->size);
  ASSERT_EQ(files.read(pattern->ino, 0, data), data.size());
  for (std::size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], i % 251) << i;
  auto notes = files.lookup(kFilesRootIno, "notes");
  ASSERT_TRUE(notes && notes->is_dir());
  auto hello = files.lookup(notes->ino, "hello.txt");
  ASSERT_TRUE(hello.has_value());
  std::vector<std::uint8_t> text(hello->size);
  files.read(hello->ino, 0, text);
  EXPECT_EQ(std::string(text.begin(), text.end()), "hello from schema 2\n");
  auto link = files.lookup(kFilesRootIno, "link");
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(files.readlink(link->ino), "notes/hello.txt");
}

}  // namespace
}  // namespace coffer::vault
