// The coffer filesystem as plain C++ operations, callable in a test without
// a kernel. Each takes the caller where it matters (ownership of new nodes).
// It dispatches: the generated, read-only top level and record views to
// RecordViews, files/ to the vault's FileStore; keeps the kernel's lookup
// counts and open handles so unlinked-but-open files live until released,
// runs the audit and copy-guard hooks, and refuses everything once locked.
// One mutex serialises all operations (the FUSE loop and timers).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "coffer/fusefs/nodes.h"
#include "coffer/fusefs/record_views.h"
#include "coffer/mutex.h"
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
  vault::Inode setattr(std::uint64_t ino, const vault::SetAttr& attr);

  // `c` is the opening process: the first open of each file by each process
  // (for reading, or for writing) is reported to the audit hook.
  void open(std::uint64_t ino, int flags, const Caller& c = {});
  vault::Inode create(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode);
  // Called under the operations mutex for audited opens: the caller, the
  // object ("roster.csv", "files/notes/day1.txt"), whether for writing, and
  // where the caller writes (the `writes` gate's answer, asked before the
  // mutex was taken; empty without that gate). The hook may use the
  // database (it runs inside an operation).
  using OpenHook = std::function<void(const Caller&, const std::string& object, bool write, const std::string& writes)>;
  void set_open_hook(OpenHook hook) EXCLUDES(mu_) {
    MutexLock g(mu_);
    open_hook_ = std::move(hook);
  }
  // The copy guard's questions (docs/GUARD.md), asked before serving and
  // outside the operations mutex (they read /proc, and a refusal is
  // audited through with_database):
  // - member: in a sandboxed session only its processes may see names or
  //   contents (lookup, opendir, readdir, open, create, read);
  // - before_read: layer 1; a destination ("/media/usb/x.csv (removable
  //   media) via standard output") refuses the read with EACCES, after
  //   `blocked` (under the mutex, once per process and file) has recorded it;
  // - writes: for an open about to be audited, where the opening process
  //   has files open for writing ("none", "local /tmp/x (descriptor 4)").
  struct Gates {
    std::function<bool(const Caller&)> member;
    std::function<std::string(const Caller&)> writes;
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
  // Time since the teacher last used the coffer (suspended time included),
  // for the idle lock. Metadata alone is not use: df, stat, ls and a file
  // manager's refresh poll the mount every few seconds and would hold the
  // idle lock off for ever. Opening, reading, writing, creating, renaming,
  // deleting and changing attributes are.
  std::chrono::nanoseconds idle_for() const;

 private:
  // Under mu_, first in every served operation: EIO once locked. enter()
  // counts as use for the idle lock; look() (metadata only) does not.
  void enter() REQUIRES(mu_);
  void look() const REQUIRES(mu_);
  vault::Inode present(vault::Inode inode) const;
  std::uint64_t store_parent(std::uint64_t parent) const;  // EACCES for the top level
  void require_writable() const;
  std::uint32_t stored_id(std::uint32_t id, std::uint32_t mounter) const;
  vault::Inode new_node(const Caller& c, std::uint64_t parent, std::string_view name, std::uint32_t mode,
                        std::uint64_t rdev, std::string_view target) REQUIRES(mu_);
  void counted(const vault::Inode& inode) REQUIRES(mu_);
  // The path of a node below the mount's top (files/a/b, pupils/X/profile.txt).
  std::string object_name(std::uint64_t ino) REQUIRES(mu_);
  std::string folder_name(std::uint64_t ino) REQUIRES(mu_);  // "pupils/", "files/notes/" (audit)
  void audit_open(const Caller& c, std::uint64_t ino, bool write, const std::string& writes) REQUIRES(mu_);
  // The `writes` gate's answer for an open by `c` not audited yet ("" when
  // it was, or without the gate); asked outside the mutex (it reads /proc).
  std::string writes_for_audit(const Caller& c, std::uint64_t ino, bool write) EXCLUDES(mu_);
  void maybe_remove(std::uint64_t ino) REQUIRES(mu_);
  void admit(const Caller& c) const;

  // The operations mutex: one operation at a time, from the FUSE workers
  // and the daemon's timers (commit, purge_expired, with_database, lock).
  // Lock order: mu_ is the only lock of this layer and nothing here takes
  // another while holding it. Under it run the FileStore, the database and
  // RecordViews (none thread-safe by itself), the open hook and the
  // `blocked` gate, which audit through the database and must not call back
  // into Filesystem (mu_ is not recursive). The `member` and `before_read`
  // gates run before mu_ is taken: they take the copy guard's own locks and
  // read /proc, and must never wait with mu_ held. with_database's fn runs
  // under mu_ with the same rule as the hooks.
  Mutex mu_;
  vault::FileStore& store_ GUARDED_BY(mu_);
  vault::Database& db_ GUARDED_BY(mu_);
  const MountInfo info_;  // fixed at mount
  std::atomic<bool> locked_{false};
  std::atomic<bool> commit_requested_{false};
  std::atomic<std::int64_t> last_activity_ns_{0};
  std::unordered_map<std::uint64_t, std::uint64_t> lookups_ GUARDED_BY(mu_);
  std::unordered_map<std::uint64_t, std::uint64_t> opens_ GUARDED_BY(mu_);
  RecordViews views_ GUARDED_BY(mu_);
  OpenHook open_hook_ GUARDED_BY(mu_);
  Gates gates_;  // set before serving, read-only after (read outside mu_)
  // (pid, ino, write) already audited: repeated opens by one process are one
  // event. Cleared at lock with everything else.
  std::set<std::tuple<std::int32_t, std::uint64_t, bool>> audited_opens_ GUARDED_BY(mu_);
  std::set<std::pair<std::int32_t, std::uint64_t>> audited_blocks_ GUARDED_BY(mu_);
};

}  // namespace coffer::fusefs
