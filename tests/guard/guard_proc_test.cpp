// The guard service's /proc readers (guard/src/guard_proc.cpp, private to
// the guard) against real processes: a child blocked in open() on a FIFO is
// exactly what the service sees while it holds a permission event.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "guard_service.h"
#include "test_support.h"

namespace coffer::guard {
namespace {
namespace fs = std::filesystem;

// A child blocked in open(FIFO, FLAGS) until killed (nobody opens the other end).
class BlockedOpener {
 public:
  BlockedOpener(const fs::path& fifo, int flags) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::alarm(30);
      ::open(fifo.c_str(), flags, 0600);
      ::_exit(0);
    }
    // Wait until the child sleeps in the open (its /proc/PID/syscall shows it).
    for (int i = 0; i < 2000; ++i) {
      std::ifstream in("/proc/" + std::to_string(pid_) + "/wchan");
      std::string wchan;
      in >> wchan;
      if (!wchan.empty() && wchan != "0") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~BlockedOpener() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

class GuardProcTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0); }
  test::TempDir tmp_;
  fs::path fifo_ = tmp_ / "fifo";
};

TEST_F(GuardProcTest, OpenerFlagsOfAWriteOpen) {
  BlockedOpener child(fifo_, O_WRONLY | O_CLOEXEC);
  OpenerFlags f = opener_flags(child.pid());
  ASSERT_TRUE(f.known);
  EXPECT_EQ(f.syscall, SYS_openat);
  EXPECT_EQ(f.flags & O_ACCMODE, static_cast<std::uint64_t>(O_WRONLY));
  EXPECT_TRUE(is_write(f));
  EXPECT_EQ(flags_text(f).substr(0, 1), "0");
}

TEST_F(GuardProcTest, OpenerFlagsOfAReadOpen) {
  BlockedOpener child(fifo_, O_RDONLY);
  OpenerFlags f = opener_flags(child.pid());
  ASSERT_TRUE(f.known);
  EXPECT_EQ(f.flags & O_ACCMODE, static_cast<std::uint64_t>(O_RDONLY));
  EXPECT_FALSE(is_write(f));
}

TEST(GuardProc, OpenerFlagsUnknownForAGoneProcessOrAnotherSyscall) {
  OpenerFlags gone = opener_flags(0x3ffffff0);
  EXPECT_FALSE(gone.known);
  EXPECT_EQ(gone.syscall, -1);
  // A child asleep in pause(): a syscall that opens nothing.
  pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(30);
    for (;;) ::pause();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  OpenerFlags other = opener_flags(pid);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_FALSE(other.known);
  EXPECT_TRUE(is_write(other)) << "unknown counts as a write";
  EXPECT_EQ(flags_text(other), "unknown");
}

TEST(GuardProc, IsWriteByAccessModeTruncAndCreat) {
  auto known = [](std::uint64_t flags) { return OpenerFlags{true, flags, SYS_openat}; };
  EXPECT_FALSE(is_write(known(O_RDONLY)));
  EXPECT_FALSE(is_write(known(O_RDONLY | O_CLOEXEC | O_NOFOLLOW)));
  EXPECT_TRUE(is_write(known(O_WRONLY)));
  EXPECT_TRUE(is_write(known(O_RDWR)));
  EXPECT_TRUE(is_write(known(O_RDONLY | O_TRUNC)));
  EXPECT_TRUE(is_write(known(O_RDONLY | O_CREAT)));
  EXPECT_EQ(flags_text(known(O_WRONLY | O_CREAT | O_TRUNC)), "01101");
  EXPECT_EQ(flags_text(known(0)), "0");
}

TEST(GuardProc, ReadStatusOfThisProcessAndOneOfItsThreads) {
  auto st = read_status(::getpid());
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->tgid, ::getpid());
  EXPECT_EQ(st->ruid, ::getuid());
  EXPECT_EQ(st->euid, ::geteuid());
  std::optional<TaskStatus> of_thread;
  std::thread t2([&] { of_thread = read_status(static_cast<pid_t>(::syscall(SYS_gettid))); });
  t2.join();
  ASSERT_TRUE(of_thread.has_value());
  EXPECT_EQ(of_thread->tgid, ::getpid()) << "a thread maps to its process";
  EXPECT_FALSE(read_status(0x3ffffff0).has_value());
}

TEST(GuardProc, ReadProcFileHonoursTheCapAndRefusesSymlinks) {
  test::TempDir tmp;
  std::ofstream(tmp / "f") << std::string(100, 'x');
  EXPECT_EQ(read_proc_file((tmp / "f").string()), std::string(100, 'x'));
  EXPECT_EQ(read_proc_file((tmp / "f").string(), 100), std::string(100, 'x'));
  EXPECT_EQ(read_proc_file((tmp / "f").string(), 99), std::nullopt) << "over the cap";
  fs::create_symlink(tmp / "f", tmp / "link");
  EXPECT_EQ(read_proc_file((tmp / "link").string()), std::nullopt) << "O_NOFOLLOW";
  EXPECT_EQ(read_proc_file((tmp / "missing").string()), std::nullopt);
  EXPECT_EQ(read_proc_file(tmp.path().string()), std::nullopt) << "a directory cannot be read";
  auto status = read_proc_file("/proc/self/status");
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(status->find("Tgid:"), std::string::npos);
}

TEST(GuardProc, LinkTextIsEmptyWhenNothingCanBeRead) {
  EXPECT_EQ(link_text("/proc/self/exe"), fs::canonical("/proc/self/exe").string());
  EXPECT_EQ(link_text("/proc/self/status"), "");
  EXPECT_EQ(link_text("/nonexistent"), "");
}

TEST(GuardProc, NormalPathDropsDotsAndTrailingSlashes) {
  EXPECT_EQ(normal_path("/home/t/Coffer/trip/"), "/home/t/Coffer/trip");
  EXPECT_EQ(normal_path("/home/t/./x/../Coffer//trip"), "/home/t/Coffer/trip");
  EXPECT_EQ(normal_path("/"), "/");
  EXPECT_EQ(normal_path("//"), "/");
  EXPECT_EQ(normal_path("rel/a/"), "rel/a");
}

TEST(GuardProc, MarkChildCodesAsText) {
  EXPECT_EQ(errno_text(kMarkMoved), "the mount moved while it was being marked");
  EXPECT_EQ(errno_text(kMarkCreds), "could not take on the FUSE mount owner's identity");
  EXPECT_EQ(errno_text(EACCES), std::strerror(EACCES));
}

TEST(GuardProc, IoErrorCarriesErrnoText) {
  errno = ENOENT;
  Error e = io_error("cannot open /x");
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_EQ(std::string(e.what()), std::string("cannot open /x: ") + std::strerror(ENOENT));
}

TEST(GuardProc, RootOwnedNotWritableAndSameFile) {
  struct stat st {};
  st.st_uid = 0;
  st.st_mode = S_IFREG | 0755;
  EXPECT_TRUE(root_owned_not_writable(st));
  st.st_mode = S_IFREG | 0775;
  EXPECT_FALSE(root_owned_not_writable(st)) << "group-writable";
  st.st_mode = S_IFREG | 0757;
  EXPECT_FALSE(root_owned_not_writable(st)) << "world-writable";
  st.st_mode = S_IFREG | 0755;
  st.st_uid = 1000;
  EXPECT_FALSE(root_owned_not_writable(st)) << "not root's";
  struct stat a {
  }, b{};
  a.st_dev = b.st_dev = 5;
  a.st_ino = b.st_ino = 7;
  EXPECT_TRUE(same_file(a, b));
  b.st_ino = 8;
  EXPECT_FALSE(same_file(a, b));
}

}  // namespace
}  // namespace coffer::guard
