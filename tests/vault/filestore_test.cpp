// vault: the files/ tree in a real coffer, without FUSE: contents across
// chunk boundaries, holes, truncation, directories, renames, orphans, and
// per-chunk MACs that turn tampering into an error, never into data.
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <sys/mount.h>
#include <unistd.h>

#include <random>

#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/files/filestore.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using test::passphrase;

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CreateParams p = test::CreateParamsBuilder().expires(1795000000 + 3650 * 86400).build();
    path_ = dir_ / "f.coffer";
    Coffer::create(path_, p, passphrase("pw"), keystore::system_random(), clock_);
    open();
  }
  void open() {
    coffer_.emplace(Coffer::unlock(path_, passphrase("pw"), keystore::system_random()));
    store_.emplace(coffer_->database(), coffer_->chunk_mac_key(), clock_);
  }
  void reopen() {
    store_->commit();
    store_.reset();
    coffer_.reset();
    open();
  }
  std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    return v;
  }
  std::vector<std::uint8_t> read_all(std::uint64_t ino) {
    std::vector<std::uint8_t> out(store_->get(ino).size);
    EXPECT_EQ(store_->read(ino, 0, out), out.size());
    return out;
  }
  Inode file(const std::string& name, std::uint64_t parent = kFilesRootIno) {
    return store_->make_node(parent, name, S_IFREG | 0644, kMounterId, kMounterId);
  }

  test::TempDir dir_;
  test::FixedClock clock_{1795000000};
  std::filesystem::path path_;
  std::optional<Coffer> coffer_;
  std::optional<FileStore> store_;
};

TEST_F(FileStoreTest, WriteReadAcrossChunksSurvivesReopen) {
  Inode f = file("a");
  auto data = random_bytes(3 * kChunkSize + 777, 1);
  // Unaligned, overlapping writes in pieces.
  store_->write(f.ino, 0, std::span(data).first(1000));
  store_->write(f.ino, 500, std::span(data).subspan(500, kChunkSize));
  store_->write(f.ino, 500 + kChunkSize, std::span(data).subspan(500 + kChunkSize));
  EXPECT_EQ(read_all(f.ino), data);
  reopen();
  EXPECT_EQ(store_->get(f.ino).size, data.size());
  EXPECT_EQ(read_all(f.ino), data);
  std::vector<std::uint8_t> mid(10);
  EXPECT_EQ(store_->read(f.ino, kChunkSize - 5, mid), 10u);
  EXPECT_TRUE(std::equal(mid.begin(), mid.end(), data.begin() + kChunkSize - 5));
}

TEST_F(FileStoreTest, HolesReadAsZerosAndTruncateWorksBothWays) {
  Inode f = file("sparse");
  std::vector<std::uint8_t> x{1, 2, 3};
  std::uint64_t far = 5ull * 1024 * 1024 * 1024 + 123;  // past 4 GiB
  store_->write(f.ino, far, x);
  EXPECT_EQ(store_->get(f.ino).size, far + 3);
  std::vector<std::uint8_t> hole(1000, 0xff);
  EXPECT_EQ(store_->read(f.ino, 1 << 20, hole), 1000u);
  EXPECT_TRUE(std::all_of(hole.begin(), hole.end(), [](auto b) { return b == 0; }));
  std::vector<std::uint8_t> tail(3);
  store_->read(f.ino, far, tail);
  EXPECT_EQ(tail, x);
  Inode g = file("t");
  auto data = random_bytes(2 * kChunkSize + 10, 2);
  store_->write(g.ino, 0, data);
  SetAttr shrink;
  shrink.size = kChunkSize + 3;
  store_->setattr(g.ino, shrink);
  reopen();
  auto got = read_all(g.ino);
  ASSERT_EQ(got.size(), kChunkSize + 3);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin()));
  SetAttr grow;
  grow.size = kChunkSize + 100;
  store_->setattr(g.ino, grow);
  got = read_all(g.ino);
  EXPECT_TRUE(std::all_of(got.begin() + kChunkSize + 3, got.end(), [](auto b) { return b == 0; }));
  EXPECT_EQ(store_->bytes_used(), far + 3 + kChunkSize + 100);
}

TEST_F(FileStoreTest, DirectoriesNamesAndLinks) {
  Inode d = store_->make_node(kFilesRootIno, "d", S_IFDIR | 0755, kMounterId, kMounterId);
  EXPECT_EQ(store_->get(kFilesRootIno).nlink, 3u);
  Inode f = file("x", d.ino);
  EXPECT_EQ(test::errc_of([&] { file("x", d.ino); }), std::errc::file_exists);
  EXPECT_EQ(test::errc_of([&] { file(std::string(256, 'n')); }), std::errc::filename_too_long);
  EXPECT_EQ(test::errc_of([] {}), std::errc{});
  file(std::string(255, 'n'));
  EXPECT_EQ(test::errc_of([&] { store_->rmdir(kFilesRootIno, "d"); }), std::errc::directory_not_empty);
  EXPECT_EQ(test::errc_of([&] { store_->unlink(kFilesRootIno, "d"); }), std::errc::is_a_directory);
  Inode l = store_->link(f.ino, kFilesRootIno, "hard");
  EXPECT_EQ(l.nlink, 2u);
  Inode s = store_->make_node(kFilesRootIno, "sym", S_IFLNK | 0777, kMounterId, kMounterId, 0, "d/x");
  EXPECT_EQ(store_->readlink(s.ino), "d/x");
  EXPECT_EQ(store_->unlink(d.ino, "x").nlink, 1u);
  store_->rmdir(kFilesRootIno, "d");
  EXPECT_FALSE(store_->lookup(kFilesRootIno, "d").has_value());
  auto names = store_->readdir(kFilesRootIno, 0, 100);
  ASSERT_EQ(names.size(), 3u);
  // readdir resumes after a cookie.
  auto rest = store_->readdir(kFilesRootIno, names[0].cookie, 100);
  EXPECT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].name, names[1].name);
}

TEST_F(FileStoreTest, RenameRules) {
  Inode a = store_->make_node(kFilesRootIno, "a", S_IFDIR | 0755, kMounterId, kMounterId);
  Inode b = store_->make_node(kFilesRootIno, "b", S_IFDIR | 0755, kMounterId, kMounterId);
  Inode f = file("f", a.ino);
  Inode g = file("g", b.ino);
  EXPECT_EQ(test::errc_of([&] { store_->rename(a.ino, "f", b.ino, "g", RENAME_NOREPLACE); }), std::errc::file_exists);
  auto replaced = store_->rename(a.ino, "f", b.ino, "g", 0);
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->ino, g.ino);
  EXPECT_EQ(replaced->nlink, 0u);
  EXPECT_EQ(store_->lookup(b.ino, "g")->ino, f.ino);
  EXPECT_EQ(test::errc_of([&] { store_->rename(kFilesRootIno, "a", a.ino, "inside", 0); }),
            std::errc::invalid_argument);
  store_->rename(kFilesRootIno, "a", b.ino, "a2", 0);
  EXPECT_EQ(store_->get(kFilesRootIno).nlink, 3u);
  EXPECT_EQ(store_->get(b.ino).nlink, 3u);
  EXPECT_EQ(store_->parent_of(a.ino), b.ino);
  store_->make_node(kFilesRootIno, "c", S_IFDIR | 0755, kMounterId, kMounterId);
  EXPECT_EQ(test::errc_of([&] { store_->rename(kFilesRootIno, "c", kFilesRootIno, "b", 0); }),
            std::errc::directory_not_empty);
  EXPECT_EQ(test::errc_of([&] { store_->rename(b.ino, "g", kFilesRootIno, "c", 0); }), std::errc::is_a_directory);
  store_->rename(b.ino, "g", kFilesRootIno, "h", RENAME_NOREPLACE);
  store_->rename(kFilesRootIno, "h", kFilesRootIno, "c", RENAME_EXCHANGE);
  EXPECT_TRUE(store_->lookup(kFilesRootIno, "h")->is_dir());
  EXPECT_FALSE(store_->lookup(kFilesRootIno, "c")->is_dir());
}

TEST_F(FileStoreTest, UnlinkedInodeLivesUntilRemovedAndOrphansAreCleaned) {
  Inode f = file("f");
  auto data = random_bytes(1000, 3);
  store_->write(f.ino, 0, data);
  store_->unlink(kFilesRootIno, "f");
  EXPECT_EQ(read_all(f.ino), data);  // still readable by number (an open handle)
  reopen();                          // a crash before release: an orphan
  EXPECT_EQ(store_->remove_orphans(), 1u);
  EXPECT_EQ(test::errc_of([&] { store_->get(f.ino); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(coffer_->database().query_int64("SELECT count(*) FROM chunks"), 0);
}

TEST_F(FileStoreTest, ChunkCounterNeverGoesBack) {
  auto max_counter = [&] { return coffer_->database().query_int64("SELECT ifnull(max(counter), 0) FROM chunks"); };
  Inode f = file("f");
  store_->write(f.ino, 0, random_bytes(10, 6));
  store_->commit();
  std::int64_t used = max_counter();
  store_->unlink(kFilesRootIno, "f");
  store_->remove_if_unlinked(f.ino);
  reopen();  // no chunk left: the counter must come from the high-water mark
  Inode g = file("g");
  store_->write(g.ino, 0, random_bytes(10, 7));
  store_->commit();
  EXPECT_GT(max_counter(), used);
}

TEST_F(FileStoreTest, TamperedOrZeroedChunkIsAnErrorNeverData) {
  Inode f = file("f");
  store_->write(f.ino, 0, random_bytes(kChunkSize, 4));
  Inode g = file("g");
  store_->write(g.ino, 0, random_bytes(kChunkSize, 5));
  reopen();
  auto db_exec = [&](const std::string& sql) { coffer_->database().exec(sql); };
  auto expect_damaged = [&](const char* what) {
    reopen();
    std::vector<std::uint8_t> out(kChunkSize);
    try {
      store_->read(f.ino, 0, out);
      ADD_FAILURE() << what << ": read returned data";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDamaged) << what;
    }
  };
  // The content zeroed (what a zeroed last overflow page reads back as).
  db_exec("UPDATE chunks SET data = zeroblob(length(data)) WHERE ino = " + std::to_string(f.ino));
  expect_damaged("zeroed content");
  // Another file's chunk swapped in (with its valid MAC).
  db_exec("UPDATE chunks SET data = (SELECT data FROM chunks WHERE ino = " + std::to_string(g.ino) +
          "), mac = (SELECT mac FROM chunks WHERE ino = " + std::to_string(g.ino) +
          "), counter = (SELECT counter FROM chunks WHERE ino = " + std::to_string(g.ino) +
          ") WHERE ino = " + std::to_string(f.ino));
  expect_damaged("moved chunk");
  db_exec("UPDATE chunks SET data = substr(data, 1, 100) WHERE ino = " + std::to_string(f.ino));
  expect_damaged("shortened chunk");
}

TEST(FileStoreDiskFull, AFailedOperationLeavesNothingHalfDoneAndTheStoreGoesOn) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs (CI runs as root)";
  test::SmallTmpfs mnt("3m");
  ASSERT_TRUE(mnt.mounted());
  test::FixedClock clock{1795000000};
  CreateParams p = test::CreateParamsBuilder().owner("x").expires(1795000000 + 3650 * 86400).build();
  auto path = mnt.path() / "full.coffer";
  Coffer::create(path, p, passphrase("pw"), keystore::system_random(), clock);
  std::vector<std::uint8_t> block(kChunkSize, 0x5a);
  std::uint64_t kept_ino = 0;
  {
    Coffer c = Coffer::unlock(path, passphrase("pw"), keystore::system_random());
    FileStore store(c.database(), c.chunk_mac_key(), clock);
    Inode kept = store.make_node(kFilesRootIno, "kept", S_IFREG | 0644, kMounterId, kMounterId);
    kept_ino = kept.ino;
    store.write(kept.ino, 0, block);
    store.commit();
    Inode big = store.make_node(kFilesRootIno, "big", S_IFREG | 0644, kMounterId, kMounterId);
    bool full = false;
    for (int i = 0; i < 200 && !full; ++i) {
      try {
        store.write(big.ino, static_cast<std::uint64_t>(i) * kChunkSize, block);
        if (i % 4 == 3) store.commit();
      } catch (const Error& e) {
        full = true;
        EXPECT_EQ(e.code(), ErrorCode::kNoSpace) << e.what();
      }
    }
    ASSERT_TRUE(full);
    // Reads still work; further changes are refused (fail-stop), so nothing
    // is built on a transaction SQLite has rolled back.
    EXPECT_TRUE(store.failed());
    EXPECT_TRUE(store.lookup(kFilesRootIno, "kept").has_value());
    try {
      store.make_node(kFilesRootIno, "after", S_IFREG | 0644, kMounterId, kMounterId);
      ADD_FAILURE() << "a change was accepted after the failure";
    } catch (const Error& e) {
      // Still "disk full" (ENOSPC), not a vague I/O error.
      EXPECT_EQ(e.code(), ErrorCode::kNoSpace) << e.what();
    }
  }
  // Whatever was committed reads back intact; the coffer checks clean.
  Coffer c = Coffer::unlock(path, passphrase("pw"), keystore::system_random());
  auto report = c.check();
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  FileStore store(c.database(), c.chunk_mac_key(), clock);
  std::vector<std::uint8_t> out(kChunkSize);
  ASSERT_EQ(store.read(kept_ino, 0, out), kChunkSize);
  EXPECT_EQ(out, block);
  if (auto big = store.lookup(kFilesRootIno, "big")) {
    std::vector<std::uint8_t> all(big->size);
    EXPECT_EQ(store.read(big->ino, 0, all), big->size);  // every stored chunk verifies
  }
}

TEST_F(FileStoreTest, PathOfFollowsNamesUpToTheFilesRoot) {
  EXPECT_EQ(store_->path_of(kFilesRootIno), "");
  Inode notes = store_->make_node(kFilesRootIno, "notes", S_IFDIR | 0755, kMounterId, kMounterId);
  Inode trip = store_->make_node(notes.ino, "trip", S_IFDIR | 0755, kMounterId, kMounterId);
  Inode f = file("day 1.txt", trip.ino);
  EXPECT_EQ(store_->path_of(notes.ino), "notes");
  EXPECT_EQ(store_->path_of(f.ino), "notes/trip/day 1.txt");
  store_->rename(notes.ino, "trip", kFilesRootIno, "visit", 0);
  EXPECT_EQ(store_->path_of(f.ino), "visit/day 1.txt");
  // Another name for the file: one of its names, either way a path to it.
  store_->link(f.ino, kFilesRootIno, "hard");
  auto either = store_->path_of(f.ino);
  EXPECT_TRUE(either == "visit/day 1.txt" || either == "hard") << either.value_or("(none)");
  store_->unlink(kFilesRootIno, "hard");
  EXPECT_EQ(store_->path_of(f.ino), "visit/day 1.txt");
  // Unlinked while open: no name leads to it.
  store_->unlink(trip.ino, "day 1.txt");
  EXPECT_EQ(store_->path_of(f.ino), std::nullopt);
  EXPECT_EQ(store_->path_of(987654), std::nullopt);
}

}  // namespace
}  // namespace coffer::vault

namespace coffer::vault {
namespace {

// fsck and the pages past the database's end (issue 14, item 11): what an
// interrupted commit leaves (pages SQLite wrote there under this coffer's
// key, before the truncation that follows the commit point) is a note;
// page-aligned zero pages appended (which fsck used to accept, 64 GiB of
// them) or random pages are damage, whatever their number.
class TailTest : public FileStoreTest {
 protected:
  FsckReport check_after(const std::vector<std::uint8_t>& file) {
    store_.reset();
    coffer_.reset();
    test::write_bytes(path_, file);
    coffer_.emplace(Coffer::unlock(path_, passphrase("pw"), keystore::system_random()));
    FsckReport r = coffer_->check();
    coffer_.reset();
    return r;
  }
  static bool mentions(const std::vector<std::string>& lines, const std::string& what) {
    return std::any_of(lines.begin(), lines.end(), [&](auto& l) { return l.find(what) != std::string::npos; });
  }
};

TEST_F(TailTest, WhatAnInterruptedCommitLeavesIsANoteZeroPagesAreDamage) {
  Inode f = file("big");
  store_->write(f.ino, 0, random_bytes(8 * kChunkSize, 7));
  reopen();
  const auto grown = test::read_bytes(path_);
  store_->unlink(kFilesRootIno, "big");
  store_->remove_if_unlinked(f.ino);
  reopen();
  const auto shrunk = test::read_bytes(path_);
  ASSERT_LT(shrunk.size() + 4 * 16384, grown.size()) << "the delete did not shrink the file";
  const std::size_t tail = grown.size() - shrunk.size();

  // As a crash between the commit point and the truncation leaves it: the
  // pages SQLite wrote at those positions before.
  auto interrupted = shrunk;
  interrupted.insert(interrupted.end(), grown.begin() + static_cast<std::ptrdiff_t>(shrunk.size()), grown.end());
  FsckReport r = check_after(interrupted);
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
  EXPECT_TRUE(mentions(r.notes, "unused pages past the end")) << "no note";

  // The same number of page-aligned zero pages: appended, not written.
  auto zeros = shrunk;
  zeros.resize(shrunk.size() + tail, 0);
  r = check_after(zeros);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(mentions(r.problems, "appended or lost")) << "zero pages accepted";

  // One zero page after genuine ones is enough to refuse the tail.
  auto mixed = interrupted;
  mixed.resize(interrupted.size() + 16384, 0);
  r = check_after(mixed);
  EXPECT_FALSE(r.ok());

  // Genuine pages moved to another position do not authenticate there.
  auto moved = shrunk;
  moved.insert(moved.end(), grown.begin() + static_cast<std::ptrdiff_t>(shrunk.size() + 16384), grown.end());
  moved.insert(moved.end(), grown.begin() + static_cast<std::ptrdiff_t>(shrunk.size()),
               grown.begin() + static_cast<std::ptrdiff_t>(shrunk.size() + 16384));
  r = check_after(moved);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace coffer::vault
