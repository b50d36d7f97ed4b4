// crypto_kdf subkeys; see subkeys.h.
#include "coffer/keystore/subkeys.h"

#include <sodium.h>

namespace coffer::keystore {
namespace {
constexpr char kContext[crypto_kdf_CONTEXTBYTES + 1] = "COFFERv1";

template <class K>
K derive(const MasterKey& master, SubkeyId id) {
  static_assert(K::kSize >= crypto_kdf_BYTES_MIN && K::kSize <= crypto_kdf_BYTES_MAX);
  ensure_sodium();
  K key;
  crypto_kdf_derive_from_key(key.writable_bytes().data(), K::kSize, static_cast<std::uint64_t>(id), kContext,
                             master.reveal_bytes().data());
  return key;
}
}  // namespace

DbKey derive_db_key(const MasterKey& m) { return derive<DbKey>(m, SubkeyId::kDatabase); }
HeaderMacKey derive_header_mac_key(const MasterKey& m) { return derive<HeaderMacKey>(m, SubkeyId::kHeaderMac); }
AuditKey derive_audit_key(const MasterKey& m) { return derive<AuditKey>(m, SubkeyId::kAudit); }
ChunkMacKey derive_chunk_mac_key(const MasterKey& m) { return derive<ChunkMacKey>(m, SubkeyId::kChunkMac); }

SecretBytes sqlcipher_raw_key(const DbKey& key) {
  // "x'" + 64 hex + "'" ; sodium_bin2hex is constant-time and NUL-terminates.
  SecretBytes out(3 + DbKey::kSize * 2 + 1);
  auto buf = out.writable_bytes();
  buf[0] = 'x';
  buf[1] = '\'';
  sodium_bin2hex(reinterpret_cast<char*>(buf.data() + 2), DbKey::kSize * 2 + 1, key.reveal_bytes().data(),
                 DbKey::kSize);
  buf[2 + DbKey::kSize * 2] = '\'';
  buf[3 + DbKey::kSize * 2] = 0;
  return out;
}

}  // namespace coffer::keystore
