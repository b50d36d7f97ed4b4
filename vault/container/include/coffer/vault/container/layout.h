// Byte-level constants of format version 1 that only the container needs.
// docs/FORMAT.md is the normative description; keep the two in step.
#pragma once

#include <cstddef>

namespace coffer::vault {

// The header area (two copies of kHeaderCopySize) precedes the database.
inline constexpr std::size_t kPayloadOffset = 8192;
// SQLCipher page size; large pages roughly halve the cost of bulk writes.
inline constexpr std::size_t kCipherPageSize = 16384;
// SQLCipher 3.4.1 with HMAC-SHA1 reserves 48 bytes per page: IV 16, HMAC 20
// and 12 bytes of padding the HMAC does not cover (see vfs_shim.cpp).
inline constexpr std::size_t kCipherUnauthenticatedTail = 12;

}  // namespace coffer::vault
