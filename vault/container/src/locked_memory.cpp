// Locked allocators for SQLite and OpenSSL; see locked_memory.h.
#include "coffer/vault/container/locked_memory.h"

#include <malloc.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace coffer::vault {
namespace {

// Every block has a 16-byte header in front: its size class (arena) or its
// requested size (heap), so xSize and realloc know it; the data stays
// 16-byte aligned.
constexpr std::size_t kHeader = 16;
constexpr std::array<std::size_t, 7> kClasses = {16, 32, 64, 128, 256, 512, kLockedMaxBlock};
constexpr std::uint64_t kArenaMagic = 0xC0FFE7A2E7A00001ULL;
constexpr std::uint64_t kHeapMagic = 0xC0FFE7A2E7A00002ULL;

struct Header {
  std::uint64_t magic;
  std::uint64_t size;  // arena: the class's size; heap: the requested size
};
static_assert(sizeof(Header) == kHeader);

struct FreeBlock {
  FreeBlock* next;
};

std::mutex g_mu;
std::uint8_t* g_arena = nullptr;
std::size_t g_used = 0;  // bump pointer
std::array<FreeBlock*, kClasses.size()> g_free{};
std::size_t g_in_use = 0;
std::size_t g_fallbacks = 0;
bool g_locked = false;
std::atomic<bool> g_installed{false};

bool in_arena(const void* p) {
  auto* b = static_cast<const std::uint8_t*>(p);
  return g_arena != nullptr && b >= g_arena && b < g_arena + kLockedArenaSize;
}

int class_of(std::size_t n) {
  for (std::size_t i = 0; i < kClasses.size(); ++i)
    if (n <= kClasses[i]) return static_cast<int>(i);
  return -1;
}

void wipe(void* p, std::size_t n) { OPENSSL_cleanse(p, n); }

// A block of at least n bytes, from the arena when small, else the heap;
// returns the data pointer.
void* allocate(std::size_t n) {
  if (n == 0) n = 1;
  int c = class_of(n);
  if (c >= 0 && g_arena) {
    std::lock_guard<std::mutex> lock(g_mu);
    const std::size_t size = kClasses[static_cast<std::size_t>(c)];
    std::uint8_t* block = nullptr;
    if (FreeBlock* f = g_free[static_cast<std::size_t>(c)]) {
      g_free[static_cast<std::size_t>(c)] = f->next;
      block = reinterpret_cast<std::uint8_t*>(f);
    } else if (g_used + kHeader + size <= kLockedArenaSize) {
      block = g_arena + g_used;
      g_used += kHeader + size;
    }
    if (block) {
      auto* h = reinterpret_cast<Header*>(block);
      h->magic = kArenaMagic;
      h->size = size;
      g_in_use += size;
      std::memset(block + kHeader, 0, size);
      return block + kHeader;
    }
    ++g_fallbacks;
  }
  auto* block = static_cast<std::uint8_t*>(std::malloc(kHeader + n));
  if (!block) return nullptr;
  auto* h = reinterpret_cast<Header*>(block);
  h->magic = kHeapMagic;
  h->size = n;
  return block + kHeader;
}

Header* header_of(void* p) { return reinterpret_cast<Header*>(static_cast<std::uint8_t*>(p) - kHeader); }

std::size_t size_of(void* p) { return p ? static_cast<std::size_t>(header_of(p)->size) : 0; }

void release(void* p) {
  if (!p) return;
  Header* h = header_of(p);
  const std::size_t size = h->size;
  wipe(p, size);  // every block is wiped when freed, key or not
  if (in_arena(h)) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_in_use -= size;
    int c = class_of(size);
    auto* f = reinterpret_cast<FreeBlock*>(h);
    f->next = g_free[static_cast<std::size_t>(c)];
    g_free[static_cast<std::size_t>(c)] = f;
    return;
  }
  std::free(h);
}

void* reallocate(void* p, std::size_t n) {
  if (!p) return allocate(n);
  const std::size_t old = size_of(p);
  void* q = allocate(n);
  if (!q) return nullptr;
  std::memcpy(q, p, old < n ? old : n);
  release(p);
  return q;
}

// SQLite's sqlite3_mem_methods.
void* sq_malloc(int n) { return n < 0 ? nullptr : allocate(static_cast<std::size_t>(n)); }
void sq_free(void* p) { release(p); }
void* sq_realloc(void* p, int n) { return n < 0 ? nullptr : reallocate(p, static_cast<std::size_t>(n)); }
int sq_size(void* p) { return static_cast<int>(size_of(p)); }
int sq_roundup(int n) { return (n + 7) & ~7; }
int sq_init(void*) { return SQLITE_OK; }
void sq_shutdown(void*) {}

// OpenSSL's.
void* ossl_malloc(size_t n, const char*, int) { return allocate(n); }
void* ossl_realloc(void* p, size_t n, const char*, int) { return reallocate(p, n); }
void ossl_free(void* p, const char*, int) { release(p); }

}  // namespace

std::string install_locked_allocators() {
  if (g_installed.exchange(true)) return {};
  void* m = ::mmap(nullptr, kLockedArenaSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return "the locked arena could not be mapped";
  ::madvise(m, kLockedArenaSize, MADV_DONTDUMP);
  // The system call itself, as munlock below: AddressSanitizer turns the
  // libc mlock into a no-op that reports success.
  g_locked = ::syscall(SYS_mlock, m, kLockedArenaSize) == 0;
  g_arena = static_cast<std::uint8_t*>(m);
  std::string problems;
  if (!g_locked) problems = "the key arena could not be locked in memory (RLIMIT_MEMLOCK)";
  static const sqlite3_mem_methods kMethods = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                               sq_roundup, sq_init, sq_shutdown, nullptr};
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &kMethods) != SQLITE_OK)
    problems += std::string(problems.empty() ? "" : "; ") + "SQLite had already started";
  if (CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) != 1)
    problems += std::string(problems.empty() ? "" : "; ") + "OpenSSL had already allocated memory";
  return problems;
}

LockedMemoryStats locked_memory_stats() {
  std::lock_guard<std::mutex> lock(g_mu);
  return {g_installed.load(), g_locked, g_in_use, g_fallbacks};
}

}  // namespace coffer::vault

// SQLCipher 3.4.1 calls munlock on the pages of every buffer it frees,
// which would unlock the arena (and any other locked data sharing those
// pages). Ranges in the arena stay locked; everything else is passed on.
extern "C" int munlock(const void* addr, size_t len) noexcept {
  if (coffer::vault::in_arena(addr)) return 0;
  return static_cast<int>(::syscall(SYS_munlock, addr, len));
}
