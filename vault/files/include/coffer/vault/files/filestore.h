// The files/ tree inside a coffer: inodes, directory entries and file
// contents in chunks, each chunk with its own keyed MAC checked on every
// read (SQLCipher 3.4.1 returns a zeroed page as zeros; the MAC does not).
// Plain C++ over the Database: no FUSE, no callers, no permission checks
// (the kernel checks permissions; fusefs decides ownership of new nodes).
// Not thread-safe: one caller at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "coffer/keystore/secret.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/container/database.h"

namespace coffer::vault {

struct CachedSql;  // filestore.cpp: one constant per prepared statement

inline constexpr std::uint64_t kFilesRootIno = 2;
inline constexpr std::size_t kChunkSize = 128 * 1024;
inline constexpr std::size_t kNameMax = 255;
inline constexpr std::size_t kSymlinkMax = 4095;
// Stored owner/group meaning "whoever mounts the coffer", so a coffer moves
// between laptops where the teacher has different numeric ids.
inline constexpr std::uint32_t kMounterId = 0xFFFFFFFEu;

// A POSIX error from a filesystem operation (ENOENT, EEXIST, ...). Damage
// and I/O failures are coffer::Error instead.
class FsError : public std::runtime_error {
 public:
  explicit FsError(std::errc code) : std::runtime_error("filesystem error"), code_(code) {}
  std::errc code() const noexcept { return code_; }

 private:
  std::errc code_;
};

struct Inode {
  std::uint64_t ino = 0;
  std::uint32_t mode = 0;  // type and permission bits
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint64_t nlink = 0;
  std::uint64_t size = 0;
  std::uint64_t rdev = 0;
  std::int64_t atime_ns = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool is_dir() const;
};

struct DirEntry {
  std::string name;
  std::uint64_t ino = 0;
  std::uint32_t mode = 0;
  std::uint64_t cookie = 0;  // resume readdir after this entry
};

struct SetAttr {
  std::optional<std::uint32_t> mode;  // permission bits (type kept)
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  std::optional<std::uint64_t> size;
  std::optional<std::int64_t> atime_ns;  // kNow = the current time
  std::optional<std::int64_t> mtime_ns;
  static constexpr std::int64_t kNow = INT64_MIN;
};

class FileStore {
 public:
  FileStore(Database& db, keystore::ChunkMacKey key, const Clock& clock);
  ~FileStore();
  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  Inode get(std::uint64_t ino);
  std::optional<Inode> lookup(std::uint64_t parent, std::string_view name);
  // The directory containing dir (dir itself for the files/ root).
  std::uint64_t parent_of(std::uint64_t dir);
  // The path of a node below files/ through its first name ("notes/day1.txt";
  // "" for files/ itself), as the audit trail names it; nullopt when no
  // name leads to it any more (unlinked while open).
  std::optional<std::string> path_of(std::uint64_t ino);
  Inode make_node(std::uint64_t parent, std::string_view name, std::uint32_t mode, std::uint32_t uid, std::uint32_t gid,
                  std::uint64_t rdev = 0, std::string_view symlink_target = {});
  Inode link(std::uint64_t ino, std::uint64_t parent, std::string_view name);
  // Returns the inode after the entry is gone (nlink may now be 0: the
  // caller removes it with remove_if_unlinked once nothing uses it).
  Inode unlink(std::uint64_t parent, std::string_view name);
  Inode rmdir(std::uint64_t parent, std::string_view name);
  // flags: RENAME_NOREPLACE / RENAME_EXCHANGE. Returns the replaced inode.
  std::optional<Inode> rename(std::uint64_t parent, std::string_view name, std::uint64_t new_parent,
                              std::string_view new_name, unsigned flags);
  std::string readlink(std::uint64_t ino);
  std::vector<DirEntry> readdir(std::uint64_t dir, std::uint64_t after_cookie, std::size_t max_entries);
  std::size_t read(std::uint64_t ino, std::uint64_t offset, std::span<std::uint8_t> out);
  void write(std::uint64_t ino, std::uint64_t offset, std::span<const std::uint8_t> data);
  Inode setattr(std::uint64_t ino, const SetAttr& attr);

  // Deletes an inode and its contents when no directory entry names it.
  void remove_if_unlinked(std::uint64_t ino);
  // After a crash: inodes left with no name (unlinked while open).
  std::size_t remove_orphans();
  // Writes buffered chunks and commits the open transaction (durable on
  // return: synchronous=FULL).
  void commit();
  bool dirty() const { return in_txn_; }
  // True once a write error stopped all changes (see fail_stop).
  bool failed() const { return failed_; }
  // Reads and checks every stored chunk (for fsck); returns how many fail.
  std::size_t verify_all_chunks();
  // Re-keying (docs/FORMAT.md §10, "Re-key"): checks every stored chunk
  // against `previous` (the old master key's chunk MAC key) and rewrites its
  // MAC under this store's key, in the caller's transaction. Throws kDamaged
  // at the first chunk that fails (a re-key never launders a bad chunk).
  // Returns the number of chunks.
  std::size_t remac_all_chunks(const keystore::ChunkMacKey& previous);
  // A file's own expiry (unix seconds, last second of validity), if any.
  std::optional<std::int64_t> expiry(std::uint64_t ino);
  void set_expiry(std::uint64_t ino, std::int64_t expires);
  // The names (parent, name) of nodes whose own expiry is before `now`.
  std::vector<std::pair<std::uint64_t, std::string>> expired_entries(std::int64_t now);
  std::uint64_t inode_count();
  std::uint64_t bytes_used();

 private:
  struct Chunk {
    std::vector<std::uint8_t> data;
    bool dirty = false;
    std::list<std::pair<std::uint64_t, std::uint64_t>>::iterator lru;
  };
  using ChunkKey = std::pair<std::uint64_t, std::uint64_t>;

  void begin();
  template <class F>
  auto atomically(F&& f) -> decltype(f());
  void undo_operation() noexcept;
  void fail_stop() noexcept;
  void commit_op();
  Inode make_node_op(std::uint64_t parent, std::string_view name, std::uint32_t mode, std::uint32_t uid,
                     std::uint32_t gid, std::uint64_t rdev, std::string_view symlink_target);
  Inode link_op(std::uint64_t ino, std::uint64_t parent, std::string_view name);
  Inode unlink_op(std::uint64_t parent, std::string_view name);
  Inode rmdir_op(std::uint64_t parent, std::string_view name);
  std::optional<Inode> rename_op(std::uint64_t parent, std::string_view name, std::uint64_t new_parent,
                                 std::string_view new_name, unsigned flags);
  Inode setattr_op(std::uint64_t ino, const SetAttr& attr);
  void write_op(std::uint64_t ino, std::uint64_t offset, std::span<const std::uint8_t> data);
  void remove_if_unlinked_op(std::uint64_t ino);
  Chunk& chunk(std::uint64_t ino, std::uint64_t idx, bool whole_overwrite);
  std::optional<std::vector<std::uint8_t>> load_chunk(std::uint64_t ino, std::uint64_t idx);
  void store_chunk(std::uint64_t ino, std::uint64_t idx, const std::vector<std::uint8_t>& data);
  void flush_chunks(std::optional<std::uint64_t> only_ino = std::nullopt);
  void drop_chunks(std::uint64_t ino, std::uint64_t from_idx);
  void evict_if_full();
  void evict_one();
  void make_room(std::size_t chunks);
  void truncate(Inode& inode, std::uint64_t size);
  void save(const Inode& inode);
  void touch_dir(std::uint64_t dir, int nlink_delta);
  std::optional<std::uint64_t> entry(std::uint64_t parent, std::string_view name);
  // The prepared statement for sql (prepared on first use), reset.
  Statement& stmt(const CachedSql& sql);

  Database& db_;
  keystore::ChunkMacKey key_;
  const Clock& clock_;
  bool in_txn_ = false;
  bool failed_ = false;       // see fail_stop()
  bool failed_full_ = false;  // ...because the disk was full (kNoSpace, ENOSPC)
  std::uint64_t counter_ = 0;
  std::map<ChunkKey, Chunk> chunks_;
  std::list<ChunkKey> lru_;
  std::map<const CachedSql*, Statement> statements_;
};

}  // namespace coffer::vault
