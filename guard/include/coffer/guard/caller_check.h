// Layer 1 of the copy guard ("standard", always on, no root): before the
// coffer filesystem serves a read, it asks whether the reading process holds
// a descriptor open for writing somewhere coffer data must not go. That is
// what cp, dd, gio copy, tar and a shell redirect look like at the moment
// they read. Only /proc/PID/fdinfo (flags, mnt_id), the /proc/PID/fd links
// and the caller's own mountinfo are read: never a stat() of a foreign
// descriptor's target (it may be on this very FUSE mount) and never maps,
// cmdline or environ (they take the caller's mmap lock, which a thread
// faulting on our file holds: the classic FUSE deadlock).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "coffer/guard/media.h"

namespace coffer::guard {

struct WriteRules {
  // Absolute prefixes where writes are allowed: the approved destinations
  // and the owner's application-state files (XDG homes, ~/.xsession-errors).
  std::vector<std::filesystem::path> approved;
  std::vector<std::filesystem::path> app_state;
  // The coffer's own mount (its st_dev): writes into the coffer are fine.
  std::uint32_t coffer_major = 0, coffer_minor = 0;
  // Sysfs root and declared-removable prefixes for the classifier; the
  // mount table always comes from the caller.
  MediaConfig media;
  // Encrypted school sticks that may be written to (LUKS UUID, or USB
  // serial of a LUKS stick).
  std::vector<std::string> allowed_luks_uuids, allowed_usb_serials;
};

// A writable descriptor that makes the caller a copier.
struct Finding {
  int fd = -1;
  std::string target;  // what /proc/PID/fd/N points at, " (deleted)" removed
  MediaKind kind = MediaKind::kUnknown;
  std::string reason;  // "removable media", "outside the approved places", ...
};

// "standard input", "standard output", "standard error" or "descriptor N".
std::string describe_fd(int fd);

class CallerInspector {
 public:
  explicit CallerInspector(WriteRules rules);

  // The first writable descriptor of process (or thread) `tid` that the
  // rules refuse; nullopt when it may read. A process that has gone, or
  // whose /proc cannot be read, is allowed (it cannot receive the data).
  std::optional<Finding> inspect(pid_t tid);

  // inspect() with a cache per (tid, key): a verdict is reused while the
  // caller's number of open descriptors is unchanged, for at most `ttl`, so
  // ordinary reads cost one stat of /proc/TID/fd.
  std::optional<Finding> check(pid_t tid, std::uint64_t key);
  // Drop cached verdicts for `key` (its handle was released).
  void forget(std::uint64_t key);

  std::chrono::milliseconds ttl{500};

 private:
  struct Judged {
    MediaKind kind = MediaKind::kUnknown;
    bool school_stick = false;  // an allowlisted encrypted stick
  };
  struct Namespace {
    std::unique_ptr<MediaClassifier> classifier;
    std::map<std::uint64_t, Judged> kinds;  // mount id -> kind
  };
  // The caller's mount with this id (rereading its mountinfo when the id
  // is not in the cached table); nullptr when no table lists it.
  const MountEntry* mount_of(pid_t tid, std::uint64_t mnt_id, std::optional<dev_t> dev, Judged& judged);
  std::optional<Finding> judge(int fd, std::string target, const MountEntry& mount, const Judged& judged) const;

  WriteRules rules_;
  // The kernel's internal shm mount (memfd, SysV shared memory): the one
  // mount no table lists that holds anonymous memory, not files.
  std::optional<std::uint64_t> memfd_mount_;
  std::mutex mu_;
  std::map<std::string, Namespace> namespaces_;  // by "mnt:[inode]"
  struct Cached {
    std::int64_t fd_count;
    std::chrono::steady_clock::time_point at;
    std::optional<Finding> verdict;
  };
  std::map<std::pair<pid_t, std::uint64_t>, Cached> cache_;
};

}  // namespace coffer::guard
