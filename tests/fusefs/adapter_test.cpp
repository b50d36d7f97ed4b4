// fusefs: the libfuse adapter in-process, linked against fakes of libfuse
// (tests/support/fake_fuse.cpp) instead of the library: every operation's
// reply on success, and on failure the errno its error maps to (ENOENT,
// EACCES, EROFS, EIO once locked, ...), exactly one reply per request,
// without a kernel or a mount.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cerrno>
#include <functional>
#include <iterator>
#include <optional>

#include "coffer/error.h"
#include "coffer/fusefs/filesystem.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/records/records.h"
#include "fake_fuse.h"
#include "session.h"
#include "test_support.h"

namespace coffer::fusefs {
namespace {

using test::fake_fuse;
using test::Reply;
using test::ReplyKind;
using vault::kFilesRootIno;

constexpr std::uint32_t kUid = 1000, kGid = 1000;
constexpr std::int64_t kNow = 1795000000;

class AdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::reset_fake_fuse();
    vault::CreateParams p = test::CreateParamsBuilder().expires(kNow + 3650 * 86400).build();
    p.profile_fields = {"names", "year_group", "reg_group"};
    auto path = dir_ / "a.coffer";
    vault::Coffer::create(path, p, test::passphrase("pw"), keystore::system_random(), clock_);
    coffer_.emplace(vault::Coffer::unlock(path, test::passphrase("pw"), keystore::system_random()));
    vault::Pupil ada;
    ada.key = "P1";
    ada.surname = "Adams";
    ada.forename = "Ada";
    vault::RecordStore(coffer_->database()).import({ada}, {kNow, "it-admin", "coffer-csv", "export", 1, {}, {}, {}});
    store_.emplace(coffer_->database(), coffer_->chunk_mac_key(), clock_);
    mount(false);
  }
  void mount(bool read_only) {
    session_.reset();
    fs_.reset();
    MountInfo info{kUid, kGid, read_only, "Read me.\n", "a.coffer", 0};
    fs_.emplace(*store_, coffer_->database(), info);
    session_.emplace(*fs_, "default_permissions", [] {
      StatFs s;
      s.block_size = 512;
      s.blocks = 1000;
      s.blocks_free = 600;
      s.blocks_avail = 500;
      return s;
    });
    ops_ = fake_fuse().ops;
  }
  // Sends one request through an operation of the table and returns its reply.
  template <class Op, class... Args>
  Reply call(Op op, Args... args) {
    fuse_req req;
    op(&req, args...);
    EXPECT_EQ(req.reply.replies, 1) << "each request is answered exactly once";
    return req.reply;
  }
  static int err_of(const Reply& r) { return r.kind == ReplyKind::kErr ? r.err : -1; }
  Reply lookup(fuse_ino_t parent, const char* name) { return call(ops_.lookup, parent, name); }
  // A file in files/ with the given contents, its handle released.
  fuse_ino_t make_file(const char* name, const std::string& contents = "") {
    fuse_file_info fi{};
    fi.flags = O_WRONLY;
    Reply r = call(ops_.create, fuse_ino_t{kFilesRootIno}, name, mode_t{0644}, &fi);
    EXPECT_EQ(r.kind, ReplyKind::kCreate);
    fuse_ino_t ino = r.entry.ino;
    if (!contents.empty()) call(ops_.write, ino, contents.data(), contents.size(), off_t{0}, &fi);
    call(ops_.release, ino, &fi);
    return ino;
  }

  test::TempDir dir_;
  test::FixedClock clock_{kNow};
  std::optional<vault::Coffer> coffer_;
  std::optional<vault::FileStore> store_;
  std::optional<Filesystem> fs_;
  std::optional<FuseSession> session_;
  fuse_lowlevel_ops ops_{};
};

TEST_F(AdapterTest, SessionRegistersEveryOperationAndPassesTheOptions) {
  EXPECT_EQ(fake_fuse().args, (std::vector<std::string>{"coffer", "-o", "default_permissions"}));
  const bool registered[] = {
      ops_.init != nullptr,     ops_.lookup != nullptr,     ops_.forget != nullptr,   ops_.forget_multi != nullptr,
      ops_.getattr != nullptr,  ops_.setattr != nullptr,    ops_.readlink != nullptr, ops_.mknod != nullptr,
      ops_.mkdir != nullptr,    ops_.unlink != nullptr,     ops_.rmdir != nullptr,    ops_.symlink != nullptr,
      ops_.rename != nullptr,   ops_.link != nullptr,       ops_.open != nullptr,     ops_.create != nullptr,
      ops_.read != nullptr,     ops_.write != nullptr,      ops_.flush != nullptr,    ops_.release != nullptr,
      ops_.fsync != nullptr,    ops_.opendir != nullptr,    ops_.readdir != nullptr,  ops_.releasedir != nullptr,
      ops_.fsyncdir != nullptr, ops_.statfs != nullptr,     ops_.getxattr != nullptr, ops_.listxattr != nullptr,
      ops_.setxattr != nullptr, ops_.removexattr != nullptr};
  for (std::size_t i = 0; i < std::size(registered); ++i) EXPECT_TRUE(registered[i]) << i;
  fuse_conn_info conn{};
  conn.want = FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_ASYNC_READ;
  ops_.init(fake_fuse().userdata, &conn);
  EXPECT_EQ(conn.max_write, 1u << 20);
  EXPECT_EQ(conn.want & FUSE_CAP_WRITEBACK_CACHE, 0u);  // page cache kept coherent with the guard's checks
  EXPECT_NE(conn.want & FUSE_CAP_ASYNC_READ, 0u);
}

TEST_F(AdapterTest, SessionMountRunInvalidateUnmount) {
  fake_fuse().mount_result = -1;
  try {
    session_->mount("/mnt/x");
    ADD_FAILURE() << "a refused mount must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
  EXPECT_FALSE(fake_fuse().mounted);
  fake_fuse().mount_result = 0;
  session_->mount("/mnt/x");
  EXPECT_EQ(fake_fuse().mountpoint, "/mnt/x");
  EXPECT_TRUE(fake_fuse().mounted);
  session_->run();
  EXPECT_EQ(fake_fuse().loops, 1);
  session_->invalidate(77);
  EXPECT_EQ(fake_fuse().invalidated, std::vector<std::uint64_t>{77});
  session_->unmount();
  EXPECT_FALSE(fake_fuse().mounted);
  session_->unmount();  // idempotent
  session_->mount("/mnt/x");
  session_.reset();  // the destructor unmounts and destroys
  EXPECT_FALSE(fake_fuse().mounted);
  EXPECT_EQ(fake_fuse().destroyed, 1);
}

TEST_F(AdapterTest, ABadSessionIsAnError) {
  fake_fuse().fail_session_new = true;
  try {
    FuseSession s(*fs_, "nonsense", [] { return StatFs{}; });
    ADD_FAILURE() << "fuse_session_new failing must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOther);
  }
}

TEST_F(AdapterTest, LookupRepliesEntriesWithCacheTimesByKind) {
  Reply files = lookup(kRootIno, "files");
  ASSERT_EQ(files.kind, ReplyKind::kEntry);
  EXPECT_EQ(files.entry.ino, kFilesRootIno);
  EXPECT_EQ(files.entry.attr.st_ino, kFilesRootIno);
  EXPECT_TRUE(S_ISDIR(files.entry.attr.st_mode));
  EXPECT_EQ(files.entry.attr.st_uid, kUid);
  EXPECT_EQ(files.entry.generation, 1u);
  EXPECT_EQ(files.entry.entry_timeout, 1.0);
  EXPECT_EQ(files.entry.attr_timeout, 1.0);
  Reply readme = lookup(kRootIno, "README.txt");
  ASSERT_EQ(readme.kind, ReplyKind::kEntry);
  EXPECT_EQ(readme.entry.attr.st_size, 9);
  EXPECT_EQ(readme.entry.entry_timeout, 1.0);  // static: the kernel may cache it
  Reply roster = lookup(kRootIno, "roster.csv");
  ASSERT_EQ(roster.kind, ReplyKind::kEntry);
  EXPECT_EQ(roster.entry.ino, kRosterIno);
  EXPECT_EQ(roster.entry.entry_timeout, 0.0);  // follows the database
  EXPECT_EQ(roster.entry.attr_timeout, 0.0);

  EXPECT_EQ(err_of(lookup(kRootIno, "nothing")), ENOENT);
  EXPECT_EQ(err_of(lookup(kRosterIno, "x")), ENOTDIR);
  EXPECT_EQ(err_of(lookup(kFilesRootIno, std::string(300, 'n').c_str())), ENAMETOOLONG);
}

TEST_F(AdapterTest, GetattrAndSetattr) {
  fuse_ino_t f = make_file("f", "hello");
  Reply a = call(ops_.getattr, f, static_cast<fuse_file_info*>(nullptr));
  ASSERT_EQ(a.kind, ReplyKind::kAttr);
  EXPECT_EQ(a.attr.st_ino, f);
  EXPECT_EQ(a.attr.st_size, 5);
  EXPECT_EQ(a.attr.st_blocks, 1);
  EXPECT_EQ(a.attr.st_blksize, 4096);
  EXPECT_EQ(a.attr_timeout, 1.0);
  EXPECT_EQ(call(ops_.getattr, fuse_ino_t{kRosterIno}, static_cast<fuse_file_info*>(nullptr)).attr_timeout, 0.0);
  EXPECT_EQ(err_of(call(ops_.getattr, fuse_ino_t{kVirtualBase + 99}, static_cast<fuse_file_info*>(nullptr))), ENOENT);

  struct stat st {};
  st.st_mode = 0600;
  st.st_size = 2;
  Reply s = call(ops_.setattr, f, &st, FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_SIZE, static_cast<fuse_file_info*>(nullptr));
  ASSERT_EQ(s.kind, ReplyKind::kAttr);
  EXPECT_EQ(s.attr.st_mode, S_IFREG | 0600u);
  EXPECT_EQ(s.attr.st_size, 2);
  st.st_mtim = {kNow - 100, 5};
  st.st_atim = {kNow - 200, 0};
  Reply t =
      call(ops_.setattr, f, &st, FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME, static_cast<fuse_file_info*>(nullptr));
  ASSERT_EQ(t.kind, ReplyKind::kAttr);
  EXPECT_EQ(t.attr.st_mtim.tv_sec, kNow - 100);
  EXPECT_EQ(t.attr.st_mtim.tv_nsec, 5);
  EXPECT_EQ(t.attr.st_atim.tv_sec, kNow - 200);
  Reply now = call(ops_.setattr, f, &st, FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_ATIME_NOW,
                   static_cast<fuse_file_info*>(nullptr));
  ASSERT_EQ(now.kind, ReplyKind::kAttr);
  EXPECT_EQ(now.attr.st_mtim.tv_sec, kNow);
  st.st_uid = 2000;
  st.st_gid = 3000;
  Reply own = call(ops_.setattr, f, &st, FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID, static_cast<fuse_file_info*>(nullptr));
  EXPECT_EQ(own.attr.st_uid, 2000u);
  EXPECT_EQ(own.attr.st_gid, 3000u);
  EXPECT_EQ(err_of(call(ops_.setattr, fuse_ino_t{kRosterIno}, &st, FUSE_SET_ATTR_SIZE,
                        static_cast<fuse_file_info*>(nullptr))),
            EPERM);
}

TEST_F(AdapterTest, ExtendedAttributes) {
  fuse_ino_t f = make_file("f");
  const char* name = kExpiresXattr;
  EXPECT_EQ(err_of(call(ops_.getxattr, f, name, size_t{100})), ENODATA);
  Reply none = call(ops_.listxattr, f, size_t{0});
  EXPECT_EQ(none.kind, ReplyKind::kXattrSize);
  EXPECT_EQ(none.size, 0u);
  std::string day = vault::local_day(kNow + 86400);
  EXPECT_EQ(err_of(call(ops_.setxattr, f, name, day.c_str(), day.size(), 0)), 0);
  Reply size = call(ops_.getxattr, f, name, size_t{0});
  ASSERT_EQ(size.kind, ReplyKind::kXattrSize);
  EXPECT_EQ(size.size, day.size());
  EXPECT_EQ(err_of(call(ops_.getxattr, f, name, size_t{3})), ERANGE);
  Reply value = call(ops_.getxattr, f, name, size_t{100});
  ASSERT_EQ(value.kind, ReplyKind::kBuf);
  EXPECT_EQ(value.data, day);
  Reply list = call(ops_.listxattr, f, size_t{100});
  ASSERT_EQ(list.kind, ReplyKind::kBuf);
  EXPECT_EQ(list.data, std::string(kExpiresXattr) + '\0');
  EXPECT_EQ(call(ops_.listxattr, f, size_t{0}).size, list.data.size());
  EXPECT_EQ(err_of(call(ops_.listxattr, f, size_t{1})), ERANGE);

  const std::string later = vault::local_day(kNow + 5 * 86400);
  EXPECT_EQ(err_of(call(ops_.setxattr, f, name, later.c_str(), later.size(), 0)), EPERM);  // never longer
  EXPECT_EQ(err_of(call(ops_.setxattr, f, name, "soon", size_t{4}, 0)), EINVAL);
  EXPECT_EQ(err_of(call(ops_.setxattr, f, name, day.c_str(), day.size(), XATTR_CREATE)), EEXIST);
  EXPECT_EQ(err_of(call(ops_.setxattr, f, "user.other", "x", size_t{1}, 0)), ENOTSUP);
  EXPECT_EQ(err_of(call(ops_.setxattr, fuse_ino_t{kRosterIno}, name, day.c_str(), day.size(), 0)), EACCES);
  EXPECT_EQ(err_of(call(ops_.removexattr, f, name)), EPERM);
  EXPECT_EQ(err_of(call(ops_.removexattr, f, "user.other")), ENODATA);
}

TEST_F(AdapterTest, NodesAreMadeAndRemoved) {
  Reply d = call(ops_.mkdir, fuse_ino_t{kFilesRootIno}, "d", mode_t{0755});
  ASSERT_EQ(d.kind, ReplyKind::kEntry);
  EXPECT_TRUE(S_ISDIR(d.entry.attr.st_mode));
  EXPECT_EQ(d.entry.attr.st_uid, kUid);
  EXPECT_EQ(err_of(call(ops_.mkdir, fuse_ino_t{kFilesRootIno}, "d", mode_t{0755})), EEXIST);
  EXPECT_EQ(err_of(call(ops_.mkdir, fuse_ino_t{kRootIno}, "x", mode_t{0755})), EACCES);

  Reply fifo = call(ops_.mknod, fuse_ino_t{d.entry.ino}, "fifo", mode_t{S_IFIFO | 0600}, dev_t{0});
  ASSERT_EQ(fifo.kind, ReplyKind::kEntry);
  EXPECT_TRUE(S_ISFIFO(fifo.entry.attr.st_mode));
  EXPECT_EQ(err_of(call(ops_.mknod, fuse_ino_t{kFilesRootIno}, "null", mode_t{S_IFCHR | 0600}, makedev(1, 3))), EPERM);

  Reply sym = call(ops_.symlink, "d/fifo", fuse_ino_t{kFilesRootIno}, "link");
  ASSERT_EQ(sym.kind, ReplyKind::kEntry);
  Reply target = call(ops_.readlink, sym.entry.ino);
  ASSERT_EQ(target.kind, ReplyKind::kReadlink);
  EXPECT_EQ(target.data, "d/fifo");
  EXPECT_EQ(err_of(call(ops_.readlink, d.entry.ino)), EINVAL);

  Reply hard = call(ops_.link, fifo.entry.ino, fuse_ino_t{kFilesRootIno}, "hard");
  ASSERT_EQ(hard.kind, ReplyKind::kEntry);
  EXPECT_EQ(hard.entry.attr.st_nlink, 2u);
  EXPECT_EQ(err_of(call(ops_.link, fuse_ino_t{kRosterIno}, fuse_ino_t{kFilesRootIno}, "r")), EPERM);

  EXPECT_EQ(err_of(call(ops_.rename, fuse_ino_t{kFilesRootIno}, "hard", fuse_ino_t{kFilesRootIno}, "hard2", 0u)), 0);
  EXPECT_EQ(err_of(call(ops_.rename, fuse_ino_t{kFilesRootIno}, "link", fuse_ino_t{kFilesRootIno}, "hard2",
                        unsigned{RENAME_NOREPLACE})),
            EEXIST);
  EXPECT_EQ(err_of(call(ops_.rename, fuse_ino_t{kFilesRootIno}, "d", fuse_ino_t{kPupilsIno}, "d", 0u)), EACCES);

  EXPECT_EQ(err_of(call(ops_.rmdir, fuse_ino_t{kFilesRootIno}, "d")), ENOTEMPTY);
  EXPECT_EQ(err_of(call(ops_.unlink, fuse_ino_t{kFilesRootIno}, "d")), EISDIR);
  EXPECT_EQ(err_of(call(ops_.unlink, d.entry.ino, "fifo")), 0);
  EXPECT_EQ(err_of(call(ops_.unlink, d.entry.ino, "fifo")), ENOENT);
  EXPECT_EQ(err_of(call(ops_.rmdir, fuse_ino_t{kFilesRootIno}, "d")), 0);
  EXPECT_EQ(err_of(call(ops_.unlink, fuse_ino_t{kRootIno}, "roster.csv")), EACCES);
}

TEST_F(AdapterTest, OpenCreateReadWrite) {
  fuse_file_info fi{};
  fi.flags = O_RDWR;
  fi.keep_cache = 1;
  Reply c = call(ops_.create, fuse_ino_t{kFilesRootIno}, "doc", mode_t{0640}, &fi);
  ASSERT_EQ(c.kind, ReplyKind::kCreate);
  EXPECT_EQ(c.fi.keep_cache, 0u);  // every open's reads reach the daemon (the copy guard)
  EXPECT_EQ(c.entry.attr.st_mode, S_IFREG | 0640u);
  fuse_ino_t ino = c.entry.ino;
  Reply w = call(ops_.write, ino, "abcdef", size_t{6}, off_t{0}, &fi);
  ASSERT_EQ(w.kind, ReplyKind::kWrite);
  EXPECT_EQ(w.size, 6u);
  Reply r = call(ops_.read, ino, size_t{4}, off_t{1}, &fi);
  ASSERT_EQ(r.kind, ReplyKind::kBuf);
  EXPECT_EQ(r.data, "bcde");
  EXPECT_EQ(call(ops_.read, ino, size_t{100}, off_t{6}, &fi).data, "");
  EXPECT_EQ(err_of(call(ops_.flush, ino, &fi)), 0);
  EXPECT_EQ(err_of(call(ops_.fsync, ino, 0, &fi)), 0);
  EXPECT_EQ(err_of(call(ops_.release, ino, &fi)), 0);
  EXPECT_EQ(err_of(call(ops_.create, fuse_ino_t{kFilesRootIno}, "doc", mode_t{0640}, &fi)), EEXIST);
  EXPECT_EQ(err_of(call(ops_.create, fuse_ino_t{kRootIno}, "x", mode_t{0640}, &fi)), EACCES);

  fi = {};
  fi.flags = O_RDONLY;
  fi.keep_cache = 1;
  Reply o = call(ops_.open, ino, &fi);
  ASSERT_EQ(o.kind, ReplyKind::kOpen);
  EXPECT_EQ(o.fi.keep_cache, 0u);
  EXPECT_EQ(o.fi.direct_io, 0u);
  call(ops_.release, ino, &fi);
  Reply view = call(ops_.open, fuse_ino_t{kRosterIno}, &fi);
  ASSERT_EQ(view.kind, ReplyKind::kOpen);
  EXPECT_EQ(view.fi.direct_io, 1u);  // every read of pupil data is checked
  Reply roster = call(ops_.read, fuse_ino_t{kRosterIno}, size_t{1 << 16}, off_t{0}, &fi);
  ASSERT_EQ(roster.kind, ReplyKind::kBuf);
  EXPECT_NE(roster.data.find("Adams"), std::string::npos);

  fi.flags = O_WRONLY;
  EXPECT_EQ(err_of(call(ops_.open, fuse_ino_t{kRosterIno}, &fi)), EACCES);
  EXPECT_EQ(err_of(call(ops_.open, fuse_ino_t{kPupilsIno}, &fi)), EISDIR);
  EXPECT_EQ(err_of(call(ops_.open, fuse_ino_t{987654}, &fi)), ENOENT);
  EXPECT_EQ(err_of(call(ops_.write, fuse_ino_t{kRosterIno}, "x", size_t{1}, off_t{0}, &fi)), EBADF);
  EXPECT_EQ(err_of(call(ops_.read, fuse_ino_t{kPupilsIno}, size_t{10}, off_t{0}, &fi)), EISDIR);
}

TEST_F(AdapterTest, DirectoriesListInKernelDirentForm) {
  fuse_file_info fi{};
  EXPECT_EQ(call(ops_.opendir, fuse_ino_t{kRootIno}, &fi).kind, ReplyKind::kOpen);
  EXPECT_EQ(err_of(call(ops_.opendir, fuse_ino_t{kRosterIno}, &fi)), ENOTDIR);
  Reply r = call(ops_.readdir, fuse_ino_t{kRootIno}, size_t{4096}, off_t{0}, &fi);
  ASSERT_EQ(r.kind, ReplyKind::kBuf);
  auto entries = r.dirents();
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (auto& e : entries) names.push_back(e.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{".", "..", "README.txt", "roster.csv", "manifest.txt", "pupils", "files"}));
  EXPECT_EQ(entries[5].ino, kPupilsIno);
  EXPECT_EQ(entries[5].type, static_cast<std::uint32_t>(S_IFDIR));
  EXPECT_EQ(entries[2].type, static_cast<std::uint32_t>(S_IFREG));
  // A buffer too small for all of them: those that fit, resumed by cookie.
  Reply part = call(ops_.readdir, fuse_ino_t{kRootIno}, size_t{80}, off_t{0}, &fi);
  auto first = part.dirents();
  ASSERT_EQ(first.size(), 2u);  // "." and ".." (32 bytes each), not README.txt (40)
  auto rest = call(ops_.readdir, fuse_ino_t{kRootIno}, size_t{4096}, static_cast<off_t>(first.back().next_cookie), &fi)
                  .dirents();
  EXPECT_EQ(rest.front().name, "README.txt");
  EXPECT_EQ(rest.size(), 5u);
  EXPECT_EQ(err_of(call(ops_.readdir, fuse_ino_t{kRosterIno}, size_t{4096}, off_t{0}, &fi)), ENOTDIR);
  EXPECT_EQ(err_of(call(ops_.releasedir, fuse_ino_t{kRootIno}, &fi)), 0);
  EXPECT_EQ(err_of(call(ops_.fsyncdir, fuse_ino_t{kFilesRootIno}, 0, &fi)), 0);
}

TEST_F(AdapterTest, StatfsReportsTheHostSpaceAndTheStoreInodes) {
  Reply r = call(ops_.statfs, fuse_ino_t{kRootIno});
  ASSERT_EQ(r.kind, ReplyKind::kStatfs);
  EXPECT_EQ(r.statvfs.f_bsize, 512u);
  EXPECT_EQ(r.statvfs.f_frsize, 512u);
  EXPECT_EQ(r.statvfs.f_blocks, 1000u);
  EXPECT_EQ(r.statvfs.f_bfree, 600u);
  EXPECT_EQ(r.statvfs.f_bavail, 500u);
  EXPECT_EQ(r.statvfs.f_files, store_->inode_count() + 2);
  EXPECT_EQ(r.statvfs.f_ffree, 1u << 30);
  EXPECT_EQ(r.statvfs.f_favail, 1u << 30);
  EXPECT_EQ(r.statvfs.f_namemax, 255u);
}

TEST_F(AdapterTest, ForgetRepliesNothingAndReleasesUnlinkedFiles) {
  fuse_ino_t f = make_file("gone", "data");  // create counted one lookup
  call(ops_.unlink, fuse_ino_t{kFilesRootIno}, "gone");
  EXPECT_NO_THROW(store_->get(f));  // the kernel still knows it
  EXPECT_EQ(call(ops_.forget, f, std::uint64_t{1}).kind, ReplyKind::kNoReply);
  EXPECT_EQ(test::errc_of([&] { store_->get(f); }), std::errc::no_such_file_or_directory);

  fuse_ino_t a = make_file("a"), b = make_file("b");
  call(ops_.unlink, fuse_ino_t{kFilesRootIno}, "a");
  call(ops_.unlink, fuse_ino_t{kFilesRootIno}, "b");
  fuse_forget_data many[] = {{a, 1}, {b, 1}, {987654, 3}};
  EXPECT_EQ(call(ops_.forget_multi, size_t{3}, many).kind, ReplyKind::kNoReply);
  EXPECT_EQ(test::errc_of([&] { store_->get(a); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { store_->get(b); }), std::errc::no_such_file_or_directory);
}

TEST_F(AdapterTest, ReadOnlyMountRepliesErofs) {
  mount(true);
  fuse_file_info fi{};
  fi.flags = O_WRONLY;
  EXPECT_EQ(err_of(call(ops_.mkdir, fuse_ino_t{kFilesRootIno}, "d", mode_t{0755})), EROFS);
  EXPECT_EQ(err_of(call(ops_.create, fuse_ino_t{kFilesRootIno}, "f", mode_t{0644}, &fi)), EROFS);
  EXPECT_EQ(err_of(call(ops_.write, fuse_ino_t{kFilesRootIno}, "x", size_t{1}, off_t{0}, &fi)), EROFS);
}

TEST_F(AdapterTest, ThePolicyGatesReplyEacces) {
  fuse_ino_t f = make_file("f", "secret");
  Filesystem::Gates gates;
  gates.before_read = [](const Caller& c, std::uint64_t) -> std::optional<std::string> {
    if (c.pid == 4242) return "/media/usb/x (removable media)";
    return std::nullopt;
  };
  std::vector<std::string> blocked;
  gates.blocked = [&](const Caller&, const std::string& object, const std::string&) { blocked.push_back(object); };
  fs_->set_gates(gates);
  fuse_file_info fi{};
  EXPECT_EQ(err_of(call(ops_.read, f, size_t{10}, off_t{0}, &fi)), EACCES);
  EXPECT_EQ(err_of(call(ops_.readdir, fuse_ino_t{kPupilsIno}, size_t{4096}, off_t{0}, &fi)), EACCES);
  EXPECT_EQ(blocked, (std::vector<std::string>{"files/f", "pupils/"}));
  fake_fuse().ctx.pid = 7;  // another process reads
  EXPECT_EQ(call(ops_.read, f, size_t{10}, off_t{0}, &fi).data, "secret");

  gates.member = [](const Caller& c) { return c.pid != 99; };
  fs_->set_gates(gates);
  fake_fuse().ctx.pid = 99;  // outside the session
  EXPECT_EQ(err_of(lookup(kRootIno, "roster.csv")), EACCES);
  fi.flags = O_RDONLY;
  EXPECT_EQ(err_of(call(ops_.open, f, &fi)), EACCES);
  EXPECT_EQ(err_of(call(ops_.opendir, fuse_ino_t{kRootIno}, &fi)), EACCES);
}

TEST_F(AdapterTest, OpensAreAuditedWithTheRequestsCaller) {
  fuse_ino_t f = make_file("f");
  std::vector<std::string> seen;
  fs_->set_open_hook([&](const Caller& c, const std::string& object, bool write, const std::string&) {
    seen.push_back(std::to_string(c.uid) + ":" + std::to_string(c.pid) + " " + object + (write ? " w" : " r"));
  });
  fuse_file_info fi{};
  fi.flags = O_RDONLY;
  call(ops_.open, f, &fi);
  call(ops_.open, fuse_ino_t{kManifestIno}, &fi);
  EXPECT_EQ(seen, (std::vector<std::string>{"1000:4242 files/f r", "1000:4242 manifest.txt r"}));
}

// Issue 15 §6: each audited open carries where the opener writes, asked of
// the `writes` gate once per process and object (not on every open, and
// never for README.txt, which is not audited).
TEST_F(AdapterTest, AuditedOpensCarryWhereTheOpenerWrites) {
  fuse_ino_t f = make_file("f");
  int asked = 0;
  Filesystem::Gates gates;
  gates.writes = [&](const Caller& c) {
    ++asked;
    return "local /tmp/x (descriptor " + std::to_string(c.pid % 10) + ")";
  };
  fs_->set_gates(gates);
  std::vector<std::string> seen;
  fs_->set_open_hook([&](const Caller&, const std::string& object, bool, const std::string& writes) {
    seen.push_back(object + ": " + writes);
  });
  fuse_file_info fi{};
  fi.flags = O_RDONLY;
  call(ops_.open, f, &fi);
  call(ops_.open, f, &fi);  // the same process again: not audited, not asked
  call(ops_.open, fuse_ino_t{kRosterIno}, &fi);
  call(ops_.open, fuse_ino_t{kReadmeIno}, &fi);
  EXPECT_EQ(seen, (std::vector<std::string>{"files/f: local /tmp/x (descriptor 2)",
                                            "roster.csv: local /tmp/x (descriptor 2)"}));
  EXPECT_EQ(asked, 2);
}

// Once locked every request that needs the keys is refused with EIO; the
// kernel's bookkeeping (forget, flush, release) is still answered.
TEST_F(AdapterTest, EveryOperationRepliesEioOnceLocked) {
  fuse_ino_t f = make_file("f", "x");
  fs_->lock();
  fuse_file_info fi{};
  struct stat st {};
  const fuse_ino_t root = kFilesRootIno;
  const std::vector<std::pair<const char*, std::function<Reply()>>> ops = {
      {"lookup", [&] { return lookup(root, "f"); }},
      {"getattr", [&] { return call(ops_.getattr, f, &fi); }},
      {"setattr", [&] { return call(ops_.setattr, f, &st, FUSE_SET_ATTR_MODE, &fi); }},
      {"readlink", [&] { return call(ops_.readlink, f); }},
      {"mknod", [&] { return call(ops_.mknod, root, "n", mode_t{S_IFIFO | 0600}, dev_t{0}); }},
      {"mkdir", [&] { return call(ops_.mkdir, root, "d", mode_t{0755}); }},
      {"unlink", [&] { return call(ops_.unlink, root, "f"); }},
      {"rmdir", [&] { return call(ops_.rmdir, root, "d"); }},
      {"symlink", [&] { return call(ops_.symlink, "t", root, "s"); }},
      {"rename", [&] { return call(ops_.rename, root, "f", root, "g", 0u); }},
      {"link", [&] { return call(ops_.link, f, root, "h"); }},
      {"open", [&] { return call(ops_.open, f, &fi); }},
      {"create", [&] { return call(ops_.create, root, "c", mode_t{0644}, &fi); }},
      {"read", [&] { return call(ops_.read, f, size_t{10}, off_t{0}, &fi); }},
      {"write", [&] { return call(ops_.write, f, "y", size_t{1}, off_t{0}, &fi); }},
      {"fsync", [&] { return call(ops_.fsync, f, 0, &fi); }},
      {"opendir", [&] { return call(ops_.opendir, root, &fi); }},
      {"readdir", [&] { return call(ops_.readdir, root, size_t{4096}, off_t{0}, &fi); }},
      {"fsyncdir", [&] { return call(ops_.fsyncdir, root, 0, &fi); }},
      {"statfs", [&] { return call(ops_.statfs, root); }},
      {"getxattr", [&] { return call(ops_.getxattr, f, kExpiresXattr, size_t{100}); }},
      {"listxattr", [&] { return call(ops_.listxattr, f, size_t{100}); }},
      {"setxattr", [&] { return call(ops_.setxattr, f, kExpiresXattr, "2030-01-01", size_t{10}, 0); }},
      {"removexattr", [&] { return call(ops_.removexattr, f, kExpiresXattr); }},
  };
  for (auto& [name, op] : ops) EXPECT_EQ(err_of(op()), EIO) << name;
  EXPECT_EQ(call(ops_.forget, f, std::uint64_t{1}).kind, ReplyKind::kNoReply);
  EXPECT_EQ(err_of(call(ops_.flush, f, &fi)), 0);
  EXPECT_EQ(err_of(call(ops_.release, f, &fi)), 0);
  EXPECT_EQ(err_of(call(ops_.releasedir, root, &fi)), 0);
}

}  // namespace
}  // namespace coffer::fusefs
