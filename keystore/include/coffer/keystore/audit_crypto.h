// The audit trail's cryptography. In the coffer: a hash chain keyed with
// subkey 3 (AuditKey). In the sidecar journal: each event sealed to the
// school's audit public key (crypto_box_seal) under a forward-secure MAC
// chain whose key is ratcheted (and the old one erased) after every MAC, so
// a key found later cannot re-MAC earlier records. docs/FORMAT.md §12.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "coffer/keystore/digest.h"
#include "coffer/keystore/random.h"
#include "coffer/keystore/school_key.h"
#include "coffer/keystore/secret.h"

namespace coffer::keystore {

inline constexpr std::size_t kSealOverhead = 48;  // crypto_box_SEALBYTES
inline constexpr std::size_t kSealedChainKeySize = AuditChainKey::kSize + kSealOverhead;
using SealedChainKey = std::array<std::uint8_t, kSealedChainKeySize>;

AuditChainKey random_audit_chain_key(Random& random);

// k := BLAKE2b-256 keyed with k over "coffer audit ratchet v1"; the old
// bytes are overwritten in place (one-way: K_i cannot be had from K_{i+1}).
void ratchet(AuditChainKey& key);

// A sidecar record's MAC: BLAKE2b-256 keyed with the chain key.
Digest32 audit_entry_mac(const AuditChainKey& key, std::span<const std::uint8_t> data);

// The same MAC over data given in pieces (a record's MAC covers every byte
// since the previous MAC, which may be long). The state is wiped on
// destruction.
class AuditMacStream {
 public:
  explicit AuditMacStream(const AuditChainKey& key);
  ~AuditMacStream();
  AuditMacStream(const AuditMacStream&) = delete;
  AuditMacStream& operator=(const AuditMacStream&) = delete;
  void update(std::span<const std::uint8_t> data);
  Digest32 finish();

 private:
  alignas(64) std::array<std::uint8_t, 384> state_{};  // crypto_generichash_state
};

// One link of the in-coffer chain: BLAKE2b-256 keyed with subkey 3 over
// previous ‖ entry.
Digest32 audit_chain_hash(const AuditKey& key, std::span<const std::uint8_t, 32> previous,
                          std::span<const std::uint8_t> entry);

// Constant-time equality of two digests (crypto_verify_32).
bool digest_equal(const Digest32& a, const Digest32& b);

// crypto_box_seal to a school public key: plaintext.size() + 48 bytes.
std::vector<std::uint8_t> seal_to_school(std::span<const std::uint8_t> plaintext, const SchoolPublicKey& to);
// Empty if the ciphertext does not open with this key pair (wrong key,
// damaged, too short).
std::optional<std::vector<std::uint8_t>> open_sealed(std::span<const std::uint8_t> sealed, const SchoolKeyPair& pair);

SealedChainKey seal_chain_key(const AuditChainKey& key, const SchoolPublicKey& to);
std::optional<AuditChainKey> unseal_chain_key(std::span<const std::uint8_t> sealed, const SchoolKeyPair& pair);

// An explicit copy of a chain key (secure memory), for a writer that must
// try a key before committing to it.
AuditChainKey copy_chain_key(const AuditChainKey& key);

}  // namespace coffer::keystore
