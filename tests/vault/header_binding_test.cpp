// vault: the header binding (schema 6, docs/FORMAT.md §2.9). An earlier
// header written back is refused although its MAC holds, and every state a
// crash can leave between committing the pending digest and writing the
// header opens with the passphrase of the header it holds.
#include <gtest/gtest.h>

#include "coffer/error.h"
#include "coffer/keystore/digest.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/header_binding.h"
#include "error_capture.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using keystore::KdfCost;
using test::passphrase;
using test::read_bytes;
using test::write_bytes;

constexpr std::int64_t kNow = 1795000000;  // 2026-11-18

class HeaderBindingTest : public ::testing::Test {
 protected:
  std::filesystem::path make() {
    CreateParams p = test::CreateParamsBuilder().expires(kNow + 3650 * 86400).build();
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
  test::TempDir dir_;
  test::FixedClock clock_{kNow};
  keystore::Random& rnd_ = keystore::system_random();
  std::string last_message_;
};

// Writes copy `saved` (4096 bytes) into copy B with a generation above copy
// A's, and a fresh checksum: what an attacker with a saved header does.
void write_back_into_b(const std::filesystem::path& path, const std::vector<std::uint8_t>& saved) {
  auto bytes = read_bytes(path);
  std::copy(saved.begin(), saved.begin() + kHeaderCopySize, bytes.begin() + kHeaderCopySize);
  bytes[kHeaderCopySize + kGenerationOffset + 4] += 1;  // + 2^32
  auto sum = keystore::checksum32(std::span<const std::uint8_t>(bytes.data() + kHeaderCopySize, kChecksumOffset));
  std::copy(sum.begin(), sum.end(), bytes.begin() + kHeaderCopySize + kChecksumOffset);
  write_bytes(path, bytes);
}

void set_binding(Database& db, const keystore::Digest32& current, const keystore::Digest32& pending) {
  auto st = db.prepare("UPDATE header_binding SET current = ?, pending = ?");
  st.bind_blob(1, current).bind_blob(2, pending);
  st.step();
}

TEST_F(HeaderBindingTest, CreateRecordsTheFirstHeader) {
  auto path = make();
  Coffer c = unlock(path, "first pass phrase");
  HeaderBinding b(c.database());
  ASSERT_TRUE(b.current().has_value());
  EXPECT_EQ(*b.current(), header_digest(c.header()));
  EXPECT_FALSE(b.pending().has_value());
}

TEST_F(HeaderBindingTest, AnEarlierHeaderWrittenBackIsRefusedAsTampering) {
  auto path = make();
  {
    Coffer c = unlock(path, "first pass phrase");
    c.add_passphrase(passphrase("second pass phrase"), KdfCost::kTest);
  }
  auto saved = read_bytes(path);
  {
    Coffer c = unlock(path, "first pass phrase");
    c.remove_slot(1);
  }
  write_back_into_b(path, saved);
  ASSERT_EQ(read_header(path).header.slots_in_use(), 2u);  // selection prefers the earlier header
  auto before = read_bytes(path);
  EXPECT_EQ(code_of([&] { unlock(path, "second pass phrase"); }), ErrorCode::kDamaged);
  EXPECT_NE(last_message_.find("tampering"), std::string::npos) << last_message_;
  EXPECT_EQ(read_bytes(path), before) << "a refused header was written";
  {
    // The remaining passphrase opens both headers: the genuine one is used,
    // the written-back copy reported and rewritten from it.
    Coffer c = unlock(path, "first pass phrase");
    EXPECT_EQ(c.header().slots_in_use(), 1u);
    ASSERT_FALSE(c.warnings().empty());
    EXPECT_NE(c.warnings()[0].find("earlier header"), std::string::npos) << c.warnings()[0];
    FsckReport r = c.check();
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_NE(r.problems[0].find("tampering"), std::string::npos);
  }
  EXPECT_EQ(read_header(path).header.slots_in_use(), 1u);
  {
    Coffer c = unlock(path, "first pass phrase");
    EXPECT_TRUE(c.check().ok());
  }
  EXPECT_EQ(code_of([&] { unlock(path, "second pass phrase"); }), ErrorCode::kWrongPassphrase);
}

// The passphrase sits in another slot of the genuine header than of the
// written-back one: the slot reported (the one `passwd` replaces) is the
// genuine header's.
TEST_F(HeaderBindingTest, FallingBackUsesTheSlotOfTheGenuineHeader) {
  auto path = make();
  {
    Coffer c = unlock(path, "first pass phrase");
    c.add_passphrase(passphrase("second pass phrase"), KdfCost::kTest);
  }
  auto saved = read_bytes(path);
  {
    Coffer c = unlock(path, "second pass phrase");
    c.add_passphrase(passphrase("first pass phrase"), KdfCost::kTest, 2);
    c.remove_slot(0);
  }
  write_back_into_b(path, saved);
  Coffer c = unlock(path, "first pass phrase");
  EXPECT_EQ(c.unlocked_slot(), std::optional<std::size_t>(2));
  EXPECT_FALSE(c.header().slots[0].in_use());
  c.replace_passphrase(*c.unlocked_slot(), passphrase("third pass phrase"), KdfCost::kTest);
  EXPECT_FALSE(c.header().slots[0].in_use());
}

TEST_F(HeaderBindingTest, BothCopiesEarlierIsRefusedEvenWithTheRecoveryKey) {
  auto school = keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, rnd_);
  CreateParams p = test::CreateParamsBuilder().expires(kNow + 3650 * 86400).build();
  p.recovery_key = school.public_key;
  auto path = dir_ / "r.coffer";
  Coffer::create(path, p, passphrase("first pass phrase"), rnd_, clock_);
  auto saved = read_bytes(path);
  {
    Coffer c = unlock(path, "first pass phrase");
    c.reset_passphrases(passphrase("new pass phrase"), KdfCost::kTest);
  }
  auto bytes = read_bytes(path);
  std::copy(saved.begin(), saved.begin() + 2 * kHeaderCopySize, bytes.begin());
  write_bytes(path, bytes);
  EXPECT_EQ(code_of([&] { unlock(path, "first pass phrase"); }), ErrorCode::kDamaged);
  EXPECT_EQ(code_of([&] { Coffer::unlock_with_recovery(path, school, rnd_); }), ErrorCode::kDamaged);
  EXPECT_EQ(read_bytes(path), bytes);
}

// A crash after the pending digest was committed, before the header write:
// the old header is current, opens, and the pending digest is dropped.
TEST_F(HeaderBindingTest, CrashBeforeTheHeaderWriteKeepsTheOldHeader) {
  auto path = make();
  auto old_area = read_bytes(path);
  keystore::Digest32 old_digest{}, new_digest{};
  {
    Coffer c = unlock(path, "first pass phrase");
    old_digest = header_digest(c.header());
    c.replace_passphrase(0, passphrase("new pass phrase"), KdfCost::kTest);
    new_digest = header_digest(c.header());
    set_binding(c.database(), old_digest, new_digest);
  }
  auto bytes = read_bytes(path);
  std::copy(old_area.begin(), old_area.begin() + 2 * kHeaderCopySize, bytes.begin());
  write_bytes(path, bytes);
  EXPECT_EQ(code_of([&] { unlock(path, "new pass phrase"); }), ErrorCode::kWrongPassphrase);
  Coffer c = unlock(path, "first pass phrase");
  EXPECT_TRUE(c.warnings().empty());
  HeaderBinding b(c.database());
  EXPECT_EQ(b.current(), std::optional(old_digest));
  EXPECT_FALSE(b.pending().has_value());
  EXPECT_TRUE(c.check().ok());
}

// A crash after the header write, before its digest became current: the
// new header is pending, opens, and becomes current.
TEST_F(HeaderBindingTest, CrashAfterTheHeaderWriteKeepsTheNewHeader) {
  auto path = make();
  keystore::Digest32 old_digest{}, new_digest{};
  {
    Coffer c = unlock(path, "first pass phrase");
    old_digest = header_digest(c.header());
    c.replace_passphrase(0, passphrase("new pass phrase"), KdfCost::kTest);
    new_digest = header_digest(c.header());
    set_binding(c.database(), old_digest, new_digest);
  }
  Coffer c = unlock(path, "new pass phrase");
  EXPECT_TRUE(c.warnings().empty());
  HeaderBinding b(c.database());
  EXPECT_EQ(b.current(), std::optional(new_digest));
  EXPECT_FALSE(b.pending().has_value());
  EXPECT_TRUE(c.check().ok());
}

// A crash between the two copies: A new (pending), B old (current). Either
// passphrase opens, neither is reported as tampering.
TEST_F(HeaderBindingTest, CrashBetweenTheCopiesOpensWithEither) {
  auto path = make();
  auto old_area = read_bytes(path);
  {
    Coffer c = unlock(path, "first pass phrase");
    auto old_digest = header_digest(c.header());
    c.replace_passphrase(0, passphrase("new pass phrase"), KdfCost::kTest);
    set_binding(c.database(), old_digest, header_digest(c.header()));
  }
  auto torn = read_bytes(path);
  std::copy(old_area.begin(), old_area.begin() + kHeaderCopySize, torn.begin() + kHeaderCopySize);
  for (const char* pw : {"first pass phrase", "new pass phrase"}) {
    write_bytes(path, torn);
    Coffer c = unlock(path, pw);
    for (const auto& w : c.warnings()) EXPECT_EQ(w.find("tampering"), std::string::npos) << pw << ": " << w;
    EXPECT_TRUE(c.check().ok()) << pw;
    EXPECT_FALSE(HeaderBinding(c.database()).pending().has_value());
  }
}

}  // namespace
}  // namespace coffer::vault
