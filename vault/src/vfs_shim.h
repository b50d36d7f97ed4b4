// The SQLite VFS "coffer": the main database lives in the coffer file after
// the fixed-size header, so every main-database offset is shifted by
// kPayloadOffset (the pattern of SQLite's ext/misc/appendvfs.c). Journals
// and other files go to the default VFS unchanged (siblings NAME-journal).
// Private to vault: nothing outside the container touches SQLite.
#pragma once

#include <cstddef>
#include <cstdint>

struct sqlite3;

namespace coffer::vault::shim {

inline constexpr const char* kVfsName = "coffer";

// Registers the VFS once (thread-safe). Throws on failure.
void register_vfs(std::size_t payload_offset, std::size_t page_size,
                  std::size_t unauthenticated_tail);

// The descriptor of the main database file of db, or -1. Header I/O and the
// exclusive flock go through this descriptor, so no second descriptor of the
// file is ever opened or closed while SQLite has it.
int main_file_descriptor(sqlite3* db);

// True if a read of the main file failed an integrity check of the shim
// (non-zero padding, an all-zero page) since the connection opened.
bool main_file_integrity_failed(sqlite3* db);

}  // namespace coffer::vault::shim
