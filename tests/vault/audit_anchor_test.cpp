// vault: the audit trail anchored at school (audit_anchor.h). Anchors are
// found in the store by vault id; a sidecar whose genesis differs is
// REPLACED; a restart links back only with the old chain key; two anchors
// are a CONFLICT; records of other kinds written without the key are
// forged. The CLI's attack tests are tests/integration/audit_anchor.sh.
#include "coffer/vault/audit/audit_anchor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kNow = 1795000000;

AuditEvent event(AuditKind kind, std::string result = "ok", std::string detail = {}) {
  return make_self_event(kind, kNow, "", std::move(result), std::move(detail));
}

bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(), [&](auto& l) { return l.find(needle) != std::string::npos; });
}

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

class AnchorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault_id_.fill(0x42);
    fs::create_directories(store_);
    fs::create_directories(drop_);
    key_.emplace(AuditSidecar::create(sidecar_, vault_id_, audit_.public_key, rnd_));
    append_authenticated(sidecar_, *key_, event(AuditKind::kCreate), audit_.public_key);
    genesis_ = read_sidecar_genesis(sidecar_);
  }
  AnchorVerdict check(const std::string& name = "trip.coffer") {
    SidecarReport r = read_sidecar(sidecar_, audit_);
    return check_anchor(r, audit_, AnchorQuery{store_, drop_, name, std::nullopt});
  }
  void file_anchor(const fs::path& where) { write_text(where, anchor_file_json(genesis_, "trip.coffer")); }

  test::TempDir dir_;
  fs::path store_ = dir_ / "store";
  fs::path drop_ = dir_ / "drop";
  fs::path sidecar_ = dir_ / "trip.coffer.audit";
  keystore::Random& rnd_ = keystore::system_random();
  keystore::SchoolKeyPair audit_ = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  VaultId vault_id_{};
  std::optional<keystore::AuditChainKey> key_;
  SidecarGenesis genesis_;
};

TEST_F(AnchorTest, GenesisIsTheHeaderDigest) {
  auto bytes = test::read_bytes(sidecar_);
  EXPECT_EQ(genesis_.vault_id, vault_id_);
  EXPECT_EQ(genesis_.digest, keystore::checksum32(std::span(bytes).first(kSidecarHeaderSize)));
  EXPECT_THROW(genesis_of_header(std::span(bytes).first(40), "x"), Error);
}

TEST_F(AnchorTest, NotAnchoredWithoutAnAnchor) {
  auto v = check();
  EXPECT_EQ(v.status, AnchorStatus::kNotAnchored);
  EXPECT_FALSE(v.anchored());
  EXPECT_TRUE(v.problems.empty());
}

TEST_F(AnchorTest, AnchoredByAnchorFileOrManifest) {
  file_anchor(store_ / "trip.anchor.json");
  auto v = check();
  EXPECT_EQ(v.status, AnchorStatus::kAnchored);
  EXPECT_TRUE(v.anchored());
  fs::remove(store_ / "trip.anchor.json");
  fs::create_directories(store_ / "2026" / "autumn");
  write_text(store_ / "2026" / "autumn" / "trip.manifest.json",
             manifest_with_anchor(R"({"coffer": "trip.coffer", "vault_id": "x"})", genesis_));
  EXPECT_EQ(check().status, AnchorStatus::kAnchored);
  // Another vault id's anchor is not this coffer's.
  EXPECT_EQ(find_anchors(store_, VaultId{}).size(), 0u);
}

TEST_F(AnchorTest, TwoAnchorsAreAConflict) {
  file_anchor(store_ / "trip.anchor.json");
  fs::create_directories(store_ / "copy");
  file_anchor(store_ / "copy" / "trip.anchor.json");
  auto v = check();
  EXPECT_EQ(v.status, AnchorStatus::kConflict);
  EXPECT_TRUE(any_contains(v.problems, "CONFLICT"));
}

TEST_F(AnchorTest, AFreshTrailForTheSameVaultIdIsReplaced) {
  file_anchor(store_ / "trip.anchor.json");
  fs::remove(sidecar_);
  auto forged = AuditSidecar::create(sidecar_, vault_id_, audit_.public_key, rnd_);
  append_authenticated(sidecar_, forged, event(AuditKind::kCreate), audit_.public_key);
  auto v = check();
  EXPECT_EQ(v.status, AnchorStatus::kReplaced);
  EXPECT_TRUE(any_contains(v.problems, "REPLACED"));
}

TEST_F(AnchorTest, AnotherCoffersTrailIsReplaced) {
  file_anchor(store_ / "trip.anchor.json");
  auto v = check("other.coffer");
  EXPECT_EQ(v.status, AnchorStatus::kReplaced);
}

TEST_F(AnchorTest, RestartLinksBackWithTheOldKeyOnly) {
  file_anchor(store_ / "trip.anchor.json");
  append_authenticated(sidecar_, *key_, event(AuditKind::kUnlock), audit_.public_key);
  // The school's drop copy of the first trail (found by vault id, whatever
  // its name); then the sidecar goes and a new one starts.
  fs::copy_file(sidecar_, drop_ / "renamed.audit");
  const SidecarHeaderBytes old_header = genesis_.header;
  fs::remove(sidecar_);
  auto k0 = AuditSidecar::create(sidecar_, vault_id_, audit_.public_key, rnd_);
  const SidecarHeaderBytes new_header = read_sidecar_genesis(sidecar_).header;
  auto wrong = keystore::random_audit_chain_key(rnd_);
  const std::string forged = restart_detail(2, &wrong, old_header, new_header);
  const std::string genuine = restart_detail(2, &*key_, old_header, new_header);
  auto claim = parse_restart(event(AuditKind::kAuditDamaged, "restarted", forged));
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim->records, 2u);
  EXPECT_FALSE(restart_link_verifies(*claim, audit_));
  claim = parse_restart(event(AuditKind::kAuditDamaged, "restarted", genuine));
  ASSERT_TRUE(claim);
  EXPECT_TRUE(restart_link_verifies(*claim, audit_));
  EXPECT_FALSE(parse_restart(event(AuditKind::kAuditDamaged, "truncated", genuine)));

  // Forged: a trail starting with a link the old key did not make.
  {
    auto k = keystore::copy_chain_key(k0);
    append_authenticated(sidecar_, k, event(AuditKind::kAuditDamaged, "restarted", forged), audit_.public_key);
    auto v = check();
    EXPECT_EQ(v.status, AnchorStatus::kReplaced);
    EXPECT_TRUE(any_contains(v.problems, "does not verify"));
  }
  // Genuine: RESTARTED, the earlier part from the drop copy.
  fs::remove(sidecar_);
  std::vector<std::uint8_t> bytes(new_header.begin(), new_header.end());
  test::write_bytes(sidecar_, bytes);
  append_authenticated(sidecar_, k0, event(AuditKind::kAuditDamaged, "restarted", genuine), audit_.public_key);
  auto v = check();
  EXPECT_EQ(v.status, AnchorStatus::kRestarted);
  EXPECT_TRUE(v.anchored());
  ASSERT_EQ(v.earlier.size(), 1u);
  EXPECT_EQ(v.earlier[0].drop_copy, drop_ / "renamed.audit");
  EXPECT_EQ(v.earlier[0].report.records, 2u);
  // Without the drop copy the link still leads to the anchor; the earlier
  // records are lost, and a note says so.
  fs::remove(drop_ / "renamed.audit");
  v = check();
  EXPECT_EQ(v.status, AnchorStatus::kRestarted);
  EXPECT_TRUE(any_contains(v.notes, "no drop copy"));
}

// The frozen anchor of the frozen format-1 sidecar (tests/fixtures/README.md).
class SeedRandom final : public keystore::Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i);
  }
};

TEST(AnchorFixture, FormatV1AnchorAnchorsTheFormatV1Sidecar) {
  const fs::path fixtures = COFFER_FIXTURES_DIR;
  SeedRandom seed;
  auto key = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, seed);
  test::TempDir store;
  fs::copy_file(fixtures / "format-v1.anchor.json", store / "format-v1.anchor.json");
  SidecarReport r = read_sidecar(fixtures / "format-v1.coffer.audit", key);
  SidecarGenesis g = genesis_of_header(r.header, "fixture");
  auto frozen = test::read_bytes(fixtures / "format-v1.anchor.json");
  EXPECT_EQ(anchor_file_json(g, "format-v1.coffer"), std::string(frozen.begin(), frozen.end()));
  auto v = check_anchor(r, key, AnchorQuery{store.path(), std::nullopt, "format-v1.coffer", std::nullopt});
  EXPECT_EQ(v.status, AnchorStatus::kAnchored);
  EXPECT_TRUE(v.anchored());
}

TEST(SidecarKinds, OnlyFailuresAreAcceptedWithoutTheKey) {
  test::TempDir dir;
  auto& rnd = keystore::system_random();
  auto audit = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd);
  VaultId vid{};
  fs::path p = dir / "x.coffer.audit";
  auto key = AuditSidecar::create(p, vid, audit.public_key, rnd);
  append_authenticated(p, key, event(AuditKind::kCreate), audit.public_key);
  append_unauthenticated(p, event(AuditKind::kUnlockFailed, "wrong passphrase"), audit.public_key);
  append_unauthenticated(p, event(AuditKind::kWipe), audit.public_key);
  EXPECT_TRUE(read_sidecar(p, audit).ok());
  append_unauthenticated(p, event(AuditKind::kOpenFile), audit.public_key);
  append_authenticated(p, key, event(AuditKind::kUnlock), audit.public_key);
  auto r = read_sidecar(p, audit);
  EXPECT_TRUE(any_contains(r.problems, "written without the coffer key, but of kind open-file"));
  // Covered by the unlock's MAC, but still written without the key.
  EXPECT_TRUE(r.entries[1].verified);
  EXPECT_FALSE(r.entries[1].authenticated);
}

}  // namespace
}  // namespace coffer::vault
