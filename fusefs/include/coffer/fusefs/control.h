// The per-mount control socket: where it lives, its one request grammar, the
// client side used by `coffer status`, `coffer lock` and `coffer export`, and
// the server side the mount's process answers with. One line in ("status",
// "lock" or "export\tOBJECT\tDESTINATION"), one line out (a JSON status, a
// JSON lock report, or "ok BYTES" / "error MESSAGE" for an export). Sockets
// are 0600 in a 0700 directory: $XDG_RUNTIME_DIR/coffer, /run/coffer for
// root, else /tmp/coffer-<uid>, or ~/.coffer-run when another user has taken
// that name in /tmp first.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "coffer/error.h"
#include "coffer/unique_fd.h"

namespace coffer::fusefs {

struct MountStatus {
  std::string coffer_path;
  std::string mountpoint;
  std::string purpose;
  std::string owner;
  std::int64_t expires = 0;
  std::int64_t idle_seconds_left = 0;
  std::int64_t idle_timeout_seconds = 0;
  pid_t pid = 0;
  bool read_only = false;
  // The copy guard in force: "standard", "guarded", "sandboxed", and for a
  // sandboxed session what Landlock gives on this kernel.
  std::string protection = "standard";
  std::vector<std::string> copy_guard;
  std::vector<std::string> approved;  // where its data may be exported
  std::filesystem::path socket;
};

std::filesystem::path control_directory();  // created 0700 if missing
// Every private directory where sockets may be (for listing).
std::vector<std::filesystem::path> control_directories();
std::filesystem::path control_socket_path(const std::string& vault_id_hex);

std::string to_json(const MountStatus& s);
MountStatus status_from_json(const std::string& line);

// Every live mount of this user; stale sockets (their process gone) are removed.
std::vector<MountStatus> list_mounts();
struct LockResult {
  std::int64_t lock_ms = -1;              // the daemon's own trigger-to-unmounted time
  std::vector<std::string> held_open_by;  // processes that still had files open
  std::string error;                      // the final commit failed: unsaved changes were lost
};
// Asks the mount to lock and waits until its process has exited and the
// mountpoint is no longer mounted. Throws coffer::Error on timeout.
LockResult lock_mount(const MountStatus& mount, std::chrono::seconds timeout);

// Asks the mount's process to copy OBJECT (a path inside the coffer) to
// DESTINATION (absolute, already checked against the policy) and record it
// in the audit trail; returns the bytes copied. Throws coffer::Error.
std::uint64_t export_from_mount(const MountStatus& mount, const std::string& object, const std::string& destination);

// The request grammar, shared by both sides.
struct ControlRequest {
  // kBadExport: "export\t" without both paths (answered with an error);
  // kUnknown: anything else (the connection is closed unanswered).
  enum class Kind { kStatus, kLock, kExport, kBadExport, kUnknown };
  Kind kind = Kind::kUnknown;
  std::string object, destination;  // kExport

  static ControlRequest status() { return of(Kind::kStatus, {}, {}); }
  static ControlRequest lock() { return of(Kind::kLock, {}, {}); }
  static ControlRequest export_of(std::string object, std::string destination) {
    return of(Kind::kExport, std::move(object), std::move(destination));
  }
  static ControlRequest of(Kind kind, std::string object, std::string destination) {
    ControlRequest r;
    r.kind = kind;
    r.object = std::move(object);
    r.destination = std::move(destination);
    return r;
  }
};
// The request line, without its newline. Tabs and newlines in an export's
// paths would break the line: refused with ErrorCode::kUsage.
std::string encode_request(const ControlRequest& request);
ControlRequest parse_request(const std::string& line);
// An export's answer: "ok BYTES", "error MESSAGE" or, when the error names a
// remedy, "error#N MESSAGE" (N its Remedy's number, which the CLI words);
// the client reads up to the first newline: a message's first line.
std::string encode_export_reply(std::uint64_t bytes);
std::string encode_export_error(const std::string& message);
std::string encode_export_error(const Error& error);
// Throws coffer::Error with the server's message, or on an empty answer.
std::uint64_t parse_export_reply(const std::string& reply);
// `lock`'s answer, sent once the mount is locked.
struct LockReply {
  bool locked = false;  // false: the final commit failed (error says why)
  std::string reason;
  std::vector<std::string> held_open_by;
  std::int64_t lock_ms = -1;
  std::string error;
};
std::string encode_lock_reply(const LockReply& reply);
// Lenient: a reply that does not parse gives an empty LockResult.
LockResult parse_lock_reply(const std::string& line);

// The server side: the listening socket of one mount, polled by its loop.
class ControlServer {
 public:
  // Binds path (0600) and listens; a stale socket there (its process is
  // gone: the coffer's flock proves it) is replaced. Throws coffer::Error.
  static ControlServer listen(const std::filesystem::path& path);
  explicit ControlServer(UniqueFd listener) : listener_(std::move(listener)) {}

  int fd() const { return listener_.get(); }  // poll for POLLIN, then accept()

  // One connection, its peer and its request. Only this user and root are
  // heard: anyone else's request reads as kUnknown. The request line must
  // arrive within 200 ms (the loop serving the mount waits meanwhile).
  struct Client {
    UniqueFd fd;
    // The peer as the kernel saw it at connect (SO_PEERCRED), and a pidfd
    // of it (SO_PEERPIDFD, Linux 6.5; invalid before) so a reused pid is
    // not mistaken for the asker. They are recorded, never trusted for a
    // decision.
    std::uint32_t uid = 0;
    std::int32_t pid = 0;
    UniqueFd pidfd;
    ControlRequest request;
    // Writes one line (a newline is added); a peer that has gone is ignored.
    void reply(const std::string& line);
  };
  std::optional<Client> accept();

 private:
  UniqueFd listener_;
};

// True when path is currently a mount point (from /proc/self/mountinfo).
bool is_mounted(const std::filesystem::path& path);

}  // namespace coffer::fusefs
