// vault: re-keying (docs/FORMAT.md §10 "Re-key"). A new master key: the
// data, the file chunks and the audit chain survive, no earlier header
// (with every key slot of its time) opens anything, and a re-key that
// cannot keep the recovery slot or would silently lose other passphrases
// is refused with nothing changed.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/header_binding.h"
#include "coffer/vault/container/layout.h"
#include "coffer/vault/files/filestore.h"
#include "error_capture.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using keystore::KdfCost;
using test::passphrase;
using test::read_bytes;
using test::write_bytes;

constexpr std::int64_t kNow = 1795000000;  // 2026-11-18

class RekeyTest : public ::testing::Test {
 protected:
  std::filesystem::path make() {
    CreateParams p = test::CreateParamsBuilder().expires(kNow + 30 * 86400).recovery_key(school_.public_key).build();
    auto path = dir_ / "t.coffer";
    Coffer::create(path, p, passphrase("first pass phrase"), rnd_, clock_);
    return path;
  }
  Coffer unlock(const std::filesystem::path& path, const char* pw) {
    UnlockPolicy policy;
    policy.clock = &clock_;
    return Coffer::unlock(path, passphrase(pw), rnd_, policy);
  }
  ErrorCode code_of(const std::function<void()>& f) { return test::code_of(f, &last_message_); }
  // A file of `size` bytes in files/ (several chunks when large).
  static std::vector<std::uint8_t> put_file(Coffer& c, const char* name, std::size_t size) {
    std::vector<std::uint8_t> data(size);
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
    FileStore fs(c.database(), c.chunk_mac_key(), test_clock());
    Inode n = fs.make_node(kFilesRootIno, name, S_IFREG | 0600, 0, 0);
    fs.write(n.ino, 0, data);
    fs.commit();
    return data;
  }
  static std::vector<std::uint8_t> get_file(Coffer& c, const char* name) {
    FileStore fs(c.database(), c.chunk_mac_key(), test_clock());
    auto n = fs.lookup(kFilesRootIno, name);
    EXPECT_TRUE(n.has_value());
    if (!n) return {};
    std::vector<std::uint8_t> out(n->size);
    fs.read(n->ino, 0, out);
    return out;
  }
  static const Clock& test_clock() {
    static test::FixedClock clock{kNow};
    return clock;
  }
  // Both header copies from `saved` (a whole earlier file's bytes).
  static void write_back_both(const std::filesystem::path& path, const std::vector<std::uint8_t>& saved) {
    auto bytes = read_bytes(path);
    std::copy(saved.begin(), saved.begin() + 2 * kHeaderCopySize, bytes.begin());
    write_bytes(path, bytes);
  }
  bool leftovers() const {
    for (auto& e : std::filesystem::directory_iterator(dir_.path()))
      if (e.path().filename().string().find(".rekeying-") != std::string::npos) return true;
    return false;
  }

  test::TempDir dir_;
  test::FixedClock clock_{kNow};
  keystore::Random& rnd_ = keystore::system_random();
  keystore::SchoolKeyPair school_ = keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, rnd_);
  std::string last_message_;
};

TEST_F(RekeyTest, ANewMasterKeyKeepsTheDataAndNoEarlierHeaderOpensAnything) {
  auto path = make();
  std::vector<std::uint8_t> big, small;
  std::array<std::uint8_t, 16> vault_id{};
  {
    Coffer c = unlock(path, "first pass phrase");
    big = put_file(c, "big.bin", 300000);
    small = put_file(c, "small.txt", 10);
    vault_id = c.header().vault_id;
  }
  auto before = read_bytes(path);
  {
    Coffer c = unlock(path, "first pass phrase");
    auto fresh = passphrase("second pass phrase");
    RekeyPlan plan;
    plan.passphrase = &fresh;
    plan.slot = *c.unlocked_slot();
    plan.cost = KdfCost::kTest;
    plan.kind = AuditKind::kPassphraseChanged;
    plan.object = "key slot 0";
    c.rekey(plan);
    // The object is the new coffer: usable at once.
    EXPECT_EQ(get_file(c, "big.bin"), big);
    EXPECT_TRUE(c.check().ok());
  }
  EXPECT_FALSE(leftovers());
  auto after = read_bytes(path);
  // Every database page differs: re-encrypted under another key.
  EXPECT_FALSE(std::equal(before.begin() + kPayloadOffset, before.begin() + kPayloadOffset + kCipherPageSize,
                          after.begin() + kPayloadOffset));
  {
    Coffer c = unlock(path, "second pass phrase");
    EXPECT_EQ(c.header().vault_id, vault_id);
    EXPECT_EQ(get_file(c, "big.bin"), big);
    EXPECT_EQ(get_file(c, "small.txt"), small);
    AuditVerdict v = c.verify_audit();
    EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems.front());
    FsckReport r = c.check();
    EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
    bool rekeyed = false;
    for (auto& e : c.audit_events())
      if (e.event.kind == AuditKind::kKeyChanged && e.event.detail.find("re-keyed") != std::string::npos)
        rekeyed = true;
    EXPECT_TRUE(rekeyed);
  }
  EXPECT_EQ(code_of([&] { unlock(path, "first pass phrase"); }), ErrorCode::kWrongPassphrase);
  // The earlier header in both copies: its slot opens, its key does not
  // open the database; nothing is written.
  write_back_both(path, before);
  auto rolled = read_bytes(path);
  EXPECT_EQ(code_of([&] { unlock(path, "first pass phrase"); }), ErrorCode::kDamaged);
  EXPECT_NE(last_message_.find("does not open this coffer's database"), std::string::npos) << last_message_;
  EXPECT_EQ(read_bytes(path), rolled);
  // And the recovery key, re-sealed, opens the current header.
  write_back_both(path, after);
  UnlockPolicy policy;
  policy.clock = &clock_;
  Coffer r = Coffer::unlock_with_recovery(path, school_, rnd_, policy);
  EXPECT_EQ(get_file(r, "small.txt"), small);
}

// More data than SQLite's page cache for the attached copy (2 MiB): the
// export spills and reads pages back, each checked by the VFS shim under the
// new key.
TEST_F(RekeyTest, ACofferLargerThanThePageCacheIsReKeyed) {
  auto path = make();
  std::vector<std::uint8_t> big;
  {
    Coffer c = unlock(path, "first pass phrase");
    big = put_file(c, "big.bin", 12 * 1024 * 1024);
    auto same = passphrase("first pass phrase");
    RekeyPlan plan;
    plan.passphrase = &same;
    plan.cost = KdfCost::kTest;
    c.rekey(plan);
  }
  Coffer c = unlock(path, "first pass phrase");
  EXPECT_EQ(get_file(c, "big.bin"), big);
  FsckReport r = c.check();
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
}

TEST_F(RekeyTest, OtherPassphrasesAreNamedAndKeptUnlessDropped) {
  auto path = make();
  {
    Coffer c = unlock(path, "first pass phrase");
    c.add_passphrase(passphrase("second pass phrase"), KdfCost::kTest);
  }
  {
    Coffer c = unlock(path, "first pass phrase");
    auto same = passphrase("first pass phrase");
    RekeyPlan plan;
    plan.passphrase = &same;
    plan.slot = 0;
    plan.cost = KdfCost::kTest;
    EXPECT_EQ(c.passphrases_rekey_drops(plan), "1");
    EXPECT_EQ(code_of([&] { c.rekey(plan); }), ErrorCode::kPolicy);
    EXPECT_NE(last_message_.find("key slot 1"), std::string::npos) << last_message_;
    EXPECT_FALSE(leftovers());
    plan.removing = {1};
    EXPECT_EQ(c.passphrases_rekey_drops(plan), "");
    c.rekey(plan);
    EXPECT_EQ(c.header().slots_in_use(), 1U);
  }
  EXPECT_EQ(code_of([&] { unlock(path, "second pass phrase"); }), ErrorCode::kWrongPassphrase);
  unlock(path, "first pass phrase");
}

TEST_F(RekeyTest, WithoutTheRecoveryPublicKeyTheReKeyIsRefused) {
  auto path = make();
  Coffer c = unlock(path, "first pass phrase");
  // A coffer made before coffers recorded the key.
  c.database().exec("DELETE FROM coffer_meta WHERE key = 'recovery_public_key'");
  EXPECT_FALSE(c.recovery_public_key().has_value());
  EXPECT_FALSE(c.rekey_blocker().empty());
  auto fresh = passphrase("second pass phrase");
  RekeyPlan plan;
  plan.passphrase = &fresh;
  plan.cost = KdfCost::kTest;
  auto before = read_bytes(path);
  EXPECT_EQ(code_of([&] { c.rekey(plan); }), ErrorCode::kPolicy);
  EXPECT_EQ(read_bytes(path), before);
  // Another school's key is not taken; the right one is recorded.
  auto other = keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, rnd_);
  EXPECT_EQ(code_of([&] { c.remember_recovery_key(other.public_key); }), ErrorCode::kPolicy);
  c.remember_recovery_key(school_.public_key);
  EXPECT_TRUE(c.rekey_blocker().empty());
  c.rekey(plan);
  ASSERT_TRUE(c.header().recovery.has_value());
  EXPECT_EQ(c.header().recovery->fingerprint, school_.public_key.fingerprint());
}

TEST_F(RekeyTest, ADamagedChunkRefusesTheReKeyAndChangesNothing) {
  auto path = make();
  {
    Coffer c = unlock(path, "first pass phrase");
    put_file(c, "big.bin", 100000);
    c.database().exec("UPDATE chunks SET mac = zeroblob(32) WHERE idx = 0");
    auto fresh = passphrase("second pass phrase");
    RekeyPlan plan;
    plan.passphrase = &fresh;
    plan.cost = KdfCost::kTest;
    EXPECT_EQ(code_of([&] { c.rekey(plan); }), ErrorCode::kDamaged);
    EXPECT_FALSE(leftovers());
  }
  unlock(path, "first pass phrase");
}

TEST_F(RekeyTest, AnInterruptedReKeysTemporaryFileIsRemovedAtTheNextUnlock) {
  auto path = make();
  auto stale = dir_.path() / ".t.coffer.rekeying-0123456789ab";
  write_bytes(stale, read_bytes(path));
  write_bytes(dir_.path() / ".t.coffer.rekeying-0123456789ab-journal", {1, 2, 3});
  Coffer c = unlock(path, "first pass phrase");
  EXPECT_FALSE(leftovers());
  bool said = false;
  for (auto& w : c.warnings())
    if (w.find("interrupted") != std::string::npos) said = true;
  EXPECT_TRUE(said);
}

}  // namespace
}  // namespace coffer::vault
