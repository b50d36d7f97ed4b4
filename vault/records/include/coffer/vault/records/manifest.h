// The manifest: the school's record of what left the building in a coffer
// (who provisioned it, when, for whom and why, until when, which pupils by
// key and name, which field groups, which source columns were dropped). It
// carries no special-category values. Shown as manifest.txt in the mount
// and written as NAME.manifest.json / .txt by provisioning for IT to keep.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "coffer/vault/container/database.h"
#include "coffer/vault/records/records.h"

namespace coffer::vault {

struct ManifestPupil {
  std::string key;
  std::string name;  // "Surname, Forename"
  // Labels of the special-category fields this pupil's record carries
  // ("allergies", "medical conditions", ...): names, never values.
  std::vector<std::string> special_category = {};
};

struct Manifest {
  std::string coffer;  // file name, e.g. trip.coffer
  std::string vault_id;
  std::string purpose;
  std::string owner;
  std::string protection;
  std::string created_by;
  std::int64_t created = 0;  // unix seconds
  std::int64_t expires = 0;
  std::vector<std::string> fields;  // profile field groups
  std::vector<ManifestPupil> pupils;
  std::set<std::string> dropped;         // deny-listed source columns never imported
  std::set<std::string> not_in_profile;  // groups the source had that the profile refused
  std::vector<ImportLogEntry> imports;
  // Labels of fields the profile carries that a pupil's source did not
  // provide, or (not_known) for pupils imported before coffer kept that.
  std::vector<std::string> not_provided, not_known;
  std::vector<std::string> warnings;  // every import's, in order
};

Manifest read_manifest(Database& db, const std::string& coffer_name);
std::string manifest_json(const Manifest& m);  // pretty-printed, ends in a newline
std::string manifest_text(const Manifest& m);

}  // namespace coffer::vault
