// The caller audit events of a mount; see caller_audit.h.
#include "caller_audit.h"

#include <unistd.h>

namespace coffer::fusefs {

std::string process_executable(std::int32_t pid) {
  char buf[4096];
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "(unknown)";
  return std::string(buf, static_cast<std::size_t>(n));
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
