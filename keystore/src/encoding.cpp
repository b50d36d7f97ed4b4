// Base64/hex of public values; see encoding.h.
#include "coffer/keystore/encoding.h"

#include <sodium.h>

#include "coffer/keystore/secret.h"

namespace coffer::keystore {

std::string to_base64(std::span<const std::uint8_t> data) {
  ensure_sodium();
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(data.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), data.data(), data.size(), kVariant);
  out.resize(out.size() - 1);  // drop the terminating NUL
  return out;
}

std::optional<std::vector<std::uint8_t>> from_base64(std::string_view text) {
  ensure_sodium();
  // "" is the canonical encoding of nothing; and sodium_base642bin must not
  // get the null buffer an empty vector has (UBSan, found by fuzz_school_key).
  if (text.empty()) return std::vector<std::uint8_t>{};
  std::vector<std::uint8_t> out(text.size());
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size())
    return std::nullopt;
  out.resize(len);
  // Strictness: only the canonical encoding is accepted.
  if (to_base64(out) != text) return std::nullopt;
  return out;
}

std::string to_hex(std::span<const std::uint8_t> data) {
  ensure_sodium();
  std::string out(data.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data.data(), data.size());
  out.pop_back();
  return out;
}

}  // namespace coffer::keystore
