// The mount lifecycle: serve an unlocked coffer on a mountpoint until it is
// locked (idle, `coffer lock`, SIGTERM/SIGINT/SIGHUP, or unmounted from
// outside), then commit, close the database, wipe the keys, drop the
// kernel's caches and unmount, lazily if files are still open.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coffer/vault/coffer/coffer.h"

namespace coffer::fusefs {

struct MountOptions {
  std::filesystem::path coffer_path;  // absolute
  std::filesystem::path mountpoint;   // absolute, an empty directory
  std::chrono::seconds idle_timeout{15 * 60};
  bool read_only = false;
  bool allow_other = false;  // root only, for conformance tests with several uids
  // The school's audit drop (policy): the sidecar is copied there at open
  // and at lock whenever it is reachable.
  std::optional<std::filesystem::path> audit_drop_dir;
  // The copy guard (docs/GUARD.md). Layer 1 always: a process holding a
  // writable descriptor outside these places is refused reads.
  std::vector<std::filesystem::path> approved_destinations;
  std::vector<std::filesystem::path> app_state;                      // absolute
  std::vector<std::filesystem::path> declared_removable;             // from the system policy
  std::vector<std::string> allowed_luks_uuids, allowed_usb_serials;  // school sticks
  std::string protection = "standard";                               // shown by status
  // Layer 2: the copy guard service's socket. When set the mount registers
  // with it once mounted; `guard_required` (a guarded coffer) makes a
  // missing guard, or writers already open on guarded media, a refusal,
  // and the guard going away a lock.
  std::optional<std::filesystem::path> guard_socket;
  bool guard_required = false;
  // Told, before the mount is reported ready, each warning the opener should
  // see (a standard coffer: programs already writing to guarded storage).
  std::function<void(const std::string&)> warn;
  // Sandboxed (layer 3): the session keeper's command line. It is started
  // once the mount works, gets a byte on descriptor 3 when it may begin,
  // and only it and its descendants may use the mount; the coffer locks
  // when it exits, and its exit status is stored in *session_status.
  std::vector<std::string> session_keeper;
  int* session_status = nullptr;
};

struct ServeResult {
  std::string reason;  // why it locked
  // Files were still open at lock, so the detached mount keeps the FUSE
  // thread waiting on /dev/fuse, and that thread still uses the mount's
  // objects (left alive). The caller must end the process at once without
  // running destructors or atexit handlers (flush its own streams, then
  // _exit): that closes /dev/fuse, and the open handles get errors.
  bool must_exit_now = false;
};

// Blocks until locked. on_ready runs once the mount is usable; any failure
// before that is thrown (nothing is left mounted).
ServeResult serve(vault::Coffer coffer, const MountOptions& options, const std::function<void()>& on_ready);

// The README.txt shown at the top of the mount.
std::string readme_text(const vault::Header& header, std::chrono::seconds idle_timeout);

// Processes with a file or working directory under path ("1234 (vim)").
std::vector<std::string> processes_using(const std::filesystem::path& path);

}  // namespace coffer::fusefs
