// vault: failed unlocks (backoff, lock-out, recovery, opt-in wipe) and
// retention (warnings, sealing, grace, wipe, clock high-water mark, holds,
// sweep), through the real container with an injected clock.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/coffer/sweep.h"
#include "coffer/vault/policy/policy.h"
#include "error_capture.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using keystore::KdfCost;
using test::passphrase;

constexpr std::int64_t kNow = 1795000000;  // 2026-11-18
constexpr std::int64_t kDay = 86400;
const char* kGood = "first pass phrase";

class RetentionTest : public ::testing::Test {
 protected:
  std::filesystem::path make(const std::string& name = "t.coffer", std::int64_t expires = kNow + 10 * kDay) {
    CreateParams p = test::CreateParamsBuilder().expires(expires).recovery_key(school_.public_key).build();
    auto path = dir_ / name;
    Coffer::create(path, p, passphrase(kGood), rnd_, clock_);
    return path;
  }
  UnlockPolicy policy() {
    UnlockPolicy p;
    p.clock = &clock_;
    p.wait = [this](std::chrono::seconds s, std::uint32_t) { waits_.push_back(s.count()); };
    return p;
  }
  Coffer open(const std::filesystem::path& path, const char* pw = kGood) {
    return Coffer::unlock(path, passphrase(pw), rnd_, policy());
  }
  ErrorCode code_of(const std::function<void()>& f) { return test::code_of(f, &last_message_); }
  test::TempDir dir_;
  test::FixedClock clock_{kNow};
  keystore::Random& rnd_ = keystore::system_random();
  keystore::SchoolKeyPair school_ = keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, rnd_);
  std::vector<std::int64_t> waits_;
  std::string last_message_;
};

TEST_F(RetentionTest, BackoffGrowsAfterFreeAttempts) {
  UnlockPolicy p;
  EXPECT_EQ(backoff_delay(0, p).count(), 0);
  EXPECT_EQ(backoff_delay(2, p).count(), 0);
  EXPECT_EQ(backoff_delay(3, p).count(), 1);
  EXPECT_EQ(backoff_delay(4, p).count(), 2);
  EXPECT_EQ(backoff_delay(5, p).count(), 4);
  EXPECT_EQ(backoff_delay(9, p).count(), 60);
  EXPECT_EQ(backoff_delay(100, p).count(), 60);
}

TEST_F(RetentionTest, LockoutAtMaximumThenRecoveryReopens) {
  auto path = make();
  for (int i = 1; i < 10; ++i) EXPECT_EQ(code_of([&] { open(path, "wrong"); }), ErrorCode::kWrongPassphrase) << i;
  // Waits were asked for from the fourth attempt on (after 3 failures).
  EXPECT_EQ(waits_, (std::vector<std::int64_t>{1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(code_of([&] { open(path, "wrong"); }), ErrorCode::kLockedOut);
  EXPECT_NE(last_message_.find("locked out"), std::string::npos);
  EXPECT_EQ(read_header(path).header.failed_attempts, 10u);
  // Even the right passphrase is refused now, without counting.
  EXPECT_EQ(code_of([&] { open(path); }), ErrorCode::kLockedOut);
  EXPECT_EQ(read_header(path).header.failed_attempts, 10u);
  {
    Coffer c = Coffer::unlock_with_recovery(path, school_, rnd_, policy());
    EXPECT_EQ(c.failures_before(), 10u);
    c.reset_passphrases(passphrase("a new pass phrase"), KdfCost::kTest);
  }
  EXPECT_EQ(read_header(path).header.failed_attempts, 0u);
  Coffer c = open(path, "a new pass phrase");
  EXPECT_EQ(c.failures_before(), 0u);
}

TEST_F(RetentionTest, CorrectUnlockReportsAndResetsFailures) {
  auto path = make();
  for (int i = 0; i < 4; ++i) code_of([&] { open(path, "wrong"); });
  Coffer c = open(path);
  EXPECT_EQ(c.failures_before(), 4u);
  EXPECT_EQ(c.header().failed_attempts, 0u);
}

TEST_F(RetentionTest, OptInWipeAtLimit) {
  auto path = make();
  UnlockPolicy p = policy();
  p.max_failures = 3;
  p.wipe_at_limit = true;
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("x"), rnd_, p); }), ErrorCode::kWrongPassphrase);
  EXPECT_EQ(code_of([&] { Coffer::unlock(path, passphrase("x"), rnd_, p); }), ErrorCode::kLockedOut);
  EXPECT_NE(last_message_.find("wiped"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(RetentionTest, WarnsBeforeExpiry) {
  auto path = make("t.coffer", kNow + 10 * kDay);
  EXPECT_TRUE(open(path).notices().empty());
  clock_.set(kNow + 8 * kDay);
  Coffer c = open(path);
  ASSERT_EQ(c.notices().size(), 1u);
  EXPECT_NE(c.notices()[0].find("in 2 days"), std::string::npos) << c.notices()[0];
  EXPECT_NE(c.notices()[0].find("files/"), std::string::npos);
}

TEST_F(RetentionTest, SealedAtExpiryButRecoveryOpensInGrace) {
  auto path = make("t.coffer", kNow + 10 * kDay);
  clock_.set(kNow + 10 * kDay + 1);
  EXPECT_EQ(code_of([&] { open(path); }), ErrorCode::kExpired);
  EXPECT_NE(last_message_.find("sealed"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(path));
  // A sealed coffer does not count a failure for the right passphrase.
  EXPECT_EQ(read_header(path).header.failed_attempts, 0u);
  Coffer c = Coffer::unlock_with_recovery(path, school_, rnd_, policy());
  EXPECT_TRUE(c.retention(clock_.now(), 7).sealed);
}

TEST_F(RetentionTest, WipedAfterGraceByOpenEvenWithWrongPassphrase) {
  auto a = make("a.coffer", kNow + kDay);
  auto b = make("b.coffer", kNow + kDay);
  clock_.set(kNow + 9 * kDay);
  EXPECT_EQ(code_of([&] { open(a); }), ErrorCode::kExpired);
  EXPECT_NE(last_message_.find("wiped"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(a));
  EXPECT_EQ(code_of([&] { open(b, "wrong"); }), ErrorCode::kExpired);
  EXPECT_FALSE(std::filesystem::exists(b));
}

TEST_F(RetentionTest, RecoveryAfterGraceWipes) {
  auto path = make("t.coffer", kNow + kDay);
  clock_.set(kNow + 9 * kDay);
  EXPECT_EQ(code_of([&] { Coffer::unlock_with_recovery(path, school_, rnd_, policy()); }), ErrorCode::kExpired);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(RetentionTest, ClockSetBackIsRefusedAndNeverExtends) {
  auto path = make("t.coffer", kNow + 10 * kDay);
  clock_.set(kNow + 5 * kDay);
  { Coffer c = open(path); }
  clock_.set(kNow + 2 * kDay);
  EXPECT_EQ(code_of([&] { open(path); }), ErrorCode::kPolicy);
  EXPECT_NE(last_message_.find("set back"), std::string::npos);
  // Within the tolerance it opens, judged by the mark.
  clock_.set(kNow + 5 * kDay - 300);
  {
    Coffer c = open(path);
    EXPECT_EQ(c.clock_high_water(), kNow + 5 * kDay);
  }
  // Having seen a time past expiry, a clock set back inside the validity
  // period does not reopen it.
  clock_.set(kNow + 11 * kDay);
  EXPECT_EQ(code_of([&] { open(path); }), ErrorCode::kExpired);
  // The refused open did not move the mark (sealed before advancing) ...
  clock_.set(kNow + 9 * kDay);
  // ... but the recovery key resets it at check-in.
  {
    Coffer c = Coffer::unlock_with_recovery(path, school_, rnd_, policy());
    c.reset_clock_high_water(clock_.now());
  }
  EXPECT_NO_THROW(open(path));
}

TEST_F(RetentionTest, HoldSuspendsExpiryAndOnlyRecoveryLiftsIt) {
  auto path = make("t.coffer", kNow + kDay);
  {
    Coffer c = open(path);
    c.set_hold("incident on the trip", kNow);
    EXPECT_EQ(code_of([&] { c.release_hold(); }), ErrorCode::kPolicy);
  }
  EXPECT_TRUE(read_header(path).header.on_hold);
  // Past the grace period (expiry +1 day, 7 days' grace) but within the
  // teacher's hold (14 days by default).
  clock_.set(kNow + 10 * kDay);
  {
    Coffer c = open(path);  // held: neither sealed nor wiped
    ASSERT_FALSE(c.notices().empty());
    EXPECT_NE(c.notices()[0].find("on hold"), std::string::npos);
  }
  auto swept = sweep_directory(dir_.path(), clock_.now(), 7, false, rnd_);
  ASSERT_EQ(swept.size(), 1u);
  EXPECT_EQ(swept[0].action, SweepItem::Action::kHeld);
  EXPECT_TRUE(std::filesystem::exists(path));
  {
    Coffer c = Coffer::unlock_with_recovery(path, school_, rnd_, policy());
    c.release_hold();
  }
  EXPECT_FALSE(read_header(path).header.on_hold);
  EXPECT_EQ(code_of([&] { open(path); }), ErrorCode::kExpired);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(RetentionTest, TeachersHoldIsBoundedAndOnlyRecoveryExtendsIt) {
  auto path = make("t.coffer", kNow + kDay);
  {
    Coffer c = open(path);
    EXPECT_EQ(c.set_hold("incident on the trip", kNow), kNow + 14 * kDay);
    // Not renewed, extended or made open-ended with the passphrase.
    EXPECT_EQ(code_of([&] { c.set_hold("again", kNow); }), ErrorCode::kPolicy);
    EXPECT_NE(last_message_.find("only the school's recovery key extends"), std::string::npos) << last_message_;
    EXPECT_EQ(code_of([&] { c.set_hold("x", kNow, {HoldTerm::Kind::kOpenEnded, 0}); }), ErrorCode::kPolicy);
    EXPECT_EQ(code_of([&] { c.set_hold("x", kNow, {HoldTerm::Kind::kUntil, kNow + 90 * kDay}); }), ErrorCode::kPolicy);
    EXPECT_EQ(c.hold_until(), kNow + 14 * kDay);
  }
  auto copy = dir_ / "copy.coffer";
  std::filesystem::copy_file(path, copy);
  // The hold lapses after 14 days: expiry proceeds (past grace: wiped).
  clock_.set(kNow + 15 * kDay);
  EXPECT_EQ(code_of([&] { open(path); }), ErrorCode::kExpired);
  EXPECT_FALSE(std::filesystem::exists(path));
  // IT extends the copy's hold before it lapses, then makes it open-ended.
  clock_.set(kNow + 13 * kDay);
  {
    Coffer c = Coffer::unlock_with_recovery(copy, school_, rnd_, policy());
    EXPECT_EQ(c.set_hold("incident: the school's inquiry", clock_.now(), {HoldTerm::Kind::kUntil, kNow + 40 * kDay}),
              kNow + 40 * kDay);
  }
  clock_.set(kNow + 30 * kDay);
  {
    Coffer c = open(copy);
    EXPECT_EQ(c.hold_until(), kNow + 40 * kDay);
  }
  {
    Coffer c = Coffer::unlock_with_recovery(copy, school_, rnd_, policy());
    EXPECT_EQ(c.set_hold("inquiry", clock_.now(), {HoldTerm::Kind::kOpenEnded, 0}), std::nullopt);
  }
  clock_.set(kNow + 400 * kDay);
  EXPECT_NO_THROW(open(copy));
}

// The kernel's clock, read by coffer's own system call, agrees with libc's
// (no preload here), and the system clock is never behind it.
TEST(SystemClock, KernelClockIsReadDirectly) {
#if defined(__x86_64__) || defined(__aarch64__)
  auto kernel = kernel_realtime_ns();
  ASSERT_TRUE(kernel.has_value());
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const std::int64_t libc = std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
  EXPECT_LT(std::llabs(libc - *kernel), std::int64_t{5} * 1000000000);
  EXPECT_GE(system_clock().now(), *kernel / 1000000000);
  EXPECT_GE(system_clock().now_ns(), *kernel_realtime_ns() - 1000000000);
#else
  GTEST_SKIP() << "no direct system call on this architecture";
#endif
}

TEST_F(RetentionTest, HoldFlagIsAuthenticated) {
  auto path = make();
  // Setting the flag by hand (checksums resealed) breaks the header MAC.
  auto bytes = test::read_bytes(path);
  for (std::size_t copy = 0; copy < 2; ++copy) {
    bytes[copy * kHeaderCopySize + 12] = 1;
    auto sum =
        keystore::checksum32(std::span<const std::uint8_t>(bytes.data() + copy * kHeaderCopySize, kChecksumOffset));
    std::copy(sum.begin(), sum.end(),
              bytes.begin() + static_cast<std::ptrdiff_t>(copy * kHeaderCopySize + kChecksumOffset));
  }
  test::write_bytes(path, bytes);
  EXPECT_TRUE(read_header(path).header.on_hold);
  EXPECT_EQ(code_of([&] { open(path); }), ErrorCode::kDamaged);
}

TEST_F(RetentionTest, SweepWipesOnlyPastGraceAndNeverFollowsLinks) {
  auto fresh = make("fresh.coffer", kNow + 30 * kDay);
  auto sealed = make("sealed.coffer", kNow + 5 * kDay);
  auto old = make("old.coffer", kNow + kDay);
  test::write_bytes(dir_ / "notes.txt", {'h', 'i'});
  // A link in the swept directory pointing at an old coffer elsewhere.
  test::TempDir other;
  CreateParams p = test::CreateParamsBuilder().owner("Mr Jones").expires(kNow + kDay).build();
  auto elsewhere = other / "elsewhere.coffer";
  Coffer::create(elsewhere, p, passphrase(kGood), rnd_, clock_);
  std::filesystem::create_symlink(elsewhere, dir_ / "link.coffer");
  std::filesystem::create_directory_symlink(other.path(), dir_ / "linkdir");

  const std::int64_t later = kNow + 10 * kDay;  // old: past 7 days' grace; sealed: in grace
  auto dry = sweep_directory(dir_.path(), later, 7, true, rnd_);
  ASSERT_EQ(dry.size(), 3u);
  EXPECT_TRUE(std::filesystem::exists(old));
  std::vector<SweepItem> done = sweep_directory(dir_.path(), later, 7, false, rnd_);
  ASSERT_EQ(done.size(), 3u);  // fresh, old, sealed (sorted); links and notes.txt never considered
  EXPECT_EQ(done[0].path, fresh);
  EXPECT_EQ(done[0].action, SweepItem::Action::kKept);
  EXPECT_EQ(done[1].path, old);
  EXPECT_EQ(done[1].action, SweepItem::Action::kWiped);
  EXPECT_EQ(done[2].path, sealed);
  EXPECT_EQ(done[2].action, SweepItem::Action::kKept);
  EXPECT_FALSE(std::filesystem::exists(old));
  EXPECT_TRUE(std::filesystem::exists(fresh));
  EXPECT_TRUE(std::filesystem::exists(sealed));
  EXPECT_TRUE(std::filesystem::exists(elsewhere));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "notes.txt"));
  // A directory given as a symbolic link is refused, not followed.
  EXPECT_EQ(code_of([&] { sweep_directory(dir_ / "linkdir", later, 7, false, rnd_); }), ErrorCode::kUsage);
  EXPECT_TRUE(std::filesystem::exists(elsewhere));
}

TEST_F(RetentionTest, SchoolPolicyFileIsStrictAndTrusted) {
  auto f = dir_ / "policy.toml";
  test::write_bytes(f, {});
  {
    std::ofstream out(f);
    out << "[unlock]\nmax_failures = 5\nwipe_at_limit = true\n[retention]\ngrace_days = 3\nwarn_days = 5\n"
           "[audit]\ndrop_dir = \"/srv/share\"\n";
  }
  ::chmod(f.c_str(), 0644);
  if (::geteuid() == 0) {
    SchoolPolicy p = load_school_policy(f);
    EXPECT_EQ(p.max_failures, 5u);
    EXPECT_TRUE(p.wipe_at_limit);
    EXPECT_EQ(p.grace_days, 3);
    EXPECT_EQ(p.warn_days, 5);
    ASSERT_TRUE(p.audit_drop_dir);
    EXPECT_EQ(p.audit_drop_dir->string(), "/srv/share");
    {
      std::ofstream out(f);
      out << "[unlock]\nmax_failure = 5\n";
    }
    EXPECT_EQ(code_of([&] { load_school_policy(f); }), ErrorCode::kUsage);
    EXPECT_NE(last_message_.find("policy.toml:2"), std::string::npos) << last_message_;
    ::chmod(f.c_str(), 0666);
    EXPECT_EQ(code_of([&] { load_school_policy(f); }), ErrorCode::kPolicy);
    EXPECT_NE(last_message_.find("not trusted"), std::string::npos);
  } else {
    EXPECT_EQ(code_of([&] { load_school_policy(f); }), ErrorCode::kPolicy);
  }
  SchoolPolicy d = load_school_policy(std::nullopt);
  EXPECT_EQ(d.max_failures, 10u);
  EXPECT_FALSE(d.wipe_at_limit);
  EXPECT_EQ(d.grace_days, 7);
}

TEST_F(RetentionTest, CopyPolicySectionIsStrict) {
  if (::geteuid() != 0) GTEST_SKIP() << "a trusted policy file must be owned by root";
  auto f = dir_ / "copy.toml";
  auto load = [&](const std::string& text) {
    {
      std::ofstream out(f);
      out << text;
    }
    ::chmod(f.c_str(), 0644);
    return load_school_policy(f);
  };
  SchoolPolicy p = load(
      "[copy]\napproved_destinations = [\"/srv/share/\"]\nminimum_protection = \"guarded\"\n"
      "declared_removable = [\"/media\"]\nallowed_luks_uuids = [\"0d1f\"]\n"
      "app_state = [\"~/.cache\", \"/var/tmp/editor\"]\n");
  ASSERT_TRUE(p.copy.approved_destinations);
  EXPECT_EQ(p.copy.approved_destinations->at(0), "/srv/share/");
  EXPECT_EQ(p.copy.minimum_protection, "guarded");
  EXPECT_EQ(p.copy.declared_removable.at(0), "/media");
  EXPECT_EQ(p.copy.app_state.size(), 2u);
  for (const char* bad : {"[copy]\napproved_destinations = [\"relative\"]\n", "[copy]\nminimum_protection = \"none\"\n",
                          "[copy]\napproved = [\"/srv\"]\n", "[copy]\napp_state = [\"cache\"]\n"}) {
    EXPECT_EQ(code_of([&] { load(bad); }), ErrorCode::kUsage) << bad;
    EXPECT_NE(last_message_.find("copy.toml:2"), std::string::npos) << last_message_;
  }
  SchoolPolicy d = load_school_policy(std::nullopt);
  EXPECT_FALSE(d.copy.approved_destinations);
  EXPECT_EQ(d.copy.minimum_protection, "standard");
  // Issue 15: a sandboxed session may require Yama's ptrace restriction.
  EXPECT_FALSE(d.copy.session_requires_ptrace_restricted);
  EXPECT_TRUE(load("[copy]\nsession_requires_ptrace_restricted = true\n").copy.session_requires_ptrace_restricted);
  EXPECT_EQ(code_of([&] { load("[copy]\nsession_requires_ptrace_restricted = \"yes\"\n"); }), ErrorCode::kUsage);
}

TEST_F(RetentionTest, SystemPolicyNarrowsTheCoffersCopyRulesNeverWidens) {
  CopyPolicy sys;
  // No system list: the coffer's own list stands; none at all: nowhere.
  auto r = effective_copy_rules("standard", std::vector<std::filesystem::path>{"/srv/share/trip"}, sys);
  EXPECT_EQ(r.protection, "standard");
  EXPECT_EQ(r.approved_destinations, std::vector<std::filesystem::path>{"/srv/share/trip"});
  EXPECT_TRUE(effective_copy_rules("standard", std::nullopt, sys).approved_destinations.empty());
  // A system list keeps only the coffer's places inside it, and fills in
  // for a coffer with no list of its own.
  sys.approved_destinations = std::vector<std::filesystem::path>{"/srv/share"};
  r = effective_copy_rules("guarded", std::vector<std::filesystem::path>{"/srv/share/trip", "/home/t/Desktop"}, sys);
  EXPECT_EQ(r.approved_destinations, std::vector<std::filesystem::path>{"/srv/share/trip"});
  EXPECT_EQ(effective_copy_rules("standard", std::nullopt, sys).approved_destinations,
            std::vector<std::filesystem::path>{"/srv/share"});
  // The level is the stricter of the two; an unknown level is the strictest.
  sys.minimum_protection = "guarded";
  EXPECT_EQ(effective_copy_rules("standard", std::nullopt, sys).protection, "guarded");
  EXPECT_EQ(effective_copy_rules("sandboxed", std::nullopt, sys).protection, "sandboxed");
  EXPECT_EQ(effective_copy_rules("future-level", std::nullopt, sys).protection, "sandboxed");
  EXPECT_TRUE(path_within("/srv/share/a/b", {"/srv/share/"}));
  EXPECT_FALSE(path_within("/srv/shared/a", {"/srv/share"}));
}

}  // namespace
}  // namespace coffer::vault
