// Subkeys of the master key (crypto_kdf, context "COFFERv1"). Ids are part of
// the format (docs/FORMAT.md) and never reused for another purpose.
#pragma once

#include <cstdint>

#include "coffer/keystore/secret.h"

namespace coffer::keystore {

enum class SubkeyId : std::uint64_t {
  kDatabase = 1,   // SQLCipher raw key
  kHeaderMac = 2,  // MAC over the container header
  kAudit = 3,      // the in-coffer audit hash chain
  kChunkMac = 4,   // per-chunk MACs of file contents (the file store)
  // 5..63 reserved for future roles
};

DbKey derive_db_key(const MasterKey& master);
HeaderMacKey derive_header_mac_key(const MasterKey& master);
AuditKey derive_audit_key(const MasterKey& master);
ChunkMacKey derive_chunk_mac_key(const MasterKey& master);

// SQLCipher 3.4.1's raw-key form, x'<64 hex digits>', built in secure memory
// (never through an ordinary string) for sqlite3_key.
SecretBytes sqlcipher_raw_key(const DbKey& key);

}  // namespace coffer::keystore
