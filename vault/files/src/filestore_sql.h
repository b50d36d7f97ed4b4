// The file store's statements and small helpers, shared by its two source
// files (filestore.cpp: the tree and transactions; filestore_data.cpp: file
// contents in MAC'd chunks). Private to vault/files.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "coffer/keystore/digest.h"
#include "coffer/vault/files/filestore.h"

namespace coffer::vault {

// A statement the store keeps prepared. Each is one named constant below,
// and the cache is keyed by the constant itself, so a statement has exactly
// one text (no call site can bring a diverging copy that would be ignored).
struct CachedSql {
  std::string_view text;
};

namespace detail {

inline constexpr std::size_t kMaxCachedChunks = 64;  // 8 MiB of file data

inline constexpr CachedSql kGetInode{
    "SELECT mode, uid, gid, nlink, size, rdev, atime, mtime, ctime FROM inodes WHERE ino = ?"};
inline constexpr CachedSql kLookup{"SELECT ino FROM dirents WHERE parent = ? AND name = ?"};
inline constexpr CachedSql kParentOf{"SELECT parent FROM dirents WHERE ino = ? LIMIT 1"};
inline constexpr CachedSql kNameOf{"SELECT parent, name FROM dirents WHERE ino = ? LIMIT 1"};
inline constexpr CachedSql kInsertInode{
    "INSERT INTO inodes(mode, uid, gid, nlink, size, rdev, atime, mtime, ctime, target)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"};
inline constexpr CachedSql kInsertDirent{"INSERT INTO dirents(parent, name, ino) VALUES (?, ?, ?)"};
inline constexpr CachedSql kDeleteDirent{"DELETE FROM dirents WHERE parent = ? AND name = ?"};
inline constexpr CachedSql kSaveInode{
    "UPDATE inodes SET mode=?, uid=?, gid=?, nlink=?, size=?, atime=?, mtime=?, ctime=? WHERE ino=?"};
inline constexpr CachedSql kCountChildren{"SELECT count(*) FROM (SELECT 1 FROM dirents WHERE parent = ? LIMIT 1)"};
inline constexpr CachedSql kLoadChunk{"SELECT id, counter, mac, length(data) FROM chunks WHERE ino = ? AND idx = ?"};
inline constexpr CachedSql kStoreChunk{
    "INSERT OR REPLACE INTO chunks(ino, idx, counter, mac, data) VALUES (?, ?, ?, ?, ?)"};
inline constexpr CachedSql kDeleteChunksFrom{"DELETE FROM chunks WHERE ino = ? AND idx >= ?"};
inline constexpr CachedSql kDeleteInode{"DELETE FROM inodes WHERE ino = ?"};
inline constexpr CachedSql kReaddir{
    "SELECT d.id, d.name, d.ino, i.mode FROM dirents d JOIN inodes i ON i.ino = d.ino"
    " WHERE d.parent = ? AND d.id > ? ORDER BY d.id LIMIT ?"};
inline constexpr CachedSql kMoveDirent{"UPDATE dirents SET parent = ?, name = ? WHERE parent = ? AND name = ?"};
inline constexpr CachedSql kSetDirentIno{"UPDATE dirents SET ino = ? WHERE parent = ? AND name = ?"};
inline constexpr CachedSql kReadlink{"SELECT target, mode FROM inodes WHERE ino = ?"};
inline constexpr CachedSql kOrphans{
    "SELECT ino FROM inodes WHERE nlink = 0 OR (ino != 2 AND ino NOT IN (SELECT ino FROM dirents))"};
inline constexpr CachedSql kDeleteAllChunks{"DELETE FROM chunks WHERE ino = ?"};
inline constexpr CachedSql kCounterMark{"INSERT OR REPLACE INTO coffer_meta(key, value) VALUES ('chunk_counter', ?)"};
inline constexpr CachedSql kAllChunks{"SELECT ino, idx FROM chunks ORDER BY ino, idx"};
inline constexpr CachedSql kSavepoint{"SAVEPOINT op"};
inline constexpr CachedSql kReleaseOp{"RELEASE op"};
inline constexpr CachedSql kRollbackOp{"ROLLBACK TO op"};

inline std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

inline void check_name(std::string_view name) {
  if (name.size() > kNameMax) throw FsError(std::errc::filename_too_long);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos)
    throw FsError(std::errc::invalid_argument);
}

inline void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

inline keystore::Digest32 mac_of(const keystore::ChunkMacKey& key, std::uint64_t ino, std::uint64_t idx,
                                 std::uint64_t counter, std::span<const std::uint8_t> data) {
  std::uint8_t prefix[32];
  put_u64(prefix, ino);
  put_u64(prefix + 8, idx);
  put_u64(prefix + 16, counter);
  put_u64(prefix + 24, data.size());
  return keystore::chunk_mac(key, prefix, data);
}

}  // namespace detail
}  // namespace coffer::vault
