// Schema migrations; see schema.h. A migration, once released, never
// changes: later versions add new entries to kMigrations.
#include "coffer/vault/schema.h"

#include <array>
#include <string>

#include "coffer/error.h"

namespace coffer::vault {
namespace {

// kMigrations[i] takes the schema from version i to i + 1.
constexpr std::array<const char*, kSchemaVersion> kMigrations = {
    // 1: the version table and the authoritative copies of the header hints.
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "INSERT INTO schema_version VALUES (0);"
    "CREATE TABLE coffer_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    // 2: the files/ tree. Times are nanoseconds since the epoch; uid/gid
    // 4294967294 means "whoever mounts the coffer" (see filestore.h).
    // Chunks are rowid rows so they can be read with incremental blob I/O.
    "CREATE TABLE inodes(ino INTEGER PRIMARY KEY, mode INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " gid INTEGER NOT NULL, nlink INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0,"
    " rdev INTEGER NOT NULL DEFAULT 0, atime INTEGER NOT NULL, mtime INTEGER NOT NULL,"
    " ctime INTEGER NOT NULL, target BLOB);"
    "CREATE TABLE dirents(id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name BLOB NOT NULL,"
    " ino INTEGER NOT NULL, UNIQUE(parent, name));"
    "CREATE INDEX dirents_ino ON dirents(ino);"
    "CREATE TABLE chunks(id INTEGER PRIMARY KEY, ino INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " counter INTEGER NOT NULL, mac BLOB NOT NULL, data BLOB NOT NULL, UNIQUE(ino, idx));"
    "INSERT INTO inodes(ino, mode, uid, gid, nlink, atime, mtime, ctime) VALUES"
    " (2, 16832, 4294967294, 4294967294, 2, strftime('%s','now') * 1000000000,"
    " strftime('%s','now') * 1000000000, strftime('%s','now') * 1000000000);",
};

bool has_version_table(Database& db) {
  return db.query_int64(
             "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'") ==
         1;
}

}  // namespace

int schema_version(Database& db) {
  if (!has_version_table(db)) return 0;
  return static_cast<int>(db.query_int64("SELECT version FROM schema_version"));
}

void migrate(Database& db) {
  int version = schema_version(db);
  if (version > kSchemaVersion)
    throw Error(ErrorCode::kDamaged, "the coffer uses database schema " + std::to_string(version) +
                                         ", newer than this build of coffer (" +
                                         std::to_string(kSchemaVersion) + "); install a newer coffer");
  if (version == kSchemaVersion) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    for (int v = version; v < kSchemaVersion; ++v) db.exec(kMigrations[v]);
    db.exec("UPDATE schema_version SET version = " + std::to_string(kSchemaVersion));
    db.exec("COMMIT");
  } catch (...) {
    try { db.exec("ROLLBACK"); } catch (...) {}
    throw;
  }
}

}  // namespace coffer::vault
