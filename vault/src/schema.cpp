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
