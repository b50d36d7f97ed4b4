// Audit events: kind names, the current process as actor, and the one-line
// JSON form sealed into the sidecar; see audit.h.
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "coffer/proc.h"
#include "coffer/vault/audit/audit.h"

namespace coffer::vault {
namespace {

// Indexed by the kind's number - 1.
constexpr std::array<std::string_view, kLastAuditKind> kKindNames = {"create",       "import",
                                                                     "unlock",       "unlock-failed",
                                                                     "lockout",      "lock",
                                                                     "open-view",    "open-file",
                                                                     "copy-blocked", "export",
                                                                     "expiry-purge", "clock-refused",
                                                                     "hold-set",     "hold-released",
                                                                     "key-added",    "key-removed",
                                                                     "key-changed",  "recovery-used",
                                                                     "wipe",         "sealed",
                                                                     "checkin",      "passphrase-changed",
                                                                     "audit-damaged"};
static_assert(static_cast<std::uint16_t>(AuditKind::kAuditDamaged) == kLastAuditKind);

std::string read_self_exe() { return read_link("/proc/self/exe").value_or("?"); }

}  // namespace

std::string_view audit_kind_name(AuditKind kind) {
  auto n = static_cast<std::uint16_t>(kind);
  if (n < 1 || n > kLastAuditKind) return "unknown";
  return kKindNames[n - 1];
}

std::optional<AuditKind> audit_kind_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i)
    if (kKindNames[i] == name) return static_cast<AuditKind>(i + 1);
  return std::nullopt;
}

std::optional<AuditKind> audit_kind_from_number(std::int64_t number) {
  if (number < 1 || number > kLastAuditKind) return std::nullopt;
  return static_cast<AuditKind>(number);
}

bool written_without_key_allowed(AuditKind kind) {
  return kind == AuditKind::kUnlockFailed || kind == AuditKind::kLockout || kind == AuditKind::kWipe;
}

std::string user_name_of(std::uint32_t uid) {
  // NSS may be slow (LDAP, sssd) and a mount writes an event per open: one
  // lookup per uid per process. A name that changes while the process runs
  // is seen by the next one.
  static std::mutex mu;
  static std::map<std::uint32_t, std::string> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(uid); it != cache.end()) return it->second;
  std::string name;
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found) == 0 && found && pw.pw_name)
    name = pw.pw_name;
  cache.emplace(uid, name);
  return name;
}

AuditEvent make_self_event(AuditKind kind, std::int64_t now, std::string object, std::string result,
                           std::string detail) {
  AuditEvent e;
  e.time = now;
  e.uid = static_cast<std::uint32_t>(::getuid());
  e.pid = static_cast<std::int32_t>(::getpid());
  e.exe = read_self_exe();
  e.kind = kind;
  e.object = std::move(object);
  e.result = std::move(result);
  e.detail = std::move(detail);
  return e;
}

std::string audit_event_json(const AuditEvent& event, std::uint64_t seq, bool authenticated) {
  nlohmann::ordered_json j;
  j["seq"] = seq;
  j["time"] = event.time;
  j["uid"] = event.uid;
  if (!event.user.empty()) j["user"] = event.user;
  j["pid"] = event.pid;
  j["exe"] = event.exe;
  j["kind"] = std::string(audit_kind_name(event.kind));
  j["object"] = event.object;
  j["result"] = event.result;
  j["detail"] = event.detail;
  j["authenticated"] = authenticated;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::optional<ParsedAuditJson> parse_audit_event_json(std::string_view text) {
  // Iterative parser (no recursion on hostile nesting); no exceptions.
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  // Ten keys, or eleven with "user" (records written since user names were
  // recorded, FORMAT.md §12.2).
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const std::string* user = nullptr;
  if (auto u = j.find("user"); u != j.end()) {
    if (!u->is_string() || u->get_ptr<const std::string*>()->empty()) return std::nullopt;
    user = u->get_ptr<const std::string*>();
  }
  if (j.size() != (user ? 11u : 10u)) return std::nullopt;
  auto str = [&](const char* k) -> const std::string* {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  auto seq = j.find("seq"), time = j.find("time"), uid = j.find("uid"), pid = j.find("pid"),
       auth = j.find("authenticated");
  const std::string *exe = str("exe"), *kind = str("kind"), *object = str("object"), *result = str("result"),
                    *detail = str("detail");
  if (seq == j.end() || !seq->is_number_unsigned() || time == j.end() || !time->is_number_integer() || uid == j.end() ||
      !uid->is_number_unsigned() || pid == j.end() || !pid->is_number_integer() || auth == j.end() ||
      !auth->is_boolean() || !exe || !kind || !object || !result || !detail)
    return std::nullopt;
  auto k = audit_kind_from_name(*kind);
  if (!k) return std::nullopt;
  // Range checks before narrowing: hostile numbers must not wrap.
  if (uid->get<std::uint64_t>() > UINT32_MAX) return std::nullopt;
  if (pid->is_number_unsigned() ? pid->get<std::uint64_t>() > INT32_MAX : pid->get<std::int64_t>() < INT32_MIN)
    return std::nullopt;
  if (time->is_number_unsigned() && time->get<std::uint64_t>() > INT64_MAX) return std::nullopt;
  auto p = pid->get<std::int64_t>();
  ParsedAuditJson out;
  out.seq = seq->get<std::uint64_t>();
  out.authenticated = auth->get<bool>();
  out.event.time = time->get<std::int64_t>();
  out.event.uid = static_cast<std::uint32_t>(uid->get<std::uint64_t>());
  out.event.pid = static_cast<std::int32_t>(p);
  out.event.exe = *exe;
  out.event.kind = *k;
  out.event.object = *object;
  out.event.result = *result;
  out.event.detail = *detail;
  if (user) out.event.user = *user;
  return out;
}

}  // namespace coffer::vault
