// Where a coffer's audit events go: always the in-coffer hash chain and,
// when the coffer names the school's audit key, the sidecar PATH.audit too
// (sealed to that key, under the forward-secure MAC chain); a sidecar that
// went missing restarts, saying so in both trails. Also the events written
// without the coffer's key (failed unlock, lock-out, wipe).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "coffer/keystore/random.h"
#include "coffer/keystore/school_key.h"
#include "coffer/keystore/secret.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/container/database.h"
#include "coffer/vault/container/header.h"

namespace coffer::vault {

// The school's audit public key a header names, if any.
std::optional<keystore::SchoolPublicKey> audit_public_key_of(const Header& header);

class AuditRouter {
 public:
  // `sidecar` is where the coffer's sidecar is (or will be, while creating).
  AuditRouter(Database& db, const keystore::AuditKey& key, const Header& header, std::filesystem::path sidecar,
              const Clock& clock, keystore::Random& random)
      : db_(db), key_(key), header_(header), sidecar_(std::move(sidecar)), clock_(clock), random_(random) {}

  // Appends to the chain and, with an audit key, to the sidecar (creating a
  // sidecar for a coffer older than sidecars, restarting a missing one).
  void record(const AuditEvent& event);
  std::vector<StoredAuditEvent> events(std::optional<std::int64_t> since);
  // Verifies the in-coffer chain, and that the sidecar still holds every
  // record the coffer knows was written (truncation).
  AuditVerdict verify();

 private:
  Database& db_;
  const keystore::AuditKey& key_;
  const Header& header_;
  std::filesystem::path sidecar_;
  const Clock& clock_;
  keystore::Random& random_;
};

// Appends an event that happens without the coffer's key (failed unlock,
// lock-out, wipe) to the sidecar, sealed to the audit key in `header`, as
// unauthenticated; the next unlock's record covers it. Nothing without an
// audit key or sidecar. Never throws: a lost event must not stop a wipe.
void audit_without_key(const std::filesystem::path& coffer_path, const Header& header,
                       const AuditEvent& event) noexcept;

}  // namespace coffer::vault
