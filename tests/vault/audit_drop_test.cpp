// vault/audit: drop copies of a coffer's sidecar in the school's drop
// directory: named after the coffer and its vault id, made whole, only ever
// growing (a truncated sidecar never replaces a longer copy), and found again
// by the trail's header.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_drop.h"
#include "coffer/vault/coffer/coffer.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

namespace fs = std::filesystem;
using test::passphrase;
constexpr std::int64_t kNow = 1795000000;

class AuditDropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(drop_);
    Coffer::create(path_, test::CreateParamsBuilder().expires(kNow + 3650 * 86400).audit_key(audit_.public_key).build(),
                   passphrase("first pass phrase"), rnd_, clock_);
    vault_id_ = read_header(path_).header.vault_id;
  }
  // Opens the coffer once more: an unlock record is added to the sidecar.
  void open_once() {
    UnlockPolicy u;
    u.clock = &clock_;
    Coffer::unlock(path_, passphrase("first pass phrase"), rnd_, u);
  }
  std::optional<std::uint64_t> copy() { return copy_to_drop(sidecar_path(path_), drop_, path_, vault_id_); }

  test::TempDir dir_;
  fs::path path_ = dir_ / "trip.coffer";
  fs::path drop_ = dir_ / "drop";
  test::FixedClock clock_{kNow};
  keystore::Random& rnd_ = keystore::system_random();
  keystore::SchoolKeyPair audit_ = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  VaultId vault_id_{};
};

TEST_F(AuditDropTest, CopyIsNamedAfterTheCofferAndItsVaultId) {
  EXPECT_EQ(drop_copy_path(drop_, path_, vault_id_), drop_ / ("trip.coffer." + keystore::to_hex(vault_id_) + ".audit"));
}

TEST_F(AuditDropTest, AnUnreachableDropDirectoryCopiesNothing) {
  EXPECT_EQ(copy_to_drop(sidecar_path(path_), dir_ / "not-mounted", path_, vault_id_), std::nullopt);
  test::write_bytes(dir_ / "a-file", {1, 2, 3});
  EXPECT_EQ(copy_to_drop(sidecar_path(path_), dir_ / "a-file", path_, vault_id_), std::nullopt);
}

TEST_F(AuditDropTest, TheCopyIsTheWholeSidecarAndGrowsWithIt) {
  const fs::path dest = drop_copy_path(drop_, path_, vault_id_);
  auto first = copy();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, count_sidecar_records(sidecar_path(path_)));
  EXPECT_EQ(test::read_bytes(dest), test::read_bytes(sidecar_path(path_)));
  EXPECT_FALSE(fs::exists(dest.string() + ".part"));

  open_once();
  auto second = copy();
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(*second, *first);
  EXPECT_EQ(test::read_bytes(dest), test::read_bytes(sidecar_path(path_)));
}

TEST_F(AuditDropTest, AShorterSidecarNeverReplacesALongerCopy) {
  open_once();
  ASSERT_TRUE(copy().has_value());
  const fs::path dest = drop_copy_path(drop_, path_, vault_id_);
  const auto longer = test::read_bytes(dest);
  // The sidecar loses its last record (truncated on the laptop).
  auto bytes = test::read_bytes(sidecar_path(path_));
  const std::uint64_t records = count_sidecar_records(sidecar_path(path_));
  ASSERT_GE(records, 2u);
  fs::resize_file(sidecar_path(path_), bytes.size() - 1);
  ASSERT_LT(count_sidecar_records(sidecar_path(path_)), records);
  auto kept = copy();
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(*kept, records);  // the drop copy's own count
  EXPECT_EQ(test::read_bytes(dest), longer);
}

TEST_F(AuditDropTest, TheCopyIsFoundByTheTrailsHeader) {
  EXPECT_EQ(find_drop_copy(sidecar_path(path_), drop_), std::nullopt);
  ASSERT_TRUE(copy().has_value());
  // Files of other trails and other names in the directory are not it.
  test::write_bytes(drop_ / "other.audit", std::vector<std::uint8_t>(kSidecarHeaderSize, 0x41));
  test::write_bytes(drop_ / "notes.txt", test::read_bytes(sidecar_path(path_)));
  auto found = find_drop_copy(sidecar_path(path_), drop_);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, drop_copy_path(drop_, path_, vault_id_));
  // The sidecar itself, were it in the drop directory, is not its own copy.
  EXPECT_EQ(find_drop_copy(*found, drop_), std::nullopt);
}

// Issue 16 item 8: keyless events reach the drop copy as they happen, with
// a deadline.
TEST_F(AuditDropTest, CopyWithinALimitCopiesLikeCopyToDrop) {
  auto n = copy_to_drop_within(sidecar_path(path_), drop_, path_, vault_id_, std::chrono::milliseconds(5000));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, count_sidecar_records(sidecar_path(path_)));
  EXPECT_EQ(count_sidecar_records(drop_copy_path(drop_, path_, vault_id_)), *n);
  EXPECT_EQ(
      copy_to_drop_within(sidecar_path(path_), dir_ / "not-mounted", path_, vault_id_, std::chrono::milliseconds(5000)),
      std::nullopt);
}

// A FIFO where the copy is: opening it to read blocks until a writer comes
// (none does), as a share that never answers would.
TEST_F(AuditDropTest, AHungDropCopyIsAbandonedAtTheLimit) {
  const fs::path dest = drop_copy_path(drop_, path_, vault_id_);
  ASSERT_EQ(::mkfifo(dest.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  auto n = copy_to_drop_within(sidecar_path(path_), drop_, path_, vault_id_, std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(n, std::nullopt);
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
}

TEST_F(AuditDropTest, AWrongPassphraseReachesTheDropCopyAtOnce) {
  UnlockPolicy u;
  u.clock = &clock_;
  u.audit_drop_dir = drop_;
  try {
    Coffer::unlock(path_, passphrase("not the pass phrase"), rnd_, u);
    FAIL() << "a wrong passphrase opened the coffer";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kWrongPassphrase);
  }
  const fs::path dest = drop_copy_path(drop_, path_, vault_id_);
  ASSERT_TRUE(fs::exists(dest));
  auto r = read_sidecar(dest, audit_);
  ASSERT_FALSE(r.entries.empty());
  EXPECT_EQ(r.entries.back().event.kind, AuditKind::kUnlockFailed);
  EXPECT_FALSE(r.entries.back().authenticated);
  EXPECT_EQ(r.entries.back().event.user, user_name_of(r.entries.back().event.uid));
}

TEST_F(AuditDropTest, AHungDropNeverStallsTheWrongPassphraseNorHoldsTheCoffer) {
  open_once();
  ASSERT_TRUE(copy().has_value());
  const fs::path dest = drop_copy_path(drop_, path_, vault_id_);
  fs::remove(dest);
  ASSERT_EQ(::mkfifo(dest.c_str(), 0600), 0);
  UnlockPolicy u;
  u.clock = &clock_;
  u.audit_drop_dir = drop_;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(Coffer::unlock(path_, passphrase("not the pass phrase"), rnd_, u), Error);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, kKeylessDropLimit + std::chrono::milliseconds(1500));
  // Nothing left behind holds the coffer's lock: it opens at once.
  EXPECT_NO_THROW(Coffer::unlock(path_, passphrase("first pass phrase"), rnd_, u));
}

}  // namespace
}  // namespace coffer::vault
