// The coffer file below any key: the checks that make a path a coffer
// file, reading its header without a key, keying and configuring the
// database inside it, writing both header copies, and the container half
// of `coffer fsck`. The facade (coffer/coffer.h) builds on these.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "coffer/keystore/secret.h"
#include "coffer/vault/container/database.h"
#include "coffer/vault/container/header.h"
#include "coffer/vault/container/meta.h"

namespace coffer::vault {

struct FsckReport {
  std::vector<std::string> problems;  // empty = healthy
  std::vector<std::string> notes;
  bool ok() const { return problems.empty(); }
};

// The sibling files SQLite may leave next to a coffer (journal, WAL).
std::vector<std::filesystem::path> sibling_files(const std::filesystem::path& path);

// A coffer is a regular file; symlinks are not followed (a link could point
// a wipe at something else). Returns its size; throws kIo or kDamaged.
std::uint64_t require_regular_file(const std::filesystem::path& path);

// Reads and selects the header without a key or a lock (for `coffer info`).
SelectedHeader read_header(const std::filesystem::path& path);

// Throws kDamaged unless the file is the header area plus whole pages.
void check_payload_size(std::uint64_t size, const std::filesystem::path& path);

// Keys the database with the master key's database subkey and applies the
// connection pragmas every coffer connection uses.
void open_database(Database& db, const keystore::MasterKey& master);

// The header hints as coffer_meta rows: the authoritative copies.
MetaRows hint_rows(const Header& header);
// The header hints that differ from the authoritative database copy.
std::vector<std::string> meta_mismatches(Database& db, const Header& header);

// Writes `header` with the next generation to copy A, syncs, then to copy
// B, syncs: a torn write leaves one valid copy.
void write_header_copies(Database& db, Header& header);
// Rewrites one copy (0 = A, 1 = B) with the next generation, and syncs:
// for a failed unlock while the two copies hold different headers, which
// only an unlock can tell apart, so each keeps its own.
void write_header_copy(Database& db, Header& header, int copy);

// The container's integrity: both header copies (parse and MAC), the schema
// version, header hints, the file's size against the database's pages,
// SQLite's integrity_check (which reads, and so authenticates, every page).
FsckReport check_container(Database& db, const Header& header, const keystore::HeaderMacKey& mac_key,
                           const std::filesystem::path& path);

}  // namespace coffer::vault
