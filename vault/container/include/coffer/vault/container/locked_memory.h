// Key material that the libraries under the container copy (SQLCipher's
// passphrase, raw key and HMAC key; OpenSSL's expanded AES keys and HMAC
// states while a page is encrypted or checked) kept in locked memory, as
// the keystore keeps its own (sodium_malloc). Installed once, first thing
// in main(), before SQLite or OpenSSL allocate anything:
//
//  - SQLite's allocator (SQLITE_CONFIG_MALLOC): every allocation of at most
//    kLockedMaxBlock bytes (all of SQLCipher's key buffers) comes from one
//    mlock'ed, MADV_DONTDUMP arena, wiped when freed; larger ones (page
//    buffers, statements) from the ordinary heap.
//  - OpenSSL's (CRYPTO_set_mem_functions): the same arena for small blocks
//    (cipher and HMAC contexts), so transient key schedules are locked too.
//  - munlock(2) is interposed: SQLCipher 3.4.1 munlocks whole pages when it
//    frees a buffer (mlock does not count), which unlocked other keys that
//    shared the page; ranges inside the arena stay locked.
//
// If the arena is full, small blocks fall back to the heap (counted in
// locked_memory_stats), so nothing fails for lack of it.
#pragma once

#include <cstddef>
#include <string>

namespace coffer::vault {

inline constexpr std::size_t kLockedMaxBlock = 1024;
inline constexpr std::size_t kLockedArenaSize = std::size_t{4} << 20;

struct LockedMemoryStats {
  bool installed = false;
  bool locked = false;  // mlock of the arena succeeded
  std::size_t arena_bytes_in_use = 0;
  std::size_t fallbacks = 0;  // small blocks that went to the heap (arena full)
};

// Returns an empty string on success, else what could not be installed
// (SQLite or OpenSSL had already allocated, or the arena could not be
// mapped or locked).
std::string install_locked_allocators();
LockedMemoryStats locked_memory_stats();

}  // namespace coffer::vault
