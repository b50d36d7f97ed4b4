// The coffer filesystem as plain C++ operations, callable in a test without
// a kernel. Each takes the caller where it matters (ownership of new nodes).
// It presents a generated, read-only top level (README.txt, and the record
// views roster.csv, manifest.txt and pupils/, rendered from the database on
// every request) beside files/, the vault's FileStore; keeps the kernel's
// lookup counts and open handles so unlinked-but-open files live until
// released, and refuses everything once locked. One mutex serialises all
// operations (the FUSE loop and timers).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "coffer/vault/container/database.h"
#include "coffer/vault/files/filestore.h"
#include "coffer/vault/records/records.h"

namespace coffer::fusefs {

struct Caller {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
  // The daemon itself (`coffer export` asks it to copy a file out): the
  // copy guard's gates do not apply; the export checks its destination.
  bool internal = false;
};

inline constexpr std::uint64_t kRootIno = 1;  // FUSE_ROOT_ID
inline constexpr std::uint64_t kVirtualBase = 1ull << 62;
inline constexpr std::uint64_t kReadmeIno = kVirtualBase + 1;
inline constexpr std::uint64_t kRosterIno = kVirtualBase + 2;
inline constexpr std::uint64_t kManifestIno = kVirtualBase + 3;
inline constexpr std::uint64_t kPupilsIno = kVirtualBase + 4;
// Pupil id n (the pupils table's rowid) has its folder at kPupilBase + 2n
// and its profile.txt at kPupilBase + 2n + 1.
inline constexpr std::uint64_t kPupilBase = kVirtualBase + 0x100000;
inline constexpr std::int64_t kMaxPupilId = static_cast<std::int64_t>((~0ull - kPupilBase) / 2 - 1);
inline constexpr std::uint64_t pupil_folder_ino(std::int64_t id) {
  return kPupilBase + 2 * static_cast<std::uint64_t>(id);
}
inline constexpr std::uint64_t pupil_profile_ino(std::int64_t id) { return pupil_folder_ino(id) + 1; }
// Nodes whose contents follow the database (a pupil may be removed while
// mounted): the kernel must not cache their entries or attributes.
inline constexpr bool is_record_view(std::uint64_t ino) { return ino >= kVirtualBase && ino != kReadmeIno; }

struct MountInfo {
  std::uint32_t mounter_uid = 0;
  std::uint32_t mounter_gid = 0;
  bool read_only = false;
  std::string readme;               // contents of README.txt
  std::string coffer_name;          // the coffer's file name, for manifest.txt
  std::int64_t coffer_expires = 0;  // files may expire sooner, never later
};

// The one extended attribute: a file's own expiry, "YYYY-MM-DD" (the end of
// that local day). The owner may set or shorten it, never lengthen or
// remove it; other names are not supported (ENOTSUP).
inline constexpr const char* kExpiresXattr = "user.coffer.expires";

struct PurgeResult {
  std::size_t pupils = 0;
  std::size_t files = 0;
  std::vector<std::uint64_t> invalidate;  // inodes whose cached pages must go
};

struct StatFs {
  std::uint64_t block_size = 4096;
  std::uint64_t blocks = 0, blocks_free = 0, blocks_avail = 0;
  std::uint64_t files = 0, files_free = 0;
  std::uint64_t name_max = vault::kNameMax;
};

struct Entry {
  std::string name;
  std::uint64_t ino;
  std::uint32_t mode;
  std::uint64_t next_cookie;  // pass back to continue after this entry
};

class Filesystem {
 public:
  // db is the database store works on (the record views are read from it).
  Filesystem(vault::FileStore& store, vault::Database& db, MountInfo info);

  vault::Inode getattr(std::uint64_t ino);
  // Counts a kernel reference on success (lookup, create, mknod, ...).
  vault::Inode lookup(std::uint64_t parent, std::string_view name, const Caller& c = {});
  void forget(std::uint64_t ino, std::uint64_t count);
  vault::Inode mknod(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode,
                     std::uint64_t rdev);
  vault::Inode mkdir(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode);
  vault::Inode symlink(const Caller& c, std::uint64_t parent, std::string_view name, std::string_view target);
  vault::Inode link(std::uint64_t ino, std::uint64_t parent, std::string_view name);
  void unlink(std::uint64_t parent, std::string_view name);
  void rmdir(std::uint64_t parent, std::string_view name);
  void rename(std::uint64_t parent, std::string_view name, std::uint64_t new_parent, std::string_view new_name,
              unsigned flags);
  std::string readlink(std::uint64_t ino);
  vault::Inode setattr(const Caller& c, std::uint64_t ino, const vault::SetAttr& attr);

  // `c` is the opening process: the first open of each file by each process
  // (for reading, or for writing) is reported to the audit hook.
  void open(std::uint64_t ino, int flags, const Caller& c = {});
  vault::Inode create(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode, int flags);
  // Called under the operations mutex for audited opens: the caller, the
  // object ("roster.csv", "files/notes/day1.txt") and whether for writing.
  // The hook may use the database (it runs inside an operation).
  using OpenHook = std::function<void(const Caller&, const std::string& object, bool write)>;
  void set_open_hook(OpenHook hook) { open_hook_ = std::move(hook); }
  // The copy guard's questions (docs/GUARD.md), asked before serving and
  // outside the operations mutex (they read /proc, and a refusal is
  // audited through with_database):
  // - member: in a sandboxed session only its processes may see names or
  //   contents (lookup, opendir, readdir, open, create, read);
  // - before_read: layer 1; a destination ("/media/usb/x.csv (removable
  //   media) via standard output") refuses the read with EACCES, after
  //   `blocked` (under the mutex, once per process and file) has recorded it.
  struct Gates {
    std::function<bool(const Caller&)> member;
    std::function<std::optional<std::string>(const Caller&, std::uint64_t ino)> before_read;
    std::function<void(const Caller&, const std::string& object, const std::string& destination)> blocked;
  };
  void set_gates(Gates gates) { gates_ = std::move(gates); }
  std::size_t read(std::uint64_t ino, std::uint64_t offset, std::span<std::uint8_t> out, const Caller& c = {});
  void write(std::uint64_t ino, std::uint64_t offset, std::span<const std::uint8_t> data);
  // Last close of a handle: asks for a commit of buffered writes (see
  // commit_requested), removes an unlinked file nothing uses any more.
  void release(std::uint64_t ino);
  void fsync(std::uint64_t ino);
  void opendir(std::uint64_t ino, const Caller& c = {});
  std::vector<Entry> readdir(std::uint64_t ino, std::uint64_t cookie, std::size_t max, const Caller& c = {});
  StatFs statfs(const StatFs& host);

  std::string getxattr(std::uint64_t ino, std::string_view name);
  void setxattr(std::uint64_t ino, std::string_view name, std::string_view value, int flags);
  std::vector<std::string> listxattr(std::uint64_t ino);
  void removexattr(std::uint64_t ino, std::string_view name);
  // Removes pupils whose record expired before today (local) and files whose
  // own expiry is before `now` (unlinked: a process that has one open keeps
  // it until it closes it), then commits. Not counted as activity.
  PurgeResult purge_expired(std::int64_t now);

  // Commits buffered writes (the periodic timer). Returns false once locked.
  bool commit();
  // Runs fn on the database under the operations mutex (the daemon's timers:
  // clock mark, expiry purges), without counting as activity. Returns false
  // once locked (fn not run).
  bool with_database(const std::function<void(vault::Database&)>& fn);
  // Commits, then refuses every further operation with EIO. Idempotent.
  void lock();
  bool locked() const { return locked_; }
  // A handle that wrote was closed since the last commit.
  bool commit_requested() const { return commit_requested_; }
  // Inodes the kernel still has open (to drop their page cache at lock).
  std::vector<std::uint64_t> open_inodes();
  // Time since the last operation (suspended time included), for the idle lock.
  std::chrono::nanoseconds idle_for() const;

 private:
  std::unique_lock<std::mutex> enter();
  vault::Inode present(vault::Inode inode) const;
  vault::Inode root_attr() const;
  vault::Inode readme_attr() const;
  vault::Inode view_attr(std::uint64_t ino, std::size_t size) const;
  vault::Inode dir_attr(std::uint64_t ino, std::uint64_t nlink) const;
  // The generated nodes (ino >= kVirtualBase); ENOENT when gone.
  vault::Inode virtual_attr(std::uint64_t ino);
  vault::Inode virtual_lookup(std::uint64_t parent, std::string_view name);
  std::vector<Entry> virtual_readdir(std::uint64_t ino, std::uint64_t cookie, std::size_t max);
  // The contents of a generated file; ENOENT when gone, EISDIR for a folder.
  std::string render(std::uint64_t ino);
  // True while the pupils table has a row with this id.
  bool pupil_exists(std::int64_t id);
  // The id of the pupil whose folder has this name, if any.
  std::optional<std::int64_t> pupil_by_folder(std::string_view name);
  void remember_folders(const std::vector<vault::PupilEntry>& pupils);
  std::uint64_t store_parent(std::uint64_t parent) const;  // EACCES for the top level
  void require_writable() const;
  std::uint32_t stored_id(std::uint32_t id, std::uint32_t mounter) const;
  vault::Inode new_node(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode,
                        std::uint64_t rdev, std::string_view target);
  void counted(const vault::Inode& inode);
  // The path of a node below the mount's top (files/a/b, pupils/X/profile.txt).
  std::string object_name(std::uint64_t ino);
  std::string folder_name(std::uint64_t ino);  // "pupils/", "files/notes/" (audit)
  void audit_open(const Caller& c, std::uint64_t ino, bool write);
  void maybe_remove(std::uint64_t ino);

  vault::FileStore& store_;
  vault::Database& db_;
  MountInfo info_;
  std::mutex mu_;
  std::atomic<bool> locked_{false};
  std::atomic<bool> commit_requested_{false};
  std::atomic<std::int64_t> last_activity_ns_{0};
  std::unordered_map<std::uint64_t, std::uint64_t> lookups_;
  std::unordered_map<std::uint64_t, std::uint64_t> opens_;
  // Folder name -> pupil id, a hint only: every hit is checked against the
  // database, and a miss or a stale hit re-reads the list.
  std::unordered_map<std::string, std::int64_t> folder_ids_;
  std::int64_t mount_time_ns_ = 0;
  OpenHook open_hook_;
  Gates gates_;
  void admit(const Caller& c) const;
  // (pid, ino, write) already audited: repeated opens by one process are one
  // event. Cleared at lock with everything else.
  std::set<std::tuple<std::int32_t, std::uint64_t, bool>> audited_opens_;
  std::set<std::pair<std::int32_t, std::uint64_t>> audited_blocks_;
};

}  // namespace coffer::fusefs
