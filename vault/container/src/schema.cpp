// Schema migrations; see schema.h. A migration, once released, never
// changes: later versions add new entries to kMigrations.
#include "coffer/vault/container/schema.h"

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
    // 3: pupil records (see records.h). Lists hang off the pupil in
    // pupil_items (kind: class, condition, allergy, medication, dietary,
    // activity); dates are YYYY-MM-DD text; expires NULL = the coffer's.
    "CREATE TABLE pupils(id INTEGER PRIMARY KEY, source_key TEXT NOT NULL UNIQUE, upn TEXT NOT NULL,"
    " surname TEXT NOT NULL, forename TEXT NOT NULL, preferred_surname TEXT NOT NULL,"
    " preferred_forename TEXT NOT NULL, dob TEXT, sex TEXT NOT NULL, year_group TEXT NOT NULL,"
    " reg_group TEXT NOT NULL, care_plan TEXT NOT NULL, emergency_consent TEXT NOT NULL,"
    " swimming TEXT NOT NULL, support_note TEXT NOT NULL, photo TEXT NOT NULL, expires TEXT,"
    " import_id INTEGER NOT NULL);"
    "CREATE TABLE pupil_items(pupil_id INTEGER NOT NULL REFERENCES pupils(id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL, position INTEGER NOT NULL, text TEXT NOT NULL, detail TEXT NOT NULL,"
    " PRIMARY KEY(pupil_id, kind, position)) WITHOUT ROWID;"
    "CREATE TABLE contacts(id INTEGER PRIMARY KEY,"
    " pupil_id INTEGER NOT NULL REFERENCES pupils(id) ON DELETE CASCADE, priority INTEGER NOT NULL,"
    " name TEXT NOT NULL, relationship TEXT NOT NULL, parental_responsibility INTEGER,"
    " ranked INTEGER NOT NULL, do_not_release INTEGER NOT NULL);"
    "CREATE INDEX contacts_pupil ON contacts(pupil_id);"
    "CREATE TABLE contact_phones(contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL, kind TEXT NOT NULL, number TEXT NOT NULL, display TEXT NOT NULL,"
    " PRIMARY KEY(contact_id, position)) WITHOUT ROWID;"
    "CREATE TABLE imports(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, by_user TEXT NOT NULL,"
    " format TEXT NOT NULL, source TEXT NOT NULL, pupils INTEGER NOT NULL, dropped TEXT NOT NULL,"
    " not_in_profile TEXT NOT NULL, unmapped TEXT NOT NULL);",
    // 4: the audit trail (see audit.h, FORMAT.md §12). audit_log is a hash
    // chain keyed with subkey 3; its head (audit_count, audit_head) lives in
    // coffer_meta. audit_sidecar holds the sidecar writer's current chain
    // key (one row, overwritten in place) and its record count.
    "CREATE TABLE audit_log(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " pid INTEGER NOT NULL, kind INTEGER NOT NULL, exe TEXT NOT NULL, object TEXT NOT NULL,"
    " result TEXT NOT NULL, detail TEXT NOT NULL, hash BLOB NOT NULL);"
    "CREATE TABLE audit_sidecar(id INTEGER PRIMARY KEY CHECK (id = 1), chain_key BLOB NOT NULL,"
    " records INTEGER NOT NULL);",
    // 5: a file's own expiry (unix seconds, the last second; NULL = the
    // coffer's), set through the extended attribute user.coffer.expires.
    "ALTER TABLE inodes ADD COLUMN expires INTEGER;",
    // 6: the header this database belongs with (header_binding.h): digests
    // of the MAC-covered bytes of the current header and of one being
    // written. Empty after the migration: the first unlock records the
    // header it opened with.
    "CREATE TABLE header_binding(id INTEGER PRIMARY KEY CHECK (id = 1), current BLOB NOT NULL,"
    " pending BLOB);",
};

bool has_version_table(Database& db) {
  return db.query_int64("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'") == 1;
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
                                         ", newer than this build of coffer (" + std::to_string(kSchemaVersion) +
                                         "); install a newer coffer");
  if (version == kSchemaVersion) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    for (int v = version; v < kSchemaVersion; ++v) db.exec(kMigrations[v]);
    db.exec("UPDATE schema_version SET version = " + std::to_string(kSchemaVersion));
    db.exec("COMMIT");
  } catch (...) {
    try {
      db.exec("ROLLBACK");
    } catch (...) {
    }
    throw;
  }
}

}  // namespace coffer::vault
