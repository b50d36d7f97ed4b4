// RAII over SQLCipher: one move-only owner for sqlite3* and one for
// sqlite3_stmt*. SQLite result codes become coffer::Error here, once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/keystore/secret.h"

struct sqlite3;
struct sqlite3_stmt;

namespace coffer::vault {

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);  // copied (SQLITE_TRANSIENT)
  Statement& bind_null(int index);
  Statement& bind_blob(int index, std::span<const std::uint8_t> blob);
  // True while a row is available.
  bool step();
  void reset();
  std::int64_t column_int64(int column) const;
  std::string column_text(int column) const;
  std::vector<std::uint8_t> column_blob(int column) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  // Opens the main database file through the coffer VFS (header offset).
  // The file must already exist. Nothing is read or decrypted yet.
  static Database open_coffer_file(const std::filesystem::path& path);
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void key(const keystore::DbKey& key);
  void exec(std::string_view sql);
  Statement prepare(std::string_view sql);
  std::int64_t query_int64(std::string_view sql);
  // Incremental blob I/O: reads out.size() bytes of table.column at rowid
  // straight into out (no intermediate copy of the whole row).
  void read_blob(const char* table, const char* column, std::int64_t rowid, std::span<std::uint8_t> out);
  // False when SQLite is in autocommit mode (no transaction open, e.g.
  // after it rolled one back by itself on an I/O error).
  bool in_transaction() const;
  // A descriptor of the main file for the container's flock, and only for
  // that: all I/O goes through the VFS (see vfs_shim.h).
  int file_descriptor() const;
  // The header's bytes (absolute offsets, before the payload), read and
  // written through the same VFS as the pages, so a fault-injecting VFS
  // under it sees them too. A read past the end is zero-filled. Errors
  // throw coffer::Error (kIo, kNoSpace).
  void read_raw(std::span<std::uint8_t> out, std::uint64_t offset);
  void write_raw(std::span<const std::uint8_t> data, std::uint64_t offset);
  void sync_raw();
  // The whole file's size, header included.
  std::uint64_t raw_size();
  // True if `page` (one whole encrypted page, as stored) carries SQLCipher's
  // HMAC for page number `pgno` under this database's key: a page SQLite
  // wrote there, not bytes added by anyone without the key.
  bool page_authentic(std::span<const std::uint8_t> page, std::uint32_t pgno);
  bool integrity_failed() const;
  // True if `key` is this database's key (page 1's HMAC verifies under it),
  // checked before the connection is keyed and without SQLite reading the
  // file. False also for a damaged page 1 or an empty database.
  bool is_keyed_with(const keystore::DbKey& key);
  // Copies the whole database into the empty coffer file `target` (its
  // header already written) under another key: SQLCipher's
  // sqlcipher_export through an ATTACH on this connection, which goes
  // through the coffer VFS like the main file (offset, padding), with this
  // connection's pragmas (temp_store = MEMORY: no plaintext temporary file)
  // and auto_vacuum = FULL. Only `target` is written. For re-keying.
  void export_to(const std::filesystem::path& target, const keystore::DbKey& key);
  void close();

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// Translates a SQLite result code into the coffer error (never returns).
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view doing);

}  // namespace coffer::vault
