// Move-only secret memory on sodium_malloc (guard pages, mlock'ed, wiped on
// free). One distinct type per key role so passing the wrong key does not
// compile. There is deliberately no printing, no conversion to string or hex:
// reaching the bytes takes the named call reveal_bytes().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace coffer::keystore {

// Initialises libsodium once; every entry point of keystore calls it.
void ensure_sodium();

class SecretBytes {
 public:
  explicit SecretBytes(std::size_t size);
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  std::size_t size() const noexcept { return size_; }
  std::span<const std::uint8_t> reveal_bytes() const noexcept { return {data_, size_}; }
  std::span<std::uint8_t> writable_bytes() noexcept { return {data_, size_}; }

 private:
  void release() noexcept;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// A fixed-size key of one role. Tag types make roles distinct.
template <class Tag, std::size_t N>
class Key {
 public:
  static constexpr std::size_t kSize = N;
  Key() : bytes_(N) {}
  std::span<const std::uint8_t, N> reveal_bytes() const noexcept {
    return std::span<const std::uint8_t, N>(bytes_.reveal_bytes().data(), N);
  }
  std::span<std::uint8_t, N> writable_bytes() noexcept {
    return std::span<std::uint8_t, N>(bytes_.writable_bytes().data(), N);
  }

 private:
  SecretBytes bytes_;
};

struct KekTag;
struct MasterKeyTag;
struct DbKeyTag;
struct HeaderMacKeyTag;
struct AuditKeyTag;
struct ChunkMacKeyTag;
struct SchoolSecretKeyTag;
struct AuditChainKeyTag;

using Kek = Key<KekTag, 32>;              // from a passphrase, wraps the master key
using MasterKey = Key<MasterKeyTag, 32>;  // the coffer's one random root key
using DbKey = Key<DbKeyTag, 32>;          // SQLCipher's raw key
using HeaderMacKey = Key<HeaderMacKeyTag, 32>;
using AuditKey = Key<AuditKeyTag, 32>;                // the in-coffer audit hash chain (subkey 3)
using ChunkMacKey = Key<ChunkMacKeyTag, 32>;          // per-chunk MACs of files/ (the file store)
using SchoolSecretKey = Key<SchoolSecretKeyTag, 32>;  // X25519 secret of a school key
// The sidecar journal's forward-secure MAC key: random K0, ratcheted after
// every authenticated record (audit_crypto.h).
using AuditChainKey = Key<AuditChainKeyTag, 32>;

// A passphrase of at most kMaxPassphrase bytes, built up in secure memory.
class Passphrase {
 public:
  static constexpr std::size_t kMaxLength = 1024;
  Passphrase() : bytes_(kMaxLength) {}
  // Appends one byte; false if the passphrase would exceed kMaxLength.
  bool push_back(std::uint8_t byte) noexcept;
  void clear() noexcept;
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::uint8_t> reveal_bytes() const noexcept { return bytes_.reveal_bytes().first(size_); }
  bool equals(const Passphrase& other) const noexcept;

 private:
  SecretBytes bytes_;
  std::size_t size_ = 0;
};

// Zeroes ordinary memory in a way the compiler cannot optimise away.
void wipe(std::span<std::uint8_t> bytes) noexcept;
void wipe(std::span<char> bytes) noexcept;

}  // namespace coffer::keystore
