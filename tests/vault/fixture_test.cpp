// vault: the frozen format-v1 fixture must open with every later build.
// tests/fixtures/README.md says how it was made and with which secrets.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>

#include "coffer/error.h"
#include "coffer/keystore/digest.h"
#include "coffer/keystore/encoding.h"
#include "coffer/keystore/school_key.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/header_binding.h"
#include "coffer/vault/container/schema.h"
#include "coffer/vault/files/filestore.h"
#include "coffer/vault/records/records.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

const std::filesystem::path kDir = COFFER_FIXTURES_DIR;

TEST(FormatV1Fixture, OpensWithPassphraseAndChecksClean) {
  test::TempDir dir;
  // Work on a copy: unlocking may rewrite the header (attempt counter).
  auto path = dir / "v1.coffer";
  std::filesystem::copy_file(kDir / "format-v1.coffer", path);
  Coffer c = Coffer::unlock(path, test::passphrase("Fixture-Lantern-Meadow-42"), keystore::system_random());
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
  Coffer c = Coffer::unlock(path, test::passphrase("Fixture-Lantern-Meadow-42"), keystore::system_random());
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

namespace coffer::vault {
namespace {

keystore::SchoolKeyPair fixture_key(const char* file, const char* pw) {
  return keystore::open_secret_key_file(
      std::string(std::istreambuf_iterator<char>(std::ifstream(kDir / file).rdbuf()), {}), test::passphrase(pw), file);
}

constexpr std::int64_t kSchema5Created = 1796157298;

// A working copy of the schema-5 fixture and its sidecar in dir.
std::filesystem::path copy_schema5(const test::TempDir& dir) {
  auto path = dir / "format-v1-schema5.coffer";
  std::filesystem::copy_file(kDir / "format-v1-schema5.coffer", path);
  std::filesystem::copy_file(kDir / "format-v1-schema5.coffer.audit", sidecar_path(path));
  return path;
}

// Schema 5 with the hold flag, records, and a sidecar: the clock is set to
// the fixture's creation (it has expired since; the hold would keep it open
// anyway, but a clock before its high-water mark would not).
TEST(Schema5Fixture, OpensOnHoldWithRecordsAndBothTrails) {
  test::TempDir dir;
  auto path = copy_schema5(dir);
  test::FixedClock clock(kSchema5Created + 3600);
  UnlockPolicy policy;
  policy.clock = &clock;
  policy.raise_clock_mark = false;  // check as found
  Coffer c = Coffer::unlock(path, test::passphrase("Fixture-Lantern-Meadow-42"), keystore::system_random(), policy);
  EXPECT_TRUE(c.header().on_hold);
  EXPECT_EQ(c.hold_reason(), std::optional<std::string>("fixture hold"));
  EXPECT_TRUE(c.header().audit.has_value());
  EXPECT_TRUE(c.check().ok());
  EXPECT_EQ(RecordStore(c.database()).count(), 3);
  AuditVerdict v = c.verify_audit();
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0]);
  EXPECT_EQ(v.entries, 7u);
  SidecarReport r = read_sidecar(sidecar_path(path), fixture_key("format-v1-audit.key", "Fixture-Audit-Willow-5"));
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.entries.size(), 7u);
  EXPECT_EQ(r.entries.front().event.kind, AuditKind::kCreate);
  EXPECT_EQ(r.entries.back().event.kind, AuditKind::kHoldSet);
  EXPECT_EQ(r.entries.back().event.detail, "fixture hold");
}

// Migration 6: the first unlock records the header it opened with, and from
// then on an earlier header written back is refused.
TEST(Schema5Fixture, MigratesToSchema6AndBindsItsHeader) {
  test::TempDir dir;
  auto path = copy_schema5(dir);
  test::FixedClock clock(kSchema5Created + 3600);
  UnlockPolicy policy;
  policy.clock = &clock;
  policy.raise_clock_mark = false;
  Coffer c = Coffer::unlock(path, test::passphrase("Fixture-Lantern-Meadow-42"), keystore::system_random(), policy);
  EXPECT_EQ(schema_version(c.database()), 6);
  HeaderBinding binding(c.database());
  ASSERT_TRUE(binding.current().has_value());
  EXPECT_EQ(*binding.current(), header_digest(c.header()));
  EXPECT_FALSE(binding.pending().has_value());
  EXPECT_TRUE(c.check().ok());
}

// Schema 6 (the header binding): two pupils, a passphrase added and removed
// again; format-v1-schema6.earlier-header is copy A as it was before the
// removal, with the removed passphrase in slot 1.
constexpr std::int64_t kSchema6Created = 1796670393;
constexpr const char* kRemovedPassphrase = "Fixture-Removed-Otter-66";

std::filesystem::path copy_schema6(const test::TempDir& dir) {
  auto path = dir / "format-v1-schema6.coffer";
  std::filesystem::copy_file(kDir / "format-v1-schema6.coffer", path);
  std::filesystem::copy_file(kDir / "format-v1-schema6.coffer.audit", sidecar_path(path));
  return path;
}

Coffer unlock_schema6(const std::filesystem::path& path, const char* pw, const test::FixedClock& clock) {
  UnlockPolicy policy;
  policy.clock = &clock;
  policy.raise_clock_mark = false;
  return Coffer::unlock(path, test::passphrase(pw), keystore::system_random(), policy);
}

TEST(Schema6Fixture, OpensBoundToItsHeaderWithRecordsAndTrail) {
  test::TempDir dir;
  auto path = copy_schema6(dir);
  test::FixedClock clock(kSchema6Created + 3600);
  Coffer c = unlock_schema6(path, "Fixture-Lantern-Meadow-42", clock);
  EXPECT_EQ(schema_version(c.database()), 6);
  EXPECT_EQ(c.header().owner, "Fixture Owner");
  EXPECT_EQ(c.header().slots_in_use(), 1u);
  HeaderBinding binding(c.database());
  ASSERT_TRUE(binding.current().has_value());
  EXPECT_EQ(*binding.current(), header_digest(c.header()));
  EXPECT_FALSE(binding.pending().has_value());
  EXPECT_TRUE(c.warnings().empty());
  EXPECT_TRUE(c.check().ok());
  EXPECT_EQ(RecordStore(c.database()).count(), 2);
  AuditVerdict v = c.verify_audit();
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0]);
}

TEST(Schema6Fixture, ItsEarlierHeaderWrittenBackIsRefused) {
  test::TempDir dir;
  auto path = copy_schema6(dir);
  test::FixedClock clock(kSchema6Created + 3600);
  auto bytes = test::read_bytes(path);
  auto earlier = test::read_bytes(kDir / "format-v1-schema6.earlier-header");
  ASSERT_EQ(earlier.size(), kHeaderCopySize);
  std::copy(earlier.begin(), earlier.end(), bytes.begin() + kHeaderCopySize);
  bytes[kHeaderCopySize + kGenerationOffset + 4] += 1;  // + 2^32: selection prefers it
  auto sum = keystore::checksum32(std::span<const std::uint8_t>(bytes.data() + kHeaderCopySize, kChecksumOffset));
  std::copy(sum.begin(), sum.end(), bytes.begin() + kHeaderCopySize + kChecksumOffset);
  test::write_bytes(path, bytes);
  ASSERT_EQ(read_header(path).header.slots_in_use(), 2u);
  try {
    unlock_schema6(path, kRemovedPassphrase, clock);
    ADD_FAILURE() << "the removed passphrase opened the coffer";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDamaged);
    EXPECT_NE(std::string(e.what()).find("tampering"), std::string::npos) << e.what();
  }
  EXPECT_EQ(test::read_bytes(path), bytes);
  Coffer c = unlock_schema6(path, "Fixture-Lantern-Meadow-42", clock);
  EXPECT_EQ(c.header().slots_in_use(), 1u);
  EXPECT_FALSE(c.check().ok());  // the written-back copy is reported
}

TEST(Schema5Fixture, TheSchoolKeyLiftsTheHold) {
  test::TempDir dir;
  auto path = copy_schema5(dir);
  test::FixedClock clock(kSchema5Created + 3600);
  UnlockPolicy policy;
  policy.clock = &clock;
  {
    Coffer c = Coffer::unlock_with_recovery(path, fixture_key("format-v1-school.key", "Fixture-Recovery-Harbour-7"),
                                            keystore::system_random(), policy);
    c.release_hold();
  }
  EXPECT_FALSE(read_header(path).header.on_hold);
}

}  // namespace
}  // namespace coffer::vault

namespace coffer::vault {
namespace {

// A copy of a fixture (unlocking rewrites the header and migrates the
// schema), unlocked with the clock an hour after its creation: with the
// owner's passphrase as found, or with the school's recovery key.
struct OpenedFixture {
  enum class By { kPassphrase, kRecoveryKey };
  test::TempDir dir;
  std::filesystem::path path;
  test::FixedClock clock;
  std::optional<Coffer> coffer;
  OpenedFixture(const char* file, std::int64_t created, By by = By::kPassphrase)
      : path(dir / file), clock(created + 3600) {
    std::filesystem::copy_file(kDir / file, path);
    UnlockPolicy policy;
    policy.clock = &clock;
    if (by == By::kRecoveryKey) {
      coffer.emplace(Coffer::unlock_with_recovery(
          path, fixture_key("format-v1-school.key", "Fixture-Recovery-Harbour-7"), keystore::system_random(), policy));
      return;
    }
    policy.raise_clock_mark = false;  // check as found
    coffer.emplace(
        Coffer::unlock(path, test::passphrase("Fixture-Lantern-Meadow-42"), keystore::system_random(), policy));
  }
};

// The two demo-school pupils both fixtures of schemas 3 and 4 hold, as that
// build's coffer-demo-school wrote them (seed 1).
void expect_demo_pupils(Coffer& c) {
  RecordStore records(c.database());
  ASSERT_EQ(records.count(), 2);
  std::vector<Pupil> pupils = records.load_all();
  ASSERT_EQ(pupils.size(), 2u);
  std::map<std::string, const Pupil*> by_key;
  for (auto& p : pupils) by_key[p.key] = &p;
  ASSERT_TRUE(by_key.contains("P00001") && by_key.contains("P00002"));
  const Pupil& a = *by_key["P00001"];
  EXPECT_EQ(a.upn, "Z999888826000");
  EXPECT_EQ(a.surname, "Ivybridge");
  EXPECT_EQ(a.forename, "Samuel");
  ASSERT_TRUE(a.dob.has_value());
  EXPECT_EQ(*a.dob, (Date{2015, 5, 31}));
  EXPECT_EQ(a.reg_group, "7A");
  EXPECT_EQ(a.swimming, "weak swimmer");
  EXPECT_EQ(a.contacts.size(), 2u);
  const Pupil& b = *by_key["P00002"];
  EXPECT_EQ(b.upn, "N999888826001");
  EXPECT_EQ(b.surname, "Pemberthy");
  EXPECT_EQ(b.forename, "Penelope");
}

// The import log entry of that import.
void expect_demo_import_log(Coffer& c) {
  std::vector<ImportLogEntry> log = RecordStore(c.database()).imports();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].format, "coffer-csv");
  EXPECT_EQ(log[0].pupils, 2);
  EXPECT_EQ(log[0].dropped, (std::set<std::string>{"Ethnicity", "FSMeligible", "SENProvision"}));
}

// Schema 3 (pupil records), made by the build of fe936c5 (the first commit
// with schema 3 that builds; see tests/fixtures/README.md): two pupils, no
// hold; migrated to today's schema on unlock.
constexpr std::int64_t kSchema3Created = 1796661778;

TEST(Schema3Fixture, OpensWithItsRecordsAndMigrates) {
  OpenedFixture f("format-v1-schema3.coffer", kSchema3Created);
  Coffer& c = *f.coffer;
  EXPECT_EQ(schema_version(c.database()), kSchemaVersion);
  EXPECT_EQ(c.header().version, 1);
  EXPECT_EQ(c.header().owner, "Fixture Owner");
  EXPECT_EQ(c.header().profile, "trip");
  EXPECT_TRUE(c.header().recovery.has_value());
  EXPECT_FALSE(c.header().audit.has_value());
  EXPECT_FALSE(c.header().on_hold);
  EXPECT_EQ(c.hold_reason(), std::nullopt);
  auto report = c.check();
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  expect_demo_pupils(c);
}

// fe936c5 stored an import log's column-name sets one name a line; 8166c7a
// changed that to JSON arrays, so today's build reads both forms
// (split_set in vault/records/src/records.cpp).
TEST(Schema3Fixture, ImportLogIsReadable) {
  OpenedFixture f("format-v1-schema3.coffer", kSchema3Created);
  expect_demo_import_log(*f.coffer);
}

TEST(Schema3Fixture, OpensWithTheRecoveryKey) {
  OpenedFixture f("format-v1-schema3.coffer", kSchema3Created, OpenedFixture::By::kRecoveryKey);
  Coffer& c = *f.coffer;
  EXPECT_EQ(RecordStore(c.database()).count(), 2);
  EXPECT_TRUE(c.check().ok());
}

// Schema 4 (retention and the audit tables), made by the build of def4652:
// on hold, two pupils; migrated to today's schema on unlock.
constexpr std::int64_t kSchema4Created = 1796660990;

TEST(Schema4Fixture, OpensOnHoldWithItsRecordsAndMigrates) {
  OpenedFixture f("format-v1-schema4.coffer", kSchema4Created);
  Coffer& c = *f.coffer;
  EXPECT_EQ(schema_version(c.database()), kSchemaVersion);
  EXPECT_EQ(c.header().version, 1);
  EXPECT_EQ(c.header().owner, "Fixture Owner");
  EXPECT_EQ(c.header().profile, "trip");
  EXPECT_TRUE(c.header().recovery.has_value());
  EXPECT_FALSE(c.header().audit.has_value());
  EXPECT_TRUE(c.header().on_hold);
  EXPECT_EQ(c.hold_reason(), std::optional<std::string>("fixture hold"));
  auto report = c.check();
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  expect_demo_pupils(c);
  expect_demo_import_log(c);
}

TEST(Schema4Fixture, TheSchoolKeyLiftsTheHold) {
  OpenedFixture f("format-v1-schema4.coffer", kSchema4Created, OpenedFixture::By::kRecoveryKey);
  f.coffer->release_hold();
  f.coffer.reset();  // closes it, as leaving the scope did
  EXPECT_FALSE(read_header(f.path).header.on_hold);
}

}  // namespace
}  // namespace coffer::vault
