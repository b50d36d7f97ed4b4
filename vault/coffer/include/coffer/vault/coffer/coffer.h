// The facade over the vault's rooms: a Coffer is the handle that owns an
// unlocked coffer's database, header and keys. It creates a coffer, unlocks
// it with a passphrase or the school's recovery key (with backoff, lock-out,
// retention and the clock mark: policy/retention.h), changes its key slots
// (container/key_slots.h), checks it, routes its audit events
// (audit/audit_router.h), and crypto-erases it. While a Coffer object lives
// it holds an exclusive flock on the file, so two processes never write the
// same coffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/keystore/kdf.h"
#include "coffer/keystore/random.h"
#include "coffer/keystore/school_key.h"
#include "coffer/keystore/secret.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_router.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/container/coffer_file.h"
#include "coffer/vault/container/database.h"
#include "coffer/vault/container/header.h"
#include "coffer/vault/container/key_slots.h"
#include "coffer/vault/policy/policy.h"
#include "coffer/vault/policy/retention.h"

namespace coffer::vault {

class Coffer;

// A re-key (docs/FORMAT.md §10, "Re-key"): what the new coffer keeps.
struct RekeyPlan {
  // The passphrase slot the new coffer keeps: the passphrase that authorised
  // the command, or the new one (passwd, the one-time change, recover).
  // Null: none (keys remove of the slot that opened it; only the recovery
  // slot stays).
  const keystore::Passphrase* passphrase = nullptr;
  std::size_t slot = 0;
  keystore::KdfCost cost = keystore::KdfCost::kDefault;
  // Slots the command removes anyway (keys remove --slot N; recover: all).
  std::vector<std::size_t> removing;
  // Any other passphrase slot cannot be re-wrapped without its passphrase:
  // the re-key is refused, naming them, unless this is set.
  bool drop_other_passphrases = false;
  // The one-time passphrase was replaced: the new coffer no longer asks.
  bool clear_must_change = false;
  // The command's audit record, written into the new coffer (both trails)
  // before it replaces the old one; a second "key-changed" record says
  // "re-keyed".
  AuditKind kind = AuditKind::kKeyChanged;
  std::string object;
  std::string detail;
};

struct CreateParams {
  std::string profile;
  std::string owner;
  std::int64_t expires = 0;  // unix seconds, the last second of validity
  keystore::KdfCost kdf_cost = keystore::KdfCost::kDefault;
  std::optional<keystore::SchoolPublicKey> recovery_key;
  std::optional<keystore::SchoolPublicKey> audit_key;
  std::vector<std::string> profile_fields;  // what imports may carry
  std::string protection = "standard";      // copy-protection level needed
  std::string created_by;                   // the account that made it (manifest)
  bool must_change_passphrase = false;      // one-time passphrase: change at first open
  // Runs inside the new coffer before it appears under its name (imports
  // records at provisioning): if it throws, no coffer is left behind.
  std::function<void(Coffer&)> populate;
  // Where data may be copied out (unset: the school policy's list).
  std::optional<std::vector<std::filesystem::path>> approved_destinations;
};

// Overwrites the header area (every key slot, the recovery slot and the MAC,
// in both copies) and the start of the payload with random bytes, syncs,
// then removes the file and its siblings. Refuses a file that is not a
// coffer and a coffer open in another process. The audit sidecar stays (it
// is the school's); a "wipe" event with `reason` is appended to it first,
// unauthenticated (no key is needed to wipe).
void wipe(const std::filesystem::path& path, keystore::Random& random, std::string_view reason = "coffer wipe");

// Removes (crypto-erasing first) the temporary files of re-keys of `path`
// that a crash cut short (.NAME.rekeying-*); the coffer itself is then as
// before that re-key. Call only while holding the coffer's lock (a running
// re-key holds it). Returns the names removed.
std::vector<std::string> remove_unfinished_rekeys(const std::filesystem::path& path, keystore::Random& random);

class Coffer {
 public:
  // Writes a new coffer atomically: it appears complete or not at all.
  static void create(const std::filesystem::path& path, const CreateParams& params,
                     const keystore::Passphrase& passphrase, keystore::Random& random, const Clock& clock);
  // Throws kLockedOut (before deriving anything) once the failures reached
  // the policy's maximum, kWrongPassphrase for a wrong one (counted). Once
  // the key is found: a clock set back behind the coffer's high-water mark
  // is refused (kPolicy); an expired coffer is sealed (kExpired) and, past
  // the grace period, wiped (kExpired, saying so); a hold suspends both.
  // Warnings before expiry are in notices().
  static Coffer unlock(const std::filesystem::path& path, const keystore::Passphrase& passphrase,
                       keystore::Random& random, const UnlockPolicy& policy = {});
  // IT's way in: opens a sealed coffer during its grace period (for
  // check-in) and a locked-out one; a clock behind the mark is only a
  // notice. Past the grace period the coffer is wiped (kExpired).
  static Coffer unlock_with_recovery(const std::filesystem::path& path, const keystore::SchoolKeyPair& school_key,
                                     keystore::Random& random, const UnlockPolicy& policy = {});

  Coffer(Coffer&&) noexcept = default;
  Coffer& operator=(Coffer&&) noexcept = default;
  ~Coffer();

  const Header& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  // Warnings about repaired damage found while opening.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Failed unlocks counted before this one succeeded (then reset to 0).
  std::uint32_t failures_before() const { return failures_before_; }
  // What the owner should be told at open (expiry approaching, sealed).
  const std::vector<std::string>& notices() const { return notices_; }
  // Retention at `now`, from the authoritative copies inside the coffer.
  RetentionState retention(std::int64_t now, int grace_days);
  // Holds (after an incident). With the passphrase a hold lasts the
  // policy's max_hold_days from `now` (audited with its end), and one in
  // force cannot be renewed or extended (kPolicy); only the school's
  // recovery key sets another term (an end, or open-ended), extends or
  // lifts one. A hold past its end lapses at the next unlock (audited) and
  // expiry proceeds. Each rewrites the header flag. Returns the hold's last
  // second, nothing when open-ended.
  std::optional<std::int64_t> set_hold(const std::string& reason, std::int64_t now, HoldTerm term = {});
  void release_hold();
  std::optional<std::string> hold_reason();
  // The last second of the hold in force; nothing when not held or open-ended.
  std::optional<std::int64_t> hold_until();
  // The latest time this coffer has seen; raised at unlock, while mounted
  // and at lock; never lowered except by IT with the recovery key.
  std::int64_t clock_high_water();
  void advance_clock(std::int64_t now);
  void reset_clock_high_water(std::int64_t now);
  bool opened_with_recovery() const { return master_from_recovery_; }
  // The slot the passphrase opened; empty when opened with the recovery key.
  std::optional<std::size_t> unlocked_slot() const { return unlocked_slot_; }

  // Key slots. Each rewrites both header copies; the MAC is recomputed.
  std::size_t add_passphrase(const keystore::Passphrase& passphrase, keystore::KdfCost cost,
                             std::optional<std::size_t> slot = std::nullopt);
  void replace_passphrase(std::size_t index, const keystore::Passphrase& passphrase, keystore::KdfCost cost);
  // Refuses to remove the last slot unless a recovery slot exists.
  void remove_slot(std::size_t index);
  // After recovery: every passphrase slot replaced by this one (slot 0).
  void reset_passphrases(const keystore::Passphrase& passphrase, keystore::KdfCost cost);

  // Re-keying: a new random master key; the coffer is rebuilt beside the
  // original (.NAME.rekeying-<hex>, 0600), the database copied under the new
  // key, chunk MACs, the audit chain and the header binding recomputed,
  // verified by reopening, then renamed over NAME (docs/FORMAT.md §10). No
  // earlier header or key slot opens the result. Afterwards this object is
  // the new coffer. Refused (kPolicy, nothing changed) when the recovery
  // slot cannot be re-sealed (rekey_blocker) or other passphrase slots would
  // be lost without plan.drop_other_passphrases.
  void rekey(const RekeyPlan& plan);
  // Why a re-key cannot run (empty: it can): the coffer has a recovery slot
  // but this build does not know the school's recovery public key for it.
  std::string rekey_blocker();
  // The school's recovery public key the recovery slot is sealed to, as
  // stored inside the coffer (meta recovery_public_key), if its fingerprint
  // matches the header's.
  std::optional<keystore::SchoolPublicKey> recovery_public_key();
  // Stores the recovery public key inside the coffer (at create, and when
  // recover or IT names it); refuses (kPolicy) one whose fingerprint is not
  // the recovery slot's.
  void remember_recovery_key(const keystore::SchoolPublicKey& key);
  // The passphrase slots a re-key would drop (in use, not plan.slot, not in
  // plan.removing), as "1, 3"; empty when none.
  std::string passphrases_rekey_drops(const RekeyPlan& plan) const;

  // Provisioned with a one-time passphrase the owner must replace at first
  // open; cleared once they have.
  bool must_change_passphrase();
  void set_must_change_passphrase(bool value);
  // The copy-protection level and approved destinations it was made with
  // (narrowed by the school policy: see effective_copy_rules).
  std::string protection();
  std::optional<std::vector<std::filesystem::path>> approved_destinations();

  FsckReport check();
  // The key for file-chunk MACs (the mount derives it once).
  keystore::ChunkMacKey chunk_mac_key() const;
  // Drops the master key once nothing needs it any more (the mount keeps
  // only the subkeys it uses); key-slot changes are refused afterwards.
  void forget_master_key();
  Database& database() { return *db_; }

  // The audit trail: appends to the in-coffer hash chain and, when the
  // coffer has an audit key, to the sidecar PATH.audit (sealed to it, under
  // the forward-secure MAC chain). The first form records this process.
  void audit(AuditKind kind, std::string object, std::string result, std::string detail = {});
  void audit(const AuditEvent& event);
  // Writes an unlock held back by a check-only command (see UnlockPolicy).
  void flush_audit();
  std::vector<StoredAuditEvent> audit_events(std::optional<std::int64_t> since = std::nullopt);
  // Verifies the in-coffer chain, and that the sidecar still holds every
  // record the coffer knows was written (truncation).
  AuditVerdict verify_audit();
  std::optional<keystore::SchoolPublicKey> audit_public_key() const;
  std::filesystem::path sidecar() const;

 private:
  Coffer() = default;
  static Coffer open_locked(const std::filesystem::path& path);
  // After open_locked: see vault::remove_unfinished_rekeys (warnings_).
  void remove_unfinished_rekeys();
  // opens_other: the master key the credential that found `master` finds
  // in the other header copy, if it opens it (see bind_header; after a
  // re-key the two may differ, and only one opens the database).
  using OpensOther = std::function<std::optional<keystore::MasterKey>(Header&)>;
  void finish_unlock(const keystore::MasterKey& found, const OpensOther& opens_other);
  // Refuses (kDamaged) a header the database does not accept (an earlier
  // one written back) and settles an update a crash interrupted; see
  // container/header_binding.h. Falls back to the other copy only when it
  // is accepted and the same credential opens it.
  void bind_header(const OpensOther& opens_other);
  // The other header copy becomes the one in use (its passphrase opened).
  void use_other_copy();
  // Counts a failed unlock in the header without the key: each copy keeps
  // its own header when the two differ (only an unlock can judge them).
  void write_failure_count();
  // Lock-out, backoff and counting a failure around a passphrase search.
  static void refuse_locked_out(Coffer& c, const std::filesystem::path& path, const UnlockPolicy& policy,
                                const Clock& clock, keystore::Random& random);
  [[noreturn]] static void count_failure(Coffer& c, const std::filesystem::path& path, const SlotSearch& search,
                                         const UnlockPolicy& policy, const Clock& clock, keystore::Random& random);
  // Past its grace period a coffer goes whatever the passphrase (c is
  // released first: wipe takes its own lock).
  static void wipe_if_past_grace(Coffer& c, const std::filesystem::path& path, const UnlockPolicy& policy,
                                 const Clock& clock, keystore::Random& random);
  // Fills the new coffer at `tmp` (create's body, inside its clean-up).
  static void build_new(const std::filesystem::path& tmp, const std::filesystem::path& path, Header header,
                        const keystore::MasterKey& master, const CreateParams& params,
                        const keystore::Passphrase& passphrase, keystore::Random& random, const Clock& clock,
                        bool& made_sidecar);
  AuditRouter audit_router();
  const Clock& clock() const;
  void replace_passphrase(std::size_t index, const keystore::Passphrase& passphrase, keystore::KdfCost cost,
                          bool audited);
  // Clock and expiry rules after the key was found (see unlock).
  void apply_retention(const UnlockPolicy& policy, bool by_recovery);
  // Ends a hold whose term is over at `now` (audited).
  void lapse_hold(std::int64_t now);
  void write_hold_flag(bool held);
  void write_header();
  void require_master_key() const;

  std::filesystem::path path_;
  std::optional<Database> db_;
  Header header_;
  std::vector<std::string> warnings_;
  bool needs_repair_ = false;
  // The copy not chosen, when both are valid and their MAC-covered bytes
  // differ; chosen_is_b_ says where header_ came from.
  std::optional<Header> other_header_;
  bool chosen_is_b_ = false;
  // Set once the database's header binding is known: every header write
  // then commits its digest as pending first.
  bool binding_ready_ = false;
  // Tampering found and repaired at unlock; check() reports it.
  std::vector<std::string> tampering_;
  std::optional<std::size_t> unlocked_slot_;
  std::uint32_t failures_before_ = 0;
  bool master_from_recovery_ = false;
  std::vector<std::string> notices_;
  std::optional<keystore::AuditKey> audit_key_;
  std::optional<AuditEvent> pending_audit_;
  const Clock* clock_ = nullptr;
  std::int64_t max_hold_seconds_ = std::int64_t{14} * 86400;  // the policy's max_hold_days, set at unlock
  std::filesystem::path final_path_;                          // differs from path_ only while creating
  std::optional<keystore::HeaderMacKey> mac_key_;
  std::optional<keystore::MasterKey> master_;
  keystore::Random* random_ = nullptr;
};

}  // namespace coffer::vault
