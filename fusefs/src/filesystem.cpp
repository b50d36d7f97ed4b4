// The filesystem operations; see filesystem.h.
#include "coffer/fusefs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <ctime>

#include "coffer/error.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/records/records.h"

namespace coffer::fusefs {
namespace {

using vault::FsError;
using vault::Inode;

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
    : store_(store), db_(db), info_(std::move(info)), views_(db, info_, now_ns()) {
  last_activity_ns_ = boottime_ns();
}

void Filesystem::enter() {
  // After lock() nothing is served: the keys are gone.
  if (locked_) throw FsError(std::errc::io_error);
  last_activity_ns_ = boottime_ns();
}

void Filesystem::look() const {
  if (locked_) throw FsError(std::errc::io_error);
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

std::uint64_t Filesystem::store_parent(std::uint64_t parent) const {
  // The top level is generated and read-only.
  if (is_generated(parent)) throw FsError(std::errc::permission_denied);
  return parent;
}

void Filesystem::require_writable() const {
  if (info_.read_only) throw FsError(std::errc::read_only_file_system);
}

void Filesystem::counted(const Inode& i) {
  if (!is_generated(i.ino)) ++lookups_[i.ino];
}

void Filesystem::maybe_remove(std::uint64_t ino) {
  auto l = lookups_.find(ino);
  auto o = opens_.find(ino);
  if ((l == lookups_.end() || l->second == 0) && (o == opens_.end() || o->second == 0)) store_.remove_if_unlinked(ino);
}

Inode Filesystem::getattr(std::uint64_t ino) {
  MutexLock g(mu_);
  look();
  if (is_generated(ino)) return views_.attr(ino);
  return present(store_.get(ino));
}

void Filesystem::admit(const Caller& c) const {
  if (!c.internal && gates_.member && !gates_.member(c))
    throw Error(ErrorCode::kPolicy, "only the coffer's own session may use it");
}

Inode Filesystem::lookup(std::uint64_t parent, std::string_view name, const Caller& c) {
  admit(c);
  MutexLock g(mu_);
  look();
  if (parent == kRootIno && name == "files") {
    Inode i = store_.get(vault::kFilesRootIno);
    counted(i);
    return present(i);
  }
  // Generated nodes are not counted: they have no storage to keep alive.
  if (is_generated(parent)) return views_.lookup(parent, name);
  auto i = store_.lookup(parent, name);
  if (!i) throw FsError(std::errc::no_such_file_or_directory);
  counted(*i);
  return present(*i);
}

void Filesystem::forget(std::uint64_t ino, std::uint64_t count) {
  MutexLock g(mu_);  // forget is honoured even when locked
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
  MutexLock g(mu_);
  enter();
  // Device nodes would be an escape hatch from nodev; FIFOs and sockets are
  // metadata only and allowed.
  if (S_ISCHR(mode) || S_ISBLK(mode)) throw FsError(std::errc::operation_not_permitted);
  if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode)) throw FsError(std::errc::invalid_argument);
  return new_node(c, parent, name, mode, rdev, {});
}

Inode Filesystem::mkdir(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode) {
  MutexLock g(mu_);
  enter();
  return new_node(c, parent, name, S_IFDIR | (mode & 07777), 0, {});
}

Inode Filesystem::symlink(const Caller& c, std::uint64_t parent, std::string_view name, std::string_view target) {
  MutexLock g(mu_);
  enter();
  return new_node(c, parent, name, S_IFLNK | 0777, 0, target);
}

Inode Filesystem::link(std::uint64_t ino, std::uint64_t parent, std::string_view name) {
  MutexLock g(mu_);
  enter();
  require_writable();
  if (is_generated(ino) || ino == vault::kFilesRootIno) throw FsError(std::errc::operation_not_permitted);
  Inode i = store_.link(ino, store_parent(parent), name);
  counted(i);
  return present(i);
}

void Filesystem::unlink(std::uint64_t parent, std::string_view name) {
  MutexLock g(mu_);
  enter();
  require_writable();
  Inode i = store_.unlink(store_parent(parent), name);
  if (i.nlink == 0) maybe_remove(i.ino);
}

void Filesystem::rmdir(std::uint64_t parent, std::string_view name) {
  MutexLock g(mu_);
  enter();
  require_writable();
  Inode i = store_.rmdir(store_parent(parent), name);
  maybe_remove(i.ino);
}

void Filesystem::rename(std::uint64_t parent, std::string_view name, std::uint64_t new_parent,
                        std::string_view new_name, unsigned flags) {
  MutexLock g(mu_);
  enter();
  require_writable();
  auto replaced = store_.rename(store_parent(parent), name, store_parent(new_parent), new_name, flags);
  if (replaced && replaced->nlink == 0) maybe_remove(replaced->ino);
}

std::string Filesystem::readlink(std::uint64_t ino) {
  MutexLock g(mu_);
  look();
  if (is_generated(ino)) throw FsError(std::errc::invalid_argument);
  return store_.readlink(ino);
}

Inode Filesystem::setattr(std::uint64_t ino, const vault::SetAttr& attr) {
  MutexLock g(mu_);
  enter();
  if (is_generated(ino)) throw FsError(std::errc::operation_not_permitted);
  require_writable();
  vault::SetAttr a = attr;
  if (a.uid) a.uid = stored_id(*a.uid, info_.mounter_uid);
  if (a.gid) a.gid = stored_id(*a.gid, info_.mounter_gid);
  return present(store_.setattr(ino, a));
}

std::string Filesystem::writes_for_audit(const Caller& c, std::uint64_t ino, bool write) {
  if (!gates_.writes || c.internal) return {};
  {
    MutexLock g(mu_);
    if (!open_hook_ || audited_opens_.contains(std::make_tuple(c.pid, ino, write))) return {};
  }
  return gates_.writes(c);
}

void Filesystem::open(std::uint64_t ino, int flags, const Caller& c) {
  admit(c);
  const bool write = !is_generated(ino) && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC));
  const std::string writes = ino == kReadmeIno ? std::string() : writes_for_audit(c, ino, write);
  MutexLock g(mu_);
  enter();
  if (is_generated(ino)) {
    if (views_.open(ino, flags)) audit_open(c, ino, false, writes);
    return;
  }
  if (write) require_writable();
  Inode i = store_.get(ino);
  if (i.is_dir()) throw FsError(std::errc::is_a_directory);
  audit_open(c, ino, write, writes);
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

void Filesystem::audit_open(const Caller& c, std::uint64_t ino, bool write, const std::string& writes) {
  if (!open_hook_) return;
  auto key = std::make_tuple(c.pid, ino, write);
  if (audited_opens_.contains(key)) return;
  // The event is written before the data is served: no audit, no access.
  open_hook_(c, object_name(ino), write, writes);
  audited_opens_.insert(key);
}

std::string Filesystem::folder_name(std::uint64_t ino) {
  if (auto name = views_.folder_name(ino)) return *name;
  if (ino == vault::kFilesRootIno) return "files/";
  return object_name(ino) + "/";
}

std::string Filesystem::object_name(std::uint64_t ino) {
  if (auto name = views_.object_name(ino)) return *name;
  if (auto path = store_.path_of(ino)) return "files/" + *path;
  return "files/(unlinked file " + std::to_string(ino) + ")";
}

Inode Filesystem::create(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode) {
  admit(c);
  MutexLock g(mu_);
  enter();
  Inode i = new_node(c, parent, name, S_IFREG | (mode & 07777), 0, {});
  audit_open(c, i.ino, true, {});
  ++opens_[i.ino];
  return i;
}

std::size_t Filesystem::read(std::uint64_t ino, std::uint64_t offset, std::span<std::uint8_t> out, const Caller& c) {
  admit(c);
  std::optional<std::string> refused;
  if (gates_.before_read && ino != kReadmeIno && !c.internal) refused = gates_.before_read(c, ino);
  MutexLock g(mu_);
  enter();
  if (refused) {
    if (gates_.blocked && audited_blocks_.insert({c.pid, ino}).second) gates_.blocked(c, object_name(ino), *refused);
    throw Error(ErrorCode::kPolicy, "copy refused");
  }
  if (ino >= kVirtualBase) return views_.read(ino, offset, out);
  // noatime: a read never writes. Access times inside a coffer would be
  // personal data of their own, and every read turning into a commit would
  // cost an fsync; the audit trail records what was opened.
  return store_.read(ino, offset, out);
}

void Filesystem::write(std::uint64_t ino, std::uint64_t offset, std::span<const std::uint8_t> data) {
  MutexLock g(mu_);
  enter();
  require_writable();
  if (is_generated(ino)) throw FsError(std::errc::bad_file_descriptor);
  store_.write(ino, offset, data);
}

void Filesystem::release(std::uint64_t ino) {
  MutexLock g(mu_);  // releases still count when locked
  auto it = opens_.find(ino);
  if (it != opens_.end() && --it->second == 0) opens_.erase(it);
  if (locked_) return;
  // The commit is requested, not done here: the daemon commits within a
  // fraction of a second, so a burst of small files shares one fsync.
  if (store_.dirty()) commit_requested_ = true;
  if (ino < kVirtualBase) maybe_remove(ino);
}

void Filesystem::fsync(std::uint64_t) {
  MutexLock g(mu_);
  enter();
  store_.commit();  // durable before fsync returns
}

void Filesystem::opendir(std::uint64_t ino, const Caller& c) {
  admit(c);
  MutexLock g(mu_);
  look();
  if (is_generated(ino)) return views_.opendir(ino);
  if (!store_.get(ino).is_dir()) throw FsError(std::errc::not_a_directory);
}

std::vector<Entry> Filesystem::readdir(std::uint64_t ino, std::uint64_t cookie, std::size_t max, const Caller& c) {
  admit(c);
  // Folder names are pupils' names: `ls pupils > /media/usb/names.txt`
  // is a copy too.
  std::optional<std::string> refused;
  if (gates_.before_read && !c.internal) refused = gates_.before_read(c, ino);
  MutexLock g(mu_);
  look();
  if (refused) {
    if (gates_.blocked && audited_blocks_.insert({c.pid, ino}).second) gates_.blocked(c, folder_name(ino), *refused);
    throw Error(ErrorCode::kPolicy, "copy refused");
  }
  if (is_generated(ino)) return views_.readdir(ino, cookie, max);
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
  MutexLock g(mu_);
  look();
  StatFs s = host;
  s.files = store_.inode_count() + 2;
  s.files_free = 1u << 30;
  return s;
}

bool Filesystem::commit() {
  MutexLock g(mu_);
  if (locked_) return false;
  commit_requested_ = false;
  store_.commit();
  return true;
}

std::string Filesystem::getxattr(std::uint64_t ino, std::string_view name) {
  MutexLock g(mu_);
  look();
  if (is_generated(ino) || name != kExpiresXattr) throw FsError(std::errc::no_message_available);
  auto e = store_.expiry(ino);
  if (!e) throw FsError(std::errc::no_message_available);
  return vault::local_day(*e);
}

std::vector<std::string> Filesystem::listxattr(std::uint64_t ino) {
  MutexLock g(mu_);
  look();
  if (is_generated(ino)) return {};
  if (store_.expiry(ino)) return {kExpiresXattr};
  return {};
}

void Filesystem::setxattr(std::uint64_t ino, std::string_view name, std::string_view value, int flags) {
  MutexLock g(mu_);
  enter();
  if (is_generated(ino)) throw FsError(std::errc::permission_denied);
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
  MutexLock g(mu_);
  enter();
  if (is_generated(ino)) throw FsError(std::errc::permission_denied);
  if (name != kExpiresXattr) throw FsError(std::errc::no_message_available);
  if (!store_.expiry(ino)) throw FsError(std::errc::no_message_available);
  throw FsError(std::errc::operation_not_permitted);  // removing would lengthen it
}

PurgeResult Filesystem::purge_expired(std::int64_t now) {
  MutexLock g(mu_);
  PurgeResult r;
  if (locked_) return r;
  r.pupils = vault::RecordStore(db_).purge_expired(now);
  for (auto& [parent, name] : store_.expired_entries(now)) {
    Inode i = *store_.lookup(parent, name);
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
  MutexLock g(mu_);
  if (locked_) return false;
  fn(db_);
  return true;
}

void Filesystem::lock() {
  MutexLock g(mu_);
  if (locked_) return;
  views_.forget_names();  // pupils' names: nothing of the records outlives the lock
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
  MutexLock g(mu_);
  std::vector<std::uint64_t> out;
  for (auto& [ino, n] : opens_) out.push_back(ino);
  return out;
}

}  // namespace coffer::fusefs
