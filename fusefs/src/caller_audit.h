// The audit events a mount records about its callers (opens, refused
// copies, exports): one builder, so every such event names the caller the
// same way (uid, pid and executable).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "coffer/vault/audit/audit.h"

namespace coffer::fusefs {

// The caller's executable for the audit: readlink of /proc/PID/exe only
// (never maps, cmdline or environ, which can deadlock a FUSE server).
std::string process_executable(std::int32_t pid);

// An event about the process `pid` of user `uid`, stamped with `now` (unix
// seconds). Its executable is `exe` when already known (the copy guard
// reports it), otherwise read from /proc/PID/exe.
vault::AuditEvent caller_event(vault::AuditKind kind, std::uint32_t uid, std::int32_t pid, std::string object,
                               std::string result, std::string detail, std::int64_t now,
                               std::optional<std::string> exe = std::nullopt);

}  // namespace coffer::fusefs
