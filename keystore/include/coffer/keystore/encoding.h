// Base64 and hex for public values only (key files, fingerprints, ids).
// Secrets never pass through these: they would end up in std::string.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace coffer::keystore {

std::string to_base64(std::span<const std::uint8_t> data);
// Strict: standard alphabet with padding, no whitespace. Empty on bad input.
std::optional<std::vector<std::uint8_t>> from_base64(std::string_view text);
std::string to_hex(std::span<const std::uint8_t> data);

}  // namespace coffer::keystore
