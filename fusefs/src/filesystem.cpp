// The filesystem operations; see filesystem.h.
#include "coffer/fusefs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "coffer/error.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/records/manifest.h"
#include "coffer/vault/records/records.h"
#include "coffer/vault/records/views.h"

namespace coffer::fusefs {
namespace {

using vault::FsError;
using vault::Inode;

constexpr std::string_view kProfileName = "profile.txt";

bool is_pupil_node(std::uint64_t ino) { return ino >= kPupilBase; }
bool is_pupil_folder(std::uint64_t ino) { return is_pupil_node(ino) && (ino - kPupilBase) % 2 == 0; }
std::int64_t pupil_id_of(std::uint64_t ino) { return static_cast<std::int64_t>((ino - kPupilBase) / 2); }
bool valid_pupil_id(std::int64_t id) { return id >= 0 && id <= kMaxPupilId; }

std::vector<std::string> profile_fields(vault::Database& db) {
  return vault::split_fields(vault::get_meta(db, "profile_fields").value_or(""));
}

std::size_t copy_slice(const std::string& text, std::uint64_t offset, std::span<std::uint8_t> out) {
  if (offset >= text.size()) return 0;
  std::size_t n = std::min(out.size(), text.size() - static_cast<std::size_t>(offset));
  std::memcpy(out.data(), text.data() + offset, n);
  return n;
}

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// CLOCK_BOOTTIME keeps counting while the machine is suspended, so time
// asleep counts as idle time.
std::int64_t boottime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

Filesystem::Filesystem(vault::FileStore& store, vault::Database& db, MountInfo info)
    : store_(store), db_(db), info_(std::move(info)), mount_time_ns_(now_ns()) {
  last_activity_ns_ = boottime_ns();
}

std::unique_lock<std::mutex> Filesystem::enter() {
  std::unique_lock<std::mutex> lock(mu_);
  // After lock() nothing is served: the keys are gone.
  if (locked_) throw FsError(std::errc::io_error);
  last_activity_ns_ = boottime_ns();
  return lock;
}

std::chrono::nanoseconds Filesystem::idle_for() const {
  return std::chrono::nanoseconds(boottime_ns() - last_activity_ns_.load());
}

std::uint32_t Filesystem::stored_id(std::uint32_t id, std::uint32_t mounter) const {
  return id == mounter ? vault::kMounterId : id;
}

Inode Filesystem::present(Inode i) const {
  if (i.uid == vault::kMounterId) i.uid = info_.mounter_uid;
  if (i.gid == vault::kMounterId) i.gid = info_.mounter_gid;
  return i;
}

Inode Filesystem::root_attr() const {
  Inode i;
  i.ino = kRootIno;
  i.mode = S_IFDIR | 0500;
  i.nlink = 4;  // ., files/ and pupils/
  i.uid = info_.mounter_uid;
  i.gid = info_.mounter_gid;
  i.atime_ns = i.mtime_ns = i.ctime_ns = mount_time_ns_;
  return i;
}

Inode Filesystem::readme_attr() const { return view_attr(kReadmeIno, info_.readme.size()); }

// Generated nodes look like README.txt and the root: the mounter's, read-only,
// timestamped at the mount.
Inode Filesystem::view_attr(std::uint64_t ino, std::size_t size) const {
  Inode i = root_attr();
  i.ino = ino;
  i.mode = S_IFREG | 0400;
  i.nlink = 1;
  i.size = size;
  return i;
}

Inode Filesystem::dir_attr(std::uint64_t ino, std::uint64_t nlink) const {
  Inode i = root_attr();
  i.ino = ino;
  i.nlink = nlink;
  return i;
}

bool Filesystem::pupil_exists(std::int64_t id) {
  return valid_pupil_id(id) && vault::RecordStore(db_).load(id).has_value();
}

void Filesystem::remember_folders(const std::vector<vault::PupilEntry>& pupils) {
  folder_ids_.clear();
  for (const auto& e : pupils)
    if (valid_pupil_id(e.id)) folder_ids_.emplace(vault::pupil_folder_name(e), e.id);
}

// `ls -l pupils` looks up every folder: reading the whole list for each
// would make that quadratic. A remembered id is used only once the
// database confirms that pupil still has exactly this folder name.
std::optional<std::int64_t> Filesystem::pupil_by_folder(std::string_view name) {
  auto it = folder_ids_.find(std::string(name));
  if (it != folder_ids_.end()) {
    if (auto p = vault::RecordStore(db_).load(it->second);
        p && vault::pupil_folder_name({it->second, p->key, p->display_name()}) == name)
      return it->second;
  }
  remember_folders(vault::RecordStore(db_).list());
  it = folder_ids_.find(std::string(name));
  if (it == folder_ids_.end()) return std::nullopt;
  return it->second;
}

// Rendered afresh on every request (no cache): a pupil removed from the
// database is gone from the views at once. Only one pupil is loaded for a
// profile; the roster and manifest are small enough to build each time.
std::string Filesystem::render(std::uint64_t ino) {
  if (ino == kReadmeIno) return info_.readme;
  if (ino == kRosterIno) return vault::roster_csv(vault::RecordStore(db_).load_all(), profile_fields(db_));
  if (ino == kManifestIno) return vault::manifest_text(vault::read_manifest(db_, info_.coffer_name));
  if (ino == kPupilsIno || is_pupil_folder(ino)) throw FsError(std::errc::is_a_directory);
  if (is_pupil_node(ino)) {
    std::int64_t id = pupil_id_of(ino);
    if (valid_pupil_id(id))
      if (auto pupil = vault::RecordStore(db_).load(id)) return vault::profile_txt(*pupil, profile_fields(db_));
  }
  throw FsError(std::errc::no_such_file_or_directory);
}

Inode Filesystem::virtual_attr(std::uint64_t ino) {
  if (ino == kReadmeIno) return readme_attr();
  if (ino == kRosterIno || ino == kManifestIno) return view_attr(ino, render(ino).size());
  if (ino == kPupilsIno) return dir_attr(ino, 2 + static_cast<std::uint64_t>(vault::RecordStore(db_).count()));
  if (is_pupil_folder(ino)) {
    if (!pupil_exists(pupil_id_of(ino))) throw FsError(std::errc::no_such_file_or_directory);
    return dir_attr(ino, 2);
  }
  if (is_pupil_node(ino)) return view_attr(ino, render(ino).size());
  throw FsError(std::errc::no_such_file_or_directory);
}

Inode Filesystem::virtual_lookup(std::uint64_t parent, std::string_view name) {
  if (parent == kRootIno) {
    if (name == "README.txt") return readme_attr();
    if (name == "roster.csv") return virtual_attr(kRosterIno);
    if (name == "manifest.txt") return virtual_attr(kManifestIno);
    if (name == "pupils") return virtual_attr(kPupilsIno);
    throw FsError(std::errc::no_such_file_or_directory);
  }
  if (parent == kPupilsIno) {
    // The folder name is not parsed back into a key, so any name vault
    // gives a pupil works.
    if (auto id = pupil_by_folder(name)) return dir_attr(pupil_folder_ino(*id), 2);
    throw FsError(std::errc::no_such_file_or_directory);
  }
  if (is_pupil_folder(parent)) {
    std::int64_t id = pupil_id_of(parent);
    if (!pupil_exists(id) || name != kProfileName) throw FsError(std::errc::no_such_file_or_directory);
    return virtual_attr(pupil_profile_ino(id));
  }
  throw FsError(std::errc::not_a_directory);
}

std::vector<Entry> Filesystem::virtual_readdir(std::uint64_t ino, std::uint64_t cookie, std::size_t max) {
  std::vector<Entry> out;
  auto add = [&](const Entry& e) {
    if (e.next_cookie > cookie && out.size() < max) out.push_back(e);
  };
  if (ino == kRootIno) {
    const Entry all[] = {{".", kRootIno, S_IFDIR, 1},
                         {"..", kRootIno, S_IFDIR, 2},
                         {"README.txt", kReadmeIno, S_IFREG, 3},
                         {"roster.csv", kRosterIno, S_IFREG, 4},
                         {"manifest.txt", kManifestIno, S_IFREG, 5},
                         {"pupils", kPupilsIno, S_IFDIR, 6},
                         {"files", vault::kFilesRootIno, S_IFDIR, 7}};
    for (const auto& e : all) add(e);
    return out;
  }
  if (ino == kPupilsIno) {
    add({".", kPupilsIno, S_IFDIR, 1});
    add({"..", kRootIno, S_IFDIR, 2});
    // In id order with the id in the cookie, so a pupil removed between two
    // readdir calls does not make the listing skip or repeat another.
    auto pupils = vault::RecordStore(db_).list();
    remember_folders(pupils);  // the lookups of an `ls -l` follow
    std::sort(pupils.begin(), pupils.end(),
              [](const vault::PupilEntry& a, const vault::PupilEntry& b) { return a.id < b.id; });
    for (const auto& e : pupils) {
      if (out.size() >= max) break;
      if (!valid_pupil_id(e.id)) continue;
      add({vault::pupil_folder_name(e), pupil_folder_ino(e.id), S_IFDIR, static_cast<std::uint64_t>(e.id) + 3});
    }
    return out;
  }
  if (is_pupil_folder(ino)) {
    if (!pupil_exists(pupil_id_of(ino))) throw FsError(std::errc::no_such_file_or_directory);
    add({".", ino, S_IFDIR, 1});
    add({"..", kPupilsIno, S_IFDIR, 2});
    add({std::string(kProfileName), pupil_profile_ino(pupil_id_of(ino)), S_IFREG, 3});
    return out;
  }
  throw FsError(std::errc::not_a_directory);
}

std::uint64_t Filesystem::store_parent(std::uint64_t parent) const {
  // The top level is generated and read-only.
  if (parent == kRootIno || parent >= kVirtualBase) throw FsError(std::errc::permission_denied);
  return parent;
}

void Filesystem::require_writable() const {
  if (info_.read_only) throw FsError(std::errc::read_only_file_system);
}

void Filesystem::counted(const Inode& i) {
  if (i.ino != kRootIno && i.ino < kVirtualBase) ++lookups_[i.ino];
}

void Filesystem::maybe_remove(std::uint64_t ino) {
  auto l = lookups_.find(ino);
  auto o = opens_.find(ino);
  if ((l == lookups_.end() || l->second == 0) && (o == opens_.end() || o->second == 0)) store_.remove_if_unlinked(ino);
}

Inode Filesystem::getattr(std::uint64_t ino) {
  auto g = enter();
  if (ino == kRootIno) return root_attr();
  if (ino >= kVirtualBase) return virtual_attr(ino);
  return present(store_.get(ino));
}

void Filesystem::admit(const Caller& c) const {
  if (!c.internal && gates_.member && !gates_.member(c))
    throw Error(ErrorCode::kPolicy, "only the coffer's own session may use it");
}

Inode Filesystem::lookup(std::uint64_t parent, std::string_view name, const Caller& c) {
  admit(c);
  auto g = enter();
  if (parent == kRootIno && name == "files") {
    Inode i = store_.get(vault::kFilesRootIno);
    counted(i);
    return present(i);
  }
  // Generated nodes are not counted: they have no storage to keep alive.
  if (parent == kRootIno || parent >= kVirtualBase) return virtual_lookup(parent, name);
  auto i = store_.lookup(parent, name);
  if (!i) throw FsError(std::errc::no_such_file_or_directory);
  counted(*i);
  return present(*i);
}

void Filesystem::forget(std::uint64_t ino, std::uint64_t count) {
  std::lock_guard<std::mutex> g(mu_);  // forget is honoured even when locked
  auto it = lookups_.find(ino);
  if (it == lookups_.end()) return;
  it->second = it->second > count ? it->second - count : 0;
  if (it->second == 0) {
    lookups_.erase(it);
    if (!locked_) maybe_remove(ino);
  }
}

Inode Filesystem::new_node(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode,
                           std::uint64_t rdev, std::string_view target) {
  require_writable();
  std::uint64_t p = store_parent(parent);
  Inode dir = store_.get(p);
  std::uint32_t gid = stored_id(c.gid, info_.mounter_gid);
  if (dir.mode & S_ISGID) {
    // BSD group semantics on a setgid directory, as ext4 does.
    gid = dir.gid;
    if (S_ISDIR(mode)) mode |= S_ISGID;
  } else if ((mode & S_ISGID) && !S_ISDIR(mode) && c.uid != 0 && c.gid != present(dir).gid &&
             c.gid != info_.mounter_gid) {
    mode &= ~static_cast<std::uint32_t>(S_ISGID);
  }
  Inode i = store_.make_node(p, name, mode, stored_id(c.uid, info_.mounter_uid), gid, rdev, target);
  counted(i);
  return present(i);
}

Inode Filesystem::mknod(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode,
                        std::uint64_t rdev) {
  auto g = enter();
  // Device nodes would be an escape hatch from nodev; FIFOs and sockets are
  // metadata only and allowed.
  if (S_ISCHR(mode) || S_ISBLK(mode)) throw FsError(std::errc::operation_not_permitted);
  if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode)) throw FsError(std::errc::invalid_argument);
  return new_node(c, parent, name, mode, rdev, {});
}

Inode Filesystem::mkdir(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode) {
  auto g = enter();
  return new_node(c, parent, name, S_IFDIR | (mode & 07777), 0, {});
}

Inode Filesystem::symlink(const Caller& c, std::uint64_t parent, std::string_view name, std::string_view target) {
  auto g = enter();
  return new_node(c, parent, name, S_IFLNK | 0777, 0, target);
}

Inode Filesystem::link(std::uint64_t ino, std::uint64_t parent, std::string_view name) {
  auto g = enter();
  require_writable();
  if (ino == kRootIno || ino >= kVirtualBase || ino == vault::kFilesRootIno)
    throw FsError(std::errc::operation_not_permitted);
  Inode i = store_.link(ino, store_parent(parent), name);
  counted(i);
  return present(i);
}

void Filesystem::unlink(std::uint64_t parent, std::string_view name) {
  auto g = enter();
  require_writable();
  Inode i = store_.unlink(store_parent(parent), name);
  if (i.nlink == 0) maybe_remove(i.ino);
}

void Filesystem::rmdir(std::uint64_t parent, std::string_view name) {
  auto g = enter();
  require_writable();
  Inode i = store_.rmdir(store_parent(parent), name);
  maybe_remove(i.ino);
}

void Filesystem::rename(std::uint64_t parent, std::string_view name, std::uint64_t new_parent,
                        std::string_view new_name, unsigned flags) {
  auto g = enter();
  require_writable();
  auto replaced = store_.rename(store_parent(parent), name, store_parent(new_parent), new_name, flags);
  if (replaced && replaced->nlink == 0) maybe_remove(replaced->ino);
}

std::string Filesystem::readlink(std::uint64_t ino) {
  auto g = enter();
  if (ino == kRootIno || ino >= kVirtualBase) throw FsError(std::errc::invalid_argument);
  return store_.readlink(ino);
}

Inode Filesystem::setattr(const Caller&, std::uint64_t ino, const vault::SetAttr& attr) {
  auto g = enter();
  if (ino == kRootIno || ino >= kVirtualBase) throw FsError(std::errc::operation_not_permitted);
  require_writable();
  vault::SetAttr a = attr;
  if (a.uid) a.uid = stored_id(*a.uid, info_.mounter_uid);
  if (a.gid) a.gid = stored_id(*a.gid, info_.mounter_gid);
  return present(store_.setattr(ino, a));
}

void Filesystem::open(std::uint64_t ino, int flags, const Caller& c) {
  admit(c);
  auto g = enter();
  if (ino == kRootIno || ino == kPupilsIno || is_pupil_folder(ino)) throw FsError(std::errc::is_a_directory);
  if (ino >= kVirtualBase) {
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) throw FsError(std::errc::permission_denied);
    if (ino == kReadmeIno) return;  // the coffer's own notice, not personal data
    if (ino == kRosterIno || ino == kManifestIno || (is_pupil_node(ino) && pupil_exists(pupil_id_of(ino)))) {
      audit_open(c, ino, false);
      return;
    }
    throw FsError(std::errc::no_such_file_or_directory);
  }
  const bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  if (write) require_writable();
  Inode i = store_.get(ino);
  if (i.is_dir()) throw FsError(std::errc::is_a_directory);
  audit_open(c, ino, write);
  // libfuse asks the kernel for atomic O_TRUNC: the truncation is ours to
  // do here, or saving a shorter document would keep the old tail.
  if ((flags & O_TRUNC) && i.size > 0 && (i.mode & S_IFMT) == S_IFREG) {
    vault::SetAttr cut;
    cut.size = 0;
    cut.mtime_ns = vault::SetAttr::kNow;
    store_.setattr(ino, cut);
  }
  ++opens_[ino];
}

void Filesystem::audit_open(const Caller& c, std::uint64_t ino, bool write) {
  if (!open_hook_) return;
  auto key = std::make_tuple(c.pid, ino, write);
  if (audited_opens_.count(key)) return;
  // The event is written before the data is served: no audit, no access.
  open_hook_(c, object_name(ino), write);
  audited_opens_.insert(key);
}

std::string Filesystem::folder_name(std::uint64_t ino) {
  if (ino == kRootIno) return "(the coffer's top folder)";
  if (ino == kPupilsIno) return "pupils/";
  if (ino == vault::kFilesRootIno) return "files/";
  if (is_pupil_folder(ino)) {
    std::string profile = object_name(ino);  // pupils/NAME/profile.txt
    return profile.substr(0, profile.size() - std::string("profile.txt").size());
  }
  return object_name(ino) + "/";
}

std::string Filesystem::object_name(std::uint64_t ino) {
  if (ino == kRosterIno) return "roster.csv";
  if (ino == kManifestIno) return "manifest.txt";
  if (is_pupil_node(ino)) {
    std::int64_t id = pupil_id_of(ino);
    for (auto& p : vault::RecordStore(db_).list())
      if (p.id == id) return "pupils/" + vault::pupil_folder_name(p) + "/profile.txt";
    return "pupils/(removed)/profile.txt";
  }
  std::string path;
  std::uint64_t at = ino;
  for (int depth = 0; at != vault::kFilesRootIno && depth < 4096; ++depth) {
    auto st = db_.prepare("SELECT parent, name FROM dirents WHERE ino = ? LIMIT 1");
    st.bind(1, static_cast<std::int64_t>(at));
    if (!st.step()) return "files/(unlinked file " + std::to_string(ino) + ")";
    auto name = st.column_blob(1);
    path = std::string(name.begin(), name.end()) + (path.empty() ? "" : "/" + path);
    at = static_cast<std::uint64_t>(st.column_int64(0));
  }
  return "files/" + path;
}

Inode Filesystem::create(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode, int) {
  admit(c);
  auto g = enter();
  Inode i = new_node(c, parent, name, S_IFREG | (mode & 07777), 0, {});
  audit_open(c, i.ino, true);
  ++opens_[i.ino];
  return i;
}

std::size_t Filesystem::read(std::uint64_t ino, std::uint64_t offset, std::span<std::uint8_t> out, const Caller& c) {
  admit(c);
  std::optional<std::string> refused;
  if (gates_.before_read && ino != kReadmeIno && !c.internal) refused = gates_.before_read(c, ino);
  auto g = enter();
  if (refused) {
    if (gates_.blocked && audited_blocks_.insert({c.pid, ino}).second) gates_.blocked(c, object_name(ino), *refused);
    throw Error(ErrorCode::kPolicy, "copy refused");
  }
  if (ino == kReadmeIno) return copy_slice(info_.readme, offset, out);
  if (ino >= kVirtualBase) return copy_slice(render(ino), offset, out);
  // noatime: a read never writes. Access times inside a coffer would be
  // personal data of their own, and every read turning into a commit would
  // cost an fsync; the audit trail records what was opened.
  return store_.read(ino, offset, out);
}

void Filesystem::write(std::uint64_t ino, std::uint64_t offset, std::span<const std::uint8_t> data) {
  auto g = enter();
  require_writable();
  if (ino == kRootIno || ino >= kVirtualBase) throw FsError(std::errc::bad_file_descriptor);
  store_.write(ino, offset, data);
}

void Filesystem::release(std::uint64_t ino) {
  std::lock_guard<std::mutex> g(mu_);  // releases still count when locked
  auto it = opens_.find(ino);
  if (it != opens_.end() && --it->second == 0) opens_.erase(it);
  if (locked_) return;
  // The commit is requested, not done here: the daemon commits within a
  // fraction of a second, so a burst of small files shares one fsync.
  if (store_.dirty()) commit_requested_ = true;
  if (ino < kVirtualBase) maybe_remove(ino);
}

void Filesystem::fsync(std::uint64_t) {
  auto g = enter();
  store_.commit();  // durable before fsync returns
}

void Filesystem::opendir(std::uint64_t ino, const Caller& c) {
  admit(c);
  auto g = enter();
  if (ino == kRootIno || ino == kPupilsIno) return;
  if (is_pupil_folder(ino)) {
    if (!pupil_exists(pupil_id_of(ino))) throw FsError(std::errc::no_such_file_or_directory);
    return;
  }
  if (ino >= kVirtualBase || !store_.get(ino).is_dir()) throw FsError(std::errc::not_a_directory);
}

std::vector<Entry> Filesystem::readdir(std::uint64_t ino, std::uint64_t cookie, std::size_t max, const Caller& c) {
  admit(c);
  // Folder names are pupils' names: `ls pupils > /media/usb/names.txt`
  // is a copy too.
  std::optional<std::string> refused;
  if (gates_.before_read && !c.internal) refused = gates_.before_read(c, ino);
  auto g = enter();
  if (refused) {
    if (gates_.blocked && audited_blocks_.insert({c.pid, ino}).second) gates_.blocked(c, folder_name(ino), *refused);
    throw Error(ErrorCode::kPolicy, "copy refused");
  }
  if (ino == kRootIno || ino >= kVirtualBase) return virtual_readdir(ino, cookie, max);
  std::vector<Entry> out;
  if (cookie < 1) out.push_back({".", ino, S_IFDIR, 1});
  if (cookie < 2 && out.size() < max) {
    std::uint64_t parent = ino == vault::kFilesRootIno ? kRootIno : store_.parent_of(ino);
    out.push_back({"..", parent, S_IFDIR, 2});
  }
  std::uint64_t after = cookie > 2 ? cookie - 2 : 0;
  if (out.size() < max)
    for (auto& e : store_.readdir(ino, after, max - out.size()))
      out.push_back({std::move(e.name), e.ino, e.mode, e.cookie + 2});
  return out;
}

StatFs Filesystem::statfs(const StatFs& host) {
  auto g = enter();
  StatFs s = host;
  s.files = store_.inode_count() + 2;
  s.files_free = 1u << 30;
  return s;
}

bool Filesystem::commit() {
  std::lock_guard<std::mutex> g(mu_);
  if (locked_) return false;
  commit_requested_ = false;
  store_.commit();
  return true;
}

std::string Filesystem::getxattr(std::uint64_t ino, std::string_view name) {
  auto g = enter();
  if (ino >= kVirtualBase || ino == kRootIno || name != kExpiresXattr) throw FsError(std::errc::no_message_available);
  auto e = store_.expiry(ino);
  if (!e) throw FsError(std::errc::no_message_available);
  return vault::local_day(*e);
}

std::vector<std::string> Filesystem::listxattr(std::uint64_t ino) {
  auto g = enter();
  if (ino >= kVirtualBase || ino == kRootIno) return {};
  if (store_.expiry(ino)) return {kExpiresXattr};
  return {};
}

void Filesystem::setxattr(std::uint64_t ino, std::string_view name, std::string_view value, int flags) {
  auto g = enter();
  if (ino >= kVirtualBase || ino == kRootIno) throw FsError(std::errc::permission_denied);
  if (name != kExpiresXattr) throw FsError(std::errc::operation_not_supported);
  require_writable();
  if (store_.get(ino).is_dir()) throw FsError(std::errc::operation_not_supported);  // files expire, folders do not
  std::string text(value);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  auto when = vault::end_of_local_day(text);
  if (!when) throw FsError(std::errc::invalid_argument);
  auto current = store_.expiry(ino);
  if ((flags & XATTR_CREATE) && current) throw FsError(std::errc::file_exists);
  if ((flags & XATTR_REPLACE) && !current) throw FsError(std::errc::no_message_available);
  // Shorter only: never past the file's own expiry, nor the coffer's.
  if ((current && *when > *current) || (info_.coffer_expires && *when > info_.coffer_expires))
    throw FsError(std::errc::operation_not_permitted);
  store_.set_expiry(ino, *when);
}

void Filesystem::removexattr(std::uint64_t ino, std::string_view name) {
  auto g = enter();
  if (ino >= kVirtualBase || ino == kRootIno) throw FsError(std::errc::permission_denied);
  if (name != kExpiresXattr) throw FsError(std::errc::no_message_available);
  if (!store_.expiry(ino)) throw FsError(std::errc::no_message_available);
  throw FsError(std::errc::operation_not_permitted);  // removing would lengthen it
}

PurgeResult Filesystem::purge_expired(std::int64_t now) {
  std::lock_guard<std::mutex> g(mu_);
  PurgeResult r;
  if (locked_) return r;
  {
    auto del = db_.prepare("DELETE FROM pupils WHERE expires IS NOT NULL AND expires <> '' AND expires < ?");
    del.bind(1, vault::local_day(now));
    del.step();
    r.pupils = static_cast<std::size_t>(db_.query_int64("SELECT changes()"));
  }
  for (auto& [parent, name] : store_.expired_entries(now)) {
    Inode i = store_.get(store_.lookup(parent, name)->ino);
    if (i.is_dir()) continue;
    Inode after = store_.unlink(parent, name);
    if (after.nlink == 0) maybe_remove(after.ino);
    r.invalidate.push_back(i.ino);
    ++r.files;
  }
  if (r.pupils || r.files) store_.commit();
  return r;
}

bool Filesystem::with_database(const std::function<void(vault::Database&)>& fn) {
  std::lock_guard<std::mutex> g(mu_);
  if (locked_) return false;
  fn(db_);
  return true;
}

void Filesystem::lock() {
  std::lock_guard<std::mutex> g(mu_);
  if (locked_) return;
  folder_ids_.clear();  // pupils' names: nothing of the records outlives the lock
  audited_opens_.clear();
  audited_blocks_.clear();
  try {
    store_.commit();
  } catch (...) {
    locked_ = true;
    throw;
  }
  locked_ = true;
}

std::vector<std::uint64_t> Filesystem::open_inodes() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::uint64_t> out;
  for (auto& [ino, n] : opens_) out.push_back(ino);
  return out;
}

}  // namespace coffer::fusefs
