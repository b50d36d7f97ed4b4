// The locked allocators of the container (locked_memory.h): installed
// before SQLite and OpenSSL allocate (this test's own main, as coffer's),
// their small blocks come from the locked arena, SQLCipher's munlock does
// not unlock it, and a coffer works on top of them.
#include "coffer/vault/container/locked_memory.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "coffer/vault/coffer/coffer.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

std::string g_install_problem;

// The VmFlags of the mapping of /proc/self/smaps that holds p.
std::string vm_flags_of(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> start >> dash >> end && dash == '-' && line.find(' ') != std::string::npos &&
        line.find(':') > line.find(' ')) {
      inside = addr >= start && addr < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return {};
}

bool locked(const void* p) { return vm_flags_of(p).find(" lo") != std::string::npos; }

TEST(LockedMemory, InstalledFirstAndLocked) {
  EXPECT_EQ(g_install_problem, "");
  LockedMemoryStats s = locked_memory_stats();
  EXPECT_TRUE(s.installed);
  EXPECT_TRUE(s.locked);
}

TEST(LockedMemory, SmallSqliteAndOpensslBlocksAreInTheLockedArenaLargeOnesAreNot) {
  const std::size_t before = locked_memory_stats().arena_bytes_in_use;
  void* small = sqlite3_malloc(48);
  void* ossl = OPENSSL_malloc(300);
  void* large = sqlite3_malloc(64 * 1024);
  ASSERT_TRUE(small && ossl && large);
  EXPECT_GE(locked_memory_stats().arena_bytes_in_use, before + 48 + 300);
  EXPECT_TRUE(locked(small)) << vm_flags_of(small);
  EXPECT_TRUE(locked(ossl)) << vm_flags_of(ossl);
  EXPECT_EQ(sqlite3_msize(small), 64U);  // its size class
  sqlite3_free(large);
  OPENSSL_free(ossl);
  sqlite3_free(small);
  EXPECT_EQ(locked_memory_stats().arena_bytes_in_use, before);
}

TEST(LockedMemory, MunlockDoesNotUnlockTheArena) {
  // What SQLCipher 3.4.1 does when it frees a key buffer: munlock its
  // whole pages, which held other keys too.
  void* key = sqlite3_malloc(32);
  ASSERT_TRUE(key);
  const long page = ::sysconf(_SC_PAGESIZE);
  void* start = static_cast<char*>(key) - reinterpret_cast<std::uintptr_t>(key) % static_cast<std::uintptr_t>(page);
  EXPECT_EQ(::munlock(start, static_cast<std::size_t>(page)), 0);
  EXPECT_TRUE(locked(key)) << vm_flags_of(key);
  sqlite3_free(key);
  // Outside the arena munlock still works.
  void* other =
      ::mmap(nullptr, static_cast<std::size_t>(page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(other, MAP_FAILED);
  // The system call, not libc's mlock: AddressSanitizer makes that a no-op.
  ASSERT_EQ(::syscall(SYS_mlock, other, static_cast<std::size_t>(page)), 0);
  EXPECT_TRUE(locked(other));
  EXPECT_EQ(::munlock(other, static_cast<std::size_t>(page)), 0);
  EXPECT_FALSE(locked(other)) << vm_flags_of(other);
  ::munmap(other, static_cast<std::size_t>(page));
}

TEST(LockedMemory, ACofferWorksOnTopAndNothingFellBack) {
  test::TempDir dir;
  test::FixedClock clock(1795000000);
  CreateParams p = test::CreateParamsBuilder().expires(1795000000 + 86400 * 30).build();
  Coffer::create(dir / "m.coffer", p, test::passphrase("locked memory"), keystore::system_random(), clock);
  {
    Coffer c = Coffer::unlock(dir / "m.coffer", test::passphrase("locked memory"), keystore::system_random());
    EXPECT_TRUE(c.check().ok());
  }
  EXPECT_EQ(locked_memory_stats().fallbacks, 0U);
}

}  // namespace
}  // namespace coffer::vault

int main(int argc, char** argv) {
  coffer::vault::g_install_problem = coffer::vault::install_locked_allocators();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
