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

}  // namespace

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

std::optional<Finding> CallerInspector::judge(int fd, std::string target, const MountEntry& mount,
                                              const Judged& judged) const {
  if (mount.major == rules_.coffer_major && mount.minor == rules_.coffer_minor) return std::nullopt;
  const MediaKind kind = judged.kind;
  Finding f{fd, std::move(target), kind, {}};
  // An approved destination may be the school's share (network) or another
  // FUSE filesystem; on removable media only an allowlisted school stick.
  const bool approved = path_within_any(f.target, rules_.approved);
  switch (kind) {
    case MediaKind::kRemovable:
      if (judged.school_stick) return std::nullopt;
      f.reason = "removable media";
      return f;
    case MediaKind::kNetwork:
      if (approved) return std::nullopt;
      f.reason = "a network filesystem";
      return f;
    case MediaKind::kOtherFuse:
      if (approved) return std::nullopt;
      f.reason = "another FUSE filesystem";
      return f;
    case MediaKind::kUnknown:
      f.reason = "a filesystem coffer cannot classify";
      return f;
    case MediaKind::kVirtual:
      // /dev/null, ttys, /proc: not files that keep data. tmpfs and ramfs do.
      if (!is_local_memory_fs(mount.fs_type)) return std::nullopt;
      [[fallthrough]];
    case MediaKind::kInternal:
      if (approved || path_within_any(f.target, rules_.app_state)) return std::nullopt;
      f.reason = "a file on this computer outside the approved places";
      return f;
  }
  return std::nullopt;
}

std::optional<Finding> CallerInspector::inspect(pid_t tid) {
  std::string fd_dir = proc(tid, "fd");
  UniqueDir d(::opendir(fd_dir.c_str()));
  if (!d) return std::nullopt;
  std::vector<int> fds;
  while (dirent* e = ::readdir(d.get())) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    fds.push_back(std::atoi(e->d_name));
  }
  d.reset();
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
      return Finding{fd, *target, MediaKind::kUnknown, "a detached or hidden filesystem"};
    }
    if (auto f = judge(fd, *target, *mount, judged)) return f;
  }
  return std::nullopt;
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
