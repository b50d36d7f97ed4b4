// The daemon's resolution of an export's destination (issue 15): from
// descriptors, with no symbolic link and no ".." anywhere on the way, the
// filesystem judged on the directory actually held, and nothing created
// when it refuses.
#include "export_destination.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/error.h"
#include "test_support.h"

namespace coffer::fusefs {
namespace {

namespace fs = std::filesystem;

class ExportDestinationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(approved_ / "sub");
    fs::create_directory(elsewhere_);
  }
  // Expects a refusal (kPolicy) that mentions `words`, and nothing created
  // outside what the test made.
  void expect_refused(const fs::path& dest, const std::string& words, const std::vector<fs::path>& approved) {
    try {
      ExportDestination::open(dest, approved, allow_all_);
      ADD_FAILURE() << dest << " was not refused";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kPolicy) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_empty(elsewhere_)) << "something was created outside the approved directory";
  }
  void expect_refused(const fs::path& dest, const std::string& words) { expect_refused(dest, words, {approved_}); }
  static std::string read(const fs::path& p) {
    auto bytes = test::read_bytes(p);
    return {bytes.begin(), bytes.end()};
  }
  static void write_all(int fd, const std::string& s) { ASSERT_EQ(::write(fd, s.data(), s.size()), ssize_t(s.size())); }

  test::TempDir dir_;
  fs::path approved_ = dir_ / "approved";
  fs::path elsewhere_ = dir_ / "stick";
  ExportMediaCheck allow_all_ = [](int, int) { return std::optional<std::string>(); };
};

TEST_F(ExportDestinationTest, WritesInsideTheApprovedDirectoryAndNamesTheResolvedPath) {
  auto to = ExportDestination::open(approved_ / "sub" / "r.csv", {approved_}, allow_all_);
  EXPECT_EQ(to.resolved(), fs::canonical(approved_) / "sub" / "r.csv");
  write_all(to.fd(), "name,class\n");
  EXPECT_FALSE(fs::exists(approved_ / "sub" / "r.csv")) << "visible before it is complete";
  to.commit();
  EXPECT_EQ(read(approved_ / "sub" / "r.csv"), "name,class\n");
  struct stat st {};
  ASSERT_EQ(::stat((approved_ / "sub" / "r.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(approved_ / "sub"), fs::directory_iterator()), 1)
      << "the part file is left";
}

TEST_F(ExportDestinationTest, AnUncommittedExportLeavesNothing) {
  {
    auto to = ExportDestination::open(approved_ / "r.csv", {approved_}, allow_all_);
    write_all(to.fd(), "half");
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(approved_), fs::directory_iterator()), 1);  // only sub/
}

TEST_F(ExportDestinationTest, ASymbolicLinkInTheApprovedDirectoryIsRefused) {
  fs::create_directory_symlink(elsewhere_, approved_ / "lnk");
  expect_refused(approved_ / "lnk" / "r.csv", "symbolic link");
  // Deeper too: a link as a middle component.
  fs::create_directories(approved_ / "a");
  fs::create_directories(dir_ / "stick2" / "c");
  fs::create_directory_symlink(dir_ / "stick2", approved_ / "a" / "b");
  expect_refused(approved_ / "a" / "b" / "c" / "r.csv", "symbolic link", {approved_});
  EXPECT_TRUE(fs::is_empty(dir_ / "stick2" / "c"));
}

TEST_F(ExportDestinationTest, ASymbolicLinkAsTheFileNameIsNeitherFollowedNorReplaced) {
  fs::create_symlink(elsewhere_ / "r.csv", approved_ / "r.csv");  // dangling: O_CREAT would follow it
  try {
    ExportDestination::open(approved_ / "r.csv", {approved_}, allow_all_);
    ADD_FAILURE() << "a link in the file's place was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("never overwrites"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(elsewhere_));
  // A link planted in the part file's place is not followed either.
  fs::create_symlink(elsewhere_ / "p", approved_ / ".q.csv.coffer-part");
  EXPECT_THROW(ExportDestination::open(approved_ / "q.csv", {approved_}, allow_all_), Error);
  EXPECT_TRUE(fs::is_empty(elsewhere_));
  EXPECT_TRUE(fs::is_symlink(approved_ / ".q.csv.coffer-part")) << "someone else's file was removed";
}

TEST_F(ExportDestinationTest, DotDotNeverEscapes) {
  expect_refused(approved_ / ".." / "stick" / "r.csv", "'..'");
  expect_refused(approved_ / "sub" / ".." / "r.csv", "'..'");
  expect_refused(approved_ / "." / "r.csv", "'.'");
  expect_refused(dir_ / "r.csv", "not an approved destination");
  expect_refused(approved_, "not an approved destination");
  expect_refused("relative/r.csv", "not an approved destination", {"relative"});
  EXPECT_FALSE(fs::exists(dir_ / "r.csv"));
}

TEST_F(ExportDestinationTest, AnApprovedPathThatIsItselfALinkIsRefused) {
  fs::create_directory_symlink(elsewhere_, dir_ / "approved-link");
  expect_refused(dir_ / "approved-link" / "r.csv", "reached through a symbolic link", {dir_ / "approved-link"});
  // A link higher up the approved path counts as much.
  fs::create_directory_symlink(dir_.path(), dir_ / "up");
  expect_refused(dir_ / "up" / "stick" / "r.csv", "reached through a symbolic link", {dir_ / "up" / "stick"});
}

TEST_F(ExportDestinationTest, AnApprovedDirectoryOfAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the directory away";
  ASSERT_EQ(::chown(approved_.c_str(), 65534, 65534), 0);
  expect_refused(approved_ / "r.csv", "belongs to another user");
}

TEST_F(ExportDestinationTest, TheMediaCheckJudgesTheDirectoryHeldBeforeAnythingIsMade) {
  std::vector<std::pair<fs::path, fs::path>> seen;
  auto fd_path = [](int fd) { return fs::read_symlink("/proc/self/fd/" + std::to_string(fd)); };
  ExportMediaCheck refuse = [&](int top, int here) -> std::optional<std::string> {
    seen.emplace_back(fd_path(top), fd_path(here));
    EXPECT_TRUE(fs::is_empty(approved_ / "sub")) << "the file was made before the filesystem was judged";
    return std::string("a stick");
  };
  try {
    ExportDestination::open(approved_ / "sub" / "r.csv", {approved_}, refuse);
    ADD_FAILURE() << "not refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPolicy);
    EXPECT_EQ(std::string(e.what()), "a stick");
  }
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, fs::canonical(approved_));
  EXPECT_EQ(seen[0].second, fs::canonical(approved_ / "sub"));
  EXPECT_TRUE(fs::is_empty(approved_ / "sub"));

  // The most specific approved directory is the one held.
  seen.clear();
  EXPECT_THROW(ExportDestination::open(approved_ / "sub" / "r.csv", {approved_, approved_ / "sub"}, refuse), Error);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, fs::canonical(approved_ / "sub"));
}

TEST_F(ExportDestinationTest, TheSystemCheckRefusesADeclaredRemovableFilesystem) {
  auto to = ExportDestination::open(approved_ / "ok.csv", {approved_}, system_export_media_check({}));
  to.commit();
  EXPECT_TRUE(fs::exists(approved_ / "ok.csv"));
  // "/" declared removable: every mount counts as a stick, this one too.
  try {
    ExportDestination::open(approved_ / "r.csv", {approved_}, system_export_media_check({{"/"}, {}, {}}));
    ADD_FAILURE() << "not refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPolicy);
    EXPECT_NE(std::string(e.what()).find("removable media"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(approved_ / "r.csv"));
  EXPECT_FALSE(fs::exists(approved_ / ".r.csv.coffer-part"));
}

}  // namespace
}  // namespace coffer::fusefs
