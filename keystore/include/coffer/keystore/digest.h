// Hashes and MACs (BLAKE2b) and constant-time comparison. Checksums are
// unkeyed and only detect accidental damage; MACs detect deliberate edits.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "coffer/keystore/secret.h"

namespace coffer::keystore {

using Digest32 = std::array<std::uint8_t, 32>;
using Digest16 = std::array<std::uint8_t, 16>;

Digest32 checksum32(std::span<const std::uint8_t> data);
Digest16 checksum16(std::span<const std::uint8_t> data);
Digest32 header_mac(const HeaderMacKey& key, std::span<const std::uint8_t> data);
// MAC of a file chunk: binds its position (prefix: inode, index, counter,
// length) to its content, so a moved, replayed-elsewhere or zeroed chunk fails.
Digest32 chunk_mac(const ChunkMacKey& key, std::span<const std::uint8_t> prefix, std::span<const std::uint8_t> data);

// Constant-time equality; false if sizes differ.
bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace coffer::keystore
