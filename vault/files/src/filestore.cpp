// The files/ tree; see filestore.h. Chunks are buffered (a bounded LRU of
// kMaxCachedChunks) and written with a fresh counter and MAC when flushed;
// all changes go into one open transaction that commit() ends.
#include "coffer/vault/files/filestore.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <type_traits>
#include <utility>

#include "coffer/error.h"
#include "coffer/keystore/digest.h"
#include "filestore_sql.h"

namespace coffer::vault {

using namespace detail;  // the store's own statements and helpers (filestore_sql.h)

bool Inode::is_dir() const { return S_ISDIR(mode); }

FileStore::FileStore(Database& db, keystore::ChunkMacKey key, const Clock& clock)
    : db_(db), key_(std::move(key)), clock_(clock) {
  // The counter never goes back, even when the newest chunks were deleted:
  // its high-water mark is kept in coffer_meta at every commit.
  counter_ = static_cast<std::uint64_t>(
      db_.query_int64("SELECT max((SELECT ifnull(max(counter), 0) FROM chunks),"
                      " ifnull((SELECT CAST(value AS INTEGER) FROM coffer_meta WHERE key = 'chunk_counter'), 0))"));
  // A larger page cache means fewer mid-transaction spills (each one
  // encrypts and writes pages early); 8 MiB keeps the daemon under 64 MiB.
  db_.exec("PRAGMA cache_size = -8192");
}

FileStore::~FileStore() = default;

Statement& FileStore::stmt(const CachedSql& sql) {
  auto it = statements_.find(&sql);
  if (it == statements_.end()) it = statements_.emplace(&sql, db_.prepare(sql.text)).first;
  it->second.reset();
  return it->second;
}

void FileStore::begin() {
  if (failed_ && failed_full_)
    throw Error(ErrorCode::kNoSpace,
                "the disk is full: the coffer stopped accepting changes; "
                "free space on the disk, then lock it and open it again");
  if (failed_)
    throw Error(ErrorCode::kIo,
                "the coffer stopped accepting changes after a write error (disk "
                "full or damage); lock it and open it again");
  if (in_txn_) {
    if (!db_.in_transaction()) fail_stop();  // SQLite rolled it back by itself
    return;
  }
  db_.exec("BEGIN IMMEDIATE");
  in_txn_ = true;
}

void FileStore::undo_operation() noexcept {
  // Only for a refusal (FsError): thrown before the buffered chunks change,
  // so rolling the database back to the savepoint restores everything.
  try {
    if (db_.in_transaction()) {
      stmt(kRollbackOp).step();
      stmt(kReleaseOp).step();
      return;
    }
  } catch (...) {
  }
  fail_stop();
}

// After a failure that may have left the buffered chunks and the database
// out of step (disk full, an I/O error, a damaged chunk met mid-change, or
// SQLite rolling the transaction back by itself), nothing more is written:
// the database is back at its last commit, as after a crash, and every
// further change is refused until the coffer is reopened. Going on could
// reuse inode numbers the kernel still holds or store stale chunks.
void FileStore::fail_stop() noexcept {
  // Called from catch blocks: a full disk keeps saying so (ENOSPC) to every
  // later writer, so an editor tells the teacher the real reason.
  if (std::exception_ptr cause = std::current_exception()) {
    try {
      std::rethrow_exception(cause);
    } catch (const Error& e) {
      failed_full_ = failed_full_ || e.code() == ErrorCode::kNoSpace;
    } catch (...) {
    }
  }
  try {
    if (db_.in_transaction()) db_.exec("ROLLBACK");
  } catch (...) {
  }
  in_txn_ = false;
  failed_ = true;
  chunks_.clear();
  lru_.clear();
}

void FileStore::commit() {
  if (!in_txn_) return;
  try {
    commit_op();
  } catch (...) {
    fail_stop();
    throw;
  }
}

void FileStore::commit_op() {
  flush_chunks();
  auto& hw = stmt(kCounterMark);
  hw.bind(1, std::to_string(counter_));
  hw.step();
  db_.exec("COMMIT");
  in_txn_ = false;
}

Inode FileStore::get(std::uint64_t ino) {
  auto& s = stmt(kGetInode);
  s.bind(1, static_cast<std::int64_t>(ino));
  if (!s.step()) throw FsError(std::errc::no_such_file_or_directory);
  Inode i;
  i.ino = ino;
  i.mode = static_cast<std::uint32_t>(s.column_int64(0));
  i.uid = static_cast<std::uint32_t>(s.column_int64(1));
  i.gid = static_cast<std::uint32_t>(s.column_int64(2));
  i.nlink = static_cast<std::uint64_t>(s.column_int64(3));
  i.size = static_cast<std::uint64_t>(s.column_int64(4));
  i.rdev = static_cast<std::uint64_t>(s.column_int64(5));
  i.atime_ns = s.column_int64(6);
  i.mtime_ns = s.column_int64(7);
  i.ctime_ns = s.column_int64(8);
  s.reset();
  return i;
}

void FileStore::save(const Inode& i) {
  begin();
  auto& s = stmt(kSaveInode);
  s.bind(1, i.mode).bind(2, i.uid).bind(3, i.gid).bind(4, static_cast<std::int64_t>(i.nlink));
  s.bind(5, static_cast<std::int64_t>(i.size)).bind(6, i.atime_ns).bind(7, i.mtime_ns);
  s.bind(8, i.ctime_ns).bind(9, static_cast<std::int64_t>(i.ino));
  s.step();
}

std::optional<std::uint64_t> FileStore::entry(std::uint64_t parent, std::string_view name) {
  auto& s = stmt(kLookup);
  s.bind(1, static_cast<std::int64_t>(parent)).bind_blob(2, bytes_of(name));
  if (!s.step()) return std::nullopt;
  auto ino = static_cast<std::uint64_t>(s.column_int64(0));
  s.reset();
  return ino;
}

std::optional<Inode> FileStore::lookup(std::uint64_t parent, std::string_view name) {
  if (name.size() > kNameMax) throw FsError(std::errc::filename_too_long);
  auto ino = entry(parent, name);
  if (!ino) return std::nullopt;
  return get(*ino);
}

std::uint64_t FileStore::parent_of(std::uint64_t dir) {
  if (dir == kFilesRootIno) return dir;
  auto& s = stmt(kParentOf);
  s.bind(1, static_cast<std::int64_t>(dir));
  if (!s.step()) return kFilesRootIno;
  auto p = static_cast<std::uint64_t>(s.column_int64(0));
  s.reset();
  return p;
}

std::optional<std::string> FileStore::path_of(std::uint64_t ino) {
  std::string path;
  std::uint64_t at = ino;
  // Bounded: a damaged table with a cycle must not hang the audit.
  for (int depth = 0; at != kFilesRootIno && depth < 4096; ++depth) {
    auto& s = stmt(kNameOf);
    s.bind(1, static_cast<std::int64_t>(at));
    if (!s.step()) return std::nullopt;
    auto name = s.column_blob(1);
    std::string part(name.begin(), name.end());
    if (!path.empty()) part.append("/").append(path);
    path = std::move(part);
    at = static_cast<std::uint64_t>(s.column_int64(0));
    s.reset();
  }
  return path;
}

void FileStore::touch_dir(std::uint64_t dir, int nlink_delta) {
  Inode d = get(dir);
  d.mtime_ns = d.ctime_ns = clock_.now_ns();
  d.nlink = static_cast<std::uint64_t>(static_cast<std::int64_t>(d.nlink) + nlink_delta);
  save(d);
}

Inode FileStore::make_node_op(std::uint64_t parent, std::string_view name, std::uint32_t mode, std::uint32_t uid,
                              std::uint32_t gid, std::uint64_t rdev, std::string_view target) {
  check_name(name);
  if (target.size() > kSymlinkMax) throw FsError(std::errc::filename_too_long);
  if (!get(parent).is_dir()) throw FsError(std::errc::not_a_directory);
  if (entry(parent, name)) throw FsError(std::errc::file_exists);
  begin();
  std::int64_t now = clock_.now_ns();
  bool dir = S_ISDIR(mode);
  auto& ins = stmt(kInsertInode);
  ins.bind(1, mode).bind(2, uid).bind(3, gid).bind(4, dir ? 2 : 1);
  ins.bind(5, static_cast<std::int64_t>(target.size())).bind(6, static_cast<std::int64_t>(rdev));
  ins.bind(7, now).bind(8, now).bind(9, now);
  if (S_ISLNK(mode)) ins.bind_blob(10, bytes_of(target));
  ins.step();
  auto ino = static_cast<std::uint64_t>(db_.query_int64("SELECT last_insert_rowid()"));
  auto& de = stmt(kInsertDirent);
  de.bind(1, static_cast<std::int64_t>(parent)).bind_blob(2, bytes_of(name));
  de.bind(3, static_cast<std::int64_t>(ino));
  de.step();
  touch_dir(parent, dir ? 1 : 0);
  return get(ino);
}

Inode FileStore::link_op(std::uint64_t ino, std::uint64_t parent, std::string_view name) {
  check_name(name);
  Inode i = get(ino);
  if (i.is_dir()) throw FsError(std::errc::operation_not_permitted);
  if (entry(parent, name)) throw FsError(std::errc::file_exists);
  begin();
  auto& de = stmt(kInsertDirent);
  de.bind(1, static_cast<std::int64_t>(parent)).bind_blob(2, bytes_of(name));
  de.bind(3, static_cast<std::int64_t>(ino));
  de.step();
  i.nlink += 1;
  i.ctime_ns = clock_.now_ns();
  save(i);
  touch_dir(parent, 0);
  return i;
}

Inode FileStore::unlink_op(std::uint64_t parent, std::string_view name) {
  auto ino = entry(parent, name);
  if (!ino) throw FsError(std::errc::no_such_file_or_directory);
  Inode i = get(*ino);
  if (i.is_dir()) throw FsError(std::errc::is_a_directory);
  begin();
  auto& del = stmt(kDeleteDirent);
  del.bind(1, static_cast<std::int64_t>(parent)).bind_blob(2, bytes_of(name));
  del.step();
  i.nlink -= 1;
  i.ctime_ns = clock_.now_ns();
  save(i);
  touch_dir(parent, 0);
  return i;
}

Inode FileStore::rmdir_op(std::uint64_t parent, std::string_view name) {
  if (name == ".") throw FsError(std::errc::invalid_argument);
  if (name == "..") throw FsError(std::errc::directory_not_empty);
  auto ino = entry(parent, name);
  if (!ino) throw FsError(std::errc::no_such_file_or_directory);
  Inode i = get(*ino);
  if (!i.is_dir()) throw FsError(std::errc::not_a_directory);
  auto& c = stmt(kCountChildren);
  c.bind(1, static_cast<std::int64_t>(*ino));
  c.step();
  bool has_children = c.column_int64(0) != 0;
  c.reset();
  if (has_children) throw FsError(std::errc::directory_not_empty);
  begin();
  auto& del = stmt(kDeleteDirent);
  del.bind(1, static_cast<std::int64_t>(parent)).bind_blob(2, bytes_of(name));
  del.step();
  i.nlink = 0;
  i.ctime_ns = clock_.now_ns();
  save(i);
  touch_dir(parent, -1);
  return i;
}

std::optional<Inode> FileStore::rename_op(std::uint64_t parent, std::string_view name, std::uint64_t new_parent,
                                          std::string_view new_name, unsigned flags) {
  check_name(new_name);
  auto src_ino = entry(parent, name);
  if (!src_ino) throw FsError(std::errc::no_such_file_or_directory);
  Inode src = get(*src_ino);
  auto dst_ino = entry(new_parent, new_name);
  if ((flags & RENAME_NOREPLACE) && dst_ino) throw FsError(std::errc::file_exists);
  if ((flags & RENAME_EXCHANGE) && !dst_ino) throw FsError(std::errc::no_such_file_or_directory);
  if (dst_ino && *dst_ino == *src_ino) return std::nullopt;  // same file: nothing to do
  // Moving a directory under itself: the kernel checks this too.
  if (src.is_dir() && parent != new_parent) {
    for (std::uint64_t p = new_parent; p != kFilesRootIno; p = parent_of(p))
      if (p == src.ino) throw FsError(std::errc::invalid_argument);
  }
  begin();
  std::int64_t now = clock_.now_ns();
  auto move_entry = [&](std::uint64_t from_parent, std::string_view from, std::uint64_t to_parent,
                        std::string_view to) {
    auto& mv = stmt(kMoveDirent);
    mv.bind(1, static_cast<std::int64_t>(to_parent)).bind_blob(2, bytes_of(to));
    mv.bind(3, static_cast<std::int64_t>(from_parent)).bind_blob(4, bytes_of(from));
    mv.step();
  };
  if (flags & RENAME_EXCHANGE) {
    Inode dst = get(*dst_ino);
    auto& set = stmt(kSetDirentIno);
    set.bind(1, static_cast<std::int64_t>(dst.ino)).bind(2, static_cast<std::int64_t>(parent));
    set.bind_blob(3, bytes_of(name));
    set.step();
    set.reset();
    set.bind(1, static_cast<std::int64_t>(src.ino)).bind(2, static_cast<std::int64_t>(new_parent));
    set.bind_blob(3, bytes_of(new_name));
    set.step();
    int delta = (src.is_dir() ? 1 : 0) - (dst.is_dir() ? 1 : 0);
    if (parent != new_parent && delta != 0) {
      touch_dir(parent, -delta);
      touch_dir(new_parent, delta);
    } else {
      touch_dir(parent, 0);
      if (new_parent != parent) touch_dir(new_parent, 0);
    }
    src.ctime_ns = dst.ctime_ns = now;
    save(src);
    save(dst);
    return std::nullopt;
  }
  std::optional<Inode> replaced;
  if (dst_ino) {
    Inode dst = get(*dst_ino);
    if (src.is_dir() && !dst.is_dir()) throw FsError(std::errc::not_a_directory);
    if (!src.is_dir() && dst.is_dir()) throw FsError(std::errc::is_a_directory);
    if (dst.is_dir()) {
      auto& c = stmt(kCountChildren);
      c.bind(1, static_cast<std::int64_t>(dst.ino));
      c.step();
      bool full = c.column_int64(0) != 0;
      c.reset();
      if (full) throw FsError(std::errc::directory_not_empty);
    }
    auto& del = stmt(kDeleteDirent);
    del.bind(1, static_cast<std::int64_t>(new_parent)).bind_blob(2, bytes_of(new_name));
    del.step();
    if (dst.is_dir()) {
      dst.nlink = 0;
      touch_dir(new_parent, -1);
    } else {
      dst.nlink -= 1;
    }
    dst.ctime_ns = now;
    save(dst);
    replaced = dst;
  }
  move_entry(parent, name, new_parent, new_name);
  if (src.is_dir() && parent != new_parent) {
    touch_dir(parent, -1);
    touch_dir(new_parent, 1);
  } else {
    touch_dir(parent, 0);
    if (new_parent != parent) touch_dir(new_parent, 0);
  }
  src.ctime_ns = now;
  save(src);
  return replaced;
}

std::string FileStore::readlink(std::uint64_t ino) {
  auto& s = stmt(kReadlink);
  s.bind(1, static_cast<std::int64_t>(ino));
  if (!s.step()) throw FsError(std::errc::no_such_file_or_directory);
  if (!S_ISLNK(static_cast<std::uint32_t>(s.column_int64(1)))) throw FsError(std::errc::invalid_argument);
  auto b = s.column_blob(0);
  s.reset();
  return {b.begin(), b.end()};
}

std::vector<DirEntry> FileStore::readdir(std::uint64_t dir, std::uint64_t after, std::size_t max) {
  auto& s = stmt(kReaddir);
  s.bind(1, static_cast<std::int64_t>(dir)).bind(2, static_cast<std::int64_t>(after));
  s.bind(3, static_cast<std::int64_t>(max));
  std::vector<DirEntry> out;
  while (s.step()) {
    auto name = s.column_blob(1);
    out.push_back(DirEntry{std::string(name.begin(), name.end()), static_cast<std::uint64_t>(s.column_int64(2)),
                           static_cast<std::uint32_t>(s.column_int64(3)),
                           static_cast<std::uint64_t>(s.column_int64(0))});
  }
  return out;
}

Inode FileStore::setattr_op(std::uint64_t ino, const SetAttr& a) {
  Inode i = get(ino);
  begin();
  std::int64_t now = clock_.now_ns();
  if (a.mode) i.mode = (i.mode & S_IFMT) | (*a.mode & 07777);
  if (a.uid) i.uid = *a.uid;
  if (a.gid) i.gid = *a.gid;
  if (a.size) {
    if (i.is_dir()) throw FsError(std::errc::is_a_directory);
    truncate(i, *a.size);
    i.mtime_ns = now;
  }
  if (a.atime_ns) i.atime_ns = *a.atime_ns == SetAttr::kNow ? now : *a.atime_ns;
  if (a.mtime_ns) i.mtime_ns = *a.mtime_ns == SetAttr::kNow ? now : *a.mtime_ns;
  i.ctime_ns = now;
  save(i);
  return i;
}

void FileStore::remove_if_unlinked_op(std::uint64_t ino) {
  if (ino == kFilesRootIno) return;
  Inode i;
  try {
    i = get(ino);
  } catch (const FsError&) {
    return;
  }
  if (i.nlink != 0) return;
  begin();
  drop_chunks(ino, 0);
  auto& dc = stmt(kDeleteAllChunks);
  dc.bind(1, static_cast<std::int64_t>(ino));
  dc.step();
  auto& di = stmt(kDeleteInode);
  di.bind(1, static_cast<std::int64_t>(ino));
  di.step();
}

// Each public change runs in a savepoint inside the open transaction, so a
// failure half-way (a full disk, a damaged page) leaves none of it behind.
template <class F>
auto FileStore::atomically(F&& f) -> decltype(f()) {
  begin();
  stmt(kSavepoint).step();
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      stmt(kReleaseOp).step();
    } else {
      auto result = f();
      stmt(kReleaseOp).step();
      return result;
    }
  } catch (const FsError&) {
    undo_operation();
    throw;
  } catch (...) {
    fail_stop();
    throw;
  }
}

Inode FileStore::make_node(std::uint64_t parent, std::string_view name, std::uint32_t mode, std::uint32_t uid,
                           std::uint32_t gid, std::uint64_t rdev, std::string_view target) {
  return atomically([&] { return make_node_op(parent, name, mode, uid, gid, rdev, target); });
}
Inode FileStore::link(std::uint64_t ino, std::uint64_t parent, std::string_view name) {
  return atomically([&] { return link_op(ino, parent, name); });
}
Inode FileStore::unlink(std::uint64_t parent, std::string_view name) {
  return atomically([&] { return unlink_op(parent, name); });
}
Inode FileStore::rmdir(std::uint64_t parent, std::string_view name) {
  return atomically([&] { return rmdir_op(parent, name); });
}
std::optional<Inode> FileStore::rename(std::uint64_t parent, std::string_view name, std::uint64_t new_parent,
                                       std::string_view new_name, unsigned flags) {
  return atomically([&] { return rename_op(parent, name, new_parent, new_name, flags); });
}
// Evicting a dirty chunk stores it; that must not happen inside an
// operation's savepoint (a rollback would lose the evicted data), so room is
// made before the savepoint opens.
void FileStore::make_room(std::size_t chunks) {
  begin();
  try {
    while (!lru_.empty() && chunks_.size() + chunks > kMaxCachedChunks) evict_one();
  } catch (...) {
    fail_stop();
    throw;
  }
}

std::optional<std::int64_t> FileStore::expiry(std::uint64_t ino) {
  auto s = db_.prepare("SELECT expires FROM inodes WHERE ino = ?");
  s.bind(1, static_cast<std::int64_t>(ino));
  if (!s.step()) throw FsError(std::errc::no_such_file_or_directory);
  auto v = s.column_text(0);
  if (v.empty()) return std::nullopt;
  return s.column_int64(0);
}

void FileStore::set_expiry(std::uint64_t ino, std::int64_t expires) {
  get(ino);
  atomically([&] {
    auto s = db_.prepare("UPDATE inodes SET expires = ? WHERE ino = ?");
    s.bind(1, expires).bind(2, static_cast<std::int64_t>(ino));
    s.step();
  });
}

std::vector<std::pair<std::uint64_t, std::string>> FileStore::expired_entries(std::int64_t now) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  auto s = db_.prepare(
      "SELECT d.parent, d.name FROM dirents d JOIN inodes i ON i.ino = d.ino"
      " WHERE i.expires IS NOT NULL AND i.expires < ?");
  s.bind(1, now);
  while (s.step()) {
    auto name = s.column_blob(1);
    out.emplace_back(static_cast<std::uint64_t>(s.column_int64(0)), std::string(name.begin(), name.end()));
  }
  return out;
}

Inode FileStore::setattr(std::uint64_t ino, const SetAttr& attr) {
  make_room(1);
  return atomically([&] { return setattr_op(ino, attr); });
}
void FileStore::write(std::uint64_t ino, std::uint64_t offset, std::span<const std::uint8_t> data) {
  // Pieces of at most 16 chunks, each atomic, so room can always be made.
  constexpr std::size_t kPiece = 16 * kChunkSize;
  std::size_t done = 0;
  do {
    std::size_t take = std::min(data.size() - done, kPiece - (offset + done) % kChunkSize);
    make_room(take / kChunkSize + 2);
    atomically([&] { write_op(ino, offset + done, data.subspan(done, take)); });
    done += take;
  } while (done < data.size());
}
void FileStore::remove_if_unlinked(std::uint64_t ino) {
  // Most calls (every forget) find a linked inode: no transaction for them.
  auto& s = stmt(kGetInode);
  s.bind(1, static_cast<std::int64_t>(ino));
  bool unlinked = s.step() && s.column_int64(3) == 0;
  s.reset();
  if (!unlinked || ino == kFilesRootIno) return;
  atomically([&] { remove_if_unlinked_op(ino); });
}

std::size_t FileStore::remove_orphans() {
  std::vector<std::uint64_t> orphans;
  {
    auto& s = stmt(kOrphans);
    while (s.step()) orphans.push_back(static_cast<std::uint64_t>(s.column_int64(0)));
  }
  for (auto ino : orphans) {
    Inode i = get(ino);
    if (i.nlink != 0) {
      i.nlink = 0;
      save(i);
    }
    remove_if_unlinked(ino);
  }
  commit();
  return orphans.size();
}

std::uint64_t FileStore::inode_count() {
  return static_cast<std::uint64_t>(db_.query_int64("SELECT count(*) FROM inodes"));
}

std::uint64_t FileStore::bytes_used() {
  return static_cast<std::uint64_t>(db_.query_int64("SELECT ifnull(sum(size), 0) FROM inodes"));
}

}  // namespace coffer::vault
