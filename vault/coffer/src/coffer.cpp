// Creating, unlocking and managing a coffer; see coffer.h. The rooms do
// the work: container/ (the file, header, key slots), policy/ (retention,
// holds, clock mark), audit/ (where events go); this file orders the steps.
//
// Header I/O goes through the coffer VFS's file (Database::read_raw and
// write_raw), like the pages, so crash and fault tests see every write; the
// exclusive flock is taken on the VFS's own descriptor of the file.
#include "coffer/vault/coffer/coffer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/keystore/subkeys.h"
#include "coffer/keystore/wrap.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/audit/audit_anchor.h"
#include "coffer/vault/audit/audit_drop.h"
#include "coffer/vault/container/file_io.h"
#include "coffer/vault/container/header_binding.h"
#include "coffer/vault/container/layout.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/container/schema.h"
#include "coffer/vault/files/filestore.h"

namespace coffer::vault {
namespace fs = std::filesystem;
using keystore::KdfCost;
using keystore::Passphrase;

namespace {

// Past its grace period a coffer goes, and the caller is told so (kExpired).
[[noreturn]] void wipe_past_grace(const fs::path& path, const RetentionState& r, keystore::Random& random) {
  wipe(path, random, "expired and past the check-in grace period");
  throw Error(ErrorCode::kExpired, path.string() + " expired on " + local_day(r.expires) +
                                       " and its grace period for check-in ended on " + local_day(r.grace_ends) +
                                       ", so it has now been wiped");
}

std::string failures_note(std::uint32_t failures_before) {
  if (failures_before == 0) return "";
  return "; " + std::to_string(failures_before) + " failed attempt(s) before it";
}

// Owner and purpose are shown in headers and listings: bounded, printable.
void validate_create(const fs::path& path, const CreateParams& params, std::int64_t now) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0)
    throw Error(ErrorCode::kPolicy, path.string() + " already exists; choose another name");
  if (params.audit_key && ::lstat(sidecar_path(path).c_str(), &st) == 0)
    throw Error(ErrorCode::kPolicy, sidecar_path(path).string() +
                                        " exists: the audit trail of an earlier coffer of this name. "
                                        "Give it to the school's DPO (or move it away), then try again");
  if (params.profile.empty() || params.profile.size() > kMaxProfileLength)
    throw Error(ErrorCode::kUsage, "the purpose must be 1 to 31 bytes");
  if (params.owner.empty() || params.owner.size() > kMaxOwnerLength)
    throw Error(ErrorCode::kUsage, "the owner must be 1 to 127 bytes");
  for (const std::string* s : {&params.profile, &params.owner})
    for (char ch : *s)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
        throw Error(ErrorCode::kUsage, "owner and purpose may not contain control characters");
  if (params.expires <= now) throw Error(ErrorCode::kPolicy, "the expiry date is in the past; give a future date");
  if (params.recovery_key && params.recovery_key->role != keystore::SchoolKeyRole::kRecovery)
    throw Error(ErrorCode::kPolicy, "the recovery key given is an audit key", Remedy::kRecoveryKeyIsAudit);
  if (params.audit_key && params.audit_key->role != keystore::SchoolKeyRole::kAudit)
    throw Error(ErrorCode::kPolicy, "the audit key given is a recovery key", Remedy::kAuditKeyIsRecovery);
}

// The rows a new coffer starts with: the header hints, and the profile it
// carries inside (imports are checked against it).
MetaRows initial_meta(const Header& h, const CreateParams& params) {
  std::string fields;
  for (auto& f : params.profile_fields) fields += (fields.empty() ? "" : ",") + f;
  MetaRows rows = hint_rows(h);
  rows.emplace_back("profile_fields", fields);
  rows.emplace_back("protection", params.protection);
  rows.emplace_back("created_by", params.created_by);
  if (params.must_change_passphrase) rows.emplace_back("must_change_passphrase", "1");
  // Re-keying re-seals a new master key to it (rekey.cpp).
  if (params.recovery_key) rows.emplace_back("recovery_public_key", keystore::to_base64(params.recovery_key->bytes));
  if (params.approved_destinations) {
    std::string dests;
    for (auto& d : *params.approved_destinations) dests += d.string() + "\n";
    rows.emplace_back("approved_destinations", dests);
  }
  return rows;
}

}  // namespace

Coffer::~Coffer() = default;

Coffer Coffer::open_locked(const fs::path& path) {
  require_regular_file(path);
  Coffer c;
  c.path_ = path;
  c.db_.emplace(Database::open_coffer_file(path));
  io::lock_exclusive(c.db_->file_descriptor(), path);
  std::array<std::uint8_t, 2 * kHeaderCopySize> area{};
  c.db_->read_raw(area, 0);
  SelectedHeader sel =
      select_header(std::span(area).first(kHeaderCopySize), std::span(area).subspan(kHeaderCopySize), path.string());
  c.header_ = std::move(sel.header);
  c.warnings_ = std::move(sel.warnings);
  c.needs_repair_ = sel.needs_repair;
  c.other_header_ = std::move(sel.other);
  c.chosen_is_b_ = sel.chosen_is_b;
  return c;
}

void Coffer::remove_unfinished_rekeys() {
  for (const auto& name : vault::remove_unfinished_rekeys(path_, *random_))
    warnings_.push_back("removed " + name + ", left by a re-key that was interrupted (the coffer is as it was before)");
}

void Coffer::write_header() {
  // Torn-write safety: copy A is written and synced before copy B, both with
  // the new generation. A crash between them leaves one valid copy. A header
  // with new MAC-covered bytes is first committed as pending in the
  // database, so whichever of the two a crash leaves is accepted.
  std::optional<keystore::Digest32> changed;
  if (binding_ready_) {
    HeaderBinding binding(*db_);
    keystore::Digest32 digest = header_digest(header_);
    auto current = binding.current();
    if (!current || !keystore::equal_constant_time(*current, digest)) {
      binding.begin(digest);
      changed = digest;
    }
  }
  write_header_copies(*db_, header_);
  if (changed) HeaderBinding(*db_).commit(*changed);
  needs_repair_ = false;
  other_header_.reset();
}

void Coffer::write_failure_count() {
  if (!other_header_) {
    write_header();
    return;
  }
  other_header_->failed_attempts = header_.failed_attempts;
  write_header_copy(*db_, header_, chosen_is_b_ ? 1 : 0);
  write_header_copy(*db_, *other_header_, chosen_is_b_ ? 0 : 1);
}

void Coffer::use_other_copy() {
  Header chosen = std::move(header_);
  header_ = std::move(*other_header_);
  header_.failed_attempts = chosen.failed_attempts;
  other_header_ = std::move(chosen);
  chosen_is_b_ = !chosen_is_b_;
  needs_repair_ = true;
}

void Coffer::require_master_key() const {
  if (!master_ || !mac_key_) throw std::logic_error("coffer used before unlock");
}

const Clock& Coffer::clock() const { return clock_ ? *clock_ : system_clock(); }

void Coffer::wipe_if_past_grace(Coffer& c, const fs::path& path, const UnlockPolicy& policy, const Clock& clock,
                                keystore::Random& random) {
  RetentionState r = retention_state(c.header_, clock.now(), policy.grace_days);
  if (!r.past_grace) return;
  c = Coffer();  // drops our lock: wipe takes its own
  wipe_past_grace(path, r, random);
}

namespace {

// Events written without the key (the thief's guesses are the entries a DPO
// most needs after a loss) reach the school's drop directory as they
// happen, not only at the next open or lock: a copy in a child process
// with a deadline (kKeylessDropLimit, audit_drop.h), so a share that never
// answers cannot stall the passphrase prompt.
void keyless_to_drop(const fs::path& path, const Header& header, const UnlockPolicy& policy) noexcept {
  if (!policy.audit_drop_dir || !header.audit) return;
  (void)copy_to_drop_within(sidecar_path(path), *policy.audit_drop_dir, path, header.vault_id, kKeylessDropLimit);
}

}  // namespace

void Coffer::refuse_locked_out(Coffer& c, const fs::path& path, const UnlockPolicy& policy, const Clock& clock,
                               keystore::Random& random) {
  const std::uint32_t failures = c.header_.failed_attempts;
  if (policy.max_failures == 0 || failures < policy.max_failures) return;
  wipe_if_past_grace(c, path, policy, clock, random);
  audit_without_key(path, c.header_,
                    make_self_event(AuditKind::kLockout, clock.now(), "", "refused",
                                    "attempt while locked out after " + std::to_string(failures) + " failures"));
  keyless_to_drop(path, c.header_, policy);
  throw Error(ErrorCode::kLockedOut,
              path.string() + " is locked out after " + std::to_string(failures) + " wrong passphrases",
              Remedy::kRecoverLockedOut);
}

void Coffer::count_failure(Coffer& c, const fs::path& path, const SlotSearch& search, const UnlockPolicy& policy,
                           const Clock& clock, keystore::Random& random) {
  // A slot that is damaged or altered (bad checksum, or a KDF cost beyond
  // the caps) was never derived, so it says nothing about the passphrase:
  // only a passphrase tried on an intact slot counts as a failure.
  if (!search.any_intact && search.refused.empty())
    throw Error(ErrorCode::kPolicy, path.string() + " has no passphrase", Remedy::kRecoverNoPassphrase);
  if (!search.any_intact)
    throw Error(ErrorCode::kDamaged, path.string() + ": no usable key slot" + search.refused,
                Remedy::kRecoverNoUsableSlot);
  // Past its grace period a coffer goes whatever the passphrase: a right one
  // only lets the wipe enter the authenticated trail first.
  wipe_if_past_grace(c, path, policy, clock, random);
  // Count the failure; only this counter (and the copy bookkeeping) changes.
  c.header_.failed_attempts += 1;
  c.write_failure_count();
  const std::uint32_t now_failed = c.header_.failed_attempts;
  audit_without_key(
      path, c.header_,
      make_self_event(AuditKind::kUnlockFailed, clock.now(), "", "wrong passphrase",
                      "failed attempts: " + std::to_string(now_failed) + " of " + std::to_string(policy.max_failures)));
  if (policy.max_failures > 0 && now_failed >= policy.max_failures) {
    audit_without_key(
        path, c.header_,
        make_self_event(AuditKind::kLockout, clock.now(), "", policy.wipe_at_limit ? "wiped" : "locked out",
                        std::to_string(now_failed) + " wrong passphrases"));
    if (!policy.wipe_at_limit) keyless_to_drop(path, c.header_, policy);
    if (policy.wipe_at_limit) {
      const Header header = c.header_;
      c = Coffer();  // drops our lock: wipe takes its own
      wipe(path, random, "too many wrong passphrases (the school's policy wipes at the limit)");
      keyless_to_drop(path, header, policy);  // the sidecar stays, with the wipe in it
      throw Error(ErrorCode::kLockedOut, "wrong passphrase; " + path.string() + " had " + std::to_string(now_failed) +
                                             " wrong passphrases and was wiped, as the school's policy says");
    }
    throw Error(ErrorCode::kLockedOut,
                "wrong passphrase; " + path.string() + " is now locked out after " + std::to_string(now_failed) +
                    " wrong passphrases",
                Remedy::kRecoverLockedOut);
  }
  keyless_to_drop(path, c.header_, policy);
  std::string msg = "wrong passphrase for " + path.string() + " (failed attempts: " + std::to_string(now_failed) +
                    " of " + std::to_string(policy.max_failures) + ")";
  msg += search.refused;
  throw Error(ErrorCode::kWrongPassphrase, msg);
}

Coffer Coffer::unlock(const fs::path& path, const Passphrase& passphrase, keystore::Random& random,
                      const UnlockPolicy& policy) {
  Coffer c = open_locked(path);
  c.random_ = &random;
  c.remove_unfinished_rekeys();
  const Clock& clock = policy.clock ? *policy.clock : system_clock();
  refuse_locked_out(c, path, policy, clock, random);
  const std::uint32_t failures = c.header_.failed_attempts;
  if (auto wait = backoff_delay(failures, policy); wait.count() > 0 && policy.wait) policy.wait(wait, failures);
  SlotSearch found = KeySlots(c.header_).open(passphrase);
  // The copies hold different headers: the passphrase may be one of the
  // other's (the chosen one is only the higher generation, which anyone
  // can write). bind_header judges the one that opened.
  if (!found.master && c.other_header_) {
    SlotSearch other = KeySlots(*c.other_header_).open(passphrase);
    if (other.master) {
      c.use_other_copy();
      found = std::move(other);
    }
  }
  if (!found.master) count_failure(c, path, found, policy, clock, random);
  c.unlocked_slot_ = found.slot;
  c.clock_ = &clock;
  c.finish_unlock(*found.master, [&passphrase, &c](Header& other) {
    SlotSearch in_other = KeySlots(other).open(passphrase);
    if (in_other.master) c.unlocked_slot_ = in_other.slot;  // the slot `passwd` replaces
    return std::move(in_other.master);
  });
  c.apply_retention(policy, false);
  AuditEvent e = make_self_event(AuditKind::kUnlock, clock.now(), "", "ok",
                                 "passphrase slot " + std::to_string(found.slot) + failures_note(c.failures_before_));
  if (policy.raise_clock_mark) c.audit(e);
  else c.pending_audit_ = e;
  return c;
}

Coffer Coffer::unlock_with_recovery(const fs::path& path, const keystore::SchoolKeyPair& key, keystore::Random& random,
                                    const UnlockPolicy& policy) {
  Coffer c = open_locked(path);
  c.random_ = &random;
  c.remove_unfinished_rekeys();
  if (!c.header_.recovery) throw Error(ErrorCode::kPolicy, path.string() + " was created without a recovery key");
  if (key.public_key.role != keystore::SchoolKeyRole::kRecovery)
    throw Error(ErrorCode::kPolicy, "that is an audit key, not a recovery key");
  auto master = keystore::unseal_master_key(c.header_.recovery->sealed, key);
  if (!master)
    throw Error(ErrorCode::kWrongPassphrase, path.string() + " is not sealed to this school key (fingerprint " +
                                                 keystore::to_hex(key.public_key.fingerprint()) + ")");
  c.master_from_recovery_ = true;
  const Clock& clock = policy.clock ? *policy.clock : system_clock();
  c.clock_ = &clock;
  c.finish_unlock(*master, [&key](Header& other) -> std::optional<keystore::MasterKey> {
    if (!other.recovery) return std::nullopt;
    return keystore::unseal_master_key(other.recovery->sealed, key);
  });
  c.apply_retention(policy, true);
  c.audit(make_self_event(
      AuditKind::kRecoveryUsed, clock.now(), "", "ok",
      "school recovery key " + keystore::to_hex(key.public_key.fingerprint()) + failures_note(c.failures_before_)));
  return c;
}

void Coffer::apply_retention(const UnlockPolicy& policy, bool by_recovery) {
  const std::int64_t now = clock().now();  // the policy's clock: unlock set clock_ from it
  const std::int64_t mark = clock_high_water();
  max_hold_seconds_ = std::int64_t{policy.max_hold_days} * 86400;
  if (clock_set_back(now, mark, policy)) {
    if (!by_recovery) {
      audit(AuditKind::kClockRefused, "", "refused",
            "clock " + local_day_time(now) + ", high-water mark " + local_day_time(mark));
      throw Error(ErrorCode::kPolicy, "this computer's clock says " + local_day_time(now) + ", but " + path_.string() +
                                          " has already been used at " + local_day_time(mark) +
                                          ": the clock has been set back. Set the date and time right and try again "
                                          "(a coffer's expiry is never extended)");
    }
    notices_.push_back("the clock (" + local_day_time(now) + ") is behind the coffer's high-water mark (" +
                       local_day_time(mark) + ")");
  }
  // A clock set back within the tolerance never buys time: judge by the mark.
  lapse_hold(std::max(now, mark));
  RetentionState r = retention(std::max(now, mark), policy.grace_days);
  if (r.past_grace) {
    audit(AuditKind::kWipe, "", "ok",
          "expired " + local_day(r.expires) + "; check-in grace period ended " + local_day(r.grace_ends));
    db_->close();
    db_.reset();
    wipe_past_grace(path_, r, *random_);
  }
  if (r.sealed && !by_recovery) {
    audit(AuditKind::kSealed, "", "refused", "expired " + local_day(r.expires));
    throw Error(ErrorCode::kExpired, path_.string() + " expired on " + local_day(r.expires) +
                                         " and is sealed: it no longer opens. Until " + local_day(r.grace_ends) +
                                         " IT can still check it in with the school's recovery key and give you back "
                                         "your own files; after that it is wiped");
  }
  if (policy.raise_clock_mark) advance_clock(now);
  if (auto notice = retention_notice(r, policy, r.on_hold ? hold_reason() : std::nullopt,
                                     r.on_hold ? hold_until() : std::nullopt))
    notices_.push_back(std::move(*notice));
}

RetentionState Coffer::retention(std::int64_t now, int grace_days) { return retention_state(header_, now, grace_days); }

std::int64_t Coffer::clock_high_water() { return RetentionRecord(*db_).clock_high_water(header_); }

void Coffer::advance_clock(std::int64_t now) { RetentionRecord(*db_).advance_clock(now); }

void Coffer::reset_clock_high_water(std::int64_t now) {
  if (!opened_with_recovery())
    throw Error(ErrorCode::kPolicy, "only the school's recovery key can reset the clock mark");
  RetentionRecord(*db_).reset_clock(now);
}

std::optional<std::string> Coffer::hold_reason() { return RetentionRecord(*db_).hold_reason(); }

std::optional<std::int64_t> Coffer::hold_until() {
  auto h = RetentionRecord(*db_).hold();
  if (!h) return std::nullopt;
  // A hold recorded before holds were bounded: the policy's bound from when it was set.
  if (h->legacy) return h->set_at + max_hold_seconds_;
  return h->until;
}

void Coffer::write_hold_flag(bool held) {
  header_.on_hold = held;
  header_.mac = compute_header_mac(header_, *mac_key_);
  write_header();
}

void Coffer::lapse_hold(std::int64_t now) {
  if (!header_.on_hold) return;  // finish_unlock made the flag agree with the database
  auto h = RetentionRecord(*db_).hold();
  auto until = hold_until();
  if (!h || !until || now <= *until) return;
  RetentionRecord(*db_).clear_hold();
  write_hold_flag(false);
  audit(AuditKind::kHoldReleased, "", "ok",
        "lapsed: held from " + local_day_time(h->set_at) + " until " + local_day_time(*until) + " (was: " + h->reason +
            "); expiry proceeds");
  notices_.push_back("the hold on this coffer ended on " + local_day_time(*until) +
                     " (only the school's recovery key extends a hold): its expiry proceeds");
}

std::optional<std::int64_t> Coffer::set_hold(const std::string& reason, std::int64_t now, HoldTerm term) {
  if (!mac_key_) throw std::logic_error("coffer used before unlock");
  if (reason.empty()) throw Error(ErrorCode::kUsage, "a hold needs a reason", Remedy::kHoldNeedsReason);
  if (!opened_with_recovery()) {
    // The teacher's hold keeps evidence until the school decides; it must
    // not become a way to keep the data for ever.
    if (term.kind != HoldTerm::Kind::kPolicyBound)
      throw Error(ErrorCode::kPolicy,
                  "only the school's recovery key sets a hold's end or makes it open-ended: ask IT");
    if (hold_reason()) {
      auto current = hold_until();
      throw Error(ErrorCode::kPolicy,
                  path_.string() + " is already on hold " +
                      (current ? "until " + local_day_time(*current) : std::string("(open-ended)")) +
                      ": only the school's recovery key extends a hold; ask IT");
    }
  }
  std::optional<std::int64_t> until;
  switch (term.kind) {
    case HoldTerm::Kind::kPolicyBound:
      until = now + max_hold_seconds_;
      break;
    case HoldTerm::Kind::kUntil:
      if (term.until <= now) throw Error(ErrorCode::kUsage, "a hold's end must be in the future");
      until = term.until;
      break;
    case HoldTerm::Kind::kOpenEnded:
      break;
  }
  // The database is authoritative: written first, so a crash before the
  // header is rewritten is repaired from it at the next unlock.
  RetentionRecord(*db_).record_hold(reason, now, until);
  write_hold_flag(true);
  audit(AuditKind::kHoldSet, "", "ok",
        reason + (until ? " (until " + local_day_time(*until) + ")" : std::string(" (open-ended)")) +
            (opened_with_recovery() ? " [school recovery key]" : ""));
  return until;
}

void Coffer::release_hold() {
  if (!mac_key_) throw std::logic_error("coffer used before unlock");
  if (!opened_with_recovery())
    throw Error(ErrorCode::kPolicy, "only the school's recovery key can lift a hold", Remedy::kReleaseHoldWithKey);
  if (!hold_reason()) throw Error(ErrorCode::kUsage, path_.string() + " is not on hold");
  std::string reason = hold_reason().value_or("");
  RetentionRecord(*db_).clear_hold();
  write_hold_flag(false);
  audit(AuditKind::kHoldReleased, "", "ok", "was: " + reason);
}

void Coffer::bind_header(const OpensOther& opens_other) {
  HeaderBinding binding(*db_);
  keystore::Digest32 digest = header_digest(header_);
  if (!binding.current()) {
    // Migrated from schema 5: the header this unlock opened is the one.
    binding.establish(digest);
    binding_ready_ = true;
    return;
  }
  // Selection's warning ("an interrupted update") is replaced by what the
  // database says when it calls one of the copies tampering.
  auto report_tampering = [this](const char* bad, const char* good) {
    tampering_.push_back(std::string("header copy ") + bad +
                         " held an earlier header the coffer's database does not accept (written back: tampering); "
                         "it was rewritten from copy " +
                         good);
    warnings_.assign(1, tampering_.back());
  };
  const char* chosen = chosen_is_b_ ? "B" : "A";
  const char* other = chosen_is_b_ ? "A" : "B";
  bool other_accepted = other_header_ && binding.accepts(header_digest(*other_header_));
  if (!binding.accepts(digest)) {
    if (!(other_accepted && verify_header_mac(*other_header_, *mac_key_) && opens_other(*other_header_).has_value()))
      throw Error(ErrorCode::kDamaged,
                  path_.string() + ": header copy " + chosen +
                      " is not the header this coffer's database was last written with: an earlier header has "
                      "been written back (tampering). Passphrases removed by recover, keys remove or passwd stay "
                      "removed; nothing was changed");
    report_tampering(chosen, other);
    use_other_copy();
    digest = header_digest(header_);
    other_accepted = false;
  } else if (other_header_ && !other_accepted) {
    report_tampering(other, chosen);
  }
  binding.settle(digest);
  binding_ready_ = true;
}

void Coffer::finish_unlock(const keystore::MasterKey& found, const OpensOther& opens_other) {
  // After a re-key (rekey.cpp) only the current master key opens the
  // database: a key found in an earlier header written back opens nothing.
  // The credential may open the other copy with the current key (the
  // recovery key opens both); bind_header then calls the chosen one
  // tampering.
  // After a crash mid-commit page 1 on disk may be torn until SQLite rolls
  // the hot journal back (at the first read): with a journal left, the check
  // is left to SQLCipher (a wrong key then reads as damage, exit 4 too).
  const keystore::MasterKey* key = &found;
  std::optional<keystore::MasterKey> other_master;
  std::error_code ec;
  const fs::path journal(path_.string() + "-journal");
  const bool journal_left = fs::exists(journal, ec) && fs::file_size(journal, ec) > 0 && !ec;
  if (!journal_left && !db_->is_keyed_with(keystore::derive_db_key(found))) {
    if (other_header_) other_master = opens_other(*other_header_);
    if (!other_master || !db_->is_keyed_with(keystore::derive_db_key(*other_master)))
      throw Error(ErrorCode::kDamaged,
                  path_.string() + ": header copy " + (chosen_is_b_ ? "B" : "A") +
                      " holds a key that does not open this coffer's database: an earlier header has been written "
                      "back after the coffer was re-keyed (tampering), or the database is damaged. Passphrases "
                      "removed by recover, keys remove or passwd stay removed; nothing was changed");
    use_other_copy();
    key = &*other_master;
  }
  const keystore::MasterKey& master = *key;
  mac_key_.emplace(keystore::derive_header_mac_key(master));
  audit_key_.emplace(keystore::derive_audit_key(master));
  if (!verify_header_mac(header_, *mac_key_))
    throw Error(ErrorCode::kDamaged, path_.string() +
                                         ": the header has been modified since it was written "
                                         "(header MAC mismatch: tampering or damage)");
  master_.emplace();
  std::copy(master.reveal_bytes().begin(), master.reveal_bytes().end(), master_->writable_bytes().begin());
  open_database(*db_, master);
  if (schema_version(*db_) == 0)
    throw Error(ErrorCode::kDamaged, path_.string() + ": the database is empty or unreadable");
  check_payload_size(db_->raw_size(), path_);
  migrate(*db_);
  auto mismatch = meta_mismatches(*db_, header_);
  if (!mismatch.empty()) {
    std::string fields;
    for (auto& f : mismatch) fields += (fields.empty() ? "" : ", ") + f;
    throw Error(ErrorCode::kDamaged, path_.string() +
                                         ": header fields differ from the "
                                         "coffer's own record (" +
                                         fields + "): tampering");
  }
  bind_header(opens_other);
  // The hold flag is written in two steps (database, then header); a crash
  // between them is repaired from the database, which is authoritative.
  const bool held = RetentionRecord(*db_).hold_reason().has_value();
  if (held != header_.on_hold) {
    header_.on_hold = held;
    header_.mac = compute_header_mac(header_, *mac_key_);
    needs_repair_ = true;
    warnings_.push_back("the header's hold flag disagreed with the coffer's record and was repaired");
  }
  failures_before_ = header_.failed_attempts;
  if (header_.failed_attempts != 0 || needs_repair_) {
    header_.failed_attempts = 0;
    write_header();
  }
}

void Coffer::create(const fs::path& path, const CreateParams& params, const Passphrase& passphrase,
                    keystore::Random& random, const Clock& clock) {
  const std::int64_t now = clock.now();
  validate_create(path, params, now);
  Header h;
  random.fill(h.vault_id);
  h.created = now;
  h.expires = params.expires;
  h.profile = params.profile;
  h.owner = params.owner;
  keystore::MasterKey master = keystore::random_master_key(random);
  if (params.recovery_key)
    h.recovery =
        RecoverySlot{params.recovery_key->fingerprint(), keystore::seal_master_key(master, *params.recovery_key)};
  if (params.audit_key) h.audit = AuditKeyRef{params.audit_key->fingerprint(), params.audit_key->bytes};

  // Build under a temporary name in the same directory, then rename without
  // replacing: the coffer appears complete or not at all.
  std::array<std::uint8_t, 6> tag{};
  random.fill(tag);
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  fs::path tmp = dir / ("." + path.filename().string() + ".creating-" + keystore::to_hex(tag));
  UniqueFd created(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!created.valid())
    throw Error(ErrorCode::kIo, "cannot create a coffer in " + dir.string() + ": " + std::strerror(errno));
  created.reset();  // empty and unlocked: closing it cannot drop any lock
  bool made_sidecar = false;
  auto cleanup = [&] {
    std::error_code ec;
    fs::remove(tmp, ec);
    for (auto& s : sibling_files(tmp)) fs::remove(s, ec);
    if (made_sidecar) fs::remove(sidecar_path(path), ec);
  };
  try {
    build_new(tmp, path, std::move(h), master, params, passphrase, random, clock, made_sidecar);
    // The payload and the header are synced (synchronous=FULL, write_header).
  } catch (...) {
    cleanup();
    throw;
  }
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    int e = errno;
    cleanup();
    throw Error(e == EEXIST ? ErrorCode::kPolicy : ErrorCode::kIo,
                "cannot create " + path.string() + ": " + std::strerror(e));
  }
  io::sync_directory_of(path);
}

void Coffer::build_new(const fs::path& tmp, const fs::path& path, Header header, const keystore::MasterKey& master,
                       const CreateParams& params, const Passphrase& passphrase, keystore::Random& random,
                       const Clock& clock, bool& made_sidecar) {
  Coffer c;
  c.path_ = tmp;
  c.random_ = &random;
  c.db_.emplace(Database::open_coffer_file(tmp));
  io::lock_exclusive(c.db_->file_descriptor(), tmp);
  c.header_ = std::move(header);
  c.master_.emplace();
  std::copy(master.reveal_bytes().begin(), master.reveal_bytes().end(), c.master_->writable_bytes().begin());
  c.mac_key_.emplace(keystore::derive_header_mac_key(master));
  c.add_passphrase(passphrase, params.kdf_cost, 0);  // writes the header
  open_database(*c.db_, master);
  // auto_vacuum=FULL keeps no free pages: freed data leaves the file, and
  // every page stays reachable, so integrity_check reads (and SQLCipher
  // authenticates) all of them.
  c.db_->exec("PRAGMA auto_vacuum = FULL");
  migrate(*c.db_);
  c.db_->exec("BEGIN IMMEDIATE");
  put_meta(*c.db_, initial_meta(c.header_, params));
  c.db_->exec("COMMIT");
  HeaderBinding(*c.db_).establish(header_digest(c.header_));
  c.binding_ready_ = true;
  c.clock_ = &clock;
  c.final_path_ = path;
  c.audit_key_.emplace(keystore::derive_audit_key(master));
  if (params.audit_key) {
    // The school's trail starts with the coffer; a leftover trail of an
    // earlier coffer of the same name is never overwritten.
    keystore::AuditChainKey k0 =
        AuditSidecar::create(sidecar_path(path), c.header_.vault_id, *params.audit_key, random);
    made_sidecar = true;
    AuditLog log(*c.db_, *c.audit_key_);
    log.store_sidecar_state(k0, 0);
    log.store_sidecar_header(read_sidecar_genesis(sidecar_path(path)).header);
  }
  c.audit(AuditKind::kCreate, "", "ok",
          "purpose " + params.profile + ", owner " + params.owner + ", expires " + local_day(params.expires) +
              (params.created_by.empty() ? "" : ", by " + params.created_by));
  if (params.populate) params.populate(c);
  c.db_->close();
}

std::size_t Coffer::add_passphrase(const Passphrase& passphrase, KdfCost cost, std::optional<std::size_t> slot) {
  require_master_key();
  std::size_t index = KeySlots(header_).free_slot(slot);
  replace_passphrase(index, passphrase, cost, /*audited=*/false);
  if (audit_key_) audit(AuditKind::kKeyAdded, "key slot " + std::to_string(index), "ok");
  return index;
}

void Coffer::replace_passphrase(std::size_t index, const Passphrase& passphrase, KdfCost cost) {
  replace_passphrase(index, passphrase, cost, /*audited=*/true);
}

void Coffer::replace_passphrase(std::size_t index, const Passphrase& passphrase, KdfCost cost, bool audited) {
  require_master_key();
  KeySlots(header_).write(index, *master_, passphrase, cost, *random_);
  header_.mac = compute_header_mac(header_, *mac_key_);
  write_header();
  if (audited && audit_key_) audit(AuditKind::kPassphraseChanged, "key slot " + std::to_string(index), "ok");
}

void Coffer::remove_slot(std::size_t index) {
  require_master_key();
  KeySlots(header_).remove(index);
  header_.mac = compute_header_mac(header_, *mac_key_);
  write_header();
  if (unlocked_slot_ == index) unlocked_slot_.reset();
  if (audit_key_) audit(AuditKind::kKeyRemoved, "key slot " + std::to_string(index), "ok");
}

void Coffer::reset_passphrases(const Passphrase& passphrase, KdfCost cost) {
  require_master_key();
  KeySlots(header_).clear_all();
  unlocked_slot_ = 0;
  replace_passphrase(0, passphrase, cost, /*audited=*/false);
  if (audit_key_)
    audit(AuditKind::kKeyChanged, "all key slots", "ok", "every passphrase replaced by one new one (slot 0)");
}

std::string Coffer::protection() { return get_meta(*db_, "protection").value_or("standard"); }

std::optional<std::vector<std::filesystem::path>> Coffer::approved_destinations() {
  auto text = get_meta(*db_, "approved_destinations");
  if (!text) return std::nullopt;
  std::vector<std::filesystem::path> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text->find('\n', start)) != std::string::npos; start = nl + 1)
    if (nl > start) out.emplace_back(text->substr(start, nl - start));
  return out;
}

bool Coffer::must_change_passphrase() { return get_meta(*db_, "must_change_passphrase").value_or("0") == "1"; }

void Coffer::set_must_change_passphrase(bool value) {
  if (value) put_meta(*db_, {{"must_change_passphrase", "1"}});
  else db_->exec("DELETE FROM coffer_meta WHERE key = 'must_change_passphrase'");
}

FsckReport Coffer::check() {
  require_master_key();
  FsckReport r = check_container(*db_, header_, *mac_key_, path_);
  for (const auto& t : tampering_) r.problems.push_back(t);
  {
    FileStore files(*db_, keystore::derive_chunk_mac_key(*master_), system_clock());
    std::size_t chunks = static_cast<std::size_t>(db_->query_int64("SELECT count(*) FROM chunks"));
    std::size_t bad = files.verify_all_chunks();
    r.notes.push_back(std::to_string(chunks) + " file chunks checked");
    if (bad != 0) r.problems.push_back(std::to_string(bad) + " file chunks failed their integrity check");
  }
  if (db_->integrity_failed()) r.problems.push_back("a database page failed the container's integrity check");
  return r;
}

keystore::ChunkMacKey Coffer::chunk_mac_key() const {
  require_master_key();
  return keystore::derive_chunk_mac_key(*master_);
}

void Coffer::forget_master_key() { master_.reset(); }

std::optional<keystore::SchoolPublicKey> Coffer::audit_public_key() const { return audit_public_key_of(header_); }

fs::path Coffer::sidecar() const { return sidecar_path(final_path_.empty() ? path_ : final_path_); }

AuditRouter Coffer::audit_router() { return AuditRouter(*db_, *audit_key_, header_, sidecar(), clock(), *random_); }

void Coffer::audit(AuditKind kind, std::string object, std::string result, std::string detail) {
  audit(make_self_event(kind, clock().now(), std::move(object), std::move(result), std::move(detail)));
}

void Coffer::flush_audit() {
  if (!pending_audit_) return;
  AuditEvent e = std::move(*pending_audit_);
  pending_audit_.reset();
  audit(e);
}

void Coffer::audit(const AuditEvent& event) {
  if (!audit_key_) throw std::logic_error("coffer audited before unlock");
  if (pending_audit_) flush_audit();
  audit_router().record(event);
}

std::vector<StoredAuditEvent> Coffer::audit_events(std::optional<std::int64_t> since) {
  if (!audit_key_) throw std::logic_error("coffer audited before unlock");
  return audit_router().events(since);
}

AuditVerdict Coffer::verify_audit() {
  if (!audit_key_) throw std::logic_error("coffer audited before unlock");
  return audit_router().verify();
}

void wipe(const fs::path& path, keystore::Random& random, std::string_view reason) {
  const std::uint64_t size = require_regular_file(path);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) throw Error(ErrorCode::kIo, "cannot open " + path.string() + ": " + std::strerror(errno));
  io::lock_exclusive(fd.get(), path);
  std::array<std::uint8_t, 2 * kHeaderCopySize> area{};
  io::pread_all(fd.get(), area, 0, path);
  // Refuse anything that never was a coffer: a damaged coffer still has its
  // signature in at least one copy.
  bool signed_a = parse_header_copy(std::span(area).first(kHeaderCopySize)).status != CopyStatus::kNotCoffer;
  bool signed_b = parse_header_copy(std::span(area).subspan(kHeaderCopySize)).status != CopyStatus::kNotCoffer;
  if (!signed_a && !signed_b)
    throw Error(ErrorCode::kDamaged, path.string() + " is not a coffer file; nothing was wiped");
  // The school's trail learns of the wipe first (any copy that still parses
  // names the audit key).
  for (std::size_t copy = 0; copy < 2; ++copy) {
    ParsedCopy pc = parse_header_copy(std::span(area).subspan(copy * kHeaderCopySize, kHeaderCopySize));
    if (!pc.header) continue;
    audit_without_key(path, *pc.header,
                      make_self_event(AuditKind::kWipe, system_clock().now(), "", "ok", std::string(reason)));
    break;
  }
  // Crypto-erase: without the key slots and recovery slot the payload is
  // noise. The whole header area (both copies) becomes random bytes, then the
  // first page-run of the payload (which holds SQLCipher's salt) too.
  random.fill(area);
  io::pwrite_all(fd.get(), area, 0, path);
  std::vector<std::uint8_t> start(
      std::min<std::uint64_t>(4 * kCipherPageSize, size > kPayloadOffset ? size - kPayloadOffset : 0));
  random.fill(start);
  io::pwrite_all(fd.get(), start, kPayloadOffset, path);
  if (::fsync(fd.get()) != 0) throw Error(ErrorCode::kIo, "cannot sync " + path.string() + ": " + std::strerror(errno));
  std::error_code ec;
  for (auto& s : sibling_files(path)) fs::remove(s, ec);
  if (!fs::remove(path, ec) || ec)
    throw Error(ErrorCode::kIo, "overwrote the keys of " + path.string() + " but could not remove it: " + ec.message());
  io::sync_directory_of(path);
}

}  // namespace coffer::vault
