// vault: the audit trail. The in-coffer hash chain (through a real coffer's
// database) and the sidecar journal: round trips, and every kind of
// tampering the design promises to detect (edit, reorder, deletion,
// truncation, forgery, rewriting the past with a stolen current key).
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <string>

#include "coffer/error.h"
#include "coffer/keystore/audit_crypto.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/coffer/coffer.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using test::passphrase;
using test::read_bytes;
using test::write_bytes;

constexpr std::int64_t kNow = 1795000000;
const std::string kObject = "pupils/Smith, Ann (P1)/profile.txt (read)";

AuditEvent event(int i, AuditKind kind = AuditKind::kOpenFile) {
  return make_self_event(kind, kNow + i, kObject + " #" + std::to_string(i), "ok", "n=" + std::to_string(i));
}

bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TEST(AuditEventTest, KindNamesRoundTrip) {
  for (std::uint16_t n = 1; n <= kLastAuditKind; ++n) {
    auto kind = static_cast<AuditKind>(n);
    EXPECT_EQ(audit_kind_from_name(audit_kind_name(kind)), kind) << n;
  }
  EXPECT_EQ(audit_kind_name(AuditKind::kUnlockFailed), "unlock-failed");
  EXPECT_EQ(audit_kind_name(AuditKind::kOpenFile), "open-file");
  EXPECT_EQ(audit_kind_name(AuditKind::kPassphraseChanged), "passphrase-changed");
  EXPECT_FALSE(audit_kind_from_name("nonsense").has_value());
}

TEST(AuditEventTest, SelfEventAndJson) {
  AuditEvent e = make_self_event(AuditKind::kUnlock, kNow, "coffer", "ok", "slot 0");
  EXPECT_EQ(e.uid, ::getuid());
  EXPECT_EQ(e.pid, ::getpid());
  EXPECT_NE(e.exe.find("vault_test"), std::string::npos) << e.exe;
  std::string json = audit_event_json(e, 7, true);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_NE(json.find("\"kind\":\"unlock\""), std::string::npos) << json;
  auto parsed = parse_audit_event_json(json);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->seq, 7u);
  EXPECT_TRUE(parsed->authenticated);
  EXPECT_EQ(parsed->event, e);
  EXPECT_FALSE(parse_audit_event_json("{\"seq\":1}").has_value());
  EXPECT_FALSE(parse_audit_event_json("[[[[[[[[").has_value());
}

// The user name: sealed after the uid when known, absent (not empty) when
// not; a record of the ten keys (before names were recorded) still reads.
TEST(AuditEventTest, UserNameIsOptionalInTheJson) {
  AuditEvent e = make_self_event(AuditKind::kOpenView, kNow, "roster.csv (read)", "ok");
  EXPECT_TRUE(e.user.empty());  // filled in when sealed, not in the chain
  std::string without = audit_event_json(e, 3, false);
  EXPECT_EQ(without.find("\"user\""), std::string::npos) << without;
  e.user = "ajones";
  std::string with = audit_event_json(e, 3, false);
  EXPECT_NE(with.find(R"("uid":)" + std::to_string(e.uid) + R"(,"user":"ajones","pid":)"), std::string::npos) << with;
  auto parsed = parse_audit_event_json(with);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->event, e);
  auto old = parse_audit_event_json(without);
  ASSERT_TRUE(old.has_value());
  EXPECT_TRUE(old->event.user.empty());
  // An empty or non-string user, or a twelfth key, is not a record.
  std::string empty = with;
  empty.replace(empty.find("\"ajones\""), 8, "\"\"");
  EXPECT_FALSE(parse_audit_event_json(empty).has_value()) << empty;
  std::string number = with;
  number.replace(number.find("\"ajones\""), 8, "7");
  EXPECT_FALSE(parse_audit_event_json(number).has_value()) << number;
  std::string extra = with;
  extra.insert(1, "\"x\":1,");
  EXPECT_FALSE(parse_audit_event_json(extra).has_value()) << extra;
  // The name of the current user, as the passwd database has it.
  EXPECT_FALSE(user_name_of(::getuid()).empty());
  EXPECT_EQ(user_name_of(4000000000U), "");
}

// ------------------------------------------------------------ in the coffer

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Unlocking checks expiry against the real clock: keep it far off.
    CreateParams p = test::CreateParamsBuilder().expires(clock_.now() + 365 * 86400).build();
    Coffer::create(path_, p, passphrase("first pass phrase"), rnd_, clock_);
    coffer_.emplace(Coffer::unlock(path_, passphrase("first pass phrase"), rnd_));
    // These tests drive AuditLog alone, under a key of their own: the
    // coffer's own trail (its create and unlock events) is cleared first.
    db().exec(
        "DELETE FROM audit_log; DELETE FROM coffer_meta WHERE key IN ('audit_count', 'audit_head');"
        "DELETE FROM audit_sidecar;");
    rnd_.fill(key_.writable_bytes());
  }
  Database& db() { return coffer_->database(); }
  AuditLog log() { return AuditLog(db(), key_); }
  void append_n(int n) {
    auto l = log();
    for (int i = 1; i <= n; ++i) EXPECT_EQ(l.append(event(i)), static_cast<std::uint64_t>(i));
  }

  test::TempDir dir_;
  std::filesystem::path path_ = dir_ / "trip.coffer";
  test::FixedClock clock_{static_cast<std::int64_t>(::time(nullptr))};
  keystore::Random& rnd_ = keystore::system_random();
  std::optional<Coffer> coffer_;
  keystore::AuditKey key_;
};

TEST_F(AuditLogTest, AppendReadVerify) {
  EXPECT_TRUE(log().verify().ok());
  append_n(4);
  auto rows = log().read();
  ASSERT_EQ(rows.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(rows[i].seq, static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(rows[i].event, event(i + 1));
  }
  EXPECT_EQ(log().read(kNow + 3).size(), 2u);
  auto v = log().verify();
  EXPECT_TRUE(v.ok()) << joined(v.problems);
  EXPECT_EQ(v.entries, 4u);
  EXPECT_TRUE(coffer_->check().ok());
}

TEST_F(AuditLogTest, AnotherKeyDoesNotVerify) {
  append_n(2);
  keystore::AuditKey other;
  rnd_.fill(other.writable_bytes());
  EXPECT_FALSE(AuditLog(db(), other).verify().ok());
}

TEST_F(AuditLogTest, JoinsTheCallersTransaction) {
  append_n(1);
  db().exec("BEGIN IMMEDIATE");
  log().append(event(2));
  db().exec("ROLLBACK");
  EXPECT_EQ(log().read().size(), 1u);
  EXPECT_TRUE(log().verify().ok());
  EXPECT_EQ(log().append(event(2)), 2u);
  EXPECT_TRUE(log().verify().ok());
}

TEST_F(AuditLogTest, EditedEntryIsDetected) {
  append_n(3);
  db().exec("UPDATE audit_log SET object = 'pupils/Jones, Bob (P2)/profile.txt (read)' WHERE seq = 2");
  auto v = log().verify();
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(any_contains(v.problems, "audit entry 2")) << joined(v.problems);
  EXPECT_FALSE(any_contains(v.problems, "audit entry 3")) << joined(v.problems);
}

TEST_F(AuditLogTest, EditedNumberFieldIsDetected) {
  append_n(3);
  db().exec("UPDATE audit_log SET uid = uid + 4294967296 WHERE seq = 1");
  EXPECT_FALSE(log().verify().ok());
}

TEST_F(AuditLogTest, SwappedEntriesAreDetected) {
  append_n(4);
  db().exec("UPDATE audit_log SET seq = 100 WHERE seq = 2");
  db().exec("UPDATE audit_log SET seq = 2 WHERE seq = 3");
  db().exec("UPDATE audit_log SET seq = 3 WHERE seq = 100");
  auto v = log().verify();
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(any_contains(v.problems, "audit entry 2")) << joined(v.problems);
}

TEST_F(AuditLogTest, DeletedMiddleEntryIsDetected) {
  append_n(4);
  db().exec("DELETE FROM audit_log WHERE seq = 2");
  auto v = log().verify();
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(any_contains(v.problems, "missing or out of order")) << joined(v.problems);
}

TEST_F(AuditLogTest, DeletedLastEntryIsTruncation) {
  append_n(4);
  db().exec("DELETE FROM audit_log WHERE seq = 4");
  auto v = log().verify();
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(any_contains(v.problems, "truncated")) << joined(v.problems);
  // Appending afterwards continues from the head, so the gap stays visible.
  EXPECT_EQ(log().append(event(5)), 5u);
  EXPECT_FALSE(log().verify().ok());
}

TEST_F(AuditLogTest, ReplacedLastEntryIsDetected) {
  append_n(3);
  // Deleting the last entry and moving the head back (without the key the
  // head hash cannot be recomputed; reusing entry 2's is all one can do).
  auto h2 = db().prepare("SELECT hex(hash) FROM audit_log WHERE seq = 2");
  ASSERT_TRUE(h2.step());
  std::string hex = h2.column_text(0);
  std::transform(hex.begin(), hex.end(), hex.begin(), ::tolower);
  db().exec("DELETE FROM audit_log WHERE seq = 3");
  db().exec("UPDATE coffer_meta SET value = '2' WHERE key = 'audit_count'");
  db().exec("UPDATE coffer_meta SET value = '" + hex + "' WHERE key = 'audit_head'");
  // That much passes: the in-coffer chain alone cannot see a rolled-back
  // head; the sidecar's count (below) is what catches it.
  EXPECT_TRUE(log().verify().ok());
  // Change the head's first byte (to ff when it already is 00: never a no-op).
  db().exec(
      "UPDATE coffer_meta SET value = (CASE WHEN substr(value, 1, 2) = '00' THEN 'ff' ELSE '00' END)"
      " || substr(value, 3) WHERE key = 'audit_head'");
  EXPECT_FALSE(log().verify().ok());
}

TEST_F(AuditLogTest, BothTrailsThroughTheCoffer) {
  auto audit = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  auto sidecar = sidecar_path(path_);
  EXPECT_EQ(sidecar.filename(), "trip.coffer.audit");
  auto k0 = AuditSidecar::create(sidecar, coffer_->header().vault_id, audit.public_key, rnd_);
  log().store_sidecar_state(k0, 0);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(log().append_both(event(i), sidecar, audit.public_key), i);
  append_unauthenticated(sidecar, event(4, AuditKind::kUnlockFailed), audit.public_key);
  EXPECT_EQ(log().append_both(event(5, AuditKind::kUnlock), sidecar, audit.public_key), 4u);
  auto state = log().sidecar_state();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->records, 5u);
  EXPECT_FALSE(keystore::equal_constant_time(state->key.reveal_bytes(), k0.reveal_bytes()));
  EXPECT_TRUE(log().verify().ok());
  auto report = read_sidecar(sidecar, audit, state->records);
  EXPECT_TRUE(report.ok()) << joined(report.problems);
  ASSERT_EQ(report.entries.size(), 5u);
  EXPECT_EQ(report.entries[3].event.kind, AuditKind::kUnlockFailed);
  EXPECT_FALSE(report.entries[3].authenticated);
  EXPECT_TRUE(report.entries[3].verified);
  EXPECT_EQ(report.unconfirmed, 0u);
  EXPECT_EQ(count_sidecar_records(sidecar), 5u);
}

TEST_F(AuditLogTest, CrashBetweenSidecarAndCommitIsCaughtUp) {
  auto audit = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  auto sidecar = sidecar_path(path_);
  auto k0 = AuditSidecar::create(sidecar, coffer_->header().vault_id, audit.public_key, rnd_);
  log().store_sidecar_state(k0, 0);
  log().append_both(event(1), sidecar, audit.public_key);
  // The sidecar write happens, then the transaction holding the new key
  // is rolled back (as a crash before COMMIT would).
  db().exec("BEGIN IMMEDIATE");
  log().append_both(event(2), sidecar, audit.public_key);
  db().exec("ROLLBACK");
  EXPECT_EQ(log().sidecar_state()->records, 1u);
  log().append_both(event(3), sidecar, audit.public_key);
  EXPECT_EQ(log().sidecar_state()->records, 3u);
  auto report = read_sidecar(sidecar, audit, 3);
  EXPECT_TRUE(report.ok()) << joined(report.problems);
  EXPECT_EQ(report.entries.size(), 3u);
}

// ------------------------------------------------------------ the sidecar

// Offsets and sizes of the complete records after the header.
std::vector<std::pair<std::size_t, std::size_t>> records_of(const std::vector<std::uint8_t>& b) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t at = kSidecarHeaderSize;
  while (at + 4 <= b.size()) {
    std::size_t len = b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<std::size_t>(b[at + 3]) << 24;
    if (at + 4 + len > b.size()) break;
    out.emplace_back(at, 4 + len);
    at += 4 + len;
  }
  return out;
}

std::vector<std::uint8_t> slice(const std::vector<std::uint8_t>& b, std::pair<std::size_t, std::size_t> r) {
  return {b.begin() + static_cast<std::ptrdiff_t>(r.first),
          b.begin() + static_cast<std::ptrdiff_t>(r.first + r.second)};
}

// A record as the format describes it, built by hand (as a forger would).
std::vector<std::uint8_t> make_record(std::uint64_t index, bool authenticated, const AuditEvent& e,
                                      const keystore::SchoolPublicKey& pub, std::span<const std::uint8_t> mac_prefix,
                                      const keystore::AuditChainKey* key) {
  std::string json = audit_event_json(e, index, authenticated);
  auto sealed =
      keystore::seal_to_school(std::span(reinterpret_cast<const std::uint8_t*>(json.data()), json.size()), pub);
  std::uint32_t len = static_cast<std::uint32_t>(1 + 8 + sealed.size() + (authenticated ? 32 : 0));
  std::vector<std::uint8_t> r;
  r.reserve(13 + sealed.size() + 32);
  for (int i = 0; i < 4; ++i) r.push_back(static_cast<std::uint8_t>(len >> (8 * i)));
  r.push_back(authenticated ? 1 : 0);
  for (int i = 0; i < 8; ++i) r.push_back(static_cast<std::uint8_t>(index >> (8 * i)));
  r.insert(r.end(), sealed.begin(), sealed.end());
  if (authenticated) {
    keystore::Digest32 mac{};
    if (key) {
      std::vector<std::uint8_t> input(mac_prefix.begin(), mac_prefix.end());
      input.insert(input.end(), r.begin(), r.end());
      mac = keystore::audit_entry_mac(*key, input);
    } else {
      mac.fill(0x5a);
    }
    r.insert(r.end(), mac.begin(), mac.end());
  }
  return r;
}

class SidecarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault_id_.fill(0x42);
    key_.emplace(AuditSidecar::create(path_, vault_id_, audit_.public_key, rnd_));
  }
  void append_auth(int n, int first = 0) {
    for (int i = 0; i < n; ++i) append_authenticated(path_, *key_, event(first + i), audit_.public_key);
  }
  SidecarReport read(std::optional<std::uint64_t> expected = std::nullopt) {
    return read_sidecar(path_, audit_, expected);
  }

  test::TempDir dir_;
  std::filesystem::path path_ = dir_ / "trip.coffer.audit";
  keystore::Random& rnd_ = keystore::system_random();
  keystore::SchoolKeyPair audit_ = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  std::array<std::uint8_t, 16> vault_id_{};
  std::optional<keystore::AuditChainKey> key_;
};

TEST_F(SidecarTest, RoundTrip) {
  EXPECT_EQ(std::filesystem::file_size(path_), kSidecarHeaderSize);
  EXPECT_TRUE(read().ok());
  append_auth(3);
  EXPECT_EQ(count_sidecar_records(path_), 3u);
  auto r = read(3);
  EXPECT_TRUE(r.ok()) << joined(r.problems);
  ASSERT_EQ(r.entries.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.entries[i].seq, i);
    EXPECT_TRUE(r.entries[i].authenticated);
    EXPECT_TRUE(r.entries[i].verified);
    // Sealed with the writer's login name, looked up as it was written
    // (issue 16: the trail names people, not only uids).
    AuditEvent want = event(static_cast<int>(i));
    want.user = user_name_of(want.uid);
    EXPECT_EQ(r.entries[i].event, want);
  }
  EXPECT_TRUE(r.notes.empty()) << joined(r.notes);
  // The header layout: magic, version 1, vault id, key fingerprint.
  auto b = read_bytes(path_);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "COFFERAU");
  EXPECT_EQ(b[8], 1);
  EXPECT_TRUE(std::equal(vault_id_.begin(), vault_id_.end(), b.begin() + 16));
  auto fp = audit_.public_key.fingerprint();
  EXPECT_TRUE(std::equal(fp.begin(), fp.end(), b.begin() + 32));
}

TEST_F(SidecarTest, UnreadableWithoutTheSecretKey) {
  append_auth(2);
  append_unauthenticated(path_, event(9, AuditKind::kUnlockFailed), audit_.public_key);
  auto b = read_bytes(path_);
  EXPECT_FALSE(test::contains(b, "Smith"));
  EXPECT_FALSE(test::contains(b, "profile.txt"));
  EXPECT_FALSE(test::contains(b, "unlock"));
  EXPECT_FALSE(test::contains(b, "vault_test"));
}

TEST_F(SidecarTest, WrongKeyIsAClearError) {
  append_auth(1);
  auto other = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, rnd_);
  try {
    read_sidecar(path_, other);
    FAIL() << "read with the wrong key";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kWrongPassphrase);
    EXPECT_NE(std::string(e.what()).find("fingerprint"), std::string::npos) << e.what();
  }
  auto recovery = keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, rnd_);
  EXPECT_THROW(read_sidecar(path_, recovery), Error);
  EXPECT_THROW(AuditSidecar::create(dir_ / "x.audit", vault_id_, recovery.public_key, rnd_), Error);
  // Appending with another public key is refused too (it would be unreadable).
  EXPECT_THROW(append_unauthenticated(path_, event(1), other.public_key), Error);
}

TEST_F(SidecarTest, NotASidecar) {
  write_bytes(dir_ / "junk", std::vector<std::uint8_t>(300, 7));
  try {
    read_sidecar(dir_ / "junk", audit_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDamaged);
    EXPECT_NE(std::string(e.what()).find("not a coffer audit sidecar"), std::string::npos);
  }
  EXPECT_THROW(count_sidecar_records(dir_ / "junk"), Error);
  EXPECT_THROW(AuditSidecar::create(path_, vault_id_, audit_.public_key, rnd_), Error);  // exists
}

TEST_F(SidecarTest, FlippedByteIsDetected) {
  append_auth(3);
  auto orig = read_bytes(path_);
  auto recs = records_of(orig);
  ASSERT_EQ(recs.size(), 3u);
  // Every byte of the middle record, one at a time (prefix, ciphertext, MAC).
  for (std::size_t i = 0; i < recs[1].second; i += 7) {
    auto b = orig;
    b[recs[1].first + i] ^= 0x01;
    write_bytes(path_, b);
    SidecarReport r;
    try {
      r = read(3);
    } catch (const Error& e) {
      ADD_FAILURE() << "threw on byte " << i << ": " << e.what();
      continue;
    }
    EXPECT_FALSE(r.ok()) << "byte " << i;
  }
  // The header too (vault id): the chain starts from its hash.
  auto b = orig;
  b[20] ^= 0x01;
  write_bytes(path_, b);
  EXPECT_FALSE(read(3).ok());
}

TEST_F(SidecarTest, SwappedRecordsAreDetected) {
  append_auth(5);
  auto b = read_bytes(path_);
  auto recs = records_of(b);
  std::vector<std::uint8_t> out(b.begin(), b.begin() + kSidecarHeaderSize);
  for (int i : {0, 2, 1, 3, 4}) {
    auto r = slice(b, recs[i]);
    out.insert(out.end(), r.begin(), r.end());
  }
  write_bytes(path_, out);
  auto r = read(5);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(any_contains(r.problems, "record 1")) << joined(r.problems);
  EXPECT_TRUE(any_contains(r.problems, "record 2")) << joined(r.problems);
  EXPECT_TRUE(r.entries[0].verified);
  EXPECT_FALSE(r.entries[1].verified);
  EXPECT_FALSE(r.entries[3].verified);  // it chains from the record it followed
  EXPECT_TRUE(r.entries[4].verified);   // and the chain resumes after that
}

TEST_F(SidecarTest, DroppedMiddleRecordIsDetected) {
  append_auth(5);
  auto b = read_bytes(path_);
  auto recs = records_of(b);
  std::vector<std::uint8_t> out(b.begin(), b.begin() + kSidecarHeaderSize);
  for (int i : {0, 1, 3, 4}) {
    auto r = slice(b, recs[i]);
    out.insert(out.end(), r.begin(), r.end());
  }
  write_bytes(path_, out);
  auto r = read();  // even without the expected count
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(any_contains(r.problems, "removed")) << joined(r.problems);
  EXPECT_TRUE(r.entries[3].verified);  // resynchronised past the gap
}

TEST_F(SidecarTest, TruncationIsDetectedWithTheExpectedCount) {
  append_auth(3);
  auto b = read_bytes(path_);
  auto recs = records_of(b);
  b.resize(recs[2].first);
  write_bytes(path_, b);
  auto r = read(3);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(any_contains(r.problems, "truncated")) << joined(r.problems);
  // Without the count a whole-record truncation looks like an older file.
  EXPECT_TRUE(read().ok());
  EXPECT_EQ(count_sidecar_records(path_), 2u);
}

TEST_F(SidecarTest, ForgedRecordWithThePublicKeyIsDetected) {
  append_auth(2);
  auto b = read_bytes(path_);
  auto forged = make_record(2, true, event(77, AuditKind::kExport), audit_.public_key, {}, nullptr);
  b.insert(b.end(), forged.begin(), forged.end());
  write_bytes(path_, b);
  auto r = read();
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_FALSE(r.entries[2].verified);
  EXPECT_TRUE(any_contains(r.problems, "MAC does not verify")) << joined(r.problems);
}

TEST_F(SidecarTest, UnauthenticatedRecordsAreCoveredByTheNextAuthenticatedOne) {
  append_auth(1);
  append_unauthenticated(path_, event(1, AuditKind::kUnlockFailed), audit_.public_key);
  append_unauthenticated(path_, event(2, AuditKind::kLockout), audit_.public_key);
  auto pending = read();
  EXPECT_TRUE(pending.ok());
  EXPECT_EQ(pending.unconfirmed, 2u);
  EXPECT_TRUE(any_contains(pending.notes, "not yet confirmed by an unlock")) << joined(pending.notes);
  EXPECT_FALSE(pending.entries[1].verified);
  append_authenticated(path_, *key_, event(3, AuditKind::kUnlock), audit_.public_key);
  auto r = read(4);
  EXPECT_TRUE(r.ok()) << joined(r.problems);
  EXPECT_EQ(r.unconfirmed, 0u);
  ASSERT_EQ(r.entries.size(), 4u);
  for (const auto& e : r.entries) EXPECT_TRUE(e.verified);
  EXPECT_FALSE(r.entries[1].authenticated);
  EXPECT_EQ(r.entries[2].event.kind, AuditKind::kLockout);
  // Once covered, an unauthenticated record cannot be edited or dropped.
  auto b = read_bytes(path_);
  auto recs = records_of(b);
  auto edited = b;
  edited[recs[1].first + 40] ^= 0x80;
  write_bytes(path_, edited);
  EXPECT_FALSE(read(4).ok());
  std::vector<std::uint8_t> dropped(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(recs[1].first));
  auto rest = slice(b, recs[2]);
  dropped.insert(dropped.end(), rest.begin(), rest.end());
  rest = slice(b, recs[3]);
  dropped.insert(dropped.end(), rest.begin(), rest.end());
  write_bytes(path_, dropped);
  EXPECT_FALSE(read().ok());
}

TEST_F(SidecarTest, TheCurrentKeyCannotRewriteThePast) {
  append_auth(3);
  // A thief with the device and the passphrase finds K3 inside the coffer.
  const keystore::AuditChainKey& stolen = *key_;
  auto b = read_bytes(path_);
  auto recs = records_of(b);
  auto header = std::vector<std::uint8_t>(b.begin(), b.begin() + kSidecarHeaderSize);
  auto header_hash = keystore::checksum32(header);
  AuditEvent innocent = event(0);
  innocent.object = "nothing to see";
  // Rewrite record 0 with a MAC under the stolen key, and under every key
  // the thief can derive from it.
  auto key = keystore::copy_chain_key(stolen);
  for (int step = 0; step < 20; ++step) {
    auto rec0 = make_record(0, true, innocent, audit_.public_key, header_hash, &key);
    std::vector<std::uint8_t> out = header;
    out.insert(out.end(), rec0.begin(), rec0.end());
    for (int i : {1, 2}) {
      auto r = slice(b, recs[i]);
      out.insert(out.end(), r.begin(), r.end());
    }
    write_bytes(path_, out);
    auto r = read(3);
    EXPECT_FALSE(r.ok()) << "step " << step;
    EXPECT_TRUE(any_contains(r.problems, "record 0")) << joined(r.problems);
    keystore::ratchet(key);
  }
  // Appending new events with it is what the key is for, and verifies.
  write_bytes(path_, b);
  append_auth(1, 3);
  EXPECT_TRUE(read(4).ok());
}

TEST_F(SidecarTest, TornFinalRecordIsToleratedAndReported) {
  append_auth(2);
  auto b = read_bytes(path_);
  auto whole = slice(b, records_of(b)[1]);
  // Half of a record, as a crash during write(2) leaves it.
  b.insert(b.end(), whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(whole.size() / 2));
  write_bytes(path_, b);
  auto r = read(2);
  EXPECT_TRUE(r.ok()) << joined(r.problems);
  EXPECT_TRUE(r.torn_tail);
  EXPECT_TRUE(any_contains(r.notes, "torn final record")) << joined(r.notes);
  EXPECT_EQ(count_sidecar_records(path_), 2u);
  append_auth(1, 2);
  auto after = read(3);
  EXPECT_TRUE(after.ok()) << joined(after.problems);
  EXPECT_FALSE(after.torn_tail);
  EXPECT_EQ(after.entries.size(), 3u);
  // Three stray bytes (not even a length) are torn too.
  auto c = read_bytes(path_);
  c.insert(c.end(), {1, 2, 3});
  write_bytes(path_, c);
  EXPECT_TRUE(read(3).torn_tail);
  append_unauthenticated(path_, event(4, AuditKind::kUnlockFailed), audit_.public_key);
  EXPECT_EQ(count_sidecar_records(path_), 4u);
  EXPECT_TRUE(read(4).ok());
}

TEST_F(SidecarTest, CatchUpAfterACrashBetweenTheTwoWrites) {
  append_auth(1);
  std::uint64_t known = 1;                           // what the coffer committed
  auto in_coffer = keystore::copy_chain_key(*key_);  // K1, as committed
  // Two sessions each wrote the sidecar and crashed before their commit.
  append_auth(2, 1);
  append_unauthenticated(path_, event(9, AuditKind::kUnlockFailed), audit_.public_key);
  EXPECT_EQ(catch_up(path_, in_coffer, known), 2u);
  EXPECT_EQ(known, 3u);
  EXPECT_TRUE(keystore::equal_constant_time(in_coffer.reveal_bytes(), key_->reveal_bytes()));
  append_authenticated(path_, in_coffer, event(10, AuditKind::kUnlock), audit_.public_key);
  auto r = read(5);
  EXPECT_TRUE(r.ok()) << joined(r.problems);
  for (const auto& e : r.entries) EXPECT_TRUE(e.verified);
  // Nothing to catch up: a no-op.
  known = 5;
  EXPECT_EQ(catch_up(path_, in_coffer, known), 0u);
  EXPECT_EQ(known, 5u);
}

TEST_F(SidecarTest, WithoutCatchUpAStaleKeyBreaksTheChain) {
  append_auth(1);
  auto stale = keystore::copy_chain_key(*key_);
  append_auth(1, 1);
  append_authenticated(path_, stale, event(2), audit_.public_key);
  EXPECT_FALSE(read().ok());
}

TEST_F(SidecarTest, HostileBytesNeverCrash) {
  append_auth(2);
  append_unauthenticated(path_, event(2, AuditKind::kUnlockFailed), audit_.public_key);
  auto orig = read_bytes(path_);
  std::uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (int trial = 0; trial < 300; ++trial) {
    auto b = orig;
    int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e)
      b[kSidecarHeaderSize + next() % (b.size() - kSidecarHeaderSize)] = static_cast<std::uint8_t>(next());
    if (trial % 5 == 0) b.resize(kSidecarHeaderSize + next() % (b.size() - kSidecarHeaderSize));
    try {
      auto r = read_sidecar_bytes(b, audit_, 3, "fuzz");
      if (b != orig && trial % 5 != 0) {
        EXPECT_FALSE(r.ok() && r.entries.size() == 3 && !r.torn_tail) << trial;
      }
    } catch (const Error&) {
    }
  }
}

// The frozen format-1 sidecar (tests/fixtures/README.md) must always read.
class SeedRandom final : public keystore::Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i);
  }
};

TEST(SidecarFixture, FormatV1Reads) {
  SeedRandom seed;
  auto key = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, seed);
  auto r = read_sidecar(std::filesystem::path(COFFER_FIXTURES_DIR) / "format-v1.coffer.audit", key, 5);
  EXPECT_TRUE(r.ok()) << joined(r.problems);
  ASSERT_EQ(r.entries.size(), 5u);
  EXPECT_EQ(r.unconfirmed, 1u);
  EXPECT_EQ(r.entries[0].event.kind, AuditKind::kCreate);
  EXPECT_EQ(r.entries[1].event.object, "pupils/Example, Pat (P1)/profile.txt (read)");
  EXPECT_EQ(r.entries[1].event.exe, "/usr/bin/coffer");
  EXPECT_EQ(r.entries[1].event.uid, 1000u);
  EXPECT_EQ(r.entries[1].event.pid, 4242);
  EXPECT_EQ(r.entries[2].event.kind, AuditKind::kUnlockFailed);
  EXPECT_FALSE(r.entries[2].authenticated);
  EXPECT_TRUE(r.entries[2].verified);
  EXPECT_EQ(r.entries[3].event.result, "ok");
  EXPECT_FALSE(r.entries[4].verified);
  EXPECT_EQ(count_sidecar_records(std::filesystem::path(COFFER_FIXTURES_DIR) / "format-v1.coffer.audit"), 5u);
}

}  // namespace
}  // namespace coffer::vault
