// Session membership with real processes (a subreaper leader, an orphaned
// grandchild with a second thread, outsiders, hostile process names) and
// with a fake /proc for what real processes cannot show on demand: pid
// reuse, cycles, depth.
#include "coffer/guard/session.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_support.h"

namespace coffer::guard {
namespace {
namespace fs = std::filesystem;

bool read_exactly(int fd, void* buf, std::size_t size) {
  auto* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// A forked process that runs SETUP, says it is ready and waits; the
// destructor kills and reaps it. alarm() bounds it if the test dies first.
class Child {
 public:
  explicit Child(const std::function<void()>& setup = {}) {
    int ready[2];
    if (::pipe(ready) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::alarm(10);
      ::close(ready[0]);
      if (setup) setup();
      (void)!::write(ready[1], "r", 1);
      while (true) ::pause();
    }
    ::close(ready[1]);
    char c;
    ready_ = read_exactly(ready[0], &c, 1);
    ::close(ready[0]);
  }
  ~Child() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  bool ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
};

// A leader that became a subreaper and forked a middle process, which
// forked a grandchild (with a second thread) and exited: the grandchild is
// the leader's child by re-parenting only. Everything ends when the test
// closes the release pipe; the destructor waits for it.
class OrphanedFamily {
 public:
  OrphanedFamily() {
    int release[2], report[2];
    if (::pipe(release) != 0 || ::pipe(report) != 0) throw std::runtime_error("pipe");
    leader_ = ::fork();
    if (leader_ < 0) throw std::runtime_error("fork");
    if (leader_ == 0) {
      ::close(release[1]);
      ::close(report[0]);
      run_leader(release[0], report[1]);
    }
    ::close(release[0]);
    ::close(report[1]);
    release_ = release[1];
    // Only the grandchild keeps the write end, so a failed setup gives EOF.
    pid_t ids[2];
    ready_ = read_exactly(report[0], ids, sizeof ids);
    ::close(report[0]);
    grandchild_ = ids[0];
    grandchild_thread_ = ids[1];
  }
  ~OrphanedFamily() {
    ::close(release_);
    if (ready_) ::kill(grandchild_, SIGKILL);
    ::waitpid(leader_, nullptr, 0);
  }
  OrphanedFamily(const OrphanedFamily&) = delete;
  OrphanedFamily& operator=(const OrphanedFamily&) = delete;

  bool ready() const { return ready_; }
  pid_t leader() const { return leader_; }
  pid_t grandchild() const { return grandchild_; }
  pid_t grandchild_thread() const { return grandchild_thread_; }

 private:
  [[noreturn]] static void run_leader(int release, int report) {
    ::alarm(10);
    const pid_t leader = ::getpid();
    try {
      become_subreaper();
    } catch (...) {
      ::_exit(3);
    }
    pid_t middle = ::fork();
    if (middle == 0) {
      if (::fork() == 0) grandchild(leader, release, report);
      ::_exit(0);
    }
    ::close(report);
    ::waitpid(middle, nullptr, 0);
    char c;
    (void)!::read(release, &c, 1);  // EOF when the test is done
    while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
    }
    ::_exit(0);
  }

  [[noreturn]] static void grandchild(pid_t leader, int release, int report) {
    ::alarm(10);
    std::atomic<pid_t> tid{0};
    std::thread([&tid] {
      tid = ::gettid();
      while (true) ::pause();
    }).detach();
    while (tid == 0 || ::getppid() != leader) ::usleep(1000);
    pid_t ids[2] = {::getpid(), tid};
    (void)!::write(report, ids, sizeof ids);
    ::close(report);
    char c;
    (void)!::read(release, &c, 1);
    ::_exit(0);
  }

  pid_t leader_ = -1;
  int release_ = -1;
  bool ready_ = false;
  pid_t grandchild_ = -1;
  pid_t grandchild_thread_ = -1;
};

// /proc/PID/stat files as the kernel writes them, with only the fields the
// guard reads set.
class FakeProc {
 public:
  void process(pid_t pid, pid_t ppid, std::uint64_t start, const std::string& comm = "sh") {
    fs::create_directories(dir_ / std::to_string(pid));
    std::ofstream(dir_ / std::to_string(pid) / "stat")
        << pid << " (" << comm << ") S " << ppid << " 0 0 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 " << start
        << " 0 0 18446744073709551615 0 0\n";
  }
  void raw(pid_t pid, const std::string& text) {
    fs::create_directories(dir_ / std::to_string(pid));
    std::ofstream(dir_ / std::to_string(pid) / "stat") << text;
  }
  const fs::path& root() const { return dir_.path(); }

 private:
  test::TempDir dir_;
};

TEST(SessionIdentity, CommWithParenthesesAndSpacesParses) {
  auto self = process_identity(::getpid());
  ASSERT_TRUE(self);
  EXPECT_GT(self->start_time, 0u);
  for (std::string name : {"a) b (c", "x) S 1 1 1 1"}) {
    Child child([name] { ::prctl(PR_SET_NAME, name.c_str()); });
    ASSERT_TRUE(child.ready());
    std::ifstream comm("/proc/" + std::to_string(child.pid()) + "/comm");
    std::string actual;
    std::getline(comm, actual);
    ASSERT_EQ(actual, name);
    auto id = process_identity(child.pid());
    ASSERT_TRUE(id) << name;
    EXPECT_EQ(id->pid, child.pid());
    EXPECT_GE(id->start_time, self->start_time);
    EXPECT_EQ(process_identity(child.pid()), id);
    EXPECT_EQ(parent_of(child.pid()), ::getpid()) << name;
  }
}

TEST(SessionIdentity, FakeStatParsedStrictly) {
  FakeProc proc;
  proc.process(12, 77, 500, "x) S 1 1 1");
  proc.raw(13, "13 (trunc) S 1 0 0");
  proc.raw(14, "14 (no-close S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0\n");
  proc.raw(15, "15 (bad) S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9x 0\n");
  EXPECT_EQ(process_identity(12, proc.root()), (ProcessIdentity{12, 500}));
  EXPECT_EQ(parent_of(12, proc.root()), 77);
  for (pid_t bad : {13, 14, 15, 16, 0}) EXPECT_FALSE(process_identity(bad, proc.root())) << bad;
}

TEST(SessionMembership, OrphanedGrandchildAndItsThreadStayMembers) {
  OrphanedFamily family;
  ASSERT_TRUE(family.ready());
  ASSERT_EQ(parent_of(family.grandchild()), family.leader());
  auto leader = process_identity(family.leader());
  ASSERT_TRUE(leader);
  SessionMembers members(*leader);
  EXPECT_TRUE(members.is_member(family.leader()));
  EXPECT_TRUE(members.is_member(family.grandchild()));
  EXPECT_TRUE(members.is_member(family.grandchild_thread()));
  EXPECT_FALSE(members.is_member(::getpid()));
  EXPECT_FALSE(members.is_member(0));
  EXPECT_FALSE(members.is_member(1));
  {
    Child outsider;
    ASSERT_TRUE(outsider.ready());
    EXPECT_FALSE(members.is_member(outsider.pid()));
  }
  members.forget_dead();
  EXPECT_TRUE(members.is_member(family.grandchild()));
  EXPECT_FALSE(members.is_member(::getpid()));
}

TEST(SessionMembership, LeaderWithWrongStartTimeAdmitsNobody) {
  auto self = process_identity(::getpid());
  ASSERT_TRUE(self);
  Child child;
  ASSERT_TRUE(child.ready());
  SessionMembers right(*self);
  EXPECT_TRUE(right.is_member(::getpid()));
  EXPECT_TRUE(right.is_member(child.pid()));
  SessionMembers reused(ProcessIdentity{self->pid, self->start_time + 1});
  EXPECT_FALSE(reused.is_member(::getpid()));
  EXPECT_FALSE(reused.is_member(child.pid()));
}

TEST(SessionMembership, ReusedParentPidIsNotFollowed) {
  FakeProc proc;
  proc.process(1, 0, 1);
  proc.process(10, 11, 100);  // its real parent 11 died; pid 11 was reused by:
  proc.process(11, 1, 200);
  SessionMembers members(ProcessIdentity{11, 200}, proc.root());
  EXPECT_TRUE(members.is_member(11));
  EXPECT_FALSE(members.is_member(10));
}

TEST(SessionMembership, ParentCyclesAndDepthAreBounded) {
  FakeProc proc;
  proc.process(10, 11, 100);
  proc.process(11, 10, 100);
  // 1000 <- 1001 <- ... <- 1260: a chain deeper than any real session.
  for (pid_t pid = 1000; pid <= 1260; ++pid) proc.process(pid, pid == 1000 ? 1 : pid - 1, 5);
  SessionMembers cycle(ProcessIdentity{99, 1}, proc.root());
  EXPECT_FALSE(cycle.is_member(10));
  SessionMembers deep(ProcessIdentity{1000, 5}, proc.root());
  EXPECT_FALSE(deep.is_member(1260));  // first: a cached 1100 would shorten the walk
  EXPECT_TRUE(deep.is_member(1100));
}

}  // namespace
}  // namespace coffer::guard
