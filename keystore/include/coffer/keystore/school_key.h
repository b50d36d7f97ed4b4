// The school's key pairs (X25519): a recovery key (IT; reopens any coffer
// sealed to it) and an audit key (the DPO; reads audit trails only). The
// master key is sealed to the recovery key with crypto_box_seal. Key files
// are small text files; the secret one is encrypted under a passphrase.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "coffer/keystore/kdf.h"
#include "coffer/keystore/random.h"
#include "coffer/keystore/secret.h"

namespace coffer::keystore {

enum class SchoolKeyRole : std::uint8_t { kRecovery = 1, kAudit = 2 };
std::string_view role_name(SchoolKeyRole role);

struct SchoolPublicKey {
  SchoolKeyRole role = SchoolKeyRole::kRecovery;
  std::array<std::uint8_t, 32> bytes{};
  // BLAKE2b-128 of the key bytes: identifies the key in headers and logs.
  std::array<std::uint8_t, 16> fingerprint() const;
};

struct SchoolKeyPair {
  SchoolPublicKey public_key;
  SchoolSecretKey secret_key;
};

inline constexpr std::size_t kSealedMasterKeySize = 32 + 48;  // + crypto_box_SEALBYTES
using SealedMasterKey = std::array<std::uint8_t, kSealedMasterKeySize>;

SchoolKeyPair generate_school_key(SchoolKeyRole role, Random& random);

std::string encode_public_key_file(const SchoolPublicKey& key);
// source names the file in error messages. Throws Error(kDamaged) if malformed.
SchoolPublicKey parse_public_key_file(std::string_view text, std::string_view source);

std::string encode_secret_key_file(const SchoolKeyPair& pair, const Passphrase& passphrase, KdfCost cost,
                                   Random& random);
// Throws Error(kWrongPassphrase) or Error(kDamaged).
SchoolKeyPair open_secret_key_file(std::string_view text, const Passphrase& passphrase, std::string_view source);

SealedMasterKey seal_master_key(const MasterKey& key, const SchoolPublicKey& to);
std::optional<MasterKey> unseal_master_key(const SealedMasterKey& sealed, const SchoolKeyPair& pair);

}  // namespace coffer::keystore
