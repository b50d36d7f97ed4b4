// vault: the database payload. Flipped bytes are detected, plaintext never
// reaches the file, its journal or /tmp, and a full disk leaves the coffer
// consistent.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>

#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using keystore::KdfCost;
using test::passphrase;
using test::read_bytes;
using test::write_bytes;

constexpr std::int64_t kNow = 1795000000;
constexpr std::size_t kPayloadOffset = 2 * kHeaderCopySize;
constexpr std::size_t kPage = 16384;
const std::string kCanary = "CANARY-Pupil-Amelia-Zebedee-Quartermaine-1234";

class PayloadTest : public ::testing::Test {
 protected:
  std::filesystem::path make(const std::filesystem::path& dir) {
    CreateParams p = test::CreateParamsBuilder().expires(kNow + 3650 * 86400).build();
    auto path = dir / "p.coffer";
    Coffer::create(path, p, passphrase("pw one"), rnd_, clock_);
    return path;
  }
  // Stores rows that hold the canary, and a blob spanning overflow pages.
  static void store_canary(Coffer& c) {
    auto& db = c.database();
    db.exec("CREATE TABLE IF NOT EXISTS t(name TEXT, body BLOB)");
    db.exec("BEGIN");
    auto ins = db.prepare("INSERT INTO t VALUES (?, ?)");
    std::string big;
    while (big.size() < 100000) big += kCanary + " ";
    for (int i = 0; i < 20; ++i) {
      ins.bind(1, kCanary).bind_blob(2, std::span(reinterpret_cast<const std::uint8_t*>(big.data()), big.size()));
      ins.step();
      ins.reset();
    }
    db.exec("COMMIT");
  }
  test::TempDir dir_;
  test::FixedClock clock_{kNow};
  keystore::Random& rnd_ = keystore::system_random();
};

// True when opening and checking the coffer reports damage.
bool damage_detected(const std::filesystem::path& path) {
  try {
    Coffer c = Coffer::unlock(path, passphrase("pw one"), keystore::system_random());
    return !c.check().ok();
  } catch (const Error& e) {
    return e.code() == ErrorCode::kDamaged;
  }
}

TEST_F(PayloadTest, AnyFlippedPayloadByteFailsTheCheck) {
  auto path = make(dir_.path());
  {
    Coffer c = Coffer::unlock(path, passphrase("pw one"), rnd_);
    store_canary(c);
  }
  const auto pristine = read_bytes(path);
  ASSERT_EQ((pristine.size() - kPayloadOffset) % kPage, 0u);
  // Every byte of each page's trailing reserve area (IV, HMAC, padding),
  // the first bytes (salt), and a stride through the rest of every page.
  std::vector<std::size_t> offsets;
  // (All 64 tail bytes on the first two, a middle and the last page; a
  // rotating sample of tail bytes and a stride elsewhere, to keep it fast.)
  const std::size_t pages = (pristine.size() - kPayloadOffset) / kPage;
  for (std::size_t p = 0; p < pages; ++p) {
    std::size_t page = kPayloadOffset + p * kPage;
    bool full = p < 2 || p == pages / 2 || p + 1 == pages;
    for (std::size_t i = kPage - 64; i < kPage; i += full ? 1 : 9) offsets.push_back(page + i + (full ? 0 : p % 9));
    for (std::size_t i = p % 7; i < kPage - 64; i += 8191) offsets.push_back(page + i);
  }
  for (std::size_t i = 0; i < 16; ++i) offsets.push_back(kPayloadOffset + i);
  std::size_t detected = 0;
  for (std::size_t off : offsets) {
    auto bytes = pristine;
    bytes[off] ^= 0x20;
    write_bytes(path, bytes);
    if (damage_detected(path)) {
      ++detected;
    } else {
      ADD_FAILURE() << "flip at payload offset " << off - kPayloadOffset << " not detected";
    }
  }
  EXPECT_EQ(detected, offsets.size());
}

TEST_F(PayloadTest, ZeroedPageIsDetected) {
  auto path = make(dir_.path());
  {
    Coffer c = Coffer::unlock(path, passphrase("pw one"), rnd_);
    store_canary(c);
  }
  const auto pristine = read_bytes(path);
  std::size_t pages = (pristine.size() - kPayloadOffset) / kPage;
  for (std::size_t p = 0; p < pages; ++p) {
    auto bytes = pristine;
    std::fill_n(bytes.begin() + kPayloadOffset + p * kPage, kPage, 0);
    write_bytes(path, bytes);
    EXPECT_TRUE(damage_detected(path)) << "zeroed page " << p;
  }
}

TEST_F(PayloadTest, TruncatedOrExtendedFileIsDetected) {
  auto path = make(dir_.path());
  const auto pristine = read_bytes(path);
  for (std::size_t size : {std::size_t{5000}, kPayloadOffset, pristine.size() - 1, pristine.size() - kPage,
                           pristine.size() + 1, pristine.size() + kPage}) {
    auto bytes = pristine;
    bytes.resize(size, 0x55);
    write_bytes(path, bytes);
    EXPECT_TRUE(damage_detected(path)) << "size " << size;
  }
}

TEST_F(PayloadTest, PlaintextNeverReachesTheFileTheJournalOrTmp) {
  auto path = make(dir_.path());
  // Only files written while the test ran can hold its plaintext.
  const auto start = std::filesystem::file_time_type::clock::now() - std::chrono::seconds(1);
  {
    Coffer c = Coffer::unlock(path, passphrase("pw one"), rnd_);
    store_canary(c);
    // Mid-transaction the rollback journal holds pages: they must be
    // encrypted too.
    c.database().exec("BEGIN");
    c.database().exec("UPDATE t SET name = 'changed'");
    auto journal = sibling_files(path)[0];
    ASSERT_TRUE(std::filesystem::exists(journal));
    auto j = read_bytes(journal);
    EXPECT_GT(j.size(), kPage);
    EXPECT_FALSE(test::contains(j, kCanary));
    EXPECT_FALSE(test::contains(j, "CANARY"));
    EXPECT_FALSE(test::contains(read_bytes(path), "CANARY"));
    c.database().exec("ROLLBACK");
  }
  auto bytes = read_bytes(path);
  EXPECT_GT(bytes.size(), 20u * 100000);
  EXPECT_FALSE(test::contains(bytes, "CANARY"));
  EXPECT_FALSE(test::contains(bytes, "pw one"));
  // Other tests (ctest -j) create and remove folders in /tmp meanwhile: a
  // folder vanishing under the walk is skipped, not an error.
  std::error_code walk;
  for (std::filesystem::recursive_directory_iterator
           it("/tmp", std::filesystem::directory_options::skip_permission_denied, walk),
       end;
       !walk && it != end; it.increment(walk)) {
    const auto& e = *it;
    std::error_code ec;
    if (!e.is_regular_file(ec) || e.last_write_time(ec) < start || ec) continue;
    if (e.path().string().rfind(dir_.path().string(), 0) == 0) continue;
    EXPECT_FALSE(test::contains(read_bytes(e.path()), "CANARY")) << e.path();
  }
}

TEST_F(PayloadTest, DiskFullFailsCleanlyAndKeepsTheCoffer) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs (CI runs as root)";
  test::SmallTmpfs mnt("1m");
  ASSERT_TRUE(mnt.mounted());
  auto path = make(mnt.path());
  bool full = false;
  try {
    Coffer c = Coffer::unlock(path, passphrase("pw one"), rnd_);
    store_canary(c);  // about 2 MB: cannot fit
  } catch (const Error& e) {
    full = true;
    EXPECT_EQ(e.code(), ErrorCode::kNoSpace);
    EXPECT_NE(std::string(e.what()).find("disk is full"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(full);
  // The failed transaction rolled back: the coffer opens and checks clean.
  Coffer c = Coffer::unlock(path, passphrase("pw one"), rnd_);
  EXPECT_TRUE(c.check().ok());
  EXPECT_EQ(c.database().query_int64("SELECT count(*) FROM sqlite_master WHERE name = 't'"), 1);
  EXPECT_EQ(c.database().query_int64("SELECT count(*) FROM t"), 0);
  // Creating a new coffer on the full disk leaves no partial file behind.
  std::vector<std::uint8_t> filler(900 * 1024, 1);
  write_bytes(mnt.path() / "filler", filler);
  CreateParams p = test::CreateParamsBuilder().owner("x").expires(kNow + 3650 * 86400).build();
  try {
    Coffer::create(mnt.path() / "new.coffer", p, passphrase("pw"), rnd_, clock_);
  } catch (const Error&) {
  }
  for (auto& e : std::filesystem::directory_iterator(mnt.path()))
    EXPECT_TRUE(e.path().filename() == "p.coffer" || e.path().filename() == "filler" ||
                e.path().filename() == "new.coffer" || e.path().filename() == "p.coffer-journal")
        << "stray " << e.path();
}

}  // namespace
}  // namespace coffer::vault
