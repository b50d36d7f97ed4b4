// Creating, unlocking and managing a coffer; see coffer.h.
//
// Header I/O goes through the coffer VFS's file (Database::read_raw and
// write_raw), like the pages, so crash and fault tests see every write; the
// exclusive flock is taken on the VFS's own descriptor of the file.
#include "coffer/vault/coffer.h"

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
#include "coffer/vault/filestore.h"
#include "coffer/vault/meta.h"
#include "coffer/vault/schema.h"
#include "file_io.h"
#include "layout.h"

namespace coffer::vault {
namespace fs = std::filesystem;
using keystore::KdfCost;
using keystore::Passphrase;

namespace {

// Pragmas for every connection. cipher_page_size must precede the first
// read; locking_mode=EXCLUSIVE avoids a -shm file; the rollback journal
// (DELETE, which in exclusive mode persists the journal file until close) is
// chosen over WAL, which writes bulk data twice (docs/FORMAT.md, "Journal").
constexpr const char* kConnectionPragmas =
    "PRAGMA cipher_page_size = 16384;"
    "PRAGMA locking_mode = EXCLUSIVE;"
    "PRAGMA journal_mode = DELETE;"
    "PRAGMA synchronous = FULL;"
    "PRAGMA temp_store = MEMORY;"
    "PRAGMA secure_delete = ON;"
    // In exclusive mode the rollback journal persists between transactions
    // holding before-images (encrypted) of changed pages, purged records
    // included: truncate it after every transaction.
    "PRAGMA journal_size_limit = 0;"
    "PRAGMA foreign_keys = ON;";

std::string id_hex(const VaultId& id) { return keystore::to_hex(id); }

// The header hints as coffer_meta rows: the authoritative copies.
MetaRows hint_rows(const Header& h) {
  return {{"vault_id", id_hex(h.vault_id)},
          {"profile", h.profile},
          {"owner", h.owner},
          {"created", std::to_string(h.created)},
          {"expires", std::to_string(h.expires)}};
}

// Lists the header hints that differ from the authoritative database copy.
std::vector<std::string> meta_mismatches(Database& db, const Header& h) {
  std::vector<std::string> out;
  auto get = db.prepare("SELECT value FROM coffer_meta WHERE key = ?");
  for (const auto& [k, v] : hint_rows(h)) {
    get.bind(1, k);
    if (!get.step() || get.column_text(0) != v) out.push_back(k);
    get.reset();
  }
  return out;
}

void open_database(Database& db, const keystore::MasterKey& master) {
  db.key(keystore::derive_db_key(master));
  db.exec(kConnectionPragmas);
}

// True if every whole page in [from, to) ends in the zero padding the VFS
// shim writes (vfs_shim.cpp): pages SQLite wrote, not bytes added later.
bool tail_pages_were_written_by_sqlite(Database& db, std::uint64_t from, std::uint64_t to) {
  std::array<std::uint8_t, kCipherUnauthenticatedTail> padding{};
  for (std::uint64_t page = from; page + kCipherPageSize <= to; page += kCipherPageSize) {
    db.read_raw(padding, page + kCipherPageSize - padding.size());
    for (auto b : padding)
      if (b != 0) return false;
  }
  return true;
}

void check_payload_size(std::uint64_t size, const fs::path& path) {
  if (size < kPayloadOffset + kCipherPageSize || (size - kPayloadOffset) % kCipherPageSize != 0)
    throw Error(ErrorCode::kDamaged, path.string() + " is truncated or has bytes appended (size " +
                                         std::to_string(size) + " is not the header plus whole pages)");
}

constexpr std::int64_t kDay = 86400;

// Past its grace period a coffer goes, and the caller is told so (kExpired).
[[noreturn]] void wipe_past_grace(const fs::path& path, const RetentionState& r, keystore::Random& random) {
  wipe(path, random, "expired and past the check-in grace period");
  throw Error(ErrorCode::kExpired, path.string() + " expired on " + local_day(r.expires) +
                                       " and its grace period for check-in ended on " + local_day(r.grace_ends) +
                                       ", so it has now been wiped");
}

std::string slot_list_problem(const Header& h) {
  std::string damaged;
  for (std::size_t i = 0; i < kSlotCount; ++i)
    if (h.slots[i].damaged) damaged += (damaged.empty() ? "" : ", ") + std::to_string(i);
  return damaged;
}

}  // namespace

std::vector<fs::path> sibling_files(const fs::path& path) {
  return {fs::path(path.string() + "-journal"), fs::path(path.string() + "-wal"), fs::path(path.string() + "-shm")};
}

// A coffer is a regular file; symlinks are not followed (a link could point a
// wipe at something else). Returns its size.
static std::uint64_t require_regular_file(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    throw Error(ErrorCode::kIo, "cannot open " + path.string() + ": " + std::strerror(errno));
  if (S_ISLNK(st.st_mode))
    throw Error(ErrorCode::kDamaged, path.string() +
                                         " is a symbolic link, not a coffer file; "
                                         "give the file itself");
  if (!S_ISREG(st.st_mode))
    throw Error(ErrorCode::kDamaged, path.string() + " is not a coffer file (not a regular file)");
  return static_cast<std::uint64_t>(st.st_size);
}

SelectedHeader read_header(const fs::path& path) {
  require_regular_file(path);
  io::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) throw Error(ErrorCode::kIo, "cannot open " + path.string() + ": " + std::strerror(errno));
  std::array<std::uint8_t, 2 * kHeaderCopySize> area{};
  io::pread_all(fd.get(), area, 0, path);
  SelectedHeader sel =
      select_header(std::span(area).first(kHeaderCopySize), std::span(area).subspan(kHeaderCopySize), path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < kPayloadOffset + kCipherPageSize)
    throw Error(ErrorCode::kDamaged, path.string() + " is truncated (" + std::to_string(st.st_size) +
                                         " bytes): the database after the header is missing");
  return sel;
}

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
  return c;
}

void Coffer::write_header() {
  // Torn-write safety: copy A is written and synced before copy B, both with
  // the new generation. A crash between them leaves one valid copy.
  header_.generation += 1;
  HeaderCopy bytes = serialize_header(header_);
  db_->write_raw(bytes, 0);
  db_->sync_raw();
  db_->write_raw(bytes, kHeaderCopySize);
  db_->sync_raw();
  needs_repair_ = false;
}

void Coffer::require_master_key() const {
  if (!master_ || !mac_key_) throw std::logic_error("coffer used before unlock");
}

RetentionState retention_state(const Header& h, std::int64_t now, int grace_days) {
  RetentionState r;
  r.expires = h.expires;
  r.grace_ends = h.expires + std::int64_t{grace_days} * kDay;
  r.on_hold = h.on_hold;
  r.sealed = !h.on_hold && now > h.expires;
  r.past_grace = r.sealed && now > r.grace_ends;
  r.seconds_left = now >= h.expires ? 0 : h.expires - now;
  return r;
}

std::chrono::seconds backoff_delay(std::uint32_t failures, const UnlockPolicy& policy) {
  if (failures < policy.free_attempts) return std::chrono::seconds(0);
  std::uint32_t doublings = std::min<std::uint32_t>(failures - policy.free_attempts, 6);
  return std::chrono::seconds(std::min<std::int64_t>(std::int64_t{1} << doublings, 60));
}

Coffer Coffer::unlock(const fs::path& path, const Passphrase& passphrase, keystore::Random& random,
                      const UnlockPolicy& policy) {
  Coffer c = open_locked(path);
  c.random_ = &random;
  const Clock& clock = policy.clock ? *policy.clock : system_clock();
  // Past the grace period the coffer goes whatever the passphrase: a right
  // one only lets the wipe enter the authenticated trail first.
  auto wipe_if_past_grace = [&] {
    RetentionState r = retention_state(c.header_, clock.now(), policy.grace_days);
    if (!r.past_grace) return;
    c = Coffer();  // drops our lock: wipe takes its own
    wipe_past_grace(path, r, random);
  };
  const std::uint32_t failures = c.header_.failed_attempts;
  if (policy.max_failures > 0 && failures >= policy.max_failures) {
    wipe_if_past_grace();
    audit_without_key(path, c.header_,
                      make_self_event(AuditKind::kLockout, clock.now(), "", "refused",
                                      "attempt while locked out after " + std::to_string(failures) + " failures"));
    throw Error(ErrorCode::kLockedOut,
                path.string() + " is locked out after " + std::to_string(failures) +
                    " wrong passphrases; IT can reopen it with the school's recovery key (coffer recover)");
  }
  if (auto wait = backoff_delay(failures, policy); wait.count() > 0 && policy.wait) policy.wait(wait, failures);
  bool any_intact = false;
  std::string refused;  // slots whose KDF parameters exceed the caps
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    const KeySlot& slot = c.header_.slots[i];
    if (slot.damaged || slot.state != SlotState::kPassphrase) continue;
    try {
      keystore::validate_kdf_params(slot.kdf);
    } catch (const Error& e) {
      refused += "; key slot " + std::to_string(i) + " refused: " + e.what();
      continue;
    }
    any_intact = true;
    keystore::Kek kek = keystore::derive_kek(passphrase, slot.kdf);
    auto master =
        keystore::unwrap_key<keystore::MasterKey>(slot.wrapped, kek, slot_associated_data(c.header_, i, slot.kdf));
    if (master) {
      c.unlocked_slot_ = i;
      c.clock_ = &clock;
      c.finish_unlock(*master, random);
      c.apply_retention(policy, false);
      std::string detail = "passphrase slot " + std::to_string(i);
      if (c.failures_before_ > 0) detail += "; " + std::to_string(c.failures_before_) + " failed attempt(s) before it";
      AuditEvent e = make_self_event(AuditKind::kUnlock, clock.now(), "", "ok", detail);
      if (policy.raise_clock_mark) c.audit(e);
      else c.pending_audit_ = e;
      return c;
    }
  }
  std::string damaged = slot_list_problem(c.header_);
  if (!any_intact && damaged.empty() && refused.empty())
    throw Error(ErrorCode::kPolicy, path.string() + " has no passphrase; IT can set one with coffer recover");
  if (!any_intact)
    throw Error(ErrorCode::kDamaged, path.string() + ": no usable key slot" +
                                         (damaged.empty() ? "" : "; key slot " + damaged + " is damaged") + refused +
                                         "; IT can reopen it with coffer recover");
  wipe_if_past_grace();
  // Count the failure; only this counter (and the copy bookkeeping) changes.
  c.header_.failed_attempts += 1;
  c.write_header();
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
    if (policy.wipe_at_limit) {
      c = Coffer();  // drops our lock: wipe takes its own
      wipe(path, random, "too many wrong passphrases (the school's policy wipes at the limit)");
      throw Error(ErrorCode::kLockedOut, "wrong passphrase; " + path.string() + " had " + std::to_string(now_failed) +
                                             " wrong passphrases and was wiped, as the school's policy says");
    }
    throw Error(ErrorCode::kLockedOut, "wrong passphrase; " + path.string() + " is now locked out after " +
                                           std::to_string(now_failed) +
                                           " wrong passphrases; IT can reopen it with the school's recovery key "
                                           "(coffer recover)");
  }
  std::string msg = "wrong passphrase for " + path.string() + " (failed attempts: " + std::to_string(now_failed) +
                    " of " + std::to_string(policy.max_failures) + ")";
  if (!damaged.empty()) msg += "; note: key slot " + damaged + " is damaged";
  msg += refused;
  throw Error(ErrorCode::kWrongPassphrase, msg);
}

Coffer Coffer::unlock_with_recovery(const fs::path& path, const keystore::SchoolKeyPair& key, keystore::Random& random,
                                    const UnlockPolicy& policy) {
  Coffer c = open_locked(path);
  c.random_ = &random;
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
  c.finish_unlock(*master, random);
  c.apply_retention(policy, true);
  std::string detail = "school recovery key " + keystore::to_hex(key.public_key.fingerprint());
  if (c.failures_before_ > 0) detail += "; " + std::to_string(c.failures_before_) + " failed attempt(s) before it";
  c.audit(make_self_event(AuditKind::kRecoveryUsed, clock.now(), "", "ok", detail));
  return c;
}

void Coffer::apply_retention(const UnlockPolicy& policy, bool by_recovery) {
  const Clock& clock = policy.clock ? *policy.clock : system_clock();
  const std::int64_t now = clock.now();
  const std::int64_t mark = clock_high_water();
  if (now + policy.clock_tolerance_seconds < mark) {
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
  if (r.on_hold) {
    notices_.push_back("this coffer is on hold (" + hold_reason().value_or("") +
                       "): its expiry is suspended until the school lifts the hold");
  } else if (r.sealed) {
    notices_.push_back("this coffer expired on " + local_day(r.expires) + " and is sealed; check it in before " +
                       local_day(r.grace_ends) + ", when it will be wiped");
  } else if (r.seconds_left < std::int64_t{policy.warn_days} * kDay) {
    std::int64_t days = r.seconds_left / kDay;
    notices_.push_back(
        "this coffer expires on " + local_day(r.expires) + " (" +
        (days == 0 ? std::string("today") : "in " + std::to_string(days) + (days == 1 ? " day" : " days")) +
        "): its records, and your own files in files/, go with it unless IT checks it in first");
  }
}

RetentionState Coffer::retention(std::int64_t now, int grace_days) { return retention_state(header_, now, grace_days); }

std::int64_t Coffer::clock_high_water() { return std::max(clock_mark(*db_), header_.created); }

void Coffer::advance_clock(std::int64_t now) { raise_clock_mark(*db_, now); }

void Coffer::reset_clock_high_water(std::int64_t now) {
  if (!opened_with_recovery())
    throw Error(ErrorCode::kPolicy, "only the school's recovery key can reset the clock mark");
  put_meta(*db_, {{"clock_high_water", std::to_string(now)}});
}

std::optional<std::string> Coffer::hold_reason() { return get_meta(*db_, "hold_reason"); }

void Coffer::set_hold(const std::string& reason, std::int64_t now) {
  if (!mac_key_) throw std::logic_error("coffer used before unlock");
  if (reason.empty()) throw Error(ErrorCode::kUsage, "a hold needs a reason (--reason TEXT)");
  // The database is authoritative: written first, so a crash before the
  // header is rewritten is repaired from it at the next unlock.
  put_meta(*db_, {{"hold_reason", reason}, {"hold_set_at", std::to_string(now)}});
  header_.on_hold = true;
  header_.mac = compute_header_mac(header_, *mac_key_);
  write_header();
  audit(AuditKind::kHoldSet, "", "ok", reason);
}

void Coffer::release_hold() {
  if (!mac_key_) throw std::logic_error("coffer used before unlock");
  if (!opened_with_recovery())
    throw Error(ErrorCode::kPolicy,
                "only the school's recovery key can lift a hold "
                "(coffer hold PATH --release --recovery-key school.key)");
  if (!hold_reason()) throw Error(ErrorCode::kUsage, path_.string() + " is not on hold");
  std::string reason = hold_reason().value_or("");
  db_->exec("DELETE FROM coffer_meta WHERE key IN ('hold_reason', 'hold_set_at')");
  header_.on_hold = false;
  header_.mac = compute_header_mac(header_, *mac_key_);
  write_header();
  audit(AuditKind::kHoldReleased, "", "ok", "was: " + reason);
}

void Coffer::finish_unlock(const keystore::MasterKey& master, keystore::Random&) {
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
  // The hold flag is written in two steps (database, then header); a crash
  // between them is repaired from the database, which is authoritative.
  const bool held = get_meta(*db_, "hold_reason").has_value();
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
  std::int64_t now = clock.now();
  if (params.expires <= now) throw Error(ErrorCode::kPolicy, "the expiry date is in the past; give a future date");
  if (params.recovery_key && params.recovery_key->role != keystore::SchoolKeyRole::kRecovery)
    throw Error(ErrorCode::kPolicy, "--recovery-key names an audit key; give the recovery .pub");
  if (params.audit_key && params.audit_key->role != keystore::SchoolKeyRole::kAudit)
    throw Error(ErrorCode::kPolicy, "--audit-key names a recovery key; give the audit .pub");

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
  io::Fd created(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (created.get() < 0)
    throw Error(ErrorCode::kIo, "cannot create a coffer in " + dir.string() + ": " + std::strerror(errno));
  created = io::Fd();  // empty and unlocked: closing it cannot drop any lock
  bool made_sidecar = false;
  auto cleanup = [&] {
    std::error_code ec;
    fs::remove(tmp, ec);
    for (auto& s : sibling_files(tmp)) fs::remove(s, ec);
    if (made_sidecar) fs::remove(sidecar_path(path), ec);
  };
  try {
    Coffer c;
    c.path_ = tmp;
    c.random_ = &random;
    c.db_.emplace(Database::open_coffer_file(tmp));
    io::lock_exclusive(c.db_->file_descriptor(), tmp);
    c.header_ = std::move(h);
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
    // The profile travels inside the coffer: imports are checked against it.
    std::string fields;
    for (auto& f : params.profile_fields) fields += (fields.empty() ? "" : ",") + f;
    MetaRows rows = hint_rows(c.header_);
    rows.emplace_back("profile_fields", fields);
    rows.emplace_back("protection", params.protection);
    rows.emplace_back("created_by", params.created_by);
    if (params.must_change_passphrase) rows.emplace_back("must_change_passphrase", "1");
    if (params.approved_destinations) {
      std::string dests;
      for (auto& d : *params.approved_destinations) dests += d.string() + "\n";
      rows.emplace_back("approved_destinations", dests);
    }
    put_meta(*c.db_, rows);
    c.db_->exec("COMMIT");
    c.clock_ = &clock;
    c.final_path_ = path;
    c.audit_key_.emplace(keystore::derive_audit_key(master));
    if (params.audit_key) {
      // The school's trail starts with the coffer; a leftover trail of an
      // earlier coffer of the same name is never overwritten.
      keystore::AuditChainKey k0 =
          AuditSidecar::create(sidecar_path(path), c.header_.vault_id, *params.audit_key, random);
      made_sidecar = true;
      AuditLog(*c.db_, *c.audit_key_).store_sidecar_state(k0, 0);
    }
    c.audit(AuditKind::kCreate, "", "ok",
            "purpose " + params.profile + ", owner " + params.owner + ", expires " + local_day(params.expires) +
                (params.created_by.empty() ? "" : ", by " + params.created_by));
    if (params.populate) params.populate(c);
    c.db_->close();
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

std::size_t Coffer::add_passphrase(const Passphrase& passphrase, KdfCost cost, std::optional<std::size_t> slot) {
  require_master_key();
  std::size_t index = kSlotCount;
  if (slot) {
    if (*slot >= kSlotCount)
      throw Error(ErrorCode::kUsage,
                  "slot " + std::to_string(*slot) + " does not exist (0.." + std::to_string(kSlotCount - 1) + ")");
    if (header_.slots[*slot].in_use())
      throw Error(ErrorCode::kPolicy, "slot " + std::to_string(*slot) + " is already in use");
    index = *slot;
  } else {
    for (std::size_t i = 0; i < kSlotCount && index == kSlotCount; ++i)
      if (!header_.slots[i].in_use()) index = i;
    if (index == kSlotCount)
      throw Error(ErrorCode::kPolicy, "all " + std::to_string(kSlotCount) + " key slots are in use; remove one first");
  }
  replace_passphrase(index, passphrase, cost, /*audited=*/false);
  if (audit_key_) audit(AuditKind::kKeyAdded, "key slot " + std::to_string(index), "ok");
  return index;
}

void Coffer::replace_passphrase(std::size_t index, const Passphrase& passphrase, KdfCost cost) {
  replace_passphrase(index, passphrase, cost, /*audited=*/true);
}

void Coffer::replace_passphrase(std::size_t index, const Passphrase& passphrase, KdfCost cost, bool audited) {
  require_master_key();
  if (index >= kSlotCount) throw Error(ErrorCode::kUsage, "no such slot");
  KeySlot slot;
  slot.state = SlotState::kPassphrase;
  slot.kdf = keystore::make_kdf_params(cost, *random_);
  keystore::Kek kek = keystore::derive_kek(passphrase, slot.kdf);
  slot.wrapped = keystore::wrap_key(*master_, kek, slot_associated_data(header_, index, slot.kdf), *random_);
  header_.slots[index] = slot;
  header_.mac = compute_header_mac(header_, *mac_key_);
  write_header();
  if (audited && audit_key_) audit(AuditKind::kPassphraseChanged, "key slot " + std::to_string(index), "ok");
}

void Coffer::remove_slot(std::size_t index) {
  require_master_key();
  if (index >= kSlotCount || !header_.slots[index].in_use())
    throw Error(ErrorCode::kUsage, "slot " + std::to_string(index) + " is not in use");
  if (header_.slots_in_use() == 1 && !header_.recovery)
    throw Error(ErrorCode::kPolicy, "slot " + std::to_string(index) +
                                        " is the last way into this coffer and it has no recovery key; add another "
                                        "passphrase first");
  header_.slots[index] = KeySlot{};
  header_.mac = compute_header_mac(header_, *mac_key_);
  write_header();
  if (unlocked_slot_ == index) unlocked_slot_.reset();
  if (audit_key_) audit(AuditKind::kKeyRemoved, "key slot " + std::to_string(index), "ok");
}

void Coffer::reset_passphrases(const Passphrase& passphrase, KdfCost cost) {
  require_master_key();
  for (auto& s : header_.slots) s = KeySlot{};
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
  FsckReport r;
  std::array<std::uint8_t, 2 * kHeaderCopySize> area{};
  db_->read_raw(area, 0);
  for (int copy = 0; copy < 2; ++copy) {
    ParsedCopy p = parse_header_copy(std::span(area).subspan(copy * kHeaderCopySize, kHeaderCopySize));
    if (!p.header) r.problems.push_back(std::string("header copy ") + (copy ? "B" : "A") + ": " + p.problem);
    else if (!verify_header_mac(*p.header, *mac_key_))
      r.problems.push_back(std::string("header copy ") + (copy ? "B" : "A") + ": header MAC mismatch");
  }
  if (schema_version(*db_) != kSchemaVersion)
    r.problems.push_back("schema version " + std::to_string(schema_version(*db_)) + ", expected " +
                         std::to_string(kSchemaVersion));
  for (auto& f : meta_mismatches(*db_, header_)) r.problems.push_back("header field differs from the database: " + f);
  try {
    check_payload_size(db_->raw_size(), path_);
  } catch (const Error& e) {
    r.problems.push_back(e.what());
  }
  try {
    auto s = db_->prepare("PRAGMA integrity_check");
    while (s.step()) {
      std::string line = s.column_text(0);
      if (line != "ok") r.problems.push_back("database: " + line);
    }
  } catch (const Error& e) {
    r.problems.push_back(std::string("database: ") + e.what());
  }
  std::int64_t free_pages = db_->query_int64("PRAGMA freelist_count");
  if (free_pages != 0) r.problems.push_back(std::to_string(free_pages) + " free pages (auto_vacuum should leave none)");
  std::int64_t pages = db_->query_int64("PRAGMA page_count");
  const std::uint64_t file_size = db_->raw_size();
  const std::uint64_t expected = kPayloadOffset + pages * kCipherPageSize;
  // Whole pages past the database's end are what SQLite itself leaves when
  // a crash or a failed write falls between a commit and the truncation
  // that follows it (the fault trials make exactly this): the database's
  // own header says where it ends and nothing reads beyond. Pages it wrote
  // carry the shim's zero padding; anything else (other bytes, a partial
  // page, bytes missing) is damage or tampering.
  if (file_size > expected && (file_size - expected) % kCipherPageSize == 0 &&
      tail_pages_were_written_by_sqlite(*db_, expected, file_size))
    r.notes.push_back(std::to_string((file_size - expected) / kCipherPageSize) +
                      " unused pages past the end of the database (left by an interrupted "
                      "write; never read)");
  else if (file_size != expected)
    r.problems.push_back("the file holds " + std::to_string(file_size) + " bytes, but the database accounts for " +
                         std::to_string(expected) + " (bytes appended or lost)");
  r.notes.push_back(std::to_string(pages) + " database pages of " + std::to_string(kCipherPageSize) + " bytes checked");
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

std::optional<keystore::SchoolPublicKey> Coffer::audit_public_key() const {
  if (!header_.audit) return std::nullopt;
  return keystore::SchoolPublicKey{keystore::SchoolKeyRole::kAudit, header_.audit->public_key};
}

fs::path Coffer::sidecar() const { return sidecar_path(final_path_.empty() ? path_ : final_path_); }

void Coffer::audit(AuditKind kind, std::string object, std::string result, std::string detail) {
  const Clock& clock = clock_ ? *clock_ : system_clock();
  audit(make_self_event(kind, clock.now(), std::move(object), std::move(result), std::move(detail)));
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
  AuditLog log(*db_, *audit_key_);
  std::optional<keystore::SchoolPublicKey> pub = audit_public_key();
  if (!pub) {
    log.append(event);
    return;
  }
  const fs::path sc = sidecar();
  const Clock& clock = clock_ ? *clock_ : system_clock();
  struct stat st {};
  std::optional<SidecarWriterState> state = log.sidecar_state();
  if (!state) {
    // A coffer made with an audit key before coffer wrote sidecars (schema
    // < 4): its trail starts now. An unrelated file in the way is not ours
    // to overwrite: AuditSidecar::create refuses it.
    keystore::AuditChainKey k0 = AuditSidecar::create(sc, header_.vault_id, *pub, *random_);
    log.store_sidecar_state(k0, 0);
  } else if (::lstat(sc.c_str(), &st) != 0) {
    // The school's copy is gone (deleted, or the coffer was moved without
    // it): start a new one, and say so in both trails.
    keystore::AuditChainKey k0 = AuditSidecar::create(sc, header_.vault_id, *pub, *random_);
    log.store_sidecar_state(k0, 0);
    log.append_both(
        make_self_event(AuditKind::kAuditDamaged, clock.now(), "audit sidecar", "restarted",
                        "the sidecar was missing; it had held " + std::to_string(state->records) + " record(s)"),
        sc, *pub);
  }
  log.append_both(event, sc, *pub);  // records a truncated sidecar first
}

std::vector<StoredAuditEvent> Coffer::audit_events(std::optional<std::int64_t> since) {
  if (!audit_key_) throw std::logic_error("coffer audited before unlock");
  return AuditLog(*db_, *audit_key_).read(since);
}

AuditVerdict Coffer::verify_audit() {
  if (!audit_key_) throw std::logic_error("coffer audited before unlock");
  AuditLog log(*db_, *audit_key_);
  AuditVerdict v = log.verify();
  // Damage found (and recorded) while writing stays a finding for good.
  for (auto& e : log.read())
    if (e.event.kind == AuditKind::kAuditDamaged)
      v.problems.push_back("entry " + std::to_string(e.seq) + ": the " + e.event.object + " was found " +
                           e.event.result + " (" + e.event.detail + ")");
  if (header_.audit) {
    if (auto state = log.sidecar_state()) {
      const fs::path sc = sidecar();
      struct stat st {};
      if (::lstat(sc.c_str(), &st) != 0) {
        v.problems.push_back("the audit sidecar " + sc.string() + " is missing (the coffer knows of " +
                             std::to_string(state->records) + " record(s))");
      } else if (std::uint64_t n = count_sidecar_records(sc); n < state->records) {
        v.problems.push_back("the audit sidecar " + sc.string() + " is truncated: it holds " + std::to_string(n) +
                             " record(s), the coffer knows of " + std::to_string(state->records));
      }
    }
  }
  return v;
}

void audit_without_key(const fs::path& coffer_path, const Header& header, const AuditEvent& event) noexcept {
  if (!header.audit) return;
  try {
    fs::path sc = sidecar_path(coffer_path);
    struct stat st {};
    if (::lstat(sc.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    keystore::SchoolPublicKey pub{keystore::SchoolKeyRole::kAudit, header.audit->public_key};
    append_unauthenticated(sc, event, pub);
  } catch (...) {
  }
}

void wipe(const fs::path& path, keystore::Random& random, std::string_view reason) {
  const std::uint64_t size = require_regular_file(path);
  io::Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) throw Error(ErrorCode::kIo, "cannot open " + path.string() + ": " + std::strerror(errno));
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
