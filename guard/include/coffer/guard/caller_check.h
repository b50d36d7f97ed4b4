// Layer 1 of the copy guard ("standard", always on, no root): before the
// coffer filesystem serves a read, it asks whether the reading process holds
// a descriptor open for writing somewhere coffer data must not go. That is
// what cp, dd, gio copy, tar and a shell redirect look like at the moment
// they read. Only /proc/PID/fdinfo (flags, mnt_id), the /proc/PID/fd links
// and the caller's own mountinfo are read: never a stat() of a foreign
// descriptor's target (it may be on this very FUSE mount) and never maps,
// cmdline or environ (they take the caller's mmap lock, which a thread
// faulting on our file holds: the classic FUSE deadlock).
//
// Approved places are matched by what the kernel says the descriptor's file
// is, not by the path text the caller sees: its device and its path within
// that filesystem (the caller's mount's root plus the path below the mount
// point), against the approved directory's device, inode and path within
// its filesystem as this process sees it. A bind mount in a namespace of
// the caller's own (unshare -Urm) cannot make another folder approved; an
// approved folder bound elsewhere (a Flatpak's view) still is.
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
  // Absolute paths (as this process sees them) where writes are allowed:
  // the approved destinations and the owner's application-state files
  // (XDG homes, ~/.xsession-errors). One that does not exist yet is looked
  // for again at each inspection until it does.
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

// Where a writable descriptor's data goes, as the audit records it with
// each first open (docs/DPO.md).
enum class PlaceClass {
  kCoffer,       // into this coffer's own mount
  kApproved,     // an approved destination
  kAppState,     // the owner's application-state files (~/.cache, ...)
  kLocal,        // anywhere else on this computer (disk or memory)
  kRemovable,    // removable media
  kSchoolStick,  // an allowlisted encrypted school stick
  kNetwork,      // a network filesystem
  kOtherFuse,    // another FUSE filesystem
  kUnknown,      // a filesystem coffer cannot classify, or a detached one
};
// "coffer", "approved", "app-state", "local", "removable", "school-stick",
// "network", "other-fuse", "unknown".
std::string_view place_class_name(PlaceClass c) noexcept;

// One writable descriptor onto a file (pipes, sockets, ttys, /dev/null and
// memfd are not places and are left out).
struct Destination {
  int fd = -1;
  std::string target;  // as in Finding
  MediaKind kind = MediaKind::kUnknown;
  PlaceClass place = PlaceClass::kUnknown;
  std::string refusal;  // empty when the rules allow it, else Finding::reason
};

// For the audit: "none", or "local /tmp/log (standard output); removable
// /media/usb/r.csv (descriptor 4)", at most `max` entries then "and N more".
std::string describe_destinations(const std::vector<Destination>& all, std::size_t max = 8);

class CallerInspector {
 public:
  explicit CallerInspector(WriteRules rules);

  // A writable descriptor of process (or thread) `tid` that the rules
  // refuse, one other than the standard streams first (cp with its output
  // in a log file is refused for the file it copies to); nullopt when it
  // may read. A process that has gone, or whose /proc cannot be read, is
  // allowed (it cannot receive the data).
  std::optional<Finding> inspect(pid_t tid);

  // Every writable descriptor of `tid` onto a file, judged; empty for a
  // process that has gone.
  std::vector<Destination> survey(pid_t tid);

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
  // An approved or app-state path as this process sees it: its device and
  // inode, and its path within its filesystem (its mount's root joined with
  // the path below the mount point).
  struct Place {
    std::filesystem::path path;
    bool resolved = false;
    dev_t dev = 0;  // statx's (a btrfs subvolume's own)
    ino_t ino = 0;
    std::uint32_t mount_major = 0, mount_minor = 0;  // its mount's, from the table
    std::string fs_path;
    std::chrono::steady_clock::time_point checked{};  // last looked at again after no match
  };
  const MountEntry* mount_of(pid_t tid, std::uint64_t mnt_id, std::optional<dev_t> dev, Judged& judged);
  // `seen` is the target relative to the caller's root ("" when outside it).
  std::optional<Destination> judge(int fd, std::string target, const std::string& seen, const MountEntry& mount,
                                   const Judged& judged, std::optional<dev_t> dev);
  bool within(std::vector<Place>& places, const MountEntry& mount, const std::string& target, std::optional<dev_t> dev);
  static void resolve(Place& place);

  WriteRules rules_;
  std::vector<Place> approved_, app_state_;
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
