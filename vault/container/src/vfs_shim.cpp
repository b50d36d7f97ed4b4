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
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "coffer/keystore/secret.h"

namespace coffer::vault::shim {
namespace {

std::size_t g_offset = 0;
std::size_t g_page = 0;
std::size_t g_tail = 0;
sqlite3_vfs* g_lower = nullptr;

// The shim's file object; the lower VFS's file object follows it in the
// same allocation (SQLite allocates szOsFile bytes), as in appendvfs.c.
struct MainFile {
  sqlite3_file base;  // must be first: SQLite sees a sqlite3_file*
  int lock_fd;
  int lock_level;
  bool integrity_failed;
  bool page_key_failed;  // a page was refused: no page key, or none derived
  bool lower_open;
  std::vector<std::uint8_t>* scratch;  // page buffer for normalised writes
  keystore::SecretBytes* raw_key;      // set_page_key; null until then
  keystore::SecretBytes* hmac_key;     // derived once page 1's salt exists
};

// SQLCipher 3 page layout (docs/FORMAT.md §7.2): page 1 starts with the
// 16-byte salt in clear; every page ends in IV 16, HMAC-SHA1 20, padding
// (the HMAC covers everything before it but the salt).
constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kHmacSize = 20;

constexpr std::size_t kLowerAt =
    (sizeof(MainFile) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) * alignof(std::max_align_t);

MainFile* as_main(sqlite3_file* f) { return reinterpret_cast<MainFile*>(f); }
sqlite3_file* lower_of(sqlite3_file* f) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kLowerAt);
}

int x_close(sqlite3_file* f) {
  auto* m = as_main(f);
  int rc = SQLITE_OK;
  if (m->lower_open) {
    sqlite3_file* lower = lower_of(f);
    rc = lower->pMethods->xClose(lower);
    m->lower_open = false;
  }
  if (m->lock_fd >= 0 && ::close(m->lock_fd) != 0 && rc == SQLITE_OK) rc = SQLITE_IOERR_CLOSE;
  m->lock_fd = -1;
  delete m->scratch;
  m->scratch = nullptr;
  delete m->raw_key;
  m->raw_key = nullptr;
  delete m->hmac_key;
  m->hmac_key = nullptr;
  return rc;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

int lower_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 at) {
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xRead(lower, buf, amount, at);
}
int lower_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 at) {
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xWrite(lower, buf, amount, at);
}

// SQLCipher's HMAC key: PBKDF2-HMAC-SHA1(raw key, salt XOR 0x3a, 2
// iterations, 32 bytes).
std::unique_ptr<keystore::SecretBytes> derive_hmac_key(std::span<const std::uint8_t> raw,
                                                       std::array<std::uint8_t, kSaltSize> salt) {
  for (auto& b : salt) b ^= 0x3a;
  auto key = std::make_unique<keystore::SecretBytes>(32);
  if (PKCS5_PBKDF2_HMAC_SHA1(reinterpret_cast<const char*>(raw.data()), static_cast<int>(raw.size()), salt.data(),
                             kSaltSize, 2, 32, key->writable_bytes().data()) != 1)
    return nullptr;
  return key;
}

// The page-HMAC key of the main file: SQLCipher's derivation above,
// done once (from page 1's salt). Fails closed:
// without the raw key, or when the salt cannot be read or the derivation
// fails, the result is an error code and no page is passed on unchecked
// (the salt read's own I/O error is returned as it is, so a failing disk
// still reads as one).
int hmac_key(sqlite3_file* f, const std::uint8_t* page1, keystore::SecretBytes** out) {
  auto* m = as_main(f);
  *out = m->hmac_key;
  if (m->hmac_key) return SQLITE_OK;
  if (!m->raw_key) {
    m->page_key_failed = true;
    return SQLITE_IOERR_READ;
  }
  std::array<std::uint8_t, kSaltSize> salt{};
  if (page1) {
    std::memcpy(salt.data(), page1, kSaltSize);
  } else if (int rc = lower_read(f, salt.data(), kSaltSize, static_cast<sqlite3_int64>(g_offset)); rc != SQLITE_OK) {
    return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_CORRUPT : rc;  // pages but no page 1: damage
  }
  auto key = derive_hmac_key(m->raw_key->reveal_bytes(), salt);
  if (!key) {
    m->page_key_failed = true;
    return SQLITE_IOERR_READ;
  }
  m->hmac_key = key.release();
  *out = m->hmac_key;
  return SQLITE_OK;
}

// True if the page's HMAC (over ciphertext and IV, then the page number
// as u32 little-endian) is the one SQLCipher wrote.
bool page_mac_ok(const keystore::SecretBytes& key, const std::uint8_t* page, std::uint32_t pgno) {
  const std::size_t start = pgno == 1 ? kSaltSize : 0;
  const std::size_t mac_at = g_page - g_tail - kHmacSize;
  std::array<std::uint8_t, 4> pg{static_cast<std::uint8_t>(pgno), static_cast<std::uint8_t>(pgno >> 8),
                                 static_cast<std::uint8_t>(pgno >> 16), static_cast<std::uint8_t>(pgno >> 24)};
  // Incremental EVP_MAC (OpenSSL 3; the HMAC_CTX calls are deprecated):
  // no copy of the page on this path, which every uncached page read takes.
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  char digest[] = "SHA1";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
  std::size_t len = 0;
  const auto k = key.reveal_bytes();
  EVP_MAC_CTX* ctx = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
  bool ok = ctx && EVP_MAC_init(ctx, k.data(), k.size(), params) == 1 &&
            EVP_MAC_update(ctx, page + start, mac_at - start) == 1 && EVP_MAC_update(ctx, pg.data(), pg.size()) == 1 &&
            EVP_MAC_final(ctx, mac.data(), &len, mac.size()) == 1 && len == kHmacSize &&
            CRYPTO_memcmp(mac.data(), page + mac_at, kHmacSize) == 0;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  auto* out = static_cast<std::uint8_t*>(buf);
  int rc = lower_read(f, buf, amount, offset + static_cast<sqlite3_int64>(g_offset));
  if (rc != SQLITE_OK) return rc;  // a short read is zero-filled by the lower VFS
  if (static_cast<std::size_t>(amount) == g_page && offset % g_page == 0) {
    const auto pgno = static_cast<std::uint32_t>(offset / g_page + 1);
    bool ok = all_zero(out + g_page - g_tail, g_tail) && !all_zero(out, g_page);
    if (ok) {
      keystore::SecretBytes* key = nullptr;
      if (int krc = hmac_key(f, pgno == 1 ? out : nullptr, &key); krc != SQLITE_OK) {
        std::memset(out, 0, g_page);  // nothing unchecked reaches SQLCipher
        if ((krc & 0xff) == SQLITE_CORRUPT) as_main(f)->integrity_failed = true;
        return krc;
      }
      ok = page_mac_ok(*key, out, pgno);
    }
    if (!ok) {
      as_main(f)->integrity_failed = true;
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
    std::fill(m->scratch->end() - static_cast<std::ptrdiff_t>(g_tail), m->scratch->end(), 0);
    in = m->scratch->data();
  }
  return lower_write(f, in, amount, offset + static_cast<sqlite3_int64>(g_offset));
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xTruncate(lower, size + static_cast<sqlite3_int64>(g_offset));
}

int x_sync(sqlite3_file* f, int flags) {
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xSync(lower, flags);
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  sqlite3_file* lower = lower_of(f);
  sqlite3_int64 whole = 0;
  int rc = lower->pMethods->xFileSize(lower, &whole);
  if (rc != SQLITE_OK) return rc;
  const auto offset = static_cast<sqlite3_int64>(g_offset);
  *size = whole > offset ? whole - offset : 0;
  return SQLITE_OK;
}

// The whole file is held with an exclusive flock by the container for as
// long as the connection lives, so SQLite's lock levels only need tracking
// within this one connection: no other process can reach the file. The
// lower file's own (POSIX) locks are never taken.
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
// No file controls (no mmap, no "has moved" checks: the container creates
// the file under a temporary name and renames it while it is open).
int x_file_control(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int x_sector_size(sqlite3_file*) { return 4096; }
int x_device_characteristics(sqlite3_file*) { return 0; }

const sqlite3_io_methods kMainMethods = {1,
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

bool same_inode(int fd, const char* name) {
  struct stat a {
  }, b{};
  return ::fstat(fd, &a) == 0 && ::stat(name, &b) == 0 && S_ISREG(a.st_mode) && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  if (!(flags & SQLITE_OPEN_MAIN_DB) || name == nullptr) return g_lower->xOpen(g_lower, name, file, flags, out_flags);
  auto* m = as_main(file);
  std::memset(m, 0, sizeof(*m));
  m->lock_fd = -1;
  // The container creates the file itself (O_EXCL, 0600) before SQLite
  // opens it, so SQLite never creates the main file.
  int fd = ::open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return SQLITE_CANTOPEN;
  m->lock_fd = fd;
  m->scratch = new std::vector<std::uint8_t>();
  m->base.pMethods = &kMainMethods;
  int rc = g_lower->xOpen(g_lower, name, lower_of(file), flags & ~SQLITE_OPEN_CREATE, out_flags);
  if (rc == SQLITE_OK) m->lower_open = true;
  // The lower VFS follows symlinks: the name must still be the file locked.
  if (rc == SQLITE_OK && !same_inode(fd, name)) rc = SQLITE_CANTOPEN;
  if (rc != SQLITE_OK) {
    // SQLite expects no methods on a file whose open failed: release here.
    x_close(file);
    m->base.pMethods = nullptr;
  }
  return rc;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_lower->xDelete(g_lower, name, sync_dir); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_lower->xAccess(g_lower, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_lower->xFullPathname(g_lower, name, n, out);
}
int x_randomness(sqlite3_vfs*, int n, char* out) { return g_lower->xRandomness(g_lower, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return g_lower->xSleep(g_lower, us); }
int x_current_time(sqlite3_vfs*, double* out) { return g_lower->xCurrentTime(g_lower, out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) { return g_lower->xGetLastError(g_lower, n, out); }

sqlite3_vfs g_vfs;

}  // namespace

void register_vfs(std::size_t payload_offset, std::size_t page_size, std::size_t unauthenticated_tail) {
  static std::once_flag once;
  static int rc = SQLITE_OK;
  std::call_once(once, [&] {
    g_offset = payload_offset;
    g_page = page_size;
    g_tail = unauthenticated_tail;
    g_lower = sqlite3_vfs_find(nullptr);
    if (g_lower == nullptr) {
      rc = SQLITE_ERROR;
      return;
    }
    std::memset(&g_vfs, 0, sizeof(g_vfs));
    g_vfs.iVersion = 1;
    g_vfs.szOsFile = static_cast<int>(kLowerAt) + g_lower->szOsFile;
    g_vfs.mxPathname = g_lower->mxPathname;
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
sqlite3_file* main_file(sqlite3* db, const char* schema = "main") {
  sqlite3_file* f = nullptr;
  if (sqlite3_file_control(db, schema, SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || f == nullptr ||
      f->pMethods != &kMainMethods || !as_main(f)->lower_open)
    return nullptr;
  return f;
}
}  // namespace

int main_file_descriptor(sqlite3* db) {
  sqlite3_file* f = main_file(db);
  return f ? as_main(f)->lock_fd : -1;
}

int read_raw(sqlite3* db, std::span<std::uint8_t> out, std::uint64_t offset) {
  sqlite3_file* f = main_file(db);
  if (!f) return SQLITE_MISUSE;
  return lower_read(f, out.data(), static_cast<int>(out.size()), static_cast<sqlite3_int64>(offset));
}

int write_raw(sqlite3* db, std::span<const std::uint8_t> data, std::uint64_t offset) {
  sqlite3_file* f = main_file(db);
  if (!f) return SQLITE_MISUSE;
  return lower_write(f, data.data(), static_cast<int>(data.size()), static_cast<sqlite3_int64>(offset));
}

int sync_raw(sqlite3* db) {
  sqlite3_file* f = main_file(db);
  if (!f) return SQLITE_MISUSE;
  sqlite3_file* lower = lower_of(f);
  return lower->pMethods->xSync(lower, SQLITE_SYNC_FULL);
}

int raw_size(sqlite3* db, std::uint64_t* size) {
  sqlite3_file* f = main_file(db);
  if (!f) return SQLITE_MISUSE;
  sqlite3_file* lower = lower_of(f);
  sqlite3_int64 whole = 0;
  int rc = lower->pMethods->xFileSize(lower, &whole);
  if (rc == SQLITE_OK) *size = static_cast<std::uint64_t>(whole);
  return rc;
}

void set_page_key(sqlite3* db, std::span<const std::uint8_t> raw_key, const char* schema) {
  sqlite3_file* f = main_file(db, schema);
  if (!f) throw std::runtime_error("the coffer database is not open through the coffer VFS: no page check possible");
  if (raw_key.size() != 32) throw std::runtime_error("the page key must be 32 bytes");
  auto* m = as_main(f);
  delete m->raw_key;
  delete m->hmac_key;
  m->hmac_key = nullptr;
  m->raw_key = new keystore::SecretBytes(raw_key.size());
  std::copy(raw_key.begin(), raw_key.end(), m->raw_key->writable_bytes().begin());
}

int page_one_matches_key(sqlite3* db, std::span<const std::uint8_t> raw_key, bool* matches) {
  *matches = false;
  sqlite3_file* f = main_file(db);
  if (!f) return SQLITE_MISUSE;
  std::vector<std::uint8_t> page(g_page);
  int rc = lower_read(f, page.data(), static_cast<int>(page.size()), static_cast<sqlite3_int64>(g_offset));
  if (rc != SQLITE_OK) return rc;
  std::array<std::uint8_t, kSaltSize> salt{};
  std::memcpy(salt.data(), page.data(), kSaltSize);
  auto key = derive_hmac_key(raw_key, salt);
  if (!key) return SQLITE_NOMEM;
  *matches = page_mac_ok(*key, page.data(), 1);
  return SQLITE_OK;
}

bool main_file_integrity_failed(sqlite3* db) {
  sqlite3_file* f = main_file(db);
  return f && as_main(f)->integrity_failed;
}

bool page_authentic(sqlite3* db, std::span<const std::uint8_t> page, std::uint32_t pgno) {
  sqlite3_file* f = main_file(db);
  if (!f || page.size() != g_page || pgno < 2) return false;
  if (!all_zero(page.data() + g_page - g_tail, g_tail) || all_zero(page.data(), g_page)) return false;
  keystore::SecretBytes* key = nullptr;
  if (hmac_key(f, nullptr, &key) != SQLITE_OK) return false;
  return page_mac_ok(*key, page.data(), pgno);
}

bool page_key_failed(sqlite3* db) {
  sqlite3_file* f = main_file(db);
  return f && as_main(f)->page_key_failed;
}

}  // namespace coffer::vault::shim
