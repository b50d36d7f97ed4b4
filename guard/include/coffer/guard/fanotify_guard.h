// Layer 2 of the copy guard ("guarded"): the root `coffer guard` service.
// It puts fanotify FAN_OPEN_PERM marks on every removable, network and
// other-FUSE filesystem (whole superblocks, so bind mounts cannot bypass
// them), and while a user has a coffer registered it denies that user's
// opens for writing there: rsync, pipes, save-as and GUI copies included.
// Coffer filesystem processes register over a unix socket
// (guard_protocol.h); docs/GUARD.md has the rules and their limits.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/guard/guard_protocol.h"
#include "coffer/guard/media.h"

namespace coffer::guard {

// Who is on the other end of a guard connection (SO_PEERCRED, in the
// guard's pid namespace).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Decides whether PEER may register MOUNTPOINT (a path in the peer's mount
// namespace): nullopt if it may, else the refusal sent back to it.
using RegistrationVerifier =
    std::function<std::optional<std::string>(const PeerCredentials& peer, const std::string& mountpoint)>;

// The real check, used unless GuardConfig says otherwise:
// - PEER's own /proc/PID/mountinfo has a "fuse.coffer" mount at MOUNTPOINT
//   whose user_id is PEER's uid (its coffer, in its namespace), and
// - PEER runs the same program file as the guard (root-owned, not writable
//   by group or others). The registered process is exempt from the guard,
//   so any other program registering would be a copier let through.
std::optional<std::string> verify_coffer_registration(const PeerCredentials& peer, const std::string& mountpoint);
// The mount half of that check on mountinfo text, without /proc.
std::optional<std::string> coffer_mount_problem(std::string_view mountinfo_text, uid_t uid,
                                                std::string_view mountpoint);

// Where the guard records the removable filesystems it made read-only for
// `guarded` coffers, so that a guard started after a crash restores exactly
// those. Not under /run/coffer-guard: systemd removes that directory (the
// unit's RuntimeDirectory) whenever the service stops.
inline constexpr const char* kDefaultReadonlyRecord = "/run/coffer-guard-readonly";

struct GuardConfig {
  std::filesystem::path socket_path = kDefaultGuardSocket;
  // Root's file; written before each remount, removed once all is restored.
  std::filesystem::path readonly_record = kDefaultReadonlyRecord;
  // Sysfs root and the policy's declared-removable prefixes. The mount table
  // must be a real mountinfo file (it is polled for changes and the mount
  // points are marked by path): mountinfo_text is refused.
  MediaConfig media;
  // The system policy's school sticks: never marked.
  std::vector<std::string> allowed_luks_uuids;
  std::vector<std::string> allowed_usb_serials;
  // Empty: verify_coffer_registration. Only code can set this, so only an
  // in-process test (which has no fuse.coffer mount to show) replaces it;
  // the CLI has no way to.
  RegistrationVerifier verify_registration;
  // Empty: every mount on the machine is judged. Only code can set this: an
  // in-process test confines its guard to the filesystems it made, so that
  // it neither refuses nor waits on other tests' FUSE mounts running beside
  // it (a permission event on FUSE makes the guard open the file there, and
  // a FUSE server being killed makes that open fail: the kernel then
  // refuses the opener).
  std::filesystem::path only_below;
  // Called from the event loop at least once a second while it is healthy
  // (the CLI feeds systemd's watchdog with it: a stalled guard holds up
  // every open on guarded filesystems until it is restarted).
  std::function<void()> heartbeat;
  // Lines for the journal (marks, registrations, blocks), written only after
  // the event they describe was answered. Empty: standard error.
  std::function<void(const std::string&)> log;
};

// Throws coffer::Error:
// - kPolicy when not root (fanotify permission events need CAP_SYS_ADMIN),
// - kBusy when another guard answers on the socket path,
// - kIo when the socket, fanotify group or mount table cannot be set up,
// - kUsage for a config it cannot honour (injected mount table text).
class GuardService {
 public:
  explicit GuardService(GuardConfig config);
  ~GuardService();
  GuardService(const GuardService&) = delete;
  GuardService& operator=(const GuardService&) = delete;
  GuardService(GuardService&&) = delete;
  GuardService& operator=(GuardService&&) = delete;

  // Serves until request_stop() (or `stop` becomes true, checked at least
  // every 100 ms). Marks first, then accepts registrations. On return the
  // fanotify group is closed first, which lets every queued open through,
  // then the socket (each coffer sees its guard gone and locks). Throws
  // coffer::Error(kIo) if fanotify itself fails; run() is called once.
  void run();
  void run(const std::atomic<bool>& stop);
  // Async-signal-safe (one write to an eventfd): callable from a SIGTERM
  // handler or another thread.
  void request_stop() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::guard
