// Layer 1 caller inspection; see caller_check.h and docs/GUARD.md.
#include "coffer/guard/caller_check.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "coffer/paths.h"
#include "coffer/proc.h"
#include "coffer/unique_dir.h"
#include "coffer/unique_fd.h"

namespace coffer::guard {
namespace {

std::string proc(pid_t tid, const std::string& rest) { return "/proc/" + std::to_string(tid) + "/" + rest; }

// A small /proc file in one read (fdinfo is a few lines).
std::optional<std::string> read_small(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string out;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (64u << 20)) break;
  }
  return out;
}

// "flags:\t0100001" (octal) and "mnt_id:\t29" from fdinfo.
struct FdInfo {
  unsigned long flags = 0;
  std::uint64_t mnt_id = 0;
};
std::optional<FdInfo> parse_fdinfo(const std::string& text) {
  FdInfo info;
  bool has_flags = false, has_mnt = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags:", 0) == 0) {
      info.flags = std::strtoul(line.c_str() + 6, nullptr, 8);
      has_flags = true;
    } else if (line.rfind("mnt_id:", 0) == 0) {
      info.mnt_id = std::strtoull(line.c_str() + 7, nullptr, 10);
      has_mnt = true;
    }
  }
  if (!has_flags || !has_mnt) return std::nullopt;
  return info;
}

bool is_local_memory_fs(const std::string& type) { return type == "tmpfs" || type == "ramfs"; }

// PATH (absolute, as the caller sees it) on MOUNT as a path within its
// filesystem: the mount's root joined with what lies below its mount point;
// nullopt when PATH is not below the mount point.
std::optional<std::string> path_in_filesystem(const MountEntry& mount, const std::string& path) {
  if (!path_within(path, mount.mount_point)) return std::nullopt;
  std::string rest = mount.mount_point == "/" ? path : path.substr(mount.mount_point.size());
  if (rest == "/") rest.clear();
  if (mount.root == "/") return rest.empty() ? std::string("/") : rest;
  return mount.root + rest;
}

// This process's mount with this id, from a fresh read of its table.
std::optional<MountEntry> own_mount(std::uint64_t mnt_id) {
  auto text = read_small("/proc/self/mountinfo");
  if (!text) return std::nullopt;
  try {
    for (auto& m : parse_mountinfo(*text))
      if (m.mount_id == mnt_id) return m;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace

std::string_view place_class_name(PlaceClass c) noexcept {
  switch (c) {
    case PlaceClass::kCoffer:
      return "coffer";
    case PlaceClass::kApproved:
      return "approved";
    case PlaceClass::kAppState:
      return "app-state";
    case PlaceClass::kLocal:
      return "local";
    case PlaceClass::kRemovable:
      return "removable";
    case PlaceClass::kSchoolStick:
      return "school-stick";
    case PlaceClass::kNetwork:
      return "network";
    case PlaceClass::kOtherFuse:
      return "other-fuse";
    case PlaceClass::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::string describe_destinations(const std::vector<Destination>& all, std::size_t max) {
  if (all.empty()) return "none";
  std::string out;
  std::size_t shown = 0;
  for (const Destination& d : all) {
    if (shown == max) {
      out += "; and " + std::to_string(all.size() - shown) + " more";
      break;
    }
    if (shown++ > 0) out += "; ";
    out += std::string(place_class_name(d.place)) + " " + d.target + " (" + describe_fd(d.fd) + ")";
  }
  return out;
}

std::string describe_fd(int fd) {
  switch (fd) {
    case 0:
      return "standard input";
    case 1:
      return "standard output";
    case 2:
      return "standard error";
    default:
      return "descriptor " + std::to_string(fd);
  }
}

CallerInspector::CallerInspector(WriteRules rules) : rules_(std::move(rules)) {
  for (auto& p : rules_.approved) approved_.emplace_back().path = p;
  for (auto& p : rules_.app_state) app_state_.emplace_back().path = p;
  for (auto* places : {&approved_, &app_state_})
    for (Place& p : *places) resolve(p);
  UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, "coffer-probe", 0u)));
  if (fd.valid())
    if (auto text = read_small("/proc/self/fdinfo/" + std::to_string(fd.get())))
      if (auto info = parse_fdinfo(*text)) memfd_mount_ = info->mnt_id;
}

const MountEntry* CallerInspector::mount_of(pid_t tid, std::uint64_t mnt_id, std::optional<dev_t> dev, Judged& judged) {
  auto ns = read_link(proc(tid, "ns/mnt"));
  if (!ns) return nullptr;
  Namespace& space = namespaces_[*ns];
  auto find = [&]() -> const MountEntry* {
    if (!space.classifier) return nullptr;
    for (auto& m : space.classifier->mounts())
      if (m.mount_id == mnt_id) return &m;
    return nullptr;
  };
  const MountEntry* m = find();
  // Mount ids are reused once a filesystem is unmounted: an entry of the
  // table read earlier whose device is not the descriptor's belonged to a
  // mount that has gone. (A btrfs subvolume's files report a device of
  // their own: after one fresh read the entry is taken as it is.)
  if (m && dev && (m->major != major(*dev) || m->minor != minor(*dev))) m = nullptr;
  if (!m) {
    // Not seen yet: the table changed since we read it (or this is a
    // kernel-internal mount such as memfd's, which no table lists).
    auto text = read_small(proc(tid, "mountinfo"));
    if (!text) return nullptr;
    MediaConfig config = rules_.media;
    config.mountinfo_text = std::move(*text);
    config.resolve_root = proc(tid, "root");
    try {
      space.classifier = std::make_unique<MediaClassifier>(std::move(config));
    } catch (const std::exception&) {
      return nullptr;
    }
    space.kinds.clear();
    m = find();
    if (!m) return nullptr;
  }
  auto it = space.kinds.find(mnt_id);
  if (it == space.kinds.end()) {
    // Overlays' upper directories are resolved in the namespace, from the
    // root of this caller (the one whose table was read may have gone).
    space.classifier->set_resolve_root(proc(tid, "root"));
    Judged j;
    j.kind = space.classifier->classify_mount(*m);
    if (j.kind == MediaKind::kRemovable)
      j.school_stick =
          space.classifier->school_stick(*m, rules_.allowed_luks_uuids, rules_.allowed_usb_serials).has_value();
    it = space.kinds.emplace(mnt_id, j).first;
  }
  judged = it->second;
  return m;
}

void CallerInspector::resolve(Place& place) {
  place.resolved = false;
  struct statx stx {};
  if (::statx(AT_FDCWD, place.path.c_str(), 0, STATX_INO | STATX_MNT_ID, &stx) != 0 || !(stx.stx_mask & STATX_MNT_ID))
    return;
  std::error_code ec;
  auto canonical = std::filesystem::canonical(place.path, ec);
  if (ec) return;
  auto mount = own_mount(stx.stx_mnt_id);
  if (!mount) return;
  auto fs_path = path_in_filesystem(*mount, canonical.string());
  if (!fs_path) return;
  place.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  place.ino = stx.stx_ino;
  place.mount_major = mount->major;
  place.mount_minor = mount->minor;
  place.fs_path = std::move(*fs_path);
  place.resolved = true;
}

// TARGET (the caller's view, relative to its root) on MOUNT (from its
// table) lies in one of PLACES: the same filesystem (the mount's device as
// the table has it, and the file's device as statx has it: an overlay's
// upper files report their real device, but the overlay mount does not),
// and its path within the filesystem below the place's. The place is
// stat'ed again on a match: a directory renamed or replaced since is looked
// up anew.
bool CallerInspector::within(std::vector<Place>& places, const MountEntry& mount, const std::string& target,
                             std::optional<dev_t> dev) {
  if (!dev || target.empty()) return false;
  auto fs_path = path_in_filesystem(mount, target);
  if (!fs_path) return false;
  auto matches = [&](const Place& p) {
    return p.resolved && p.dev == *dev && p.mount_major == mount.major && p.mount_minor == mount.minor &&
           path_within(*fs_path, p.fs_path);
  };
  // Still the directory registered (same device and inode at its path)?
  auto unchanged = [](const Place& p) {
    struct statx stx {};
    return ::statx(AT_FDCWD, p.path.c_str(), 0, STATX_INO, &stx) == 0 &&
           makedev(stx.stx_dev_major, stx.stx_dev_minor) == p.dev && stx.stx_ino == p.ino;
  };
  const auto now = std::chrono::steady_clock::now();
  for (Place& p : places) {
    if (matches(p)) {
      if (unchanged(p)) return true;
      resolve(p);
      if (matches(p)) return true;
      continue;
    }
    // Not this place, as registered; a share mounted on the approved path
    // since, or the folder made, is seen within a second.
    if (now - p.checked < std::chrono::seconds(1)) continue;
    p.checked = now;
    if (p.resolved && unchanged(p)) continue;
    resolve(p);
    if (matches(p)) return true;
  }
  return false;
}

std::optional<Destination> CallerInspector::judge(int fd, std::string target, const std::string& seen,
                                                  const MountEntry& mount, const Judged& judged,
                                                  std::optional<dev_t> dev) {
  Destination d{fd, std::move(target), judged.kind, PlaceClass::kUnknown, {}};
  if (mount.major == rules_.coffer_major && mount.minor == rules_.coffer_minor) {
    d.place = PlaceClass::kCoffer;
    return d;
  }
  // An approved destination may be the school's share (network) or another
  // FUSE filesystem; on removable media only an allowlisted school stick.
  switch (judged.kind) {
    case MediaKind::kRemovable:
      if (judged.school_stick) {
        d.place = PlaceClass::kSchoolStick;
        return d;
      }
      d.place = PlaceClass::kRemovable;
      d.refusal = "removable media";
      return d;
    case MediaKind::kNetwork:
    case MediaKind::kOtherFuse:
      if (within(approved_, mount, seen, dev)) {
        d.place = PlaceClass::kApproved;
        return d;
      }
      d.place = judged.kind == MediaKind::kNetwork ? PlaceClass::kNetwork : PlaceClass::kOtherFuse;
      d.refusal = judged.kind == MediaKind::kNetwork ? "a network filesystem" : "another FUSE filesystem";
      return d;
    case MediaKind::kUnknown:
      d.refusal = "a filesystem coffer cannot classify";
      return d;
    case MediaKind::kVirtual:
      // /dev/null, ttys, /proc: not files that keep data. tmpfs and ramfs do.
      if (!is_local_memory_fs(mount.fs_type)) return std::nullopt;
      [[fallthrough]];
    case MediaKind::kInternal:
      if (within(approved_, mount, seen, dev)) {
        d.place = PlaceClass::kApproved;
        return d;
      }
      if (within(app_state_, mount, seen, dev)) {
        d.place = PlaceClass::kAppState;
        return d;
      }
      d.place = PlaceClass::kLocal;
      d.refusal = "a file on this computer outside the approved places";
      return d;
  }
  return std::nullopt;
}

std::vector<Destination> CallerInspector::survey(pid_t tid) {
  std::vector<Destination> out;
  std::string fd_dir = proc(tid, "fd");
  UniqueDir d(::opendir(fd_dir.c_str()));
  if (!d) return out;
  std::vector<int> fds;
  while (dirent* e = ::readdir(d.get())) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    fds.push_back(std::atoi(e->d_name));
  }
  d.reset();
  std::sort(fds.begin(), fds.end());
  // The caller's root, written as its descriptors' targets are (relative
  // to ours, or to its namespace's root): its mount table's mount points
  // are relative to it, so a chroot does not shift paths within a
  // filesystem.
  auto root = read_link(proc(tid, "root"));
  std::lock_guard lock(mu_);
  for (int fd : fds) {
    auto text = read_small(fd_dir + "info/" + std::to_string(fd));
    if (!text) continue;  // closed meanwhile
    auto info = parse_fdinfo(*text);
    if (!info || (info->flags & O_ACCMODE) == O_RDONLY) continue;
    auto target = read_link(fd_dir + "/" + std::to_string(fd));
    // Pipes, sockets and anonymous inodes ("pipe:[123]") are not places.
    if (!target || target->empty() || (*target)[0] != '/') continue;
    constexpr std::string_view kDeleted = " (deleted)";
    if (target->size() > kDeleted.size() && target->ends_with(kDeleted))
      target->resize(target->size() - kDeleted.size());
    Judged judged;
    // The device only, from what the kernel has cached: never a round trip
    // to a FUSE or network server that may be the one stuck.
    struct statx stx {};
    std::optional<dev_t> dev;
    if (::statx(AT_FDCWD, (fd_dir + "/" + std::to_string(fd)).c_str(), AT_STATX_DONT_SYNC, 0, &stx) == 0)
      dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    const MountEntry* mount = mount_of(tid, info->mnt_id, dev, judged);
    // Mount ids are unique across namespaces: a descriptor opened before
    // its process entered a mount namespace of its own (a sandboxed
    // session's standard streams, inherited from the teacher's terminal)
    // names a mount of the namespace it came from, which is ours.
    if (!mount) mount = mount_of(::getpid(), info->mnt_id, dev, judged);
    if (!mount) {
      // memfd and SysV shared memory are anonymous memory; any other mount
      // no table lists (a stick detached with umount -l) is not a place
      // coffer can vouch for.
      if (memfd_mount_ && info->mnt_id == *memfd_mount_) continue;
      out.push_back(
          Destination{fd, *target, MediaKind::kUnknown, PlaceClass::kUnknown, "a detached or hidden filesystem"});
      continue;
    }
    // The target as the caller sees it: below its root, or nowhere it can
    // name (then nothing below an approved path either).
    std::string seen;
    if (root && !root->empty() && (*root)[0] == '/') {
      if (*root == "/") seen = *target;
      else if (path_within(*target, *root))
        seen = target->size() == root->size() ? std::string("/") : target->substr(root->size());
    }
    if (auto dest = judge(fd, *target, seen, *mount, judged, dev)) out.push_back(std::move(*dest));
  }
  return out;
}

std::optional<Finding> CallerInspector::inspect(pid_t tid) {
  std::optional<Finding> first;
  for (Destination& d : survey(tid)) {
    if (d.refusal.empty()) continue;
    Finding f{d.fd, std::move(d.target), d.kind, std::move(d.refusal)};
    // A standard stream redirected to a log is a copier too, but the file
    // it copies to is the one to name.
    if (f.fd > 2) return f;
    if (!first) first = std::move(f);
  }
  return first;
}

std::optional<Finding> CallerInspector::check(pid_t tid, std::uint64_t key) {
  struct stat st {};
  // Since Linux 6.2 the size of /proc/PID/fd is the number of open
  // descriptors: a new descriptor invalidates the verdict at once.
  std::int64_t count = ::stat(proc(tid, "fd").c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : -1;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find({tid, key});
    if (it != cache_.end() && count > 0 && it->second.fd_count == count && now - it->second.at < ttl)
      return it->second.verdict;
  }
  auto verdict = inspect(tid);
  std::lock_guard lock(mu_);
  if (cache_.size() > 4096) cache_.clear();
  cache_[{tid, key}] = Cached{count, now, verdict};
  return verdict;
}

void CallerInspector::forget(std::uint64_t key) {
  std::lock_guard lock(mu_);
  for (auto it = cache_.begin(); it != cache_.end();) it = it->first.second == key ? cache_.erase(it) : std::next(it);
}

}  // namespace coffer::guard
