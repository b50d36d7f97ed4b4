// The daemon's side of `coffer export OBJECT DEST`: this process copies
// the object out of the store (so the command's own terminal or log file is
// not an issue) and records it with the asker's pid and program.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "coffer/fusefs/control.h"
#include "coffer/fusefs/filesystem.h"
#include "coffer/vault/audit/audit.h"

namespace coffer::fusefs {

// Copies OBJECT ("files/a.txt", "pupils/X/profile.txt") out of the
// filesystem to DEST: written beside it, synced, then linked into place
// (never over an existing file); nothing is left on failure. Returns the
// bytes copied; throws coffer::Error.
std::uint64_t export_object(Filesystem& filesystem, const std::string& object, const std::filesystem::path& dest);

// Answers one export request (kExport or kBadExport) from `client`: checks
// the destination against `approved` (the command checked it against the
// policy already), copies, and records the export through `audit` (called
// under the filesystem's operations mutex). The reply is "ok BYTES" or
// "error MESSAGE".
std::string answer_export(Filesystem& filesystem, const std::vector<std::filesystem::path>& approved,
                          const ControlServer::Client& client,
                          const std::function<void(const vault::AuditEvent&)>& audit);

}  // namespace coffer::fusefs
