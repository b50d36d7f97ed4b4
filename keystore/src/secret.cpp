// Secret memory on sodium_malloc; see secret.h.
#include "coffer/keystore/secret.h"

#include <sodium.h>

#include <new>
#include <stdexcept>
#include <utility>

namespace coffer::keystore {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

SecretBytes::SecretBytes(std::size_t size) : size_(size) {
  ensure_sodium();
  // sodium_malloc(0) is legal but unhelpful; keep one byte so data_ is valid.
  data_ = static_cast<std::uint8_t*>(sodium_malloc(size == 0 ? 1 : size));
  if (data_ == nullptr) throw std::bad_alloc();
  sodium_memzero(data_, size == 0 ? 1 : size);
}

SecretBytes::~SecretBytes() { release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecretBytes::release() noexcept {
  // sodium_free zeroes the memory before unmapping it.
  if (data_ != nullptr) sodium_free(data_);
  data_ = nullptr;
  size_ = 0;
}

bool Passphrase::push_back(std::uint8_t byte) noexcept {
  if (size_ >= kMaxLength) return false;
  bytes_.writable_bytes()[size_++] = byte;
  return true;
}

void Passphrase::clear() noexcept {
  sodium_memzero(bytes_.writable_bytes().data(), bytes_.size());
  size_ = 0;
}

bool Passphrase::equals(const Passphrase& other) const noexcept {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(reveal_bytes().data(), other.reveal_bytes().data(), size_) == 0;
}

void wipe(std::span<std::uint8_t> bytes) noexcept {
  if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
}

void wipe(std::span<char> bytes) noexcept {
  if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
}

}  // namespace coffer::keystore
