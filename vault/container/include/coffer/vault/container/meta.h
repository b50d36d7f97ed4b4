// The coffer_meta table: small named values inside the encrypted database
// (the authoritative header hints, the profile and its fields, who
// provisioned the coffer, whether the passphrase must change at first open).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coffer/vault/container/database.h"

namespace coffer::vault {

using MetaRows = std::vector<std::pair<std::string, std::string>>;

void put_meta(Database& db, const MetaRows& rows);
std::optional<std::string> get_meta(Database& db, std::string_view key);
std::map<std::string, std::string> all_meta(Database& db);
// The coffer's clock high-water mark (unix seconds; 0 when never set) and
// raising it (never lowered here; see Coffer::reset_clock_high_water).
std::int64_t clock_mark(Database& db);
void raise_clock_mark(Database& db, std::int64_t now);
// "a,b,c" as stored for profile_fields.
std::vector<std::string> split_fields(const std::string& stored);

}  // namespace coffer::vault
