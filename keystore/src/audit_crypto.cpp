// Audit trail cryptography; see audit_crypto.h and docs/FORMAT.md §12.
#include "coffer/keystore/audit_crypto.h"

#include <sodium.h>

#include <algorithm>
#include <string_view>

namespace coffer::keystore {
namespace {

constexpr std::string_view kRatchetLabel = "coffer audit ratchet v1";

static_assert(kSealOverhead == crypto_box_SEALBYTES);
static_assert(AuditChainKey::kSize == crypto_generichash_BYTES);

Digest32 keyed_blake2b(std::span<const std::uint8_t, 32> key, std::span<const std::span<const std::uint8_t>> parts) {
  ensure_sodium();
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.data(), key.size(), 32);
  for (auto part : parts) crypto_generichash_update(&st, part.data(), part.size());
  Digest32 out{};
  crypto_generichash_final(&st, out.data(), out.size());
  sodium_memzero(&st, sizeof st);
  return out;
}

}  // namespace

AuditChainKey random_audit_chain_key(Random& random) {
  ensure_sodium();
  AuditChainKey key;
  random.fill(key.writable_bytes());
  return key;
}

void ratchet(AuditChainKey& key) {
  ensure_sodium();
  // Computed into secure memory, then copied over the old key in place: no
  // copy of either key is left in ordinary memory.
  SecretBytes next(AuditChainKey::kSize);
  crypto_generichash(next.writable_bytes().data(), AuditChainKey::kSize,
                     reinterpret_cast<const std::uint8_t*>(kRatchetLabel.data()), kRatchetLabel.size(),
                     key.reveal_bytes().data(), AuditChainKey::kSize);
  auto out = key.writable_bytes();
  std::copy(next.reveal_bytes().begin(), next.reveal_bytes().end(), out.begin());
}

Digest32 audit_entry_mac(const AuditChainKey& key, std::span<const std::uint8_t> data) {
  std::span<const std::uint8_t> parts[] = {data};
  return keyed_blake2b(key.reveal_bytes(), parts);
}

static_assert(sizeof(crypto_generichash_state) <= 384 && alignof(crypto_generichash_state) <= 64);

AuditMacStream::AuditMacStream(const AuditChainKey& key) {
  ensure_sodium();
  crypto_generichash_init(reinterpret_cast<crypto_generichash_state*>(state_.data()), key.reveal_bytes().data(),
                          AuditChainKey::kSize, 32);
}

AuditMacStream::~AuditMacStream() { sodium_memzero(state_.data(), state_.size()); }

void AuditMacStream::update(std::span<const std::uint8_t> data) {
  crypto_generichash_update(reinterpret_cast<crypto_generichash_state*>(state_.data()), data.data(), data.size());
}

Digest32 AuditMacStream::finish() {
  Digest32 out{};
  crypto_generichash_final(reinterpret_cast<crypto_generichash_state*>(state_.data()), out.data(), out.size());
  return out;
}

Digest32 audit_chain_hash(const AuditKey& key, std::span<const std::uint8_t, 32> previous,
                          std::span<const std::uint8_t> entry) {
  std::span<const std::uint8_t> parts[] = {previous, entry};
  return keyed_blake2b(key.reveal_bytes(), parts);
}

bool digest_equal(const Digest32& a, const Digest32& b) {
  ensure_sodium();
  return crypto_verify_32(a.data(), b.data()) == 0;
}

std::vector<std::uint8_t> seal_to_school(std::span<const std::uint8_t> plaintext, const SchoolPublicKey& to) {
  ensure_sodium();
  std::vector<std::uint8_t> out(plaintext.size() + crypto_box_SEALBYTES);
  crypto_box_seal(out.data(), plaintext.data(), plaintext.size(), to.bytes.data());
  return out;
}

std::optional<std::vector<std::uint8_t>> open_sealed(std::span<const std::uint8_t> sealed, const SchoolKeyPair& pair) {
  ensure_sodium();
  if (sealed.size() < crypto_box_SEALBYTES) return std::nullopt;
  std::vector<std::uint8_t> out(sealed.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(), pair.public_key.bytes.data(),
                           pair.secret_key.reveal_bytes().data()) != 0)
    return std::nullopt;
  return out;
}

SealedChainKey seal_chain_key(const AuditChainKey& key, const SchoolPublicKey& to) {
  ensure_sodium();
  SealedChainKey out{};
  crypto_box_seal(out.data(), key.reveal_bytes().data(), AuditChainKey::kSize, to.bytes.data());
  return out;
}

std::optional<AuditChainKey> unseal_chain_key(std::span<const std::uint8_t> sealed, const SchoolKeyPair& pair) {
  ensure_sodium();
  if (sealed.size() != kSealedChainKeySize) return std::nullopt;
  AuditChainKey key;
  if (crypto_box_seal_open(key.writable_bytes().data(), sealed.data(), sealed.size(), pair.public_key.bytes.data(),
                           pair.secret_key.reveal_bytes().data()) != 0)
    return std::nullopt;
  return key;
}

AuditChainKey copy_chain_key(const AuditChainKey& key) {
  AuditChainKey out;
  auto dst = out.writable_bytes();
  std::copy(key.reveal_bytes().begin(), key.reveal_bytes().end(), dst.begin());
  return out;
}

}  // namespace coffer::keystore
