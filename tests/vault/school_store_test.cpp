// vault: IT's manifest store as the DPO reads it (school_store.h):
// manifests old and new (per-pupil special-category names), finding a
// coffer, the append-only loss log, the facts a drop copy gives (last use,
// locked, failed unlocks since the loss, the anchor), the states, and the
// sweep of the school's own copies (held coffers kept, anchors kept while
// an audit copy may be). The CLI's test is tests/cli/dpo.sh.
#include "coffer/vault/coffer/school_store.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/vault/audit/audit_drop.h"
#include "coffer/vault/policy/policy.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kIssued = 1790000000;
constexpr std::int64_t kExpires = kIssued + 10 * 86400;

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
std::size_t lines(const fs::path& p) {
  std::string t = read_text(p);
  return static_cast<std::size_t>(std::count(t.begin(), t.end(), '\n'));
}

std::string manifest(const std::string& name, const std::string& vid, bool per_pupil,
                     const std::string& anchor_genesis = {}) {
  std::string pupils =
      per_pupil ? R"([{"key":"P1","name":"Test, Alpha","special_category":["allergies","medical conditions"]},
                     {"key":"P2","name":"Test, Beta","special_category":["allergies"]},
                     {"key":"P3","name":"Test, Gamma","special_category":[]}])"
                : R"([{"id":"P1","name":"Test, Alpha"},{"id":"P4","name":"Test, Delta"}])";
  std::string j = R"({"coffer":")" + name + R"(.coffer","vault_id":")" + vid +
                  R"(","purpose":"trip","owner":"Jo Smith","protection":"standard","provisioned_by":"it",
      "provisioned_at":")" +
                  iso_time(kIssued) + R"(","expires":")" + iso_time(kExpires) + R"(",
      "fields":[{"group":"contacts","description":"Emergency contacts","special_category":false},
                {"group":"medical","description":"Medical","special_category":true}],
      "pupils":)" +
                  pupils;
  if (!anchor_genesis.empty())
    j += R"(,"audit_anchor":{"vault_id":")" + vid + R"(","audit_genesis":")" + anchor_genesis + R"("})";
  return j + "}\n";
}

class SchoolStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(store_);
    fs::create_directories(drop_);
    vid_.fill(0x42);
    hex_ = keystore::to_hex(vid_);
  }
  // A trail: create, unlock, open, lock (with the key), then failed unlocks
  // at the given times (without); its drop copy; the anchor in the manifest.
  void make_trail(const std::vector<std::int64_t>& failed, bool lock = true) {
    key_.emplace(AuditSidecar::create(sidecar_, vid_, audit_.public_key, rnd_));
    auto ev = [](AuditKind k, std::int64_t t, std::string obj = {}) {
      return make_self_event(k, t, std::move(obj), "ok");
    };
    append_authenticated(sidecar_, *key_, ev(AuditKind::kCreate, kIssued), audit_.public_key);
    append_authenticated(sidecar_, *key_, ev(AuditKind::kUnlock, kIssued + 100), audit_.public_key);
    append_authenticated(sidecar_, *key_, ev(AuditKind::kOpenView, kIssued + 200, "roster.csv (read)"),
                         audit_.public_key);
    if (lock) append_authenticated(sidecar_, *key_, ev(AuditKind::kLock, kIssued + 300), audit_.public_key);
    for (auto t : failed)
      append_unauthenticated(sidecar_, make_self_event(AuditKind::kUnlockFailed, t, "", "wrong passphrase"),
                             audit_.public_key);
    ASSERT_TRUE(copy_to_drop(sidecar_, drop_, "trip.coffer", vid_));
    write_text(store_ / "trip.manifest.json",
               manifest("trip", hex_, true, keystore::to_hex(read_sidecar_genesis(sidecar_).digest)));
  }

  test::TempDir dir_;
  fs::path store_ = dir_ / "store";
  fs::path drop_ = dir_ / "drop";
  fs::path sidecar_ = dir_ / "trip.coffer.audit";
  keystore::Random& rnd_ = keystore::system_random();
  keystore::SchoolKeyPair audit_ = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  VaultId vid_{};
  std::string hex_;
  std::optional<keystore::AuditChainKey> key_;
};

TEST(SchoolStoreTime, ParsesTheManifestsIsoForms) {
  EXPECT_EQ(parse_iso_time("2026-05-03T10:00:00Z"), 1777802400);
  EXPECT_EQ(parse_iso_time("2026-05-03T11:00:00+0100"), 1777802400);
  EXPECT_EQ(parse_iso_time("2026-05-03T06:00:00-04:00"), 1777802400);
  EXPECT_EQ(parse_iso_time(iso_time(1777802400)), 1777802400);
  EXPECT_FALSE(parse_iso_time("3 May 2026"));
  EXPECT_FALSE(parse_iso_time("2026-05-03T10:00:00+1"));
}

TEST_F(SchoolStoreTest, ReadsNewAndOldManifests) {
  write_text(store_ / "trip.manifest.json", manifest("trip", hex_, true));
  fs::create_directories(store_ / "2025");
  write_text(store_ / "2025" / "old.manifest.json", manifest("old", std::string(32, 'a'), false));
  write_text(store_ / "junk.manifest.json", "{not json");
  std::vector<std::string> skipped;
  auto coffers = read_store(store_, &skipped);
  ASSERT_EQ(coffers.size(), 2u);
  ASSERT_EQ(skipped.size(), 1u);
  const StoreCoffer& trip = find_in_store(coffers, "trip.coffer", store_);
  EXPECT_TRUE(trip.per_pupil_special);
  EXPECT_EQ(trip.issued, kIssued);
  EXPECT_EQ(trip.expires, kExpires);
  EXPECT_EQ(trip.special_groups(), std::vector<std::string>{"medical"});
  const StoreCoffer& old = find_in_store(coffers, "old", store_);
  EXPECT_FALSE(old.per_pupil_special);
  EXPECT_EQ(old.pupils.at(1).key, "P4");  // "id" in manifests before "key"

  BreachFacts b = breach_facts(trip, std::nullopt, kIssued);
  EXPECT_EQ(b.pupils, 3u);
  EXPECT_EQ(b.pupils_with_special, 2u);
  EXPECT_EQ(b.special_counts.at("allergies"), 2u);
  EXPECT_EQ(b.special_counts.at("medical conditions"), 1u);
  EXPECT_FALSE(b.deadline);  // no loss recorded
  EXPECT_FALSE(breach_facts(old, std::nullopt, kIssued).per_pupil);
}

TEST_F(SchoolStoreTest, FindsByNameIdOrPrefixAndRefusesTheUnknown) {
  write_text(store_ / "trip.manifest.json", manifest("trip", hex_, true));
  write_text(store_ / "ski.manifest.json", manifest("ski", "4243" + std::string(28, '0'), true));
  auto coffers = read_store(store_);
  EXPECT_EQ(find_in_store(coffers, "trip", store_).vault_id, hex_);
  EXPECT_EQ(find_in_store(coffers, hex_, store_).coffer, "trip.coffer");
  EXPECT_EQ(find_in_store(coffers, "42424242", store_).coffer, "trip.coffer");
  EXPECT_EQ(find_in_store(coffers, "/media/usb/trip.coffer", store_).coffer, "trip.coffer");
  try {
    find_in_store(coffers, "rome", store_);
    FAIL() << "an unknown coffer was found";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUsage);
    EXPECT_NE(std::string(e.what()).find("no coffer \"rome\""), std::string::npos);
  }
  EXPECT_THROW(find_in_store(coffers, "42", store_), Error);  // too short a prefix
}

TEST_F(SchoolStoreTest, LossesAreAppendedAndTheFirstCounts) {
  write_text(store_ / "trip.manifest.json", manifest("trip", hex_, true));
  auto coffers = read_store(store_);
  record_loss(store_, coffers.front(), {kIssued + 1000, "Jo Smith", kIssued + 2000, "dpo"});
  record_loss(store_, coffers.front(), {kIssued + 5000, "Head", kIssued + 6000, "dpo"});
  EXPECT_EQ(lines(store_ / kLossLog), 2u);
  coffers = read_store(store_);
  ASSERT_EQ(coffers.front().losses.size(), 2u);
  EXPECT_EQ(coffers.front().losses.front().reported_by, "Jo Smith");
  BreachFacts b = breach_facts(coffers.front(), std::nullopt, kIssued + 3000);
  EXPECT_EQ(b.state, CofferState::kLost);
  EXPECT_EQ(*b.deadline, kIssued + 1000 + 72 * 3600);
  EXPECT_FALSE(fs::exists(store_ / ("." + std::string(kLossLog) + ".tmp")));
}

TEST_F(SchoolStoreTest, TrailFactsCountFailedUnlocksSinceTheLoss) {
  make_trail({kIssued + 1000, kIssued + 5000, kIssued + 6000});
  auto coffers = read_store(store_);
  TrailFacts t = read_trail_facts(coffers.front(), store_, drop_, audit_, kIssued + 4000);
  ASSERT_TRUE(t.found);
  EXPECT_EQ(t.records, 7u);
  EXPECT_EQ(t.failed_after_last_contact, 3u);
  EXPECT_EQ(t.failed_since, 2u);
  EXPECT_EQ(t.last_failed, kIssued + 6000);
  ASSERT_TRUE(t.last_use);
  EXPECT_EQ(t.last_use->kind, AuditKind::kOpenView);
  EXPECT_TRUE(t.locked_at_last_contact);
  EXPECT_FALSE(t.wiped);
  EXPECT_EQ(t.anchor.status, AnchorStatus::kAnchored);
  EXPECT_TRUE(t.consistent && t.anchor.anchored());
}

TEST_F(SchoolStoreTest, OpenAtLastContactWhenNotLockedAfterAnOpening) {
  make_trail({}, /*lock=*/false);
  auto coffers = read_store(store_);
  TrailFacts t = read_trail_facts(coffers.front(), store_, drop_, audit_, std::nullopt);
  EXPECT_FALSE(t.locked_at_last_contact);
  EXPECT_EQ(t.failed_since, 0u);
}

TEST_F(SchoolStoreTest, NoDropCopyIsSaidNotGuessed) {
  write_text(store_ / "trip.manifest.json", manifest("trip", hex_, true));
  auto coffers = read_store(store_);
  TrailFacts t = read_trail_facts(coffers.front(), store_, drop_, audit_, std::nullopt);
  EXPECT_FALSE(t.found);
  EXPECT_FALSE(t.anchor.anchored());
  ASSERT_FALSE(t.notes.empty());
}

TEST_F(SchoolStoreTest, StatesInOrderOfPrecedence) {
  write_text(store_ / "trip.manifest.json", manifest("trip", hex_, true));
  StoreCoffer c = read_store(store_).front();
  EXPECT_EQ(coffer_state(c, nullptr, kExpires), CofferState::kOut);
  EXPECT_EQ(coffer_state(c, nullptr, kExpires + 1), CofferState::kExpired);
  TrailFacts wiped;
  wiped.wiped = true;
  EXPECT_EQ(coffer_state(c, &wiped, kExpires + 1), CofferState::kWiped);
  c.losses.push_back({kIssued, "x", kIssued, "y"});
  EXPECT_EQ(coffer_state(c, &wiped, kExpires + 1), CofferState::kLost);
  c.checkins.push_back({store_ / "trip.checkin.json", kIssued + 5, "it", true, false});
  EXPECT_EQ(coffer_state(c, &wiped, kExpires + 1), CofferState::kReturned);
  EXPECT_EQ(coffer_state_name(CofferState::kOut), "still out");
}

TEST_F(SchoolStoreTest, SweepRemovesPastTheSchoolsDaysAndKeepsTheHeld) {
  make_trail({});
  write_text(store_ / "trip.manifest.txt", "text manifest\n");
  fs::copy_file(sidecar_, store_ / "trip.coffer.audit");  // an audit copy filed with a check-in
  // A returned, held coffer: its report says on_hold.
  const std::string held_id(32, 'b');
  write_text(store_ / "held.manifest.json", manifest("held", held_id, true));
  write_text(store_ / "held.checkin.json", R"({"vault_id":")" + held_id + R"(","checked_in":)" +
                                               std::to_string(kExpires) + R"(,"on_hold":{"reason":"x"}})");
  const std::int64_t day = 86400;
  // Not yet: 30 days after expiry.
  auto items = sweep_store(store_, drop_, kExpires + 30 * day, 30, false, "it");
  ASSERT_EQ(items.size(), 2u);
  for (auto& it : items) EXPECT_NE(it.action, StoreSweepItem::Action::kRemoved) << it.coffer;
  EXPECT_TRUE(fs::exists(store_ / "trip.manifest.json"));
  // A dry run removes nothing and logs nothing more.
  items = sweep_store(store_, drop_, kExpires + 31 * day, 30, true, "it");
  EXPECT_TRUE(fs::exists(store_ / "trip.manifest.json"));
  EXPECT_EQ(lines(store_ / kSweepLog), 1u);
  // Past it, with the drop directory: every copy goes, the anchor too.
  items = sweep_store(store_, drop_, kExpires + 31 * day, 30, false, "it");
  auto trip = std::find_if(items.begin(), items.end(), [](auto& i) { return i.coffer == "trip.coffer"; });
  auto held = std::find_if(items.begin(), items.end(), [](auto& i) { return i.coffer == "held.coffer"; });
  EXPECT_EQ(trip->action, StoreSweepItem::Action::kRemoved);
  EXPECT_EQ(trip->removed.size(), 4u);  // store audit copy, drop copy, manifest json and text
  EXPECT_FALSE(trip->anchor_kept);
  EXPECT_EQ(held->action, StoreSweepItem::Action::kHeld);
  EXPECT_FALSE(fs::exists(store_ / "trip.manifest.json"));
  EXPECT_FALSE(fs::exists(store_ / "trip.manifest.txt"));
  EXPECT_FALSE(fs::exists(store_ / "trip.coffer.audit"));
  EXPECT_TRUE(find_drop_copies(drop_, vid_).empty());
  EXPECT_FALSE(fs::exists(store_ / "trip.anchor.json"));
  EXPECT_TRUE(fs::exists(store_ / "held.manifest.json"));
  EXPECT_TRUE(fs::exists(store_ / "held.checkin.json"));
  EXPECT_EQ(lines(store_ / kSweepLog), 2u);
  const std::string log = read_text(store_ / kSweepLog);
  EXPECT_EQ(log.find("Test, Alpha"), std::string::npos);  // no pupil names in IT's log
}

TEST_F(SchoolStoreTest, SweepKeepsTheAnchorWhileACopyMayBeKept) {
  make_trail({});
  // No drop directory given: its copy may still be there.
  auto items = sweep_store(store_, std::nullopt, kExpires + 31 * 86400, 30, false, "it");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].action, StoreSweepItem::Action::kRemoved);
  ASSERT_TRUE(items[0].anchor_kept);
  EXPECT_FALSE(fs::exists(store_ / "trip.manifest.json"));
  ASSERT_TRUE(fs::exists(store_ / "trip.anchor.json"));
  EXPECT_EQ(read_text(store_ / "trip.anchor.json").find("Test, "), std::string::npos);
  // The drop copy still verifies against the kept anchor.
  auto anchors = find_anchors(store_, vid_);
  ASSERT_EQ(anchors.size(), 1u);
  EXPECT_TRUE(keystore::digest_equal(anchors[0].genesis, read_sidecar_genesis(sidecar_).digest));
}

TEST_F(SchoolStoreTest, SweepCountsFromTheLatestOfExpiryReturnAndLoss) {
  write_text(store_ / "trip.manifest.json", manifest("trip", hex_, true));
  auto coffers = read_store(store_);
  record_loss(store_, coffers.front(), {kExpires + 20 * 86400, "x", kExpires + 20 * 86400, "y"});
  auto items = sweep_store(store_, drop_, kExpires + 31 * 86400, 30, true, "it");
  EXPECT_EQ(items.at(0).action, StoreSweepItem::Action::kKept);
  EXPECT_EQ(items.at(0).keep_until, kExpires + 50 * 86400);
}

TEST(SchoolCopiesPolicy, UnsetByDefaultAndBounded) {
  EXPECT_FALSE(load_school_policy(std::nullopt).school_copies_days);
  if (::geteuid() != 0) GTEST_SKIP() << "a trusted policy file must be owned by root";
  test::TempDir dir;
  const fs::path f = dir / "policy.toml";
  write_text(f, "[retention]\nschool_copies_days = 365\n");
  ::chmod(f.c_str(), 0644);
  EXPECT_EQ(load_school_policy(f).school_copies_days, 365);
  write_text(f, "[retention]\nschool_copies_days = -1\n");
  try {
    load_school_policy(f);
    FAIL() << "a negative school_copies_days was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUsage);
  }
}

}  // namespace
}  // namespace coffer::vault
