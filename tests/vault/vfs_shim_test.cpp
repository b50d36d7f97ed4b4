// The VFS shim fails closed (vault/container/src/vfs_shim.h): a whole page
// is passed to SQLCipher only after its HMAC was checked with the page key;
// without that key (never given, or not derivable) the read fails instead
// of going through unchecked, as it did before.
#include "vfs_shim.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <string>

#include "coffer/vault/container/layout.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

namespace fs = std::filesystem;

// 32 bytes and SQLCipher's raw-key literal for them.
constexpr std::array<std::uint8_t, 32> kKey = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

std::string literal(const std::array<std::uint8_t, 32>& k) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "x'";
  for (auto b : k) s += kHex[b >> 4], s += kHex[b & 15];
  return s + "'";
}

class VfsShim : public ::testing::Test {
 protected:
  void SetUp() override {
    shim::register_vfs(kPayloadOffset, kCipherPageSize, kCipherUnauthenticatedTail);
    path_ = dir_ / "db.coffer";
    ::close(::open(path_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    sqlite3* db = open(kKey, /*give_page_key=*/true);
    ASSERT_EQ(sqlite3_exec(db,
                           "PRAGMA cipher_page_size = 16384; CREATE TABLE t(x); INSERT INTO t "
                           "VALUES (zeroblob(40000)); INSERT INTO t VALUES ('kept');",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  sqlite3* open(const std::array<std::uint8_t, 32>& page_key, bool give_page_key) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, shim::kVfsName), SQLITE_OK);
    if (give_page_key) shim::set_page_key(db, page_key);
    std::string lit = literal(kKey);
    EXPECT_EQ(sqlite3_key(db, lit.data(), static_cast<int>(lit.size())), SQLITE_OK);
    return db;
  }

  int count_rows(sqlite3* db) {
    sqlite3_exec(db, "PRAGMA cipher_page_size = 16384;", nullptr, nullptr, nullptr);
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*), max(length(x)) FROM t", -1, &s, nullptr);
    int n = -1;
    if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
  }

  test::TempDir dir_;
  fs::path path_;
};

TEST_F(VfsShim, ReadsWithThePageKey) {
  sqlite3* db = open(kKey, true);
  EXPECT_EQ(count_rows(db), 2);
  EXPECT_FALSE(shim::page_key_failed(db));
  sqlite3_close(db);
}

TEST_F(VfsShim, WithoutThePageKeyNoPageIsReadUnchecked) {
  sqlite3* db = open(kKey, false);
  EXPECT_EQ(count_rows(db), -1) << "pages were read with no page check";
  EXPECT_TRUE(shim::page_key_failed(db));
  sqlite3_close(db);
}

TEST_F(VfsShim, AWrongPageKeyRefusesEveryPage) {
  auto wrong = kKey;
  wrong[0] ^= 1;
  sqlite3* db = open(wrong, true);
  EXPECT_EQ(count_rows(db), -1);
  EXPECT_TRUE(shim::main_file_integrity_failed(db));
  sqlite3_close(db);
}

TEST_F(VfsShim, SetPageKeyRefusesAConnectionOfAnotherVfsAndAShortKey) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  EXPECT_THROW(shim::set_page_key(db, kKey), std::runtime_error);
  sqlite3_close(db);
  db = open(kKey, true);
  EXPECT_THROW(shim::set_page_key(db, std::span(kKey).first(16)), std::runtime_error);
  sqlite3_close(db);
}

}  // namespace
}  // namespace coffer::vault
