// The per-mount control socket: where it lives, and the client side used by
// `coffer status` and `coffer lock`. One line in ("status" or "lock"), one
// JSON line out. Sockets are 0600 in a 0700 directory: $XDG_RUNTIME_DIR/coffer,
// /run/coffer for root, else /tmp/coffer-<uid>.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

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

// True when path is currently a mount point (from /proc/self/mountinfo).
bool is_mounted(const std::filesystem::path& path);

}  // namespace coffer::fusefs
