// vault: the audit trail as the coffer writes it: which events land in the
// hash chain and the sidecar, the ones written without the key, the trail
// surviving a wipe, a missing or truncated sidecar being recorded.
#include <gtest/gtest.h>

#include <algorithm>

#include "coffer/error.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/coffer/coffer.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using test::passphrase;

constexpr std::int64_t kNow = 1795000000;

class CofferAuditTest : public ::testing::Test {
 protected:
  std::filesystem::path make() {
    CreateParams p = test::CreateParamsBuilder()
                         .expires(kNow + 3650 * 86400)
                         .audit_key(audit_.public_key)
                         .recovery_key(recovery_.public_key)
                         .build();
    Coffer::create(path_, p, passphrase("first pass phrase"), rnd_, clock_);
    return path_;
  }
  UnlockPolicy policy() {
    UnlockPolicy u;
    u.clock = &clock_;
    return u;
  }
  std::vector<std::string> kinds(const SidecarReport& r) {
    std::vector<std::string> out;
    for (auto& e : r.entries) out.emplace_back(audit_kind_name(e.event.kind));
    return out;
  }
  test::TempDir dir_;
  std::filesystem::path path_ = dir_ / "trip.coffer";
  test::FixedClock clock_{kNow};
  keystore::Random& rnd_ = keystore::system_random();
  keystore::SchoolKeyPair audit_ = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  keystore::SchoolKeyPair recovery_ = keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, rnd_);
};

TEST_F(CofferAuditTest, EventsReachBothTrails) {
  make();
  ASSERT_TRUE(std::filesystem::exists(sidecar_path(path_)));
  EXPECT_THROW(Coffer::unlock(path_, passphrase("wrong"), rnd_, policy()), Error);
  {
    Coffer c = Coffer::unlock(path_, passphrase("first pass phrase"), rnd_, policy());
    c.add_passphrase(passphrase("second pass phrase"), keystore::KdfCost::kTest);
    c.set_hold("incident", kNow);
    auto chain = c.audit_events();
    std::vector<std::string> names;
    for (auto& e : chain) names.emplace_back(audit_kind_name(e.event.kind));
    EXPECT_EQ(names, (std::vector<std::string>{"create", "unlock", "key-added", "hold-set"}));
    EXPECT_NE(chain[1].event.detail.find("1 failed attempt"), std::string::npos) << chain[1].event.detail;
    EXPECT_TRUE(c.verify_audit().ok());
  }
  SidecarReport r = read_sidecar(sidecar_path(path_), audit_);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(kinds(r), (std::vector<std::string>{"create", "unlock-failed", "unlock", "key-added", "hold-set"}));
  // The failed unlock was written without the key, then covered by the unlock.
  EXPECT_FALSE(r.entries[1].authenticated);
  EXPECT_TRUE(r.entries[1].verified);
  EXPECT_EQ(r.unconfirmed, 0u);
}

TEST_F(CofferAuditTest, TheTrailOutlivesAWipe) {
  make();
  { Coffer c = Coffer::unlock(path_, passphrase("first pass phrase"), rnd_, policy()); }
  EXPECT_THROW(Coffer::unlock(path_, passphrase("wrong"), rnd_, policy()), Error);
  wipe(path_, rnd_, "lost laptop found");
  EXPECT_FALSE(std::filesystem::exists(path_));
  SidecarReport r = read_sidecar(sidecar_path(path_), audit_);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(kinds(r), (std::vector<std::string>{"create", "unlock", "unlock-failed", "wipe"}));
  EXPECT_EQ(r.entries.back().event.detail, "lost laptop found");
  EXPECT_EQ(r.unconfirmed, 2u);  // nothing with the key came after them
  // Without the audit key nobody reads it.
  auto other = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  EXPECT_THROW(read_sidecar(sidecar_path(path_), other), Error);
}

TEST_F(CofferAuditTest, AMissingSidecarIsRestartedAndRecorded) {
  make();
  std::filesystem::remove(sidecar_path(path_));
  {
    Coffer c = Coffer::unlock(path_, passphrase("first pass phrase"), rnd_, policy());
    AuditVerdict v = c.verify_audit();
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.problems.back().find("restarted"), std::string::npos) << v.problems.back();
  }
  SidecarReport r = read_sidecar(sidecar_path(path_), audit_);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(kinds(r), (std::vector<std::string>{"audit-damaged", "unlock"}));
}

TEST_F(CofferAuditTest, ATruncatedSidecarIsFoundAndStaysFound) {
  make();
  { Coffer c = Coffer::unlock(path_, passphrase("first pass phrase"), rnd_, policy()); }
  auto bytes = test::read_bytes(sidecar_path(path_));
  bytes.resize(bytes.size() - 20);
  test::write_bytes(sidecar_path(path_), bytes);
  UnlockPolicy check_only = policy();
  check_only.raise_clock_mark = false;  // verify as found, before this unlock is written
  {
    Coffer c = Coffer::unlock(path_, passphrase("first pass phrase"), rnd_, check_only);
    AuditVerdict v = c.verify_audit();
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.problems[0].find("truncated"), std::string::npos) << v.problems[0];
    c.flush_audit();
  }
  Coffer c = Coffer::unlock(path_, passphrase("first pass phrase"), rnd_, policy());
  AuditVerdict v = c.verify_audit();
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.problems[0].find("was found truncated"), std::string::npos) << v.problems[0];
}

TEST_F(CofferAuditTest, RecoveryAndKeyChangesAreRecorded) {
  make();
  {
    Coffer c = Coffer::unlock_with_recovery(path_, recovery_, rnd_, policy());
    c.reset_passphrases(passphrase("new pass phrase"), keystore::KdfCost::kTest);
  }
  SidecarReport r = read_sidecar(sidecar_path(path_), audit_);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(kinds(r), (std::vector<std::string>{"create", "recovery-used", "key-changed"}));
}

TEST_F(CofferAuditTest, CreateRefusesToReuseAnEarlierTrail) {
  make();
  wipe(path_, rnd_);
  CreateParams p = test::CreateParamsBuilder().expires(kNow + 86400).audit_key(audit_.public_key).build();
  try {
    Coffer::create(path_, p, passphrase("first pass phrase"), rnd_, clock_);
    FAIL() << "created over an earlier trail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPolicy);
  }
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_TRUE(read_sidecar(sidecar_path(path_), audit_).ok());
}

}  // namespace
}  // namespace coffer::vault
