// BLAKE2b checksums and MACs; see digest.h.
#include "coffer/keystore/digest.h"

#include <sodium.h>

namespace coffer::keystore {
namespace {
template <std::size_t N>
std::array<std::uint8_t, N> blake2b(std::span<const std::uint8_t> data, const std::uint8_t* key, std::size_t key_size) {
  ensure_sodium();
  std::array<std::uint8_t, N> out{};
  crypto_generichash(out.data(), N, data.data(), data.size(), key, key_size);
  return out;
}
}  // namespace

Digest32 checksum32(std::span<const std::uint8_t> data) { return blake2b<32>(data, nullptr, 0); }
Digest16 checksum16(std::span<const std::uint8_t> data) { return blake2b<16>(data, nullptr, 0); }

Digest32 header_mac(const HeaderMacKey& key, std::span<const std::uint8_t> data) {
  return blake2b<32>(data, key.reveal_bytes().data(), HeaderMacKey::kSize);
}

Digest32 chunk_mac(const ChunkMacKey& key, std::span<const std::uint8_t> prefix, std::span<const std::uint8_t> data) {
  ensure_sodium();
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.reveal_bytes().data(), ChunkMacKey::kSize, 32);
  crypto_generichash_update(&st, prefix.data(), prefix.size());
  crypto_generichash_update(&st, data.data(), data.size());
  Digest32 out{};
  crypto_generichash_final(&st, out.data(), out.size());
  sodium_memzero(&st, sizeof st);
  return out;
}

bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  ensure_sodium();
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace coffer::keystore
