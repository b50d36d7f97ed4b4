// The database schema: a version table and an ordered list of migrations,
// each applied once, in one transaction, when a coffer is opened.
#pragma once

#include "coffer/vault/container/database.h"

namespace coffer::vault {

inline constexpr int kSchemaVersion = 6;

// Brings the schema up to kSchemaVersion. Throws Error(kDamaged) if the
// coffer was written by a newer schema than this build knows.
void migrate(Database& db);
int schema_version(Database& db);

}  // namespace coffer::vault
