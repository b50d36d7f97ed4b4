// Routing a coffer's audit events to the chain and the sidecar; see
// audit_router.h.
#include "coffer/vault/audit/audit_router.h"

#include <sys/stat.h>

#include "coffer/vault/audit/audit_anchor.h"

namespace coffer::vault {
namespace fs = std::filesystem;

std::optional<keystore::SchoolPublicKey> audit_public_key_of(const Header& header) {
  if (!header.audit) return std::nullopt;
  return keystore::SchoolPublicKey{keystore::SchoolKeyRole::kAudit, header.audit->public_key};
}

void AuditRouter::record(const AuditEvent& event) {
  AuditLog log(db_, key_);
  std::optional<keystore::SchoolPublicKey> pub = audit_public_key_of(header_);
  if (!pub) {
    log.append(event);
    return;
  }
  struct stat st {};
  std::optional<SidecarWriterState> state = log.sidecar_state();
  if (!state) {
    // A coffer made with an audit key before coffer wrote sidecars (schema
    // < 4): its trail starts now. An unrelated file in the way is not ours
    // to overwrite: AuditSidecar::create refuses it.
    keystore::AuditChainKey k0 = AuditSidecar::create(sidecar_, header_.vault_id, *pub, random_);
    log.store_sidecar_state(k0, 0);
    log.store_sidecar_header(read_sidecar_genesis(sidecar_).header);
  } else if (::lstat(sidecar_.c_str(), &st) != 0) {
    // The school's copy is gone (deleted, or the coffer was moved without
    // it): start a new one, and say so in both trails, with the link from
    // the earlier trail (its header, kept in the coffer, and a MAC under
    // its current chain key) that lets the DPO follow it back to the
    // anchored genesis (audit_anchor.h).
    std::optional<SidecarHeaderBytes> old_header = log.sidecar_header();
    keystore::AuditChainKey k0 = AuditSidecar::create(sidecar_, header_.vault_id, *pub, random_);
    SidecarHeaderBytes new_header = read_sidecar_genesis(sidecar_).header;
    std::string detail = restart_detail(state->records, &state->key, old_header, new_header);
    log.store_sidecar_state(k0, 0);
    log.store_sidecar_header(new_header);
    log.append_both(make_self_event(AuditKind::kAuditDamaged, clock_.now(), "audit sidecar", "restarted", detail),
                    sidecar_, *pub);
  } else if (!log.sidecar_header()) {
    // A coffer made before it kept its sidecar's header: keep it now.
    log.store_sidecar_header(read_sidecar_genesis(sidecar_).header);
  }
  log.append_both(event, sidecar_, *pub);  // records a truncated sidecar first
}

std::vector<StoredAuditEvent> AuditRouter::events(std::optional<std::int64_t> since) {
  return AuditLog(db_, key_).read(since);
}

AuditVerdict AuditRouter::verify() {
  AuditLog log(db_, key_);
  AuditVerdict v = log.verify();
  // Damage found (and recorded) while writing stays a finding for good.
  for (auto& e : log.read())
    if (e.event.kind == AuditKind::kAuditDamaged)
      v.problems.push_back("entry " + std::to_string(e.seq) + ": the " + e.event.object + " was found " +
                           e.event.result + " (" + e.event.detail + ")");
  if (header_.audit) {
    if (auto state = log.sidecar_state()) {
      struct stat st {};
      if (::lstat(sidecar_.c_str(), &st) != 0) {
        v.problems.push_back("the audit sidecar " + sidecar_.string() + " is missing (the coffer knows of " +
                             std::to_string(state->records) + " record(s))");
      } else if (std::uint64_t n = count_sidecar_records(sidecar_); n < state->records) {
        v.problems.push_back("the audit sidecar " + sidecar_.string() + " is truncated: it holds " + std::to_string(n) +
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

}  // namespace coffer::vault
