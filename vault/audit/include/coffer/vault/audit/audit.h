// The audit trail (design: Audit). Events (who, what, when, with what
// result) are kept in two places: inside the coffer as a hash chain keyed
// with subkey 3 (AuditLog), and in a sidecar journal PATH.audit next to the
// coffer, each event sealed to the school's audit key under a forward-secure
// MAC chain (AuditSidecar), readable only by the DPO. docs/FORMAT.md §12.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/keystore/audit_crypto.h"
#include "coffer/keystore/random.h"
#include "coffer/keystore/school_key.h"
#include "coffer/keystore/secret.h"
#include "coffer/vault/container/database.h"

namespace coffer::vault {

// Numbers are part of the format (the audit_log table); never reused.
enum class AuditKind : std::uint16_t {
  kCreate = 1,
  kImport,
  kUnlock,
  kUnlockFailed,
  kLockout,
  kLock,
  kOpenView,
  kOpenFile,
  kCopyBlocked,
  kExport,
  kExpiryPurge,
  kClockRefused,
  kHoldSet,
  kHoldReleased,
  kKeyAdded,
  kKeyRemoved,
  kKeyChanged,
  kRecoveryUsed,
  kWipe,
  kSealed,
  kCheckin,
  kPassphraseChanged,
  kAuditDamaged
};
inline constexpr std::uint16_t kLastAuditKind = 23;

// "create", "unlock", "unlock-failed", "open-file", ... ("unknown" outside the enum).
std::string_view audit_kind_name(AuditKind kind);
std::optional<AuditKind> audit_kind_from_name(std::string_view name);
std::optional<AuditKind> audit_kind_from_number(std::int64_t number);

// Kinds a process without the coffer key writes (failed unlock, lock-out,
// wipe): the only ones a sidecar accepts without a MAC of their own. Any
// other kind written without the key is reported as forged.
bool written_without_key_allowed(AuditKind kind);

struct AuditEvent {
  std::int64_t time = 0;  // unix seconds
  std::uint32_t uid = 0;
  std::int32_t pid = 0;
  std::string exe;  // executable path of the actor
  AuditKind kind = AuditKind::kUnlock;
  std::string object;  // e.g. "pupils/Smith, Ann (P1)/profile.txt (read)"
  std::string result;  // "ok", "refused", "wrong passphrase", ...
  std::string detail;  // counts, reasons (never record values)
  // The login name of `uid` on the machine that wrote the event, at the
  // time (a uid resolved later, at the DPO's desk, names the wrong person).
  // Filled in when the event is sealed into the sidecar (user_name_of);
  // empty in the in-coffer chain, which keeps the uid only, and in records
  // written before names were recorded.
  std::string user;
  bool operator==(const AuditEvent&) const = default;
};

// The login name of `uid` from the passwd database (getpwuid_r), cached per
// uid for the life of the process; empty when there is no entry.
std::string user_name_of(std::uint32_t uid);

// Fills uid, pid and exe (readlink /proc/self/exe) of the current process.
AuditEvent make_self_event(AuditKind kind, std::int64_t now, std::string object, std::string result,
                           std::string detail = {});

// One line of JSON (no newline): seq, time, uid, user (only when not
// empty), pid, exe, kind (name), object, result, detail, authenticated.
// Invalid UTF-8 becomes U+FFFD.
std::string audit_event_json(const AuditEvent& event, std::uint64_t seq, bool authenticated);
// The inverse for the fields of an AuditEvent (plus seq); empty if the text
// is not exactly such an object.
struct ParsedAuditJson {
  std::uint64_t seq = 0;
  bool authenticated = false;
  AuditEvent event;
};
std::optional<ParsedAuditJson> parse_audit_event_json(std::string_view text);

// ---------------------------------------------------------------- in the coffer

struct StoredAuditEvent {
  std::uint64_t seq = 0;  // 1, 2, 3, ...
  AuditEvent event;
};

struct AuditVerdict {
  std::uint64_t entries = 0;          // rows in audit_log
  std::vector<std::string> problems;  // empty = the chain verifies
  bool ok() const { return problems.empty(); }
};

// What the coffer keeps to write the sidecar: the current chain key K_i
// (never in clear outside the encrypted database) and the number of sidecar
// records up to and including the last authenticated one it knows of.
struct SidecarWriterState {
  keystore::AuditChainKey key;
  std::uint64_t records = 0;
};

class AuditLog {
 public:
  // key: subkey 3 of the coffer's master key (keystore::derive_audit_key);
  // both are held by reference and must outlive the AuditLog.
  AuditLog(Database& db, const keystore::AuditKey& key) : db_(db), key_(key) {}

  // Appends one entry to the hash chain and moves the head; returns its seq.
  // Joins the caller's transaction if one is open, else commits its own.
  std::uint64_t append(const AuditEvent& event);
  // Entries in seq order; with `since`, only those with time >= since.
  std::vector<StoredAuditEvent> read(std::optional<std::int64_t> since = std::nullopt);
  // Recomputes the chain and compares it with the rows and the head.
  AuditVerdict verify();
  // Re-keying: verifies the chain under `previous` (the old master key's
  // subkey 3), then recomputes every entry's hash and the head under this
  // log's key, in the caller's transaction. Throws kDamaged, changing
  // nothing, if the chain does not verify (a re-key never launders an edited
  // trail). Returns the number of entries.
  std::uint64_t rekey_chain(const keystore::AuditKey& previous);

  // The sidecar writer state; empty until the coffer has a sidecar.
  std::optional<SidecarWriterState> sidecar_state();
  // Overwrites the stored state in place (secure_delete is on).
  void store_sidecar_state(const keystore::AuditChainKey& key, std::uint64_t records);
  // The 128-byte header of the sidecar this coffer writes (coffer_meta
  // key audit_sidecar_header), kept so a restart can link the new trail to
  // it (audit_anchor.h); empty for a coffer that has not recorded it yet.
  std::optional<std::array<std::uint8_t, 128>> sidecar_header();
  void store_sidecar_header(std::span<const std::uint8_t, 128> header);
  // Both trails at once, in crash-safe order: catch up with the sidecar,
  // append an authenticated record (synced), then append to the hash chain
  // and store the ratcheted key in the same transaction (the caller's, or
  // one of its own). A sidecar found holding fewer records than the coffer
  // knows of gets an "audit-damaged" event first, in both trails, so the
  // finding stays on record. Throws kOther if no sidecar state is stored.
  std::uint64_t append_both(const AuditEvent& event, const std::filesystem::path& sidecar,
                            const keystore::SchoolPublicKey& audit_pub);

 private:
  Database& db_;
  const keystore::AuditKey& key_;
};

// ---------------------------------------------------------------- the sidecar

inline constexpr std::size_t kSidecarHeaderSize = 128;
inline constexpr std::uint32_t kSidecarVersion = 1;
// A record's length field (bytes after it) is at most this.
inline constexpr std::uint32_t kMaxSidecarRecord = 256 * 1024;
// Each string field of an event is cut to this many bytes in the sidecar.
inline constexpr std::size_t kMaxSidecarField = 4096;

// PATH + ".audit" (trip.coffer -> trip.coffer.audit).
std::filesystem::path sidecar_path(const std::filesystem::path& coffer_path);

struct SidecarEntry {
  std::uint64_t seq = 0;       // the record's index (0, 1, 2, ...)
  bool authenticated = false;  // carries a MAC
  bool verified = false;       // covered by a MAC that verifies
  AuditEvent event;
};

struct SidecarReport {
  // The header the records were read under (the same bytes: what the
  // trail's genesis is computed from, audit_anchor.h).
  std::array<std::uint8_t, kSidecarHeaderSize> header{};
  std::vector<SidecarEntry> entries;
  std::vector<std::string> problems;  // edits, forgery, reordering, deletion, truncation
  std::vector<std::string> notes;     // torn final record, records not yet confirmed
  std::uint64_t records = 0;          // complete records framed in the file
  std::uint64_t unconfirmed = 0;      // trailing records no MAC covers yet
  bool torn_tail = false;
  bool ok() const { return problems.empty(); }
};

struct AuditSidecar {
  // Creates PATH (O_EXCL, 0600) with its header, synced, and returns K0; the
  // caller keeps K0 inside the coffer (AuditLog::store_sidecar_state(K0, 0)).
  // Refuses a key without the audit role and an existing file.
  static keystore::AuditChainKey create(const std::filesystem::path& path, std::span<const std::uint8_t, 16> vault_id,
                                        const keystore::SchoolPublicKey& audit_pub, keystore::Random& random);
};

// O_APPEND + fdatasync; a torn final record is cut away first. Returns the
// new record's index. append_authenticated ratchets key_in_out in place; the
// caller must have caught up (catch_up) with the coffer's stored state.
std::uint64_t append_authenticated(const std::filesystem::path& path, keystore::AuditChainKey& key_in_out,
                                   const AuditEvent& event, const keystore::SchoolPublicKey& audit_pub);
// For events without the coffer key (failed unlocks, lockout, sweep wipes):
// sealed but without a MAC; the next authenticated record covers it.
std::uint64_t append_unauthenticated(const std::filesystem::path& path, const AuditEvent& event,
                                     const keystore::SchoolPublicKey& audit_pub);

// known_count: records up to and including the last authenticated record
// the coffer knows of. Each later authenticated record that verifies under
// `key` (a crash came between the sidecar write and the coffer's commit) is
// stepped over: key ratchets, known_count moves past it. Returns the number
// of records caught up. Stops at the first one that does not verify.
// records_in_file, when given, receives the number of complete records in
// the file (read in the same pass: a count below known_count is truncation).
std::uint64_t catch_up(const std::filesystem::path& path, keystore::AuditChainKey& key, std::uint64_t& known_count,
                       std::uint64_t* records_in_file = nullptr);

// Decrypts and verifies the whole file from K0. Throws Error(kDamaged) if it
// is not a sidecar (or an unknown version, or its K0 does not open), and
// Error(kWrongPassphrase) if it is sealed to another audit key. Everything
// else is reported. expected_count: records the coffer says were written.
SidecarReport read_sidecar(const std::filesystem::path& path, const keystore::SchoolKeyPair& audit_key,
                           std::optional<std::uint64_t> expected_count = std::nullopt);
// The same on bytes already in memory (the fuzz target); `source` names it.
SidecarReport read_sidecar_bytes(std::span<const std::uint8_t> bytes, const keystore::SchoolKeyPair& audit_key,
                                 std::optional<std::uint64_t> expected_count, std::string_view source);

// Complete records in the file, without any key (a torn tail is not counted).
std::uint64_t count_sidecar_records(const std::filesystem::path& path);

}  // namespace coffer::vault
