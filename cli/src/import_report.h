// Reading a pupil source for a coffer and saying what will go in: shared by
// `coffer import` and `coffer provision`.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "coffer/vault/policy/policy.h"
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

// The cap on pupils in one coffer of this profile: the school policy's
// [pupil_caps] entry, else the profile's built-in one (0: none).
int pupil_cap(const vault::Profile& profile, const vault::SchoolPolicy& policy);
// Refuses (Error kPolicy) a coffer that would hold more than the cap,
// naming the cap and how to raise it; at 90 % of the cap or more, adds a
// warning to p.warnings (so it reaches the manifest and handover sheet).
void check_pupil_cap(vault::PreparedImport& p, const vault::Profile& profile, const vault::SchoolPolicy& policy,
                     std::size_t total);
// What `import --json` and each coffer of `provision --json` say about the
// records (docs/CLI.md): counts, field names, pupil keys, warnings; never a
// pupil's name or a value.
nlohmann::ordered_json import_json(const vault::PreparedImport& p, const vault::Profile& profile);

}  // namespace coffer::cli
