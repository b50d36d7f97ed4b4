// Reading a pupil source for a coffer and saying what will go in: shared by
// `coffer import` and `coffer provision`.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "coffer/vault/records/import.h"
#include "coffer/vault/records/profile.h"
#include "coffer/vault/records/records.h"

namespace coffer::cli {

struct SourceSpec {
  std::string from;    // file or directory
  std::string format;  // "" = detect
  std::string map;     // --map for format csv
  vault::Selection selection;
  bool allow_missing = false;
};

// Reads, selects, validates and minimises to the profile (nothing written).
// `now` (the injected clock) is today for the date-of-birth check.
vault::PreparedImport prepare_source(const SourceSpec& spec, const vault::Profile& profile, std::int64_t now);
// The import log entry for the coffer's manifest.
vault::ImportLogEntry log_entry(const vault::PreparedImport& p, const SourceSpec& spec, std::int64_t now);
// What will be (or was) imported: counts, fields, dropped columns, warnings.
// The import's warnings in the CLI's words (the importer's own, then pupils
// imported without a reachable contact because --allow-missing said so).
std::vector<std::string> import_warnings(const vault::PreparedImport& p);
void print_summary(const vault::PreparedImport& p, const vault::Profile& profile, std::ostream& out, std::ostream& err);

}  // namespace coffer::cli
