// fusefs: the filesystem operations in-process (no kernel): the generated
// top level, ownership, setgid inheritance, device-node refusal, lookup
// counts keeping unlinked files alive, and refusal after lock.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "coffer/fusefs/daemon.h"
#include "coffer/fusefs/filesystem.h"
#include "coffer/vault/coffer.h"
#include "test_support.h"

namespace coffer::fusefs {
namespace {

using vault::FsError;
using vault::kFilesRootIno;

constexpr std::uint32_t kUid = 1000, kGid = 1000;

class FilesystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault::CreateParams p{"trip", "Ms Smith", 1795000000 + 86400, keystore::KdfCost::kTest, {}, {}, {}, "standard", "", false, {}};
    auto path = dir_ / "f.coffer";
    vault::Coffer::create(path, p, test::passphrase("pw"), keystore::system_random(), clock_);
    coffer_.emplace(vault::Coffer::unlock(path, test::passphrase("pw"), keystore::system_random()));
    store_.emplace(coffer_->database(), coffer_->chunk_mac_key(), clock_);
    MountInfo info{kUid, kGid, false, readme_text(coffer_->header(), std::chrono::seconds(900))};
    fs_.emplace(*store_, info);
  }
  Caller me_{kUid, kGid, 1};
  test::TempDir dir_;
  test::FixedClock clock_{1795000000};
  std::optional<vault::Coffer> coffer_;
  std::optional<vault::FileStore> store_;
  std::optional<Filesystem> fs_;
};

TEST_F(FilesystemTest, TopLevelIsGeneratedAndReadOnly) {
  auto names = fs_->readdir(kRootIno, 0, 10);
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[2].name, "README.txt");
  EXPECT_EQ(names[3].name, "files");
  vault::Inode readme = fs_->lookup(kRootIno, "README.txt");
  EXPECT_EQ(readme.mode, S_IFREG | 0400u);
  std::vector<std::uint8_t> buf(readme.size);
  fs_->open(readme.ino, O_RDONLY);
  ASSERT_EQ(fs_->read(readme.ino, 0, buf), readme.size);
  std::string text(buf.begin(), buf.end());
  EXPECT_NE(text.find("Ms Smith"), std::string::npos);
  EXPECT_NE(text.find("lost or stolen"), std::string::npos);
  EXPECT_EQ(test::errc_of([&] { fs_->open(readme.ino, O_WRONLY); }), std::errc::permission_denied);
  EXPECT_EQ(test::errc_of([&] { fs_->mkdir(me_, kRootIno, "x", 0755); }), std::errc::permission_denied);
  EXPECT_EQ(test::errc_of([&] { fs_->create(me_, kRootIno, "x", 0644, O_WRONLY); }), std::errc::permission_denied);
  vault::Inode files = fs_->lookup(kRootIno, "files");
  EXPECT_EQ(files.uid, kUid);  // stored as "the mounter", shown as the mounting user
  EXPECT_TRUE(S_ISDIR(files.mode));
}

TEST_F(FilesystemTest, OwnershipFollowsTheCallerAndSetgidDirectories) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "mine", 0644, O_WRONLY);
  EXPECT_EQ(f.uid, kUid);
  EXPECT_EQ(store_->get(f.ino).uid, vault::kMounterId);
  Caller other{2000, 3000, 2};
  vault::Inode g = fs_->create(other, kFilesRootIno, "theirs", 0644, O_WRONLY);
  EXPECT_EQ(g.uid, 2000u);
  EXPECT_EQ(g.gid, 3000u);
  vault::Inode d = fs_->mkdir(me_, kFilesRootIno, "shared", 0775);
  vault::SetAttr sgid;
  sgid.mode = 02775;
  sgid.gid = 100;
  fs_->setattr(me_, d.ino, sgid);
  vault::Inode in = fs_->create(other, d.ino, "x", 0644, O_WRONLY);
  EXPECT_EQ(in.gid, 100u);
  vault::Inode sub = fs_->mkdir(other, d.ino, "sub", 0755);
  EXPECT_EQ(sub.gid, 100u);
  EXPECT_TRUE(sub.mode & S_ISGID);
}

TEST_F(FilesystemTest, DeviceNodesAreRefusedFifosAllowed) {
  EXPECT_EQ(test::errc_of([&] { fs_->mknod(me_, kFilesRootIno, "dev", S_IFCHR | 0600, makedev(1, 3)); }),
            std::errc::operation_not_permitted);
  EXPECT_EQ(test::errc_of([&] { fs_->mknod(me_, kFilesRootIno, "blk", S_IFBLK | 0600, makedev(8, 0)); }),
            std::errc::operation_not_permitted);
  EXPECT_TRUE(S_ISFIFO(fs_->mknod(me_, kFilesRootIno, "fifo", S_IFIFO | 0600, 0).mode));
  EXPECT_TRUE(S_ISSOCK(fs_->mknod(me_, kFilesRootIno, "sock", S_IFSOCK | 0600, 0).mode));
}

TEST_F(FilesystemTest, UnlinkedOpenFileLivesUntilReleaseAndForget) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "f", 0644, O_RDWR);
  std::vector<std::uint8_t> data{1, 2, 3, 4};
  fs_->write(f.ino, 0, data);
  fs_->unlink(kFilesRootIno, "f");
  std::vector<std::uint8_t> back(4);
  EXPECT_EQ(fs_->read(f.ino, 0, back), 4u);  // the open handle still reads
  EXPECT_EQ(back, data);
  fs_->release(f.ino);
  EXPECT_NO_THROW(store_->get(f.ino));  // the kernel still holds a lookup
  fs_->forget(f.ino, 1);
  EXPECT_EQ(test::errc_of([&] { store_->get(f.ino); }), std::errc::no_such_file_or_directory);
}

TEST_F(FilesystemTest, LockCommitsThenRefusesEverything) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "f", 0644, O_RDWR);
  std::vector<std::uint8_t> data(1000, 7);
  fs_->write(f.ino, 0, data);
  EXPECT_TRUE(store_->dirty());
  fs_->lock();
  EXPECT_FALSE(store_->dirty());
  EXPECT_TRUE(fs_->locked());
  EXPECT_EQ(test::errc_of([&] { fs_->getattr(f.ino); }), std::errc::io_error);
  std::vector<std::uint8_t> out(10);
  EXPECT_EQ(test::errc_of([&] { fs_->read(f.ino, 0, out); }), std::errc::io_error);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kRootIno, "files"); }), std::errc::io_error);
  EXPECT_FALSE(fs_->commit());
}

TEST_F(FilesystemTest, ReleaseOfAWrittenFileRequestsACommitReadsDoNotWrite) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "f", 0644, O_RDWR);
  std::vector<std::uint8_t> data(100, 1);
  fs_->write(f.ino, 0, data);
  EXPECT_FALSE(fs_->commit_requested());
  fs_->release(f.ino);
  EXPECT_TRUE(fs_->commit_requested());
  EXPECT_TRUE(fs_->commit());
  EXPECT_FALSE(fs_->commit_requested());
  EXPECT_FALSE(store_->dirty());
  // Reading opens no write transaction (noatime).
  fs_->open(f.ino, O_RDONLY);
  std::vector<std::uint8_t> out(100);
  fs_->read(f.ino, 0, out);
  fs_->release(f.ino);
  EXPECT_FALSE(store_->dirty());
  EXPECT_FALSE(fs_->commit_requested());
}

TEST_F(FilesystemTest, ReadOnlyRefusesChanges) {
  MountInfo ro{kUid, kGid, true, "x"};
  Filesystem rofs(*store_, ro);
  EXPECT_EQ(test::errc_of([&] { rofs.mkdir(me_, kFilesRootIno, "d", 0755); }), std::errc::read_only_file_system);
}

}  // namespace
}  // namespace coffer::fusefs
