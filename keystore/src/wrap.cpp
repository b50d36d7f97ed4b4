// XChaCha20-Poly1305 key wrapping; see wrap.h.
#include "coffer/keystore/wrap.h"

#include <sodium.h>

namespace coffer::keystore {

static_assert(WrappedKey::kNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(WrappedKey::kCiphertextSize == 32 + crypto_aead_xchacha20poly1305_ietf_ABYTES);

MasterKey random_master_key(Random& random) {
  MasterKey key;
  random.fill(key.writable_bytes());
  return key;
}

namespace detail {

WrappedKey wrap32(std::span<const std::uint8_t, 32> key, const Kek& kek, std::span<const std::uint8_t> ad,
                  Random& random) {
  ensure_sodium();
  WrappedKey out;
  random.fill(out.nonce);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.ciphertext.data(), &len, key.data(), key.size(), ad.data(), ad.size(),
                                             nullptr, out.nonce.data(), kek.reveal_bytes().data());
  return out;
}

bool unwrap32(const WrappedKey& wrapped, const Kek& kek, std::span<const std::uint8_t> ad,
              std::span<std::uint8_t, 32> out) {
  ensure_sodium();
  unsigned long long len = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, wrapped.ciphertext.data(),
                                                    wrapped.ciphertext.size(), ad.data(), ad.size(),
                                                    wrapped.nonce.data(), kek.reveal_bytes().data()) == 0 &&
         len == 32;
}

}  // namespace detail
}  // namespace coffer::keystore
