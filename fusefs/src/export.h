// The daemon's side of `coffer export OBJECT DEST`: this process copies
// the object out of the store (so the command's own terminal or log file is
// not an issue) to a destination it resolves itself, and records it with
// the resolved path and the asker's uid, pid and program.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "coffer/fusefs/control.h"
#include "coffer/fusefs/filesystem.h"
#include "coffer/vault/audit/audit.h"
#include "export_destination.h"

namespace coffer::fusefs {

// Copies OBJECT ("files/a.txt", "pupils/X/profile.txt") out of the
// filesystem to TO (an opened destination: see export_destination.h), then
// syncs and links it into place (never over an existing file); nothing is
// left on failure. Returns the bytes copied; throws coffer::Error.
std::uint64_t export_object(Filesystem& filesystem, const std::string& object, ExportDestination& to);

// Answers one export request (kExport or kBadExport) from `client`. The
// daemon resolves the destination itself (ExportDestination::open against
// `approved`, judged by `media`): what the command checked, and who the
// asker is, decide nothing. An export is recorded through `audit` (called
// under the filesystem's operations mutex) with the resolved path and the
// asker's uid and pid; a refusal is recorded too ("refused", with the
// requested path and why). The reply is "ok BYTES" or "error MESSAGE".
std::string answer_export(Filesystem& filesystem, const std::vector<std::filesystem::path>& approved,
                          const ExportMediaCheck& media, const ControlServer::Client& client,
                          const std::function<void(const vault::AuditEvent&)>& audit);

}  // namespace coffer::fusefs
