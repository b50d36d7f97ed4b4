// A provisioning plan (TOML, docs/ADMIN.md): the coffers IT makes in one
// run, each for one owner and purpose with its own pupil selection. Paths in
// the plan are relative to the plan file. Errors name the plan's file and
// line.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "import_report.h"

namespace coffer::cli {

struct PlanEntry {
  std::size_t line = 0;
  std::string name;  // NAME.coffer, NAME.manifest.json, ...
  std::string owner, purpose, expires, trip_end;
  std::string recovery_key, audit_key;
  SourceSpec source;
};

struct Plan {
  std::filesystem::path file;
  std::string handover = "files";  // "files": NAME.passphrase.txt each; "sheet": one printable file
  std::string school;              // named on handover sheets
  std::string helpdesk;            // who the teacher calls (handover sheets, README)
  std::vector<PlanEntry> coffers;
};

Plan load_plan(const std::filesystem::path& file);

}  // namespace coffer::cli
