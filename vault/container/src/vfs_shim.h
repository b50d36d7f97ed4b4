// The SQLite VFS "coffer": the main database lives in the coffer file after
// the fixed-size header, so every main-database offset is shifted by
// kPayloadOffset (the pattern of SQLite's ext/misc/appendvfs.c). All bytes,
// the main file's and the journal's, go through the "lower" VFS: the one
// that was SQLite's default when the shim was registered (the OS's; the
// fault-injection tests put theirs there, tests/fault). Header I/O goes
// through the same lower file, so tests see and can fail every write.
// Private to vault: nothing outside the container touches SQLite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

struct sqlite3;

namespace coffer::vault::shim {

inline constexpr const char* kVfsName = "coffer";

// Registers the VFS once (thread-safe). Throws on failure.
void register_vfs(std::size_t payload_offset, std::size_t page_size, std::size_t unauthenticated_tail);

// A descriptor of the main database file of db, or -1: the container takes
// its exclusive flock on it. It is the shim's own (opened O_NOFOLLOW before
// the lower file; the name must still lead to the same inode after the
// lower file is open), closed with the connection; never used for I/O.
int main_file_descriptor(sqlite3* db);

// Raw I/O at absolute file offsets (the header), through the lower VFS.
// Each returns an SQLite result code (SQLITE_OK on success; a read past
// the end is SQLITE_IOERR_SHORT_READ with the rest zero-filled).
int read_raw(sqlite3* db, std::span<std::uint8_t> out, std::uint64_t offset);
int write_raw(sqlite3* db, std::span<const std::uint8_t> data, std::uint64_t offset);
int sync_raw(sqlite3* db);
// The whole file's size in bytes, header included.
int raw_size(sqlite3* db, std::uint64_t* size);

// Gives the shim the database's raw key (32 bytes), so every whole page it
// reads is checked against SQLCipher's own page HMAC before SQLCipher sees
// it. SQLCipher 3.4.1 alone, on a bad HMAC, hands SQLite a zeroed page and
// reports the error only at the next page it fetches; after the last page
// of a record's overflow chain there may be none, and the record would
// read back with zeros (found by the tamper trials). The key is kept in
// locked memory (keystore::SecretBytes) and only its derived HMAC key.
// Fails closed: until a key is given, and if its HMAC key cannot be
// derived, every whole-page read fails (page_key_failed) rather than pass a
// page unchecked. Throws std::runtime_error if db is not a coffer-VFS
// connection or the key is not 32 bytes.
// schema: the attached database's name for a file ATTACHed through the
// coffer VFS (a re-key's export target, Database::export_to).
void set_page_key(sqlite3* db, std::span<const std::uint8_t> raw_key, const char* schema = "main");

// Whether page 1 of the main file carries a page HMAC made with `raw_key`
// (the database's raw key): a key that opens the database, told apart
// without SQLite touching the file. SQLITE_OK with *matches set, or the
// read's error (an empty database: SQLITE_IOERR_SHORT_READ).
int page_one_matches_key(sqlite3* db, std::span<const std::uint8_t> raw_key, bool* matches);

// True if `page` (a whole page as stored: zero padding, not all zero) has
// SQLCipher's HMAC for page number `pgno` under the page key (false when
// no page key was given).
bool page_authentic(sqlite3* db, std::span<const std::uint8_t> page, std::uint32_t pgno);

// True if a page read was refused because no page key was given or its
// HMAC key could not be derived.
bool page_key_failed(sqlite3* db);

// True if a read of the main file failed an integrity check of the shim
// (non-zero padding, an all-zero page) since the connection opened.
bool main_file_integrity_failed(sqlite3* db);

}  // namespace coffer::vault::shim
