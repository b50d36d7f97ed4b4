// The coffer filesystem process's side of the copy guard (layer 2): it
// registers its mount with the root `coffer guard` service, learns what the
// guard marks and which writable descriptors were already open, then reads
// the guard's reports of blocked writes for its audit trail. The connection
// is the registration: when it closes (either side, or the guard dies) the
// coffer must lock, because the kernel lets opens through without a guard.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "coffer/guard/guard_protocol.h"

namespace coffer::guard {

// Asks the guard on SOCKET whether a `guarded` coffer is open (removable
// media are then read-only; the polkit rule then refuses udisks2 mounts).
// Throws coffer::Error(kPolicy) when no root guard answers there.
bool query_guarded_open(const std::filesystem::path& socket);

class GuardConnection {
 public:
  // Connects to SOCKET, checks it is served by root (the socket file is
  // root-owned and the peer's credentials say uid 0, so a teacher cannot
  // stand in for the guard), registers MOUNTPOINT with its APPROVED
  // destinations (absolute, and canonical: the guard compares the kernel's
  // path of each opened file with them and resolves nothing itself) and
  // waits for the answer. Throws coffer::Error(kPolicy) when the service is
  // not running, is not root's, refuses the registration (with its reason)
  // or does not answer; kUsage for a relative path. READONLY_MEDIA (a
  // `guarded` coffer): the guard also holds every removable filesystem
  // read-only while this registration lasts, and refuses it, naming the
  // programs writing there, when one cannot be made read-only.
  static GuardConnection connect(const std::filesystem::path& socket, const std::filesystem::path& mountpoint,
                                 const std::vector<std::filesystem::path>& approved, bool readonly_media = false);

  GuardConnection(GuardConnection&&) noexcept = default;
  GuardConnection& operator=(GuardConnection&&) noexcept = default;
  GuardConnection(const GuardConnection&) = delete;
  GuardConnection& operator=(const GuardConnection&) = delete;

  // For poll(): readable when reports arrive or the guard goes away.
  int fd() const noexcept { return fd_.get(); }

  struct Report {
    int pid = 0;
    std::string exe, path, flags;
    bool empty_file_left = false;
  };
  // Never blocks: the reports received so far. Sets closed() on end of
  // stream, a socket error or a malformed line (all mean: lock now).
  std::vector<Report> read_reports();
  bool closed() const noexcept { return closed_; }

  // Mount points the guard has marked, in the guard's mount namespace.
  const std::vector<std::string>& marked() const noexcept { return reply_.marked; }
  // Guarded kinds of mount the guard could not mark ("PATH: reason").
  const std::vector<std::string>& unmarked() const noexcept { return reply_.unmarked; }
  // Removable filesystems the guard holds read-only for this registration.
  const std::vector<std::string>& readonly() const noexcept { return reply_.readonly; }
  // The owner's processes that already held a descriptor open for writing
  // on a guarded filesystem at registration (the coffer refuses to open).
  std::vector<Report> open_writers() const;

 private:
  GuardConnection() = default;

  UniqueFd fd_;
  LineBuffer in_;
  RegisterReply reply_;
  bool closed_ = false;
};

}  // namespace coffer::guard
