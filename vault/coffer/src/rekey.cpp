// Re-keying a coffer: a new random master key, so that no earlier header
// or key slot opens anything of the current file; see coffer.h and
// docs/FORMAT.md §10 ("Re-key").
//
// Two phases. Phase 1 builds a complete new coffer beside the original,
// `.NAME.rekeying-<12 hex>` (O_EXCL, 0600, same directory), while the
// original stays locked and untouched: the new header (same vault id, hints,
// expiry, hold flag, audit key; the kept passphrase slot and the recovery
// slot re-sealed, both under the new master key), then the database copied
// into it under the new database key (sqlcipher_export), then, in the copy,
// everything keyed from the master key recomputed (chunk MACs, the audit
// hash chain and its head) and the header binding pointed at the new
// header; the command's audit record goes into both trails; the copy is
// closed, reopened and checked. Phase 2 renames it over NAME and syncs the
// directory. A crash before the rename leaves the original as it was (and
// the temporary file, which the next unlock removes); after it, the new
// coffer.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/keystore/subkeys.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/file_io.h"
#include "coffer/vault/container/header_binding.h"
#include "coffer/vault/container/layout.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/container/schema.h"
#include "coffer/vault/files/filestore.h"

namespace coffer::vault {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRecoveryKeyMeta = "recovery_public_key";

std::string rekey_prefix(const fs::path& path) { return "." + path.filename().string() + ".rekeying-"; }

fs::path directory_of(const fs::path& path) { return path.parent_path().empty() ? fs::path(".") : path.parent_path(); }

bool same_key(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b) {
  return keystore::equal_constant_time(a, b);
}

// Runs f inside one transaction of db.
template <class F>
void in_transaction(Database& db, F&& f) {
  db.exec("BEGIN IMMEDIATE");
  try {
    f();
    db.exec("COMMIT");
  } catch (...) {
    try {
      db.exec("ROLLBACK");
    } catch (...) {
    }
    throw;
  }
}

}  // namespace

std::vector<std::string> remove_unfinished_rekeys(const fs::path& path, keystore::Random& random) {
  std::vector<std::string> removed;
  const std::string prefix = rekey_prefix(path);
  std::error_code ec;
  std::vector<fs::path> stale;
  for (auto it = fs::directory_iterator(directory_of(path), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(prefix) && !name.ends_with("-journal")) stale.push_back(it->path());
  }
  for (const auto& p : stale) {
    // Crypto-erase first (it holds the coffer's data under the new key and
    // its new key slots), then remove it and its journal.
    UniqueFd fd(::open(p.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (fd.valid()) {
      std::vector<std::uint8_t> noise(kPayloadOffset + 4 * kCipherPageSize);
      random.fill(noise);
      struct stat st {};
      if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
        noise.resize(std::min<std::size_t>(noise.size(), static_cast<std::size_t>(st.st_size)));
        if (!noise.empty() && ::pwrite(fd.get(), noise.data(), noise.size(), 0) >= 0) (void)::fsync(fd.get());
      }
    }
    fs::remove(p, ec);
    fs::remove(fs::path(p.string() + "-journal"), ec);
    removed.push_back(p.filename().string());
  }
  if (!removed.empty()) io::sync_directory_of(path);
  return removed;
}

std::optional<keystore::SchoolPublicKey> Coffer::recovery_public_key() {
  if (!header_.recovery || !db_) return std::nullopt;
  auto text = get_meta(*db_, kRecoveryKeyMeta);
  if (!text) return std::nullopt;
  keystore::SchoolPublicKey key;
  key.role = keystore::SchoolKeyRole::kRecovery;
  std::optional<std::vector<std::uint8_t>> bytes = keystore::from_base64(*text);
  if (!bytes || bytes->size() != key.bytes.size()) return std::nullopt;
  std::copy(bytes->begin(), bytes->end(), key.bytes.begin());
  if (!same_key(key.fingerprint(), header_.recovery->fingerprint)) return std::nullopt;
  return key;
}

void Coffer::remember_recovery_key(const keystore::SchoolPublicKey& key) {
  require_master_key();
  if (!header_.recovery) return;
  if (key.role != keystore::SchoolKeyRole::kRecovery || !same_key(key.fingerprint(), header_.recovery->fingerprint))
    throw Error(ErrorCode::kPolicy, "that recovery key (fingerprint " + keystore::to_hex(key.fingerprint()) +
                                        ") is not the one " + path_.string() + " is sealed to (fingerprint " +
                                        keystore::to_hex(header_.recovery->fingerprint) + ")");
  if (get_meta(*db_, kRecoveryKeyMeta) == keystore::to_base64(key.bytes)) return;
  put_meta(*db_, {{kRecoveryKeyMeta, keystore::to_base64(key.bytes)}});
}

std::string Coffer::rekey_blocker() {
  if (!header_.recovery || recovery_public_key()) return "";
  return path_.string() +
         " does not record the school's recovery public key (it was made before coffers kept it), so a new "
         "master key could not be sealed to the school's recovery key. Name it with --recovery-key "
         "school-recovery.pub, or let IT run coffer recover once (which records it)";
}

std::string Coffer::passphrases_rekey_drops(const RekeyPlan& plan) const {
  std::string out;
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    if (!header_.slots[i].in_use()) continue;
    if (plan.passphrase && i == plan.slot) continue;
    if (std::find(plan.removing.begin(), plan.removing.end(), i) != plan.removing.end()) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(i);
  }
  return out;
}

void Coffer::rekey(const RekeyPlan& plan) {
  require_master_key();
  if (plan.passphrase && plan.slot >= kSlotCount) throw Error(ErrorCode::kUsage, "no such key slot");
  if (std::string why = rekey_blocker(); !why.empty()) throw Error(ErrorCode::kPolicy, why);
  std::optional<keystore::SchoolPublicKey> recovery_pub = recovery_public_key();
  if (std::string others = passphrases_rekey_drops(plan); !others.empty() && !plan.drop_other_passphrases)
    throw Error(ErrorCode::kPolicy,
                "re-keying keeps only the passphrase that authorised it (and the recovery key): the passphrase(s) "
                "in key slot " +
                    others +
                    " cannot be moved to the new key without being typed. Remove them first with coffer keys "
                    "remove, or pass --drop-other-passphrases; nothing was changed");
  if (!plan.passphrase && !header_.recovery)
    throw Error(ErrorCode::kPolicy,
                "the re-keyed coffer would have no passphrase and no recovery key; nothing was changed");
  flush_audit();
  if (db_->in_transaction()) throw std::logic_error("re-key inside a transaction");

  // The new keys and header (in memory).
  keystore::MasterKey master = keystore::random_master_key(*random_);
  keystore::HeaderMacKey mac_key = keystore::derive_header_mac_key(master);
  keystore::AuditKey audit_key = keystore::derive_audit_key(master);
  Header next = header_;
  KeySlots(next).clear_all();
  if (plan.passphrase) KeySlots(next).write(plan.slot, master, *plan.passphrase, plan.cost, *random_);
  if (recovery_pub)
    next.recovery = RecoverySlot{recovery_pub->fingerprint(), keystore::seal_master_key(master, *recovery_pub)};
  next.recovery_damaged = false;
  next.failed_attempts = 0;
  next.mac = compute_header_mac(next, mac_key);

  // Phase 1: the new coffer under a temporary name.
  std::array<std::uint8_t, 6> tag{};
  random_->fill(tag);
  const fs::path tmp = directory_of(path_) / (rekey_prefix(path_) + keystore::to_hex(tag));
  {
    UniqueFd created(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!created.valid())
      throw Error(ErrorCode::kIo, "cannot re-key " + path_.string() + ": cannot create a file in " +
                                      directory_of(path_).string() + ": " + std::strerror(errno));
  }
  auto cleanup = [&tmp] {
    std::error_code ec;
    fs::remove(tmp, ec);
    for (auto& s : sibling_files(tmp)) fs::remove(s, ec);
  };
  const keystore::Digest32 next_digest = header_digest(next);
  const std::uint64_t chunks_before = static_cast<std::uint64_t>(db_->query_int64("SELECT count(*) FROM chunks"));
  const std::uint64_t entries_before = static_cast<std::uint64_t>(db_->query_int64("SELECT count(*) FROM audit_log"));
  std::optional<Database> fresh;
  try {
    {
      Database header_only = Database::open_coffer_file(tmp);
      write_header_copies(header_only, next);  // both copies, synced
    }
    db_->export_to(tmp, keystore::derive_db_key(master));
    fresh.emplace(Database::open_coffer_file(tmp));
    io::lock_exclusive(fresh->file_descriptor(), tmp);
    open_database(*fresh, master);
    in_transaction(*fresh, [&] {
      FileStore files(*fresh, keystore::derive_chunk_mac_key(master), clock());
      files.remac_all_chunks(keystore::derive_chunk_mac_key(*master_));
      AuditLog(*fresh, audit_key).rekey_chain(*audit_key_);
      if (plan.clear_must_change) fresh->exec("DELETE FROM coffer_meta WHERE key = 'must_change_passphrase'");
    });
    HeaderBinding(*fresh).commit(next_digest);
    // The command's record and the re-key itself, in both trails, written
    // by the new coffer (a crash before the rename leaves the sidecar with
    // records the old coffer steps over: audit_log.cpp, catch_up).
    const fs::path sidecar_file = sidecar();
    AuditRouter router(*fresh, audit_key, next, sidecar_file, clock(), *random_);
    if (!plan.object.empty() || !plan.detail.empty())
      router.record(make_self_event(plan.kind, clock().now(), plan.object, "ok", plan.detail));
    router.record(
        make_self_event(AuditKind::kKeyChanged, clock().now(), "master key", "ok",
                        "re-keyed: a new master key; earlier headers and key slots no longer open this coffer (kept: " +
                            (plan.passphrase ? "key slot " + std::to_string(plan.slot) : std::string("no passphrase")) +
                            (recovery_pub ? ", the recovery key" : "") + ")"));
    fresh->close();
    fresh.reset();

    // Verify: reopen under the new key and check what was written (SQLCipher
    // may report success for work it rolled back).
    fresh.emplace(Database::open_coffer_file(tmp));
    io::lock_exclusive(fresh->file_descriptor(), tmp);
    std::array<std::uint8_t, 2 * kHeaderCopySize> area{};
    fresh->read_raw(area, 0);
    SelectedHeader sel =
        select_header(std::span(area).first(kHeaderCopySize), std::span(area).subspan(kHeaderCopySize), tmp.string());
    open_database(*fresh, master);
    bool ok = sel.warnings.empty() && verify_header_mac(sel.header, mac_key) &&
              keystore::equal_constant_time(header_digest(sel.header), next_digest) &&
              schema_version(*fresh) == kSchemaVersion && fresh->query_int64("PRAGMA auto_vacuum") == 1 &&
              HeaderBinding(*fresh).current() &&
              keystore::equal_constant_time(*HeaderBinding(*fresh).current(), next_digest) &&
              static_cast<std::uint64_t>(fresh->query_int64("SELECT count(*) FROM chunks")) == chunks_before &&
              static_cast<std::uint64_t>(fresh->query_int64("SELECT count(*) FROM audit_log")) > entries_before;
    if (ok) {
      auto check = fresh->prepare("PRAGMA quick_check");
      while (check.step())
        if (check.column_text(0) != "ok") ok = false;
    }
    if (ok) ok = AuditLog(*fresh, audit_key).verify().ok() && !fresh->integrity_failed();
    if (!ok)
      throw Error(ErrorCode::kIo,
                  "re-keying " + path_.string() + ": the new copy did not read back as written; nothing was changed");
    next = std::move(sel.header);
  } catch (...) {
    fresh.reset();
    cleanup();
    throw;
  }

  // Phase 2: the old coffer's connection closes (its lock kept by a
  // duplicate descriptor until the new file is locked), its journal (empty:
  // nothing is in flight) goes, and the new file takes NAME atomically.
  UniqueFd old_lock(::fcntl(db_->file_descriptor(), F_DUPFD_CLOEXEC, 0));
  if (!old_lock.valid()) {
    fresh.reset();
    cleanup();
    throw Error(ErrorCode::kIo, "re-keying " + path_.string() + ": " + std::strerror(errno));
  }
  db_->close();
  db_.reset();
  fresh->close();
  fresh.reset();
  {
    std::error_code ec;
    for (auto& s : sibling_files(tmp)) fs::remove(s, ec);
    for (auto& s : sibling_files(path_)) fs::remove(s, ec);
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    int e = errno;
    cleanup();
    throw Error(ErrorCode::kIo, "re-keying " + path_.string() + ": cannot replace it: " + std::strerror(e) +
                                    "; the coffer is unchanged, reopen it");
  }
  io::sync_directory_of(path_);

  // This object becomes the new coffer.
  db_.emplace(Database::open_coffer_file(path_));
  old_lock.reset();
  io::lock_exclusive(db_->file_descriptor(), path_);
  open_database(*db_, master);
  header_ = std::move(next);
  master_.emplace();
  std::copy(master.reveal_bytes().begin(), master.reveal_bytes().end(), master_->writable_bytes().begin());
  mac_key_.emplace(keystore::derive_header_mac_key(master));
  audit_key_.emplace(keystore::derive_audit_key(master));
  other_header_.reset();
  needs_repair_ = false;
  binding_ready_ = true;
  tampering_.clear();
  if (plan.passphrase) unlocked_slot_ = plan.slot;
  else unlocked_slot_.reset();
}

}  // namespace coffer::vault
