// The copy guard wiring of a mount; see copy_guard.h.
#include "copy_guard.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "caller_audit.h"
#include "coffer/error.h"
#include "coffer/guard/isolation.h"
#include "coffer/guard/landlock.h"
#include "coffer/guard/mountinfo.h"
#include "coffer/vault/container/clock.h"

namespace coffer::fusefs {
namespace fs = std::filesystem;

namespace {

// The device number of the mount at `mountpoint` (this process's view), so
// layer 1 can tell writes into the coffer itself from writes elsewhere.
std::optional<std::pair<std::uint32_t, std::uint32_t>> mount_device(const fs::path& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  std::optional<std::pair<std::uint32_t, std::uint32_t>> dev;
  try {
    for (auto& m : guard::parse_mountinfo(text.str()))
      if (m.mount_point == mountpoint.string()) dev = std::pair{m.major, m.minor};  // the last (topmost)
  } catch (const std::exception&) {
  }
  return dev;
}

guard::WriteRules write_rules(const MountOptions& o) {
  guard::WriteRules rules;
  rules.approved = o.approved_destinations;
  rules.app_state = o.app_state;
  rules.media.declared_removable = o.declared_removable;
  rules.allowed_luks_uuids = o.allowed_luks_uuids;
  rules.allowed_usb_serials = o.allowed_usb_serials;
  if (auto dev = mount_device(o.mountpoint)) std::tie(rules.coffer_major, rules.coffer_minor) = *dev;
  return rules;
}

}  // namespace

std::vector<std::string> copy_guard_lines(const MountOptions& o) {
  std::vector<std::string> lines = {
      "layer 1: reads refused to programs writing to removable media or unapproved places"};
  if (!o.session_keeper.empty()) {
    lines.push_back("layer 3: a Landlock session; only its programs may use the coffer");
    const guard::LandlockStatus landlock = guard::landlock_status();
    for (auto& l : guard::describe(landlock)) lines.push_back("  " + l);
    lines.push_back(
        "  its own network (loopback only: no UDP, TCP or abstract UNIX socket reaches outside); the teacher's "
        "session bus, systemd and system bus sockets hidden");
    lines.push_back(
        "  no extended attributes set or removed anywhere (a seccomp filter: Landlock does not cover them)");
    lines.push_back("  started only on a terminal or /dev/null, never with a pipe or socket to outside, never traced");
    lines.push_back("  memory closed to other programs of this user: " +
                    guard::describe_ptrace_scope(guard::yama_ptrace_scope()));
    lines.push_back(std::string("  refusals inside the session: not recorded in the coffer's audit trail") +
                    (landlock.log_flags ? " (the kernel's audit log has them when the audit system is on)"
                                        : " nor anywhere else (this kernel's Landlock cannot log them)"));
  }
  // A guarded coffer opens only once the guard has made removable media
  // read-only, and locks if the guard goes.
  if (o.guard_socket && o.guard_required)
    lines.push_back("layer 2: removable media are read-only for every user while this coffer is open");
  if (o.guard_socket)
    lines.push_back(std::string("layer 2: the copy guard service") +
                    (o.guard_required ? " (required: the coffer locks if it stops)" : " (when running)"));
  return lines;
}

std::vector<std::string> copy_guard_lines(const MountOptions& o, bool registered) {
  std::vector<std::string> lines = copy_guard_lines(o);
  if (!o.guard_socket || registered) return lines;
  // A standard coffer the guard did not register (not running, refused, or
  // gone since): no layer 2, whatever the options asked for.
  std::vector<std::string> out;
  for (auto& l : lines)
    if (l.rfind("layer 2:", 0) != 0) out.push_back(l);
  out.emplace_back("layer 2: off (this coffer is not registered with the copy guard service)");
  return out;
}

CopyGuard::CopyGuard(const MountOptions& options, Filesystem& filesystem, Audit audit)
    : options_(options), filesystem_(filesystem), audit_(std::move(audit)), inspector_(write_rules(options)) {
  // Layer 1: every read first looks at the reader's writable descriptors
  // (cached per process and file while they do not change); a copier is
  // refused and audited once per process and file.
  Filesystem::Gates gates;
  gates.before_read = [this](const Caller& c, std::uint64_t ino) -> std::optional<std::string> {
    auto f = inspector_.check(c.pid, ino);
    if (!f) return std::nullopt;
    return f->target + " (" + f->reason + ") through " + guard::describe_fd(f->fd);
  };
  // The audit of each first open names where the opener writes (docs/DPO.md).
  gates.writes = [this](const Caller& c) { return guard::describe_destinations(inspector_.survey(c.pid)); };
  gates.blocked = [this](const Caller& c, const std::string& object, const std::string& destination) {
    audit_(caller_event(vault::AuditKind::kCopyBlocked, c.uid, c.pid, object, "refused", "to " + destination,
                        vault::system_clock().now()));
  };
  // Layer 3: in a sandboxed session nobody but the session's processes may
  // see names or contents; until the keeper is known, nobody at all.
  if (!options_.session_keeper.empty())
    gates.member = [this](const Caller& c) { return members_ready_.load() && members_->is_member(c.pid); };
  filesystem_.set_gates(gates);
}

void CopyGuard::connect_service() {
  if (!options_.guard_socket) return;
  // The service answers once it has marked the removable and unapproved
  // filesystems.
  try {
    std::vector<fs::path> approved;
    for (auto& a : options_.approved_destinations) approved.push_back(fs::weakly_canonical(a));
    // A guarded coffer also has the guard hold removable media read-only.
    service_.emplace(guard::GuardConnection::connect(*options_.guard_socket, options_.mountpoint, approved,
                                                     options_.guard_required));
    auto writers = service_->open_writers();
    if (!writers.empty() && !options_.guard_required) {
      // Standard: the coffer opens, but the copy guard cannot stop what these
      // programs already have open; say so now and in status.
      for (auto& w : writers)
        warnings_.push_back("warning: process " + std::to_string(w.pid) + " (" + w.exe +
                            ") already had a file open for writing on removable or unapproved storage when this "
                            "coffer opened: " +
                            w.path + "; the copy guard cannot stop what it writes there");
      if (options_.warn)
        for (auto& w : warnings_) options_.warn(w);
    }
    if (!writers.empty() && options_.guard_required) {
      std::string list;
      for (auto& w : writers) list += "\n  process " + std::to_string(w.pid) + " (" + w.exe + ") writing " + w.path;
      throw Error(ErrorCode::kPolicy,
                  "programs already have files open for writing on removable or unapproved "
                  "storage; close them (or remove the stick) and open the coffer again:" +
                      list);
    }
  } catch (...) {
    if (options_.guard_required) throw;
    service_.reset();  // a standard coffer uses the guard only when it is there
  }
}

int CopyGuard::service_fd() const { return service_ ? service_->fd() : -1; }

std::string CopyGuard::on_service_event() {
  if (!service_) return {};
  for (auto& r : service_->read_reports()) {
    filesystem_.with_database([&](vault::Database&) {
      audit_(caller_event(vault::AuditKind::kCopyBlocked, static_cast<std::uint32_t>(::getuid()), r.pid, "", "refused",
                          "to " + r.path + " (opened for writing on guarded storage, flags " + r.flags +
                              ") by the copy guard" + (r.empty_file_left ? "; an empty file was left there" : ""),
                          vault::system_clock().now(), r.exe));
    });
  }
  if (service_->closed()) {
    // The kernel lets pending opens through once the guard is gone.
    if (options_.guard_required) return "the copy guard stopped";
    service_.reset();
  }
  return {};
}

void CopyGuard::admit_session(const guard::ProcessIdentity& keeper) {
  members_.emplace(keeper);
  members_ready_ = true;
}

}  // namespace coffer::fusefs
