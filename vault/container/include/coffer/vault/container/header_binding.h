// Which header the database belongs with (schema 6, docs/FORMAT.md §"Header
// binding"). The header's generation is unauthenticated, so a saved older
// header written back with a higher generation would be chosen by copy
// selection and, its MAC being genuine, open the coffer with a passphrase
// that `recover`, `keys remove` or `passwd` removed. The database therefore
// records a digest of the MAC-covered bytes of the header it was last
// written with (`current`), and of the one about to be written (`pending`,
// committed before the header write starts): an unlock accepts only those
// two and refuses any other header as tampering.
#pragma once

#include <optional>

#include "coffer/keystore/digest.h"
#include "coffer/vault/container/database.h"
#include "coffer/vault/container/header.h"

namespace coffer::vault {

// BLAKE2b-256 of bytes [0, kMacOffset) of the header's serialised copy: the
// bytes the header MAC covers (so every key slot, the recovery slot, the
// hints and the hold flag), not the generation or the failure counter.
keystore::Digest32 header_digest(const Header& header);

class HeaderBinding {
 public:
  explicit HeaderBinding(Database& db) : db_(db) {}

  // Empty only in a coffer migrated from schema 5 until its first unlock.
  std::optional<keystore::Digest32> current();
  std::optional<keystore::Digest32> pending();
  bool accepts(const keystore::Digest32& digest);
  // Records the first digest (creation, or the first unlock after the
  // migration). Throws std::logic_error if one is already recorded.
  void establish(const keystore::Digest32& digest);
  // Before a header write: commits `digest` as pending (own transaction;
  // never called inside one, so it is durable before the write starts).
  void begin(const keystore::Digest32& digest);
  // After the header write (both copies synced): `digest` becomes current.
  void commit(const keystore::Digest32& digest);
  // At unlock, with the accepted header's digest: finishes an update a crash
  // interrupted (the pending header was written: it becomes current) or
  // drops a pending one that was never written. No write when nothing is
  // pending.
  void settle(const keystore::Digest32& digest);

 private:
  void write(const keystore::Digest32& current, const keystore::Digest32* pending);
  Database& db_;
};

}  // namespace coffer::vault
