// The offset VFS; see vfs_shim.h.
//
// Integrity hardening beyond SQLCipher 3.4.1: each encrypted page ends in a
// reserve area [IV 16][HMAC-SHA1 20][padding 12]; SQLCipher fills the padding
// with random bytes and does not authenticate it, and it decodes an all-zero
// page as zeros without any check (a "short read"). The shim writes the
// padding as zeros and refuses, on read, a full page whose padding is not
// zero or which is entirely zero. SQLCipher never writes an all-zero page
// (the IV is random), so neither check can reject a page it wrote.
#include "vfs_shim.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace coffer::vault::shim {
namespace {

std::size_t g_offset = 0;
std::size_t g_page = 0;
std::size_t g_tail = 0;
sqlite3_vfs* g_parent = nullptr;

struct MainFile {
  sqlite3_file base;  // must be first: SQLite sees a sqlite3_file*
  int fd;
  int lock_level;
  bool integrity_failed;
  std::vector<std::uint8_t>* scratch;  // page buffer for normalised writes
};

MainFile* as_main(sqlite3_file* f) { return reinterpret_cast<MainFile*>(f); }

int x_close(sqlite3_file* f) {
  auto* m = as_main(f);
  int rc = SQLITE_OK;
  if (m->fd >= 0 && ::close(m->fd) != 0) rc = SQLITE_IOERR_CLOSE;
  m->fd = -1;
  delete m->scratch;
  m->scratch = nullptr;
  return rc;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  auto* m = as_main(f);
  auto* out = static_cast<std::uint8_t*>(buf);
  std::size_t done = 0;
  while (done < static_cast<std::size_t>(amount)) {
    ssize_t n = ::pread(m->fd, out + done, amount - done,
                        static_cast<off_t>(offset + g_offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return SQLITE_IOERR_READ;
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (done < static_cast<std::size_t>(amount)) {
    std::memset(out + done, 0, amount - done);
    return SQLITE_IOERR_SHORT_READ;
  }
  if (static_cast<std::size_t>(amount) == g_page && offset % g_page == 0) {
    if (!all_zero(out + g_page - g_tail, g_tail) || all_zero(out, g_page)) {
      m->integrity_failed = true;
      return SQLITE_CORRUPT;
    }
  }
  return SQLITE_OK;
}

int x_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  auto* m = as_main(f);
  const auto* in = static_cast<const std::uint8_t*>(buf);
  if (static_cast<std::size_t>(amount) == g_page && offset % g_page == 0 && g_tail > 0) {
    m->scratch->assign(in, in + amount);
    std::fill(m->scratch->end() - g_tail, m->scratch->end(), 0);
    in = m->scratch->data();
  }
  std::size_t done = 0;
  while (done < static_cast<std::size_t>(amount)) {
    ssize_t n = ::pwrite(m->fd, in + done, amount - done,
                         static_cast<off_t>(offset + g_offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == ENOSPC || errno == EDQUOT ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    }
    done += static_cast<std::size_t>(n);
  }
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return ::ftruncate(as_main(f)->fd, static_cast<off_t>(size + g_offset)) == 0
             ? SQLITE_OK
             : SQLITE_IOERR_TRUNCATE;
}

int x_sync(sqlite3_file* f, int flags) {
  int fd = as_main(f)->fd;
  int rc = (flags & 0x0F) == SQLITE_SYNC_FULL ? ::fsync(fd) : ::fdatasync(fd);
  return rc == 0 ? SQLITE_OK : SQLITE_IOERR_FSYNC;
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  struct stat st {};
  if (::fstat(as_main(f)->fd, &st) != 0) return SQLITE_IOERR_FSTAT;
  *size = st.st_size > static_cast<off_t>(g_offset) ? st.st_size - g_offset : 0;
  return SQLITE_OK;
}

// The whole file is held with an exclusive flock by the container for as
// long as the connection lives, so SQLite's lock levels only need tracking
// within this one connection: no other process can reach the file.
int x_lock(sqlite3_file* f, int level) {
  auto* m = as_main(f);
  m->lock_level = std::max(m->lock_level, level);
  return SQLITE_OK;
}
int x_unlock(sqlite3_file* f, int level) {
  as_main(f)->lock_level = level;
  return SQLITE_OK;
}
int x_check_reserved(sqlite3_file* f, int* out) {
  *out = as_main(f)->lock_level >= SQLITE_LOCK_RESERVED;
  return SQLITE_OK;
}
int x_file_control(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int x_sector_size(sqlite3_file*) { return 4096; }
int x_device_characteristics(sqlite3_file*) { return 0; }

const sqlite3_io_methods kMainMethods = {
    1, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock,
    x_check_reserved, x_file_control, x_sector_size, x_device_characteristics,
    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  if (!(flags & SQLITE_OPEN_MAIN_DB) || name == nullptr)
    return g_parent->xOpen(g_parent, name, file, flags, out_flags);
  auto* m = as_main(file);
  std::memset(m, 0, sizeof(*m));
  m->fd = -1;
  int oflags = O_CLOEXEC | O_NOFOLLOW | O_RDWR;
  if (flags & SQLITE_OPEN_READONLY) oflags = (oflags & ~O_RDWR) | O_RDONLY;
  // The container creates the file itself (O_EXCL, 0600) before SQLite
  // opens it, so SQLite never creates the main file.
  int fd = ::open(name, oflags);
  if (fd < 0) return SQLITE_CANTOPEN;
  m->fd = fd;
  m->scratch = new std::vector<std::uint8_t>();
  m->base.pMethods = &kMainMethods;
  if (out_flags) *out_flags = flags;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_parent->xDelete(g_parent, name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_parent->xAccess(g_parent, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_parent->xFullPathname(g_parent, name, n, out);
}
int x_randomness(sqlite3_vfs*, int n, char* out) {
  return g_parent->xRandomness(g_parent, n, out);
}
int x_sleep(sqlite3_vfs*, int us) { return g_parent->xSleep(g_parent, us); }
int x_current_time(sqlite3_vfs*, double* out) {
  return g_parent->xCurrentTime(g_parent, out);
}
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
  return g_parent->xGetLastError(g_parent, n, out);
}

sqlite3_vfs g_vfs;

}  // namespace

void register_vfs(std::size_t payload_offset, std::size_t page_size,
                  std::size_t unauthenticated_tail) {
  static std::once_flag once;
  static int rc = SQLITE_OK;
  std::call_once(once, [&] {
    g_offset = payload_offset;
    g_page = page_size;
    g_tail = unauthenticated_tail;
    g_parent = sqlite3_vfs_find(nullptr);
    if (g_parent == nullptr) {
      rc = SQLITE_ERROR;
      return;
    }
    std::memset(&g_vfs, 0, sizeof(g_vfs));
    g_vfs.iVersion = 1;
    g_vfs.szOsFile = std::max<int>(sizeof(MainFile), g_parent->szOsFile);
    g_vfs.mxPathname = g_parent->mxPathname;
    g_vfs.zName = kVfsName;
    g_vfs.xOpen = x_open;
    g_vfs.xDelete = x_delete;
    g_vfs.xAccess = x_access;
    g_vfs.xFullPathname = x_full_pathname;
    g_vfs.xRandomness = x_randomness;
    g_vfs.xSleep = x_sleep;
    g_vfs.xCurrentTime = x_current_time;
    g_vfs.xGetLastError = x_get_last_error;
    rc = sqlite3_vfs_register(&g_vfs, 0);
  });
  if (rc != SQLITE_OK) throw std::runtime_error("cannot register the coffer SQLite VFS");
}

namespace {
MainFile* main_file(sqlite3* db) {
  sqlite3_file* f = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
      f == nullptr || f->pMethods != &kMainMethods)
    return nullptr;
  return as_main(f);
}
}  // namespace

int main_file_descriptor(sqlite3* db) {
  MainFile* m = main_file(db);
  return m ? m->fd : -1;
}

bool main_file_integrity_failed(sqlite3* db) {
  MainFile* m = main_file(db);
  return m && m->integrity_failed;
}

}  // namespace coffer::vault::shim
