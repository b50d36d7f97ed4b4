// SQLCipher RAII and error translation; see database.h.
#include "coffer/vault/container/database.h"

#include <sqlite3.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "coffer/error.h"
#include "coffer/keystore/subkeys.h"
#include "coffer/vault/container/layout.h"
#include "vfs_shim.h"

namespace coffer::vault {

void throw_sqlite(sqlite3* db, int rc, std::string_view doing) {
  std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = std::string(doing) + ": " + detail;
  bool shim_integrity = db && shim::main_file_integrity_failed(db);
  if (db && shim::page_key_failed(db))
    throw Error(ErrorCode::kOther, std::string(doing) +
                                       ": the key that checks each page could not be derived, so nothing was read "
                                       "(pages are never passed on unchecked)");
  // SQLite's own words ("database disk image is malformed", "file is
  // encrypted or is not a database") do not tell a teacher what happened.
  const std::string damaged = std::string(doing) + ": the coffer is damaged or has been tampered with (" + detail +
                              "); check it with coffer fsck and ask IT to restore it";
  switch (rc & 0xFF) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      throw Error(ErrorCode::kDamaged, damaged);
    case SQLITE_FULL:
      throw Error(ErrorCode::kNoSpace, std::string(doing) + ": the disk is full");
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      if (shim_integrity) throw Error(ErrorCode::kDamaged, damaged);
      throw Error(ErrorCode::kIo, message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw Error(ErrorCode::kBusy, message);
    default:
      if (shim_integrity) throw Error(ErrorCode::kDamaged, damaged);
      throw Error(ErrorCode::kOther, message);
  }
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(db, rc, "preparing a database statement");
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& o) noexcept : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

Statement& Statement::bind(int i, std::int64_t v) {
  int rc = sqlite3_bind_int64(stmt_, i, v);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "binding a value");
  return *this;
}

Statement& Statement::bind(int i, std::string_view t) {
  int rc = sqlite3_bind_text(stmt_, i, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "binding a value");
  return *this;
}

Statement& Statement::bind_null(int i) {
  int rc = sqlite3_bind_null(stmt_, i);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "binding a value");
  return *this;
}

Statement& Statement::bind_blob(int i, std::span<const std::uint8_t> b) {
  int rc = sqlite3_bind_blob(stmt_, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "binding a value");
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_sqlite(db_, rc, "reading or writing the coffer database");
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::column_int64(int c) const { return sqlite3_column_int64(stmt_, c); }

std::string Statement::column_text(int c) const {
  const auto* p = sqlite3_column_text(stmt_, c);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, c)) : std::string();
}

std::vector<std::uint8_t> Statement::column_blob(int c) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, c));
  return p ? std::vector<std::uint8_t>(p, p + sqlite3_column_bytes(stmt_, c)) : std::vector<std::uint8_t>();
}

Database Database::open_coffer_file(const std::filesystem::path& path) {
  shim::register_vfs(kPayloadOffset, kCipherPageSize, kCipherUnauthenticatedTail);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, shim::kVfsName);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    throw Error(ErrorCode::kIo, "cannot open " + path.string() + ": " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  return Database(db);
}

Database::~Database() { close(); }

Database::Database(Database&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}

Database& Database::operator=(Database&& o) noexcept {
  if (this != &o) {
    close();
    db_ = std::exchange(o.db_, nullptr);
  }
  return *this;
}

void Database::close() {
  // sqlite3_close_v2 defers if statements are alive; all are RAII-owned and
  // finalised before the Database that made them in normal use.
  if (db_) sqlite3_close_v2(db_);
  db_ = nullptr;
}

void Database::key(const keystore::DbKey& key) {
  // The page check first: no page is read before it can be checked.
  try {
    shim::set_page_key(db_, key.reveal_bytes());
  } catch (const std::runtime_error& e) {
    throw Error(ErrorCode::kOther, std::string("setting the page-integrity key: ") + e.what());
  }
  keystore::SecretBytes literal = keystore::sqlcipher_raw_key(key);
  // The literal ends with a NUL that is not part of the key.
  int rc = sqlite3_key(db_, literal.reveal_bytes().data(), static_cast<int>(literal.size() - 1));
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "setting the database key");
}

void Database::exec(std::string_view sql) {
  std::string copy(sql);
  int rc = sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "updating the coffer database");
}

Statement Database::prepare(std::string_view sql) { return Statement(db_, sql); }

std::int64_t Database::query_int64(std::string_view sql) {
  Statement s = prepare(sql);
  if (!s.step()) throw Error(ErrorCode::kDamaged, "the coffer database returned no value");
  return s.column_int64(0);
}

void Database::read_blob(const char* table, const char* column, std::int64_t rowid, std::span<std::uint8_t> out) {
  sqlite3_blob* blob = nullptr;
  int rc = sqlite3_blob_open(db_, "main", table, column, rowid, 0, &blob);
  if (rc == SQLITE_OK) rc = sqlite3_blob_read(blob, out.data(), static_cast<int>(out.size()), 0);
  sqlite3_blob_close(blob);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "reading file contents");
}

bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

int Database::file_descriptor() const { return shim::main_file_descriptor(db_); }

void Database::read_raw(std::span<std::uint8_t> out, std::uint64_t offset) {
  int rc = shim::read_raw(db_, out, offset);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) throw_sqlite(nullptr, rc, "reading the coffer's header");
}

void Database::write_raw(std::span<const std::uint8_t> data, std::uint64_t offset) {
  int rc = shim::write_raw(db_, data, offset);
  if (rc != SQLITE_OK) throw_sqlite(nullptr, rc, "writing the coffer's header");
}

void Database::sync_raw() {
  int rc = shim::sync_raw(db_);
  if (rc != SQLITE_OK) throw_sqlite(nullptr, rc, "saving the coffer's header to disk");
}

bool Database::page_authentic(std::span<const std::uint8_t> page, std::uint32_t pgno) {
  return shim::page_authentic(db_, page, pgno);
}

std::uint64_t Database::raw_size() {
  std::uint64_t size = 0;
  int rc = shim::raw_size(db_, &size);
  if (rc != SQLITE_OK) throw_sqlite(nullptr, rc, "reading the coffer's size");
  return size;
}
bool Database::is_keyed_with(const keystore::DbKey& key) {
  bool matches = false;
  int rc = shim::page_one_matches_key(db_, key.reveal_bytes(), &matches);
  if (rc == SQLITE_IOERR_SHORT_READ) return false;
  if (rc != SQLITE_OK) throw_sqlite(nullptr, rc, "reading the coffer database");
  return matches;
}

void Database::export_to(const std::filesystem::path& target, const keystore::DbKey& key) {
  keystore::SecretBytes literal = keystore::sqlcipher_raw_key(key);
  {
    // The raw-key literal without its terminating NUL, bound as a blob.
    Statement attach = prepare("ATTACH DATABASE ? AS coffer_export KEY ?");
    attach.bind(1, target.string()).bind_blob(2, literal.reveal_bytes().first(literal.size() - 1));
    attach.step();
  }
  try {
    // The shim checks every page it reads back (a cache spill during a large
    // export re-reads pages) against the page HMAC under the target's key,
    // whose salt is page 1's: user_version writes page 1 first.
    try {
      shim::set_page_key(db_, key.reveal_bytes(), "coffer_export");
    } catch (const std::runtime_error& e) {
      throw Error(ErrorCode::kOther, std::string("setting the page-integrity key of the copy: ") + e.what());
    }
    exec("PRAGMA coffer_export.cipher_page_size = " + std::to_string(kCipherPageSize) +
         ";"
         "PRAGMA coffer_export.auto_vacuum = FULL;"
         "PRAGMA coffer_export.user_version = 0;");
    Statement e = prepare("SELECT sqlcipher_export('coffer_export')");
    e.step();
  } catch (...) {
    try {
      exec("DETACH DATABASE coffer_export");
    } catch (...) {
    }
    throw;
  }
  exec("DETACH DATABASE coffer_export");
}

bool Database::integrity_failed() const { return shim::main_file_integrity_failed(db_); }

}  // namespace coffer::vault
