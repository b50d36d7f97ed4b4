// Media classification from the mount table and sysfs: fs type first, then
// the block device's sysfs ancestry (USB, FireWire, SD), following
// device-mapper slaves and loop backing files, as udisks does.
#include "coffer/guard/media.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>
#include <tuple>
#include <utility>

#include "coffer/error.h"
#include "coffer/paths.h"
#include "coffer/unique_fd.h"

namespace coffer::guard {
namespace fs = std::filesystem;
namespace {

// dm on loop on dm on ...: a real stack is a few levels deep; a cycle in a
// (fake or hostile) tree must end.
constexpr int kMaxDepth = 8;
constexpr std::size_t kMaxSlaves = 64;
constexpr std::size_t kMaxAttrBytes = 4096;

constexpr std::array<std::string_view, 14> kNetworkTypes = {"nfs",    "nfs4",      "cifs",  "smb3",    "smbfs",
                                                            "ncpfs",  "9p",        "ceph",  "afs",     "coda",
                                                            "lustre", "glusterfs", "davfs", "virtiofs"};
// FUSE subtypes that talk to the network.
constexpr std::array<std::string_view, 8> kNetworkFuseTypes = {"fuse.sshfs",     "fuse.glusterfs", "fuse.s3fs",
                                                               "fuse.rclone",    "fuse.ceph-fuse", "fuse.davfs2",
                                                               "fuse.curlftpfs", "fuse.smbnetfs"};
constexpr std::array<std::string_view, 26> kVirtualTypes = {
    "tmpfs",   "ramfs",    "proc",   "sysfs",      "devtmpfs",  "devpts",    "cgroup",   "cgroup2", "securityfs",
    "debugfs", "tracefs",  "pstore", "bpf",        "mqueue",    "hugetlbfs", "configfs", "fusectl", "binfmt_misc",
    "autofs",  "efivarfs", "nsfs",   "rpc_pipefs", "selinuxfs", "nfsd",      "pipefs",   "zonefs"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& set, std::string_view s) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

int rank(MediaKind k) {
  switch (k) {
    case MediaKind::kInternal:
      return 0;
    case MediaKind::kVirtual:
      return 1;
    case MediaKind::kUnknown:
      return 2;
    case MediaKind::kOtherFuse:
      return 3;
    case MediaKind::kNetwork:
      return 4;
    case MediaKind::kRemovable:
      return 5;
  }
  return 2;
}

// The more restrictive of two kinds: a dm device with one USB slave is USB.
MediaKind worst(MediaKind a, MediaKind b) { return rank(a) >= rank(b) ? a : b; }

std::optional<std::string> read_attr(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s(kMaxAttrBytes, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(in.gcount()));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool parse_u32(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 0xffffffffu) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

bool parse_dev_attr(const std::string& s, std::uint32_t& major, std::uint32_t& minor) {
  std::size_t colon = s.find(':');
  if (colon == std::string::npos) return false;
  return parse_u32(std::string_view(s).substr(0, colon), major) &&
         parse_u32(std::string_view(s).substr(colon + 1), minor);
}

// The file name of a sysfs "subsystem" symlink's target: "usb", "mmc", ...
std::string subsystem_of(const fs::path& dir) {
  std::error_code ec;
  fs::path target = fs::read_symlink(dir / "subsystem", ec);
  if (ec) return {};
  return target.filename().string();
}

// The device number of a mount's source "/dev/NAME" or "/dev/mapper/DM-NAME"
// from sysfs (SYSFS canonical); nullopt if it names no block device there
// or the number is not a real device's (major 0).
std::optional<std::pair<std::uint32_t, std::uint32_t>> device_of_source(const fs::path& sysfs,
                                                                        std::string_view source) {
  if (source.compare(0, 5, "/dev/") != 0) return std::nullopt;
  std::string_view name = source.substr(5);
  fs::path dev_attr;
  if (name.compare(0, 7, "mapper/") == 0) {
    std::string_view dm_name = name.substr(7);
    std::error_code ec;
    for (fs::directory_iterator it(sysfs / "block", ec), end; !ec && it != end; it.increment(ec)) {
      auto n = read_attr(it->path() / "dm" / "name");
      if (n && *n == dm_name) {
        dev_attr = it->path() / "dev";
        break;
      }
    }
  } else if (!name.empty() && name.find('/') == std::string_view::npos && name != "." && name != "..") {
    dev_attr = sysfs / "class" / "block" / std::string(name) / "dev";
  }
  if (dev_attr.empty()) return std::nullopt;
  auto dev = read_attr(dev_attr);
  std::uint32_t major = 0, minor = 0;
  if (!dev || !parse_dev_attr(*dev, major, minor) || major == 0) return std::nullopt;
  return std::pair{major, minor};
}

bool is_usb_bus_name(const std::string& name) {
  if (name.size() <= 3 || name.compare(0, 3, "usb") != 0) return false;
  return std::all_of(name.begin() + 3, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string read_mountinfo_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot read the mount table " + p.string());
  std::string text;
  std::array<char, 65536> buf{};
  while (in) {
    in.read(buf.data(), buf.size());
    text.append(buf.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxMountinfoBytes) throw Error(ErrorCode::kDamaged, "mountinfo: too large");
  }
  if (in.bad()) throw Error(ErrorCode::kIo, "cannot read the mount table " + p.string());
  return text;
}

}  // namespace

std::string_view media_kind_name(MediaKind kind) noexcept {
  switch (kind) {
    case MediaKind::kInternal:
      return "internal";
    case MediaKind::kRemovable:
      return "removable";
    case MediaKind::kNetwork:
      return "network";
    case MediaKind::kVirtual:
      return "virtual";
    case MediaKind::kOtherFuse:
      return "other-fuse";
    case MediaKind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

MediaClassifier::MediaClassifier() : MediaClassifier(MediaConfig{}) {}

MediaClassifier::MediaClassifier(MediaConfig config) : config_(std::move(config)) {
  for (auto& prefix : config_.declared_removable) {
    if (!prefix.is_absolute())
      throw Error(ErrorCode::kUsage, "declared removable mount is not absolute: " + prefix.string());
    prefix = prefix.lexically_normal();
    std::string s = prefix.string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    prefix = s;
  }
  std::error_code ec;
  sysfs_canonical_ = fs::canonical(config_.sysfs_root, ec);
  if (ec) sysfs_canonical_.clear();  // every block lookup then yields kUnknown
  refresh();
}

void MediaClassifier::refresh() {
  if (config_.mountinfo_text) mounts_ = parse_mountinfo(*config_.mountinfo_text);
  else mounts_ = parse_mountinfo(read_mountinfo_file(config_.mountinfo_path));
}

bool MediaClassifier::is_declared_removable(const MountEntry& entry) const {
  return std::any_of(config_.declared_removable.begin(), config_.declared_removable.end(),
                     [&](const fs::path& p) { return path_within(entry.mount_point, p.string()); });
}

MediaKind MediaClassifier::classify_mount(const MountEntry& entry) const { return classify_mount_at(entry, 0); }

MediaKind MediaClassifier::classify_mount_at(const MountEntry& entry, int depth) const {
  if (depth > kMaxDepth) return MediaKind::kUnknown;
  if (is_declared_removable(entry)) return MediaKind::kRemovable;
  const std::string& type = entry.fs_type;
  if (one_of(kNetworkTypes, type) || one_of(kNetworkFuseTypes, type)) return MediaKind::kNetwork;
  if (one_of(kVirtualTypes, type)) return MediaKind::kVirtual;
  if (type == "overlay") {
    // Writes land in the upper directory; without one the overlay is
    // read-only and no copy destination.
    auto upper = super_option(entry, "upperdir");
    if (!upper) return MediaKind::kVirtual;
    return classify_backing_path(*upper, depth + 1, true);
  }
  if (type == "fuseblk") {
    // ntfs-3g or exfat-fuse on a real block device: USB sticks often are.
    // On anything not removable the daemon is still an unknown FUSE program.
    MediaKind block = classify_block_at(entry.major, entry.minor, depth + 1);
    return block == MediaKind::kRemovable ? MediaKind::kRemovable : MediaKind::kOtherFuse;
  }
  if (type == "fuse" || type.compare(0, 5, "fuse.") == 0) return MediaKind::kOtherFuse;
  if (entry.major == 0) return classify_by_source(entry, depth + 1);  // btrfs subvolumes
  return classify_block_at(entry.major, entry.minor, depth + 1);
}

// Anonymous st_dev on a disk filesystem (btrfs): the source names the device.
MediaKind MediaClassifier::classify_by_source(const MountEntry& entry, int depth) const {
  if (sysfs_canonical_.empty()) return MediaKind::kUnknown;
  auto dev = device_of_source(sysfs_canonical_, entry.source);
  if (!dev) return MediaKind::kUnknown;
  return classify_block_at(dev->first, dev->second, depth);
}

MediaKind MediaClassifier::classify_block_device(std::uint32_t major, std::uint32_t minor) const {
  return classify_block_at(major, minor, 0);
}

MediaKind MediaClassifier::classify_block_at(std::uint32_t major, std::uint32_t minor, int depth) const {
  if (depth > kMaxDepth || sysfs_canonical_.empty()) return MediaKind::kUnknown;
  std::error_code ec;
  fs::path link = sysfs_canonical_ / "dev" / "block" / (std::to_string(major) + ":" + std::to_string(minor));
  fs::path dev_dir = fs::canonical(link, ec);
  if (ec) return MediaKind::kUnknown;
  // sysfs links stay inside sysfs; a tree that points elsewhere is not trusted.
  if (!path_within(dev_dir.string(), sysfs_canonical_.string()) || dev_dir == sysfs_canonical_)
    return MediaKind::kUnknown;
  return classify_sysfs_device(dev_dir, depth);
}

MediaKind MediaClassifier::classify_sysfs_device(const fs::path& dev_dir, int depth) const {
  std::error_code ec;
  const bool partition = fs::exists(dev_dir / "partition", ec);
  const fs::path disk_dir = partition ? dev_dir.parent_path() : dev_dir;

  // Stacked devices (dm-crypt/LUKS, LVM, md): as removable as their worst slave.
  for (const fs::path& dir : {dev_dir, disk_dir}) {
    fs::path slaves = dir / "slaves";
    if (!fs::is_directory(slaves, ec)) continue;
    std::optional<MediaKind> merged;
    std::size_t count = 0;
    for (fs::directory_iterator it(slaves, ec), end; !ec && it != end; it.increment(ec)) {
      if (++count > kMaxSlaves) return MediaKind::kUnknown;
      auto dev = read_attr(it->path() / "dev");
      std::uint32_t major = 0, minor = 0;
      MediaKind k =
          dev && parse_dev_attr(*dev, major, minor) ? classify_block_at(major, minor, depth + 1) : MediaKind::kUnknown;
      merged = merged ? worst(*merged, k) : k;
    }
    if (ec) return MediaKind::kUnknown;
    if (merged) return *merged;
  }

  // Loop devices: where the backing file lives.
  if (fs::is_directory(disk_dir / "loop", ec)) {
    auto backing = read_attr(disk_dir / "loop" / "backing_file");
    if (!backing || backing->empty()) return MediaKind::kUnknown;
    std::string path = *backing;
    constexpr std::string_view kDeleted = " (deleted)";
    if (path.size() > kDeleted.size() && path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0)
      path.resize(path.size() - kDeleted.size());
    return classify_backing_path(path, depth + 1, false);
  }

  // Bus ancestry: any USB or FireWire device above the block device, or an
  // MMC host (SD cards; soldered eMMC reports card type "MMC" and is not).
  bool saw_mmc = false;
  bool emmc = false;
  for (fs::path dir = dev_dir; path_within(dir.string(), sysfs_canonical_.string()) && dir != sysfs_canonical_;
       dir = dir.parent_path()) {
    const std::string name = dir.filename().string();
    const std::string subsystem = subsystem_of(dir);
    if (is_usb_bus_name(name) || subsystem == "usb" || subsystem == "firewire" || subsystem == "ieee1394")
      return MediaKind::kRemovable;
    if (name == "mmc_host" || subsystem == "mmc_host") saw_mmc = true;
    if (subsystem == "mmc") {
      saw_mmc = true;
      if (auto type = read_attr(dir / "type"); type && *type == "MMC") emmc = true;
    }
    if (dir == dir.parent_path()) break;
  }
  if (saw_mmc && !emmc) return MediaKind::kRemovable;

  // The block layer's own flag (card readers, optical drives); for a
  // partition it lives on the parent disk. Not enough alone: USB hard disks
  // report 0, hence the ancestry walk above.
  for (const fs::path& dir : {dev_dir, disk_dir}) {
    if (auto r = read_attr(dir / "removable"); r && *r == "1") return MediaKind::kRemovable;
  }
  return MediaKind::kInternal;
}

// A file path seen by the kernel (a loop backing file, an overlay upper
// directory): the kind of the mount that holds it, by longest mount-point
// prefix in our table, or for an overlay's upper directory with a
// resolve_root, as the kernel resolves it in that namespace. The path is the
// one recorded when the device was set up; if it is not absolute or no
// mount holds it, we do not know.
MediaKind MediaClassifier::classify_backing_path(std::string_view path, int depth, bool resolve) const {
  if (depth > kMaxDepth || path.empty() || path[0] != '/') return MediaKind::kUnknown;
  std::string normal = fs::path(std::string(path)).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  const MountEntry* holder =
      resolve && !config_.resolve_root.empty() ? resolve_in_namespace(normal) : mount_holding(normal);
  if (!holder) return MediaKind::kUnknown;
  return classify_backing_mount(*holder, depth);
}

// What holds an overlay's or a loop device's data is a place, never "not a
// place": a tmpfs (/dev/shm) is memory on this computer, so internal; an
// upper directory or backing file on proc, sysfs or another filesystem that
// cannot hold one is a lie or a mistake, so unknown.
MediaKind MediaClassifier::classify_backing_mount(const MountEntry& holder, int depth) const {
  MediaKind kind = classify_mount_at(holder, depth);
  if (kind != MediaKind::kVirtual) return kind;
  return holder.fs_type == "tmpfs" || holder.fs_type == "ramfs" ? MediaKind::kInternal : MediaKind::kUnknown;
}

// NORMAL (absolute, normal) as the kernel finds it from resolve_root, with
// no symlink followed: the mount of what it names, nullptr when that fails.
// Never walked through a FUSE, network or autofs mount: a lookup there is a
// request to a server (perhaps this very process, or one that never
// answers).
const MountEntry* MediaClassifier::resolve_in_namespace(const std::string& normal) const {
  for (const MountEntry& e : mounts_) {
    if (!path_within(normal, e.mount_point)) continue;
    const std::string& t = e.fs_type;
    if (one_of(kNetworkTypes, t) || one_of(kNetworkFuseTypes, t) || t == "fuse" || t == "fuseblk" ||
        t.compare(0, 5, "fuse.") == 0 || t == "autofs")
      return nullptr;
  }
  UniqueFd root(::open(config_.resolve_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return nullptr;
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  std::string rel = normal == "/" ? "." : normal.substr(1);
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root.get(), rel.c_str(), &how, sizeof how)));
  if (!fd.valid()) return nullptr;
  struct statx stx {};
  if (::statx(fd.get(), "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) != 0 ||
      !(stx.stx_mask & STATX_MNT_ID))
    return nullptr;
  for (const MountEntry& e : mounts_)
    if (e.mount_id == stx.stx_mnt_id) return &e;
  return nullptr;
}

const MountEntry* MediaClassifier::mount_holding(std::string_view absolute_path) const {
  const MountEntry* best = nullptr;
  for (const MountEntry& e : mounts_) {
    // Later lines are mounted on top of earlier ones at the same place.
    if (path_within(absolute_path, e.mount_point) && (!best || e.mount_point.size() >= best->mount_point.size()))
      best = &e;
  }
  return best;
}

std::optional<MountEntry> MediaClassifier::mount_for_path(const fs::path& path) const {
  if (path.empty()) return std::nullopt;
  std::error_code ec;
  fs::path cur = path.is_absolute() ? path : fs::absolute(path, ec);
  if (ec) return std::nullopt;
  struct statx stx {};
  for (int steps = 0;; ++steps) {
    if (steps > 4096) return std::nullopt;
    // Follows symlinks as open() would: a link on the internal disk pointing
    // at a USB stick is classified as the stick.
    if (statx(AT_FDCWD, cur.c_str(), AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID, &stx) == 0) break;
    if (errno != ENOENT) return std::nullopt;  // EACCES, ELOOP, ENOTDIR...: cannot tell
    struct statx lstx {};
    // A dangling symlink: open(O_CREAT) would create its target, elsewhere.
    if (statx(AT_FDCWD, cur.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &lstx) == 0)
      return std::nullopt;
    fs::path name = cur.filename();
    if (name.empty() && cur.has_relative_path()) {  // trailing slash
      cur = cur.parent_path();
      continue;
    }
    if (name.empty() || name == "." || name == ".." || !cur.has_relative_path()) return std::nullopt;
    cur = cur.parent_path();
  }
  if (stx.stx_mask & STATX_MNT_ID) {
    for (const MountEntry& e : mounts_)
      if (e.mount_id == stx.stx_mnt_id) return e;
    return std::nullopt;  // the table is stale
  }
  // Kernels before 5.8: the deepest mount on the resolved path with the same
  // device number.
  fs::path resolved = fs::canonical(cur, ec);
  if (ec) return std::nullopt;
  const MountEntry* best = nullptr;
  for (const MountEntry& e : mounts_) {
    if (e.major != stx.stx_dev_major || e.minor != stx.stx_dev_minor) continue;
    if (path_within(resolved.string(), e.mount_point) && (!best || e.mount_point.size() >= best->mount_point.size()))
      best = &e;
  }
  if (!best) return std::nullopt;
  return *best;
}

MediaKind MediaClassifier::classify_path(const fs::path& path) const {
  auto entry = mount_for_path(path);
  return entry ? classify_mount(*entry) : MediaKind::kUnknown;
}

std::vector<ClassifiedMount> MediaClassifier::classify_all() const {
  std::vector<ClassifiedMount> out;
  out.reserve(mounts_.size());
  for (const MountEntry& e : mounts_) out.push_back({e, classify_mount(e)});
  return out;
}

std::vector<ClassifiedMount> MediaClassifier::removable_mounts() const {
  std::vector<ClassifiedMount> out;
  for (ClassifiedMount& m : classify_all())
    if (m.kind == MediaKind::kRemovable || m.kind == MediaKind::kNetwork || m.kind == MediaKind::kOtherFuse)
      out.push_back(std::move(m));
  return out;
}

// ---- School-stick identity (the guard's allowlist) ----

std::optional<fs::path> MediaClassifier::sysfs_device_of(const fs::path& link) const {
  std::error_code ec;
  fs::path dir = fs::canonical(link, ec);
  if (ec || !path_within(dir.string(), sysfs_canonical_.string()) || dir == sysfs_canonical_) return std::nullopt;
  return dir;
}

std::optional<fs::path> MediaClassifier::block_device_dir(const MountEntry& entry) const {
  if (sysfs_canonical_.empty()) return std::nullopt;
  const std::string& type = entry.fs_type;
  if (one_of(kNetworkTypes, type) || one_of(kVirtualTypes, type) || type == "overlay" || type == "fuse" ||
      type.compare(0, 5, "fuse.") == 0)
    return std::nullopt;
  std::uint32_t major = entry.major, minor = entry.minor;
  if (major == 0) {
    // Anonymous st_dev (btrfs): the source names the device, as in
    // classify_by_source.
    auto dev = device_of_source(sysfs_canonical_, entry.source);
    if (!dev) return std::nullopt;
    std::tie(major, minor) = *dev;
  }
  return sysfs_device_of(sysfs_canonical_ / "dev" / "block" / (std::to_string(major) + ":" + std::to_string(minor)));
}

namespace {

// The only slave of a stacked device (dm, md), or nullopt for none or
// several: a filesystem spread over several devices is no one stick.
std::optional<fs::path> single_slave(const fs::path& dev_dir) {
  std::error_code ec;
  fs::path slaves = dev_dir / "slaves";
  if (!fs::is_directory(slaves, ec)) return std::nullopt;
  std::optional<fs::path> only;
  for (fs::directory_iterator it(slaves, ec), end; !ec && it != end; it.increment(ec)) {
    if (only) return std::nullopt;
    only = it->path();
  }
  if (ec) return std::nullopt;
  return only;
}

// "CRYPT-LUKS2-0a1b...(32 hex)-name" -> "0a1b....-....-....-....-............"
std::optional<std::string> luks_uuid_from_dm_uuid(std::string_view dm_uuid) {
  for (std::string_view prefix : {std::string_view("CRYPT-LUKS1-"), std::string_view("CRYPT-LUKS2-")}) {
    if (dm_uuid.compare(0, prefix.size(), prefix) != 0) continue;
    std::string_view rest = dm_uuid.substr(prefix.size());
    if (rest.size() < 32 || (rest.size() > 32 && rest[32] != '-')) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < 32; ++i) {
      char c = rest[i];
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
      if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
      out.push_back(c);
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> MediaClassifier::luks_uuid(const MountEntry& entry) const {
  auto dir = block_device_dir(entry);
  for (int depth = 0; dir && depth <= kMaxDepth; ++depth) {
    if (auto uuid = read_attr(*dir / "dm" / "uuid")) {
      if (auto luks = luks_uuid_from_dm_uuid(*uuid)) return luks;
    } else {
      return std::nullopt;  // not device-mapper: no LUKS below a plain disk
    }
    auto slave = single_slave(*dir);
    if (!slave) return std::nullopt;
    dir = sysfs_device_of(*slave);
  }
  return std::nullopt;
}

std::optional<std::string> MediaClassifier::school_stick(const MountEntry& entry,
                                                         const std::vector<std::string>& luks_uuids,
                                                         const std::vector<std::string>& usb_serials) const {
  if (luks_uuids.empty() && usb_serials.empty()) return std::nullopt;
  auto luks = luks_uuid(entry);
  if (!luks) return std::nullopt;  // only an encrypted stick can be a school stick
  auto normal = [](const std::string& s) {
    std::string out;
    for (char c : s)
      if (c != '-') out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    return out;
  };
  for (auto& a : luks_uuids)
    if (normal(a) == normal(*luks)) return "LUKS " + *luks;
  if (auto serial = usb_serial(entry))
    if (std::find(usb_serials.begin(), usb_serials.end(), *serial) != usb_serials.end()) return "USB serial " + *serial;
  return std::nullopt;
}

std::optional<std::string> MediaClassifier::usb_serial(const MountEntry& entry) const {
  auto dir = block_device_dir(entry);
  // Down through device-mapper layers to the real disk.
  for (int depth = 0; dir && depth <= kMaxDepth; ++depth) {
    std::error_code ec;
    if (!fs::is_directory(*dir / "slaves", ec) || fs::is_empty(*dir / "slaves", ec)) break;
    auto slave = single_slave(*dir);
    if (!slave) return std::nullopt;
    dir = sysfs_device_of(*slave);
    if (depth == kMaxDepth) return std::nullopt;
  }
  if (!dir) return std::nullopt;
  for (fs::path d = *dir; path_within(d.string(), sysfs_canonical_.string()) && d != sysfs_canonical_;
       d = d.parent_path()) {
    std::error_code ec;
    // The USB device itself, not one of its interfaces (2-1:1.0), carries
    // the serial.
    if (subsystem_of(d) == "usb" && fs::exists(d / "idVendor", ec)) {
      auto serial = read_attr(d / "serial");
      if (!serial || serial->empty()) return std::nullopt;
      return serial;
    }
    if (d == d.parent_path()) break;
  }
  return std::nullopt;
}

}  // namespace coffer::guard
