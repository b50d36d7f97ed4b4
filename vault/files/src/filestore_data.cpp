// The file store's contents: chunks of a file, each stored with a fresh
// counter and a MAC binding it to its file, index and length; a bounded LRU
// of decrypted chunks; reads, writes and truncation. See filestore.h.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "coffer/error.h"
#include "coffer/vault/files/filestore.h"
#include "filestore_sql.h"

namespace coffer::vault {
using namespace detail;  // the store's own statements and helpers (filestore_sql.h)

std::optional<std::vector<std::uint8_t>> FileStore::load_chunk(std::uint64_t ino, std::uint64_t idx) {
  auto& s = stmt(kLoadChunk);
  s.bind(1, static_cast<std::int64_t>(ino)).bind(2, static_cast<std::int64_t>(idx));
  if (!s.step()) return std::nullopt;
  std::int64_t rowid = s.column_int64(0);
  auto counter = static_cast<std::uint64_t>(s.column_int64(1));
  auto mac = s.column_blob(2);
  auto len = static_cast<std::size_t>(s.column_int64(3));
  s.reset();
  if (len > kChunkSize || mac.size() != 32)
    throw Error(ErrorCode::kDamaged, "a file chunk has an impossible size (damaged coffer)");
  std::vector<std::uint8_t> data(len);
  if (len > 0) db_.read_blob("chunks", "data", rowid, data);
  if (!keystore::equal_constant_time(mac_of(key_, ino, idx, counter, data), mac))
    throw Error(ErrorCode::kDamaged, "a file chunk failed its integrity check (damaged coffer)");
  return data;
}

void FileStore::store_chunk(std::uint64_t ino, std::uint64_t idx, const std::vector<std::uint8_t>& data) {
  begin();
  std::uint64_t counter = ++counter_;
  auto mac = mac_of(key_, ino, idx, counter, data);
  auto& s = stmt(kStoreChunk);
  s.bind(1, static_cast<std::int64_t>(ino)).bind(2, static_cast<std::int64_t>(idx));
  s.bind(3, static_cast<std::int64_t>(counter)).bind_blob(4, mac).bind_blob(5, data);
  s.step();
}

FileStore::Chunk& FileStore::chunk(std::uint64_t ino, std::uint64_t idx, bool whole_overwrite) {
  ChunkKey key{ino, idx};
  auto it = chunks_.find(key);
  if (it != chunks_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  evict_if_full();
  Chunk c;
  if (!whole_overwrite) {
    if (auto data = load_chunk(ino, idx)) c.data = std::move(*data);
  }
  lru_.push_front(key);
  c.lru = lru_.begin();
  return chunks_.emplace(key, std::move(c)).first->second;
}

void FileStore::evict_one() {
  ChunkKey victim = lru_.back();
  auto it = chunks_.find(victim);
  if (it->second.dirty) store_chunk(victim.first, victim.second, it->second.data);
  lru_.pop_back();
  chunks_.erase(it);
}

void FileStore::evict_if_full() {
  while (chunks_.size() >= kMaxCachedChunks && !lru_.empty()) evict_one();
}

void FileStore::flush_chunks(std::optional<std::uint64_t> only_ino) {
  for (auto& [key, c] : chunks_) {
    if (!c.dirty || (only_ino && key.first != *only_ino)) continue;
    store_chunk(key.first, key.second, c.data);
    c.dirty = false;
  }
}

void FileStore::drop_chunks(std::uint64_t ino, std::uint64_t from_idx) {
  for (auto it = chunks_.lower_bound({ino, from_idx}); it != chunks_.end() && it->first.first == ino;) {
    lru_.erase(it->second.lru);
    it = chunks_.erase(it);
  }
}

std::size_t FileStore::read(std::uint64_t ino, std::uint64_t offset, std::span<std::uint8_t> out) {
  Inode i = get(ino);
  if (i.is_dir()) throw FsError(std::errc::is_a_directory);
  if (offset >= i.size) return 0;
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), i.size - offset));
  std::size_t done = 0;
  while (done < n) {
    std::uint64_t pos = offset + done;
    std::uint64_t idx = pos / kChunkSize;
    std::size_t in_chunk = pos % kChunkSize;
    std::size_t take = std::min(n - done, kChunkSize - in_chunk);
    Chunk* cp = nullptr;
    try {
      cp = &chunk(ino, idx, false);
    } catch (const Error& e) {
      // A damaged chunk only fails this read; a failed eviction store may
      // have cost the transaction.
      if (e.code() != ErrorCode::kDamaged || (in_txn_ && !db_.in_transaction())) fail_stop();
      throw;
    }
    Chunk& c = *cp;
    // Bytes past the chunk's stored length are a hole: zeros.
    std::size_t avail = c.data.size() > in_chunk ? std::min(take, c.data.size() - in_chunk) : 0;
    if (avail) std::memcpy(out.data() + done, c.data.data() + in_chunk, avail);
    if (avail < take) std::memset(out.data() + done + avail, 0, take - avail);
    done += take;
  }
  return n;
}

void FileStore::write_op(std::uint64_t ino, std::uint64_t offset, std::span<const std::uint8_t> data) {
  Inode i = get(ino);
  if (i.is_dir()) throw FsError(std::errc::is_a_directory);
  if (offset + data.size() < offset) throw FsError(std::errc::file_too_large);
  begin();
  std::size_t done = 0;
  while (done < data.size()) {
    std::uint64_t pos = offset + done;
    std::uint64_t idx = pos / kChunkSize;
    std::size_t in_chunk = pos % kChunkSize;
    std::size_t take = std::min(data.size() - done, kChunkSize - in_chunk);
    // A write covering the whole chunk, or starting it at or past the end
    // of the file, needs no read of the old chunk.
    bool fresh = (in_chunk == 0 && take == kChunkSize) || idx * kChunkSize >= i.size;
    Chunk& c = chunk(ino, idx, fresh);
    if (c.data.size() < in_chunk + take) c.data.resize(in_chunk + take, 0);
    std::memcpy(c.data.data() + in_chunk, data.data() + done, take);
    c.dirty = true;
    done += take;
  }
  i.size = std::max<std::uint64_t>(i.size, offset + data.size());
  i.mtime_ns = i.ctime_ns = clock_.now_ns();
  save(i);
}

void FileStore::truncate(Inode& i, std::uint64_t size) {
  if (size < i.size) {
    std::uint64_t keep_chunks = (size + kChunkSize - 1) / kChunkSize;
    flush_chunks(i.ino);
    drop_chunks(i.ino, keep_chunks);
    auto& del = stmt(kDeleteChunksFrom);
    del.bind(1, static_cast<std::int64_t>(i.ino)).bind(2, static_cast<std::int64_t>(keep_chunks));
    del.step();
    if (size % kChunkSize != 0) {
      Chunk& c = chunk(i.ino, size / kChunkSize, false);
      if (c.data.size() > size % kChunkSize) {
        c.data.resize(size % kChunkSize);
        c.dirty = true;
      }
    }
  }
  i.size = size;
}

std::size_t FileStore::verify_all_chunks() {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> keys;
  {
    auto& s = stmt(kAllChunks);
    while (s.step())
      keys.emplace_back(static_cast<std::uint64_t>(s.column_int64(0)), static_cast<std::uint64_t>(s.column_int64(1)));
  }
  std::size_t bad = 0;
  for (auto [ino, idx] : keys) {
    try {
      load_chunk(ino, idx);
    } catch (const Error&) {
      ++bad;
    }
  }
  return bad;
}

std::size_t FileStore::remac_all_chunks(const keystore::ChunkMacKey& previous) {
  if (!db_.in_transaction()) throw std::logic_error("chunk MACs are rewritten inside the caller's transaction");
  std::size_t n = 0;
  auto all = db_.prepare("SELECT id, ino, idx, counter, mac, length(data) FROM chunks ORDER BY id");
  auto update = db_.prepare("UPDATE chunks SET mac = ? WHERE id = ?");
  while (all.step()) {
    const std::int64_t rowid = all.column_int64(0);
    const auto ino = static_cast<std::uint64_t>(all.column_int64(1));
    const auto idx = static_cast<std::uint64_t>(all.column_int64(2));
    const auto counter = static_cast<std::uint64_t>(all.column_int64(3));
    auto mac = all.column_blob(4);
    const auto len = static_cast<std::size_t>(all.column_int64(5));
    if (len > kChunkSize || mac.size() != 32)
      throw Error(ErrorCode::kDamaged, "a file chunk has an impossible size (damaged coffer); nothing was re-keyed");
    std::vector<std::uint8_t> data(len);
    if (len > 0) db_.read_blob("chunks", "data", rowid, data);
    if (!keystore::equal_constant_time(mac_of(previous, ino, idx, counter, data), mac))
      throw Error(ErrorCode::kDamaged,
                  "a file chunk failed its integrity check (damaged coffer); nothing was re-keyed: run coffer fsck");
    update.bind_blob(1, mac_of(key_, ino, idx, counter, data)).bind(2, rowid);
    update.step();
    update.reset();
    keystore::wipe(data);
    ++n;
  }
  return n;
}

}  // namespace coffer::vault
