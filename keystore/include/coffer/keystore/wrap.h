// Key wrapping: a 32-byte key (the master key in a key slot, or a school
// secret key in its file) sealed with XChaCha20-Poly1305 under a passphrase's
// key-encryption key, with caller-chosen associated data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "coffer/keystore/random.h"
#include "coffer/keystore/secret.h"

namespace coffer::keystore {

struct WrappedKey {
  static constexpr std::size_t kNonceSize = 24;
  static constexpr std::size_t kCiphertextSize = 32 + 16;  // key + Poly1305 tag
  std::array<std::uint8_t, kNonceSize> nonce{};
  std::array<std::uint8_t, kCiphertextSize> ciphertext{};
};

MasterKey random_master_key(Random& random);

namespace detail {
WrappedKey wrap32(std::span<const std::uint8_t, 32> key, const Kek& kek, std::span<const std::uint8_t> ad,
                  Random& random);
bool unwrap32(const WrappedKey& wrapped, const Kek& kek, std::span<const std::uint8_t> ad,
              std::span<std::uint8_t, 32> out);
}  // namespace detail

template <class K>
requires(K::kSize == 32) WrappedKey
    wrap_key(const K& key, const Kek& kek, std::span<const std::uint8_t> ad, Random& random) {
  return detail::wrap32(key.reveal_bytes(), kek, ad, random);
}

// Empty when the KEK or the associated data is wrong (the AEAD cannot tell
// which; callers detect accidental damage with a separate checksum).
template <class K>
requires(K::kSize == 32) std::optional<K> unwrap_key(const WrappedKey& wrapped, const Kek& kek,
                                                     std::span<const std::uint8_t> ad) {
  K key;
  if (!detail::unwrap32(wrapped, kek, ad, key.writable_bytes())) return std::nullopt;
  return key;
}

}  // namespace coffer::keystore
