// The fault-injecting VFS; see fault_vfs.h.
#include "fault_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

namespace coffer::test::fault {
namespace {

constexpr std::uint64_t kSector = 512;

// What one file (by path) holds that a crash may still take away: the synced
// bytes of sectors changed since its last sync, and its synced size. Kept
// after close (a closed file's unsynced writes are just as mortal) and
// dropped when the file is deleted.
struct Unsynced {
  std::uint64_t synced_size = 0;
  std::map<std::uint64_t, std::vector<std::uint8_t>> saved;  // sector -> synced bytes
};

struct State {
  std::mutex mu;
  sqlite3_vfs* os = nullptr;
  Plan plan;
  bool armed = false;
  Stats stats;
  std::mt19937_64 rng{1};
  std::map<std::string, Unsynced> files;
} g;

struct FaultFile {
  sqlite3_file base;        // must be first
  const std::string* path;  // key in g.files; null for nameless temp files
  bool lower_open;
};

constexpr std::size_t kLowerAt =
    (sizeof(FaultFile) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) * alignof(std::max_align_t);

FaultFile* as_fault(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }
sqlite3_file* lower_of(sqlite3_file* f) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kLowerAt);
}

std::uint64_t lower_size(sqlite3_file* f) {
  sqlite3_int64 n = 0;
  sqlite3_file* lower = lower_of(f);
  if (lower->pMethods->xFileSize(lower, &n) != SQLITE_OK) return 0;
  return static_cast<std::uint64_t>(n);
}

// Keeps the synced bytes of `sector` aside before its first change after a
// sync. Sectors at or past the synced size need nothing: the crash cuts or
// zeroes them.
void save_sector(sqlite3_file* f, Unsynced& u, std::uint64_t sector) {
  const std::uint64_t start = sector * kSector;
  if (start >= u.synced_size || u.saved.count(sector)) return;
  std::vector<std::uint8_t> bytes(std::min(kSector, u.synced_size - start));
  sqlite3_file* lower = lower_of(f);
  lower->pMethods->xRead(lower, bytes.data(), static_cast<int>(bytes.size()),
                         static_cast<sqlite3_int64>(start));  // a short read zero-fills
  u.saved.emplace(sector, std::move(bytes));
}

Unsynced* unsynced(sqlite3_file* f) {
  const std::string* path = as_fault(f)->path;
  return path ? &g.files[*path] : nullptr;
}

bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(g.rng) < p; }

// Puts one file in the state a power cut could leave it in (see the header).
void crash_file(const std::string& path, Unsynced& u) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;  // deleted: a delete is durable here (SQLite syncs the directory)
  struct stat st {};
  ::fstat(fd, &st);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t final_size = size;
  if (size != u.synced_size && chance(0.5)) final_size = u.synced_size;  // resize lost
  if (final_size != size && ::ftruncate(fd, static_cast<off_t>(final_size)) != 0)
    throw std::runtime_error("fault VFS: cannot truncate " + path);
  // Bytes past the synced size that survived in size may still be lost.
  const std::vector<std::uint8_t> zeros(kSector, 0);
  for (std::uint64_t at = u.synced_size / kSector * kSector; at < final_size; at += kSector) {
    if (at < u.synced_size || !chance(0.3)) continue;
    std::uint64_t n = std::min(kSector, final_size - at);
    if (::pwrite(fd, zeros.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n))
      throw std::runtime_error("fault VFS: cannot zero in " + path);
    ++g.stats.sectors_zeroed;
  }
  for (const auto& [sector, old] : u.saved) {
    const std::uint64_t at = sector * kSector;
    if (at >= final_size) continue;
    // A sector cut off by a truncation that did not survive has no new
    // bytes: it can only come back as it was.
    bool lost = at >= size || chance(0.5);
    if (!lost) {
      ++g.stats.sectors_kept;
      continue;
    }
    std::uint64_t n = std::min<std::uint64_t>(old.size(), final_size - at);
    if (::pwrite(fd, old.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n))
      throw std::runtime_error("fault VFS: cannot restore in " + path);
    ++g.stats.sectors_lost;
  }
  ::fsync(fd);
  ::close(fd);
  u.saved.clear();
  u.synced_size = final_size;
}

void crash_locked() {
  for (auto& [path, u] : g.files) crash_file(path, u);
  g.stats.crashed = true;
}

bool hits(const std::optional<std::uint64_t>& at, std::uint64_t count) {
  return at && (count == *at || (g.plan.persistent && count > *at));
}

// Counts a mutation and crashes when the plan says so. True: the caller
// must fail (the process is "dead").
bool mutation_crashes() {
  if (g.stats.crashed) return true;
  if (g.armed && g.plan.crash_at && g.stats.mutations() == *g.plan.crash_at) {
    crash_locked();
    return true;
  }
  return false;
}

int x_close(sqlite3_file* f) {
  std::lock_guard lock(g.mu);
  auto* ff = as_fault(f);
  int rc = SQLITE_OK;
  if (ff->lower_open) {
    sqlite3_file* lower = lower_of(f);
    rc = lower->pMethods->xClose(lower);
    ff->lower_open = false;
  }
  return rc;
}

int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  std::lock_guard lock(g.mu);
  if (g.stats.crashed) return SQLITE_IOERR_READ;
  ++g.stats.reads;
  if (g.armed && hits(g.plan.fail_read_at, g.stats.reads)) {
    ++g.stats.errors_injected;
    return SQLITE_IOERR_READ;
  }
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xRead(lower, buf, amount, offset);
}

int x_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  std::lock_guard lock(g.mu);
  ++g.stats.writes;
  if (mutation_crashes()) return SQLITE_IOERR_WRITE;
  if (g.armed && hits(g.plan.fail_write_at, g.stats.writes)) {
    ++g.stats.errors_injected;
    return SQLITE_IOERR_WRITE;
  }
  const auto n = static_cast<std::uint64_t>(amount);
  if (g.armed && g.plan.full_after_bytes && g.stats.bytes_written + n > *g.plan.full_after_bytes) {
    ++g.stats.errors_injected;
    return SQLITE_FULL;
  }
  if (Unsynced* u = unsynced(f)) {
    const auto at = static_cast<std::uint64_t>(offset);
    for (std::uint64_t s = at / kSector; n > 0 && s <= (at + n - 1) / kSector; ++s) save_sector(f, *u, s);
  }
  g.stats.bytes_written += n;
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xWrite(lower, buf, amount, offset);
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  std::lock_guard lock(g.mu);
  ++g.stats.truncates;
  if (mutation_crashes()) return SQLITE_IOERR_TRUNCATE;
  if (Unsynced* u = unsynced(f)) {
    const std::uint64_t end = std::min(lower_size(f), u->synced_size);
    for (std::uint64_t s = static_cast<std::uint64_t>(size) / kSector; s * kSector < end; ++s) save_sector(f, *u, s);
  }
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xTruncate(lower, size);
}

int x_sync(sqlite3_file* f, int flags) {
  std::lock_guard lock(g.mu);
  ++g.stats.syncs;
  if (mutation_crashes()) return SQLITE_IOERR_FSYNC;
  if (g.armed && hits(g.plan.fail_sync_at, g.stats.syncs)) {
    ++g.stats.errors_injected;
    return SQLITE_IOERR_FSYNC;
  }
  sqlite3_file* lower = lower_of(f);
  int rc = lower->pMethods->xSync(lower, flags);
  if (rc == SQLITE_OK) {
    if (Unsynced* u = unsynced(f)) {
      u->saved.clear();
      u->synced_size = lower_size(f);
    }
  }
  return rc;
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  std::lock_guard lock(g.mu);
  if (g.stats.crashed) return SQLITE_IOERR_FSTAT;
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xFileSize(lower, size);
}

int x_lock(sqlite3_file* f, int level) {
  if (g.stats.crashed) return SQLITE_IOERR_LOCK;
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xLock(lower, level);
}
int x_unlock(sqlite3_file* f, int level) {
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xUnlock(lower, level);
}
int x_check_reserved(sqlite3_file* f, int* out) {
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xCheckReservedLock(lower, out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  // A size hint may preallocate behind the crash model's back.
  if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE) return SQLITE_NOTFOUND;
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xFileControl(lower, op, arg);
}
int x_sector_size(sqlite3_file* f) {
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xSectorSize(lower);
}
int x_device_characteristics(sqlite3_file* f) {
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xDeviceCharacteristics(lower);
}

const sqlite3_io_methods kMethods = {1,
                                     x_close,
                                     x_read,
                                     x_write,
                                     x_truncate,
                                     x_sync,
                                     x_file_size,
                                     x_lock,
                                     x_unlock,
                                     x_check_reserved,
                                     x_file_control,
                                     x_sector_size,
                                     x_device_characteristics,
                                     nullptr,
                                     nullptr,
                                     nullptr,
                                     nullptr,
                                     nullptr,
                                     nullptr};

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  std::lock_guard lock(g.mu);
  auto* ff = as_fault(file);
  std::memset(ff, 0, sizeof(*ff));
  if (g.stats.crashed) return SQLITE_CANTOPEN;
  int rc = g.os->xOpen(g.os, name, lower_of(file), flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  ff->lower_open = true;
  ff->base.pMethods = &kMethods;
  ++g.stats.opens;
  if (name != nullptr) {
    auto [it, fresh] = g.files.try_emplace(name);
    // A file found on disk counts as synced; a new one as empty.
    if (fresh) it->second.synced_size = lower_size(file);
    ff->path = &it->first;
  }
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  std::lock_guard lock(g.mu);
  if (g.stats.crashed) return SQLITE_IOERR_DELETE;
  int rc = g.os->xDelete(g.os, name, sync_dir);
  if (rc == SQLITE_OK) {
    auto it = g.files.find(name);
    // Only a closed file's record can go: an open one's path is in use.
    if (it != g.files.end()) {
      it->second.saved.clear();
      it->second.synced_size = 0;
    }
  }
  return rc;
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  if (g.stats.crashed) return SQLITE_IOERR_ACCESS;
  return g.os->xAccess(g.os, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g.os->xFullPathname(g.os, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return g.os->xDlOpen(g.os, name); }
void x_dl_error(sqlite3_vfs*, int n, char* out) { g.os->xDlError(g.os, n, out); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return g.os->xDlSym(g.os, h, sym); }
void x_dl_close(sqlite3_vfs*, void* h) { g.os->xDlClose(g.os, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return g.os->xRandomness(g.os, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return g.os->xSleep(g.os, us); }
int x_current_time(sqlite3_vfs*, double* out) { return g.os->xCurrentTime(g.os, out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) { return g.os->xGetLastError(g.os, n, out); }

sqlite3_vfs g_vfs;

}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    g.os = sqlite3_vfs_find(nullptr);
    if (g.os == nullptr) throw std::runtime_error("no default SQLite VFS");
    std::memset(&g_vfs, 0, sizeof(g_vfs));
    g_vfs.iVersion = 1;
    g_vfs.szOsFile = static_cast<int>(kLowerAt) + g.os->szOsFile;
    g_vfs.mxPathname = g.os->mxPathname;
    g_vfs.zName = "fault";
    g_vfs.xOpen = x_open;
    g_vfs.xDelete = x_delete;
    g_vfs.xAccess = x_access;
    g_vfs.xFullPathname = x_full_pathname;
    g_vfs.xDlOpen = x_dl_open;
    g_vfs.xDlError = x_dl_error;
    g_vfs.xDlSym = x_dl_sym;
    g_vfs.xDlClose = x_dl_close;
    g_vfs.xRandomness = x_randomness;
    g_vfs.xSleep = x_sleep;
    g_vfs.xCurrentTime = x_current_time;
    g_vfs.xGetLastError = x_get_last_error;
    if (sqlite3_vfs_register(&g_vfs, 1) != SQLITE_OK) throw std::runtime_error("cannot register the fault VFS");
  });
}

bool installed() {
  std::lock_guard lock(g.mu);
  return g.os != nullptr && g.stats.opens > 0;
}

void arm(const Plan& plan) {
  std::lock_guard lock(g.mu);
  const std::uint64_t opens = g.stats.opens;
  g.plan = plan;
  g.stats = Stats{};
  g.stats.opens = opens;
  g.rng.seed(plan.seed);
  g.armed = true;
}

void disarm() {
  std::lock_guard lock(g.mu);
  g.armed = false;
  g.plan = Plan{};
  g.stats.crashed = false;
}

Stats stats() {
  std::lock_guard lock(g.mu);
  return g.stats;
}

void crash_now() {
  std::lock_guard lock(g.mu);
  if (!g.stats.crashed) crash_locked();
}

}  // namespace coffer::test::fault
