// Pupil records in the coffer's database: stored by an import (all or
// nothing, one transaction), read back for the views and the manifest.
// Each import is logged (when, by whom, from what, which columns were
// dropped) so the manifest can say what left the school.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coffer/vault/container/database.h"
#include "coffer/vault/records/record.h"

namespace coffer::vault {

struct ImportLogEntry {
  std::int64_t at = 0;  // unix seconds
  std::string by;       // the account that ran the import
  std::string format;   // "coffer-csv", "OneRoster 1.1", ...
  std::string source;   // the file or directory name given
  std::int64_t pupils = 0;
  std::set<std::string> dropped;         // deny-listed columns dropped
  std::set<std::string> not_in_profile;  // groups the profile refused
  std::set<std::string> unmapped;        // other columns not carried
  // The source fields the source provided (SourceData::provided); nullopt
  // for an import logged before coffer kept them (not known).
  std::optional<std::set<std::string>> provided = std::nullopt;
  // The import's warnings (pupil keys, never names or values), for the
  // manifest and the handover sheet.
  std::vector<std::string> warnings = {};
};

struct PupilEntry {
  std::int64_t id = 0;  // stable while the coffer is mounted
  std::string key;
  std::string display_name;
};

class RecordStore {
 public:
  explicit RecordStore(Database& db) : db_(db) {}

  // Adds the pupils (replacing any with the same key) and logs the import,
  // in one transaction: on any error nothing changes.
  void import(const std::vector<Pupil>& pupils, const ImportLogEntry& log);
  // Sorted by display name, then key.
  std::vector<PupilEntry> list();
  std::optional<Pupil> load(std::int64_t id);
  std::vector<Pupil> load_all();  // in list() order
  std::int64_t count();
  std::vector<ImportLogEntry> imports();
  // Deletes the pupils whose own expiry day (the last day they may be kept)
  // is before the local day of `now` (unix seconds), with everything stored
  // about them; returns how many. Part of the caller's open transaction,
  // if there is one.
  std::size_t purge_expired(std::int64_t now);

 private:
  Database& db_;
};

}  // namespace coffer::vault
