// vault: creating, unlocking and managing a coffer file, through the real
// SQLCipher container (cheap test KDF cost, fixed clock).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/error.h"
#include "coffer/keystore/digest.h"
#include "coffer/vault/coffer/coffer.h"
#include "error_capture.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using keystore::KdfCost;
using test::passphrase;
using test::read_bytes;
using test::write_bytes;

constexpr std::int64_t kNow = 1795000000;  // 2026-11-18

class CofferTest : public ::testing::Test {
 protected:
  std::filesystem::path make(const std::string& name = "t.coffer", bool recovery = false) {
    // Expiry far off: these tests are not about expiry.
    CreateParams p = test::CreateParamsBuilder().expires(kNow + 3650 * 86400).build();
    if (recovery) p.recovery_key = school_.public_key;
    auto path = dir_ / name;
    Coffer::create(path, p, passphrase("first pass phrase"), rnd_, clock_);
    return path;
  }
  ErrorCode code_of(const std::function<void()>& f) { return test::code_of(f, &last_message_); }
  test::TempDir dir_;
  test::FixedClock clock_{kNow};
  keystore::Random& rnd_ = keystore::system_random();
  keystore::SchoolKeyPair school_ = keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, rnd_);
  std::string last_message_;
};

// Re-seals a tampered copy's checksum, as a deliberate editor would.
void reseal_copy(std::vector<std::uint8_t>& file, std::size_t copy) {
  std::size_t base = copy * kHeaderCopySize;
  auto sum = keystore::checksum32(std::span<const std::uint8_t>(file.data() + base, kChecksumOffset));
  std::copy(sum.begin(), sum.end(), file.begin() + static_cast<std::ptrdiff_t>(base + kChecksumOffset));
}

TEST_F(CofferTest, CreateThenUnlock) {
  auto path = make();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Coffer c = Coffer::unlock(path, passphrase("first pass phrase"), rnd_);
  EXPECT_EQ(c.header().owner, "Ms Smith");
  EXPECT_EQ(c.header().profile, "trip");
  EXPECT_EQ(c.header().created, kNow);
  EXPECT_EQ(c.unlocked_slot(), std::optional<std::size_t>(0));
  EXPECT_TRUE(c.warnings().empty());
  EXPECT_TRUE(c.check().ok());
  // Nothing but the coffer (and, while open, its journal) is in the directory.
  for (auto& e : std::filesystem::directory_iterator(dir_.path()))
    EXPECT_TRUE(e.path() == path || e.path() == sibling_files(path)[0]) << e.path();
}

TEST_F(CofferTest, NoStrayFilesAfterClose) {
  auto path = make();
  { Coffer c = Coffer::unlock(path, passphrase("first pass phrase"), rnd_); }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()), {}), 1);
}

TEST_F(CofferTest, CreateRefusesExistingPathAndPastExpiry) {
  auto path = make();
  auto before = read_bytes(path);
  EXPECT_EQ(code_of([&] { make(); }), ErrorCode::kPolicy);
  EXPECT_EQ(read_bytes(path), before);
  CreateParams p = test::CreateParamsBuilder().owner("x").expires(kNow - 1).build();
  EXPECT_EQ(code_of([&] { Coffer::create(dir_ / "old.coffer", p, passphrase("a"), rnd_, clock_); }),
            ErrorCode::kPolicy);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "old.coffer"));
}

TEST_F(CofferTest, CreateInMissingDirectoryLeavesNothing) {
  CreateParams p = test::CreateParamsBuilder().owner("x").expires(kNow + 100).build();
  EXPECT_EQ(code_of([&] { Coffer::create(dir_ / "no" / "t.coffer", p, passphrase("a"), rnd_, clock_); }),
            ErrorCode::kIo);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()), {}), 0);
}

TEST_F(CofferTest, WrongPassphraseChangesOnlyTheCounter) {
  auto path = make();
  auto before = read_bytes(path);
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("not it"), rnd_); }), ErrorCode::kWrongPassphrase);
  EXPECT_NE(last_message_.find("wrong passphrase"), std::string::npos);
  auto after = read_bytes(path);
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i] == after[i]) continue;
    std::size_t in_copy = i % kHeaderCopySize;
    EXPECT_LT(i, 2 * kHeaderCopySize) << "payload changed at " << i;
    EXPECT_GE(in_copy, kGenerationOffset) << "authenticated byte changed at " << i;
  }
  EXPECT_EQ(read_header(path).header.failed_attempts, 1u);
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("not it either"), rnd_); }), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(read_header(path).header.failed_attempts, 2u);
  { Coffer c = Coffer::unlock(path, passphrase("first pass phrase"), rnd_); }
  EXPECT_EQ(read_header(path).header.failed_attempts, 0u);
}

TEST_F(CofferTest, EditedHintsAreReportedAsTampering) {
  auto path = make();
  auto bytes = read_bytes(path);
  for (std::size_t copy : {0u, 1u}) {
    bytes[copy * kHeaderCopySize + 81] = 'X';    // owner "Ms Smith" -> "Xs Smith"
    bytes[copy * kHeaderCopySize + 40] ^= 0x01;  // expiry nudged
    reseal_copy(bytes, copy);
  }
  write_bytes(path, bytes);
  EXPECT_EQ(read_header(path).header.owner, "Xs Smith");  // the hint reads, unauthenticated
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("first pass phrase"), rnd_); }), ErrorCode::kDamaged);
  EXPECT_NE(last_message_.find("tamper"), std::string::npos) << last_message_;
}

TEST_F(CofferTest, EditedVaultIdBreaksUnlock) {
  auto path = make();
  auto bytes = read_bytes(path);
  for (std::size_t copy : {0u, 1u}) {
    bytes[copy * kHeaderCopySize + 20] ^= 0x01;
    reseal_copy(bytes, copy);
  }
  write_bytes(path, bytes);
  // The id is in every slot's associated data: the slot no longer opens.
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("first pass phrase"), rnd_); }), ErrorCode::kWrongPassphrase);
}

TEST_F(CofferTest, AbsurdKdfCostInASlotIsRefused) {
  auto path = make();
  auto bytes = read_bytes(path);
  for (std::size_t copy : {0u, 1u}) {
    std::size_t slot = copy * kHeaderCopySize + kSlotsOffset;
    std::uint64_t huge = 64ull << 30;
    for (int i = 0; i < 8; ++i) bytes[slot + 8 + i] = static_cast<std::uint8_t>(huge >> (8 * i));
    auto sum = keystore::checksum16(std::span<const std::uint8_t>(bytes.data() + slot, 104));
    std::copy(sum.begin(), sum.end(), bytes.begin() + static_cast<std::ptrdiff_t>(slot + 104));
    reseal_copy(bytes, copy);
  }
  write_bytes(path, bytes);
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("first pass phrase"), rnd_); }), ErrorCode::kDamaged);
  EXPECT_NE(last_message_.find("memory cost"), std::string::npos) << last_message_;
  EXPECT_NE(last_message_.find("key slot 0 damaged or altered"), std::string::npos) << last_message_;
  // Never derived, so not a wrong passphrase: nothing is counted.
  EXPECT_EQ(read_header(path).header.failed_attempts, 0U);
}

TEST_F(CofferTest, TornHeaderWriteStillOpensAndIsRepaired) {
  auto path = make();
  auto bytes = read_bytes(path);
  std::vector<std::uint8_t> garbage(kHeaderCopySize);
  rnd_.fill(garbage);
  std::copy(garbage.begin(), garbage.end(), bytes.begin() + kHeaderCopySize);
  write_bytes(path, bytes);
  {
    Coffer c = Coffer::unlock(path, passphrase("first pass phrase"), rnd_);
    ASSERT_EQ(c.warnings().size(), 1u);
    EXPECT_NE(c.warnings()[0].find("copy B"), std::string::npos);
  }
  auto repaired = read_bytes(path);
  EXPECT_TRUE(std::equal(repaired.begin(), repaired.begin() + kHeaderCopySize, repaired.begin() + kHeaderCopySize));
}

TEST_F(CofferTest, SecondOpenIsBusyAndNamesTheHolder) {
  auto path = make();
  Coffer c = Coffer::unlock(path, passphrase("first pass phrase"), rnd_);
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("first pass phrase"), rnd_); }), ErrorCode::kBusy);
  EXPECT_NE(last_message_.find("process " + std::to_string(::getpid())), std::string::npos) << last_message_;
  EXPECT_EQ(code_of([&] { wipe(path, rnd_); }), ErrorCode::kBusy);
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST_F(CofferTest, KeySlotsAddReplaceRemove) {
  auto path = make();
  {
    Coffer c = Coffer::unlock(path, passphrase("first pass phrase"), rnd_);
    EXPECT_EQ(c.add_passphrase(passphrase("second one"), KdfCost::kTest), 1u);
    EXPECT_EQ(c.add_passphrase(passphrase("slot five"), KdfCost::kTest, 5), 5u);
    EXPECT_EQ(code_of([&] { c.add_passphrase(passphrase("dup"), KdfCost::kTest, 5); }), ErrorCode::kPolicy);
  }
  EXPECT_EQ(read_header(path).header.slots_in_use(), 3u);
  {
    Coffer c = Coffer::unlock(path, passphrase("slot five"), rnd_);
    EXPECT_EQ(c.unlocked_slot(), std::optional<std::size_t>(5));
    c.replace_passphrase(5, passphrase("slot five new"), KdfCost::kTest);
    c.remove_slot(0);
  }
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("first pass phrase"), rnd_); }), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("slot five"), rnd_); }), ErrorCode::kWrongPassphrase);
  Coffer c = Coffer::unlock(path, passphrase("slot five new"), rnd_);
  c.remove_slot(1);
  // The last slot without a recovery key cannot go.
  EXPECT_EQ(code_of([&] { c.remove_slot(5); }), ErrorCode::kPolicy);
  for (std::size_t i = 0; i < kSlotCount - 1; ++i)
    c.add_passphrase(passphrase("p" + std::to_string(i)), KdfCost::kTest);
  EXPECT_EQ(code_of([&] { c.add_passphrase(passphrase("ninth"), KdfCost::kTest); }), ErrorCode::kPolicy);
  EXPECT_TRUE(c.check().ok());
}

TEST_F(CofferTest, RecoveryKeyReopensAndResetsPassphrases) {
  auto path = make("r.coffer", true);
  {
    Coffer c = Coffer::unlock(path, passphrase("first pass phrase"), rnd_);
    c.add_passphrase(passphrase("second"), KdfCost::kTest);
    c.remove_slot(0);
    c.remove_slot(1);  // allowed: a recovery slot exists
  }
  EXPECT_EQ(read_header(path).header.slots_in_use(), 0u);
  auto other = keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, rnd_);
  EXPECT_EQ(code_of([&] { Coffer::unlock_with_recovery(path, other, rnd_); }), ErrorCode::kWrongPassphrase);
  {
    Coffer c = Coffer::unlock_with_recovery(path, school_, rnd_);
    EXPECT_FALSE(c.unlocked_slot().has_value());
    c.reset_passphrases(passphrase("after recovery"), KdfCost::kTest);
  }
  Coffer c = Coffer::unlock(path, passphrase("after recovery"), rnd_);
  EXPECT_EQ(c.header().slots_in_use(), 1u);
  EXPECT_TRUE(c.check().ok());
}

TEST_F(CofferTest, RecoveryWithoutRecoverySlotIsRefused) {
  auto path = make();
  EXPECT_EQ(code_of([&] { Coffer::unlock_with_recovery(path, school_, rnd_); }), ErrorCode::kPolicy);
}

TEST_F(CofferTest, WipeDestroysEvenThroughAHardLink) {
  auto path = make();
  auto link = dir_ / "link.coffer";
  std::filesystem::create_hard_link(path, link);
  wipe(path, rnd_);
  EXPECT_FALSE(std::filesystem::exists(path));
  for (auto& s : sibling_files(path)) EXPECT_FALSE(std::filesystem::exists(s));
  EXPECT_EQ(code_of([&] { Coffer::unlock(link, passphrase("first pass phrase"), rnd_); }), ErrorCode::kDamaged);
  auto bytes = read_bytes(link);
  EXPECT_FALSE(test::contains(bytes, "Ms Smith"));
  EXPECT_FALSE(test::contains(bytes, "COFFER01"));
}

TEST_F(CofferTest, WipeRefusesWhatIsNotACoffer) {
  auto notes = dir_ / "notes.txt";
  write_bytes(notes, std::vector<std::uint8_t>(20000, 'a'));
  EXPECT_EQ(code_of([&] { wipe(notes, rnd_); }), ErrorCode::kDamaged);
  EXPECT_EQ(read_bytes(notes), std::vector<std::uint8_t>(20000, 'a'));
}

}  // namespace
}  // namespace coffer::vault
