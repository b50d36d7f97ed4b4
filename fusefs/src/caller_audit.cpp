// The caller audit events of a mount; see caller_audit.h.
#include "caller_audit.h"

#include "coffer/proc.h"

namespace coffer::fusefs {

std::string process_executable(std::int32_t pid) {
  return read_link("/proc/" + std::to_string(pid) + "/exe").value_or("(unknown)");
}

vault::AuditEvent caller_event(vault::AuditKind kind, std::uint32_t uid, std::int32_t pid, std::string object,
                               std::string result, std::string detail, std::int64_t now,
                               std::optional<std::string> exe) {
  vault::AuditEvent e;
  e.time = now;
  e.uid = uid;
  e.pid = pid;
  e.exe = exe ? std::move(*exe) : process_executable(pid);
  e.kind = kind;
  e.object = std::move(object);
  e.result = std::move(result);
  e.detail = std::move(detail);
  return e;
}

}  // namespace coffer::fusefs
