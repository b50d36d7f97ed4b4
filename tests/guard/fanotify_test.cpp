// Layer 2 of the copy guard against the real kernel: a GuardService on a
// thread, tmpfs "sticks" declared removable by the config, a fake coffer
// process registering as the teacher (uid kTeacher) and children that open files
// as that teacher. Plus the protocol, the registration check and the
// school-stick identity (LUKS UUID, USB serial) on a fake sysfs tree.
// fanotify permission events need root: as in CI, these tests run as root
// and fail (never skip) without it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coffer/error.h"
#include "coffer/guard/fanotify_guard.h"
#include "coffer/guard/guard_client.h"
#include "coffer/guard/guard_protocol.h"
#include "coffer/guard/media.h"
#include "coffer/guard/mountinfo.h"
#include "fake_sysfs.h"
#include "test_support.h"

namespace coffer::guard {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Unnamed uids no other test uses: a guard here with a registered coffer of
// kTeacher refuses kTeacher's writes on every FUSE filesystem it did not
// verify, machine-wide, so with nobody (the integration tests' teacher) it
// refused their coffers' writes while both ran.
constexpr uid_t kTeacher = 64991;
constexpr uid_t kOtherUser = 64992;

const char* const kNeedRoot = "the fanotify guard tests need root, as in CI (tmpfs mounts, fanotify permission events)";

// ------------------------------------------------------------------ helpers

std::string self_exe() {
  std::error_code ec;
  return fs::read_symlink("/proc/self/exe", ec).string();
}

void write_all(int fd, const std::string& s) {
  for (std::size_t off = 0; off < s.size();) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// Drops to UID/GID with raw system calls: only this (forked, single-
// threaded) process changes.
void become(uid_t uid) {
  if (::syscall(SYS_setgroups, 0L, nullptr) != 0 || ::syscall(SYS_setresgid, uid, uid, uid) != 0 ||
      ::syscall(SYS_setresuid, uid, uid, uid) != 0)
    ::_exit(254);
}

// Runs FN in a forked child; its return value is the exit code.
template <class F>
int in_child(F&& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 255;
    try {
      rc = fn();
    } catch (...) {
    }
    ::_exit(rc);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// open(2) as UID in a child process: 0 or the errno. A write open writes a
// few bytes, so "allowed" really means the data got there.
int open_as(uid_t uid, const fs::path& path, int flags) {
  return in_child([&] {
    become(uid);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return errno;
    if ((flags & O_ACCMODE) != O_RDONLY && ::write(fd, "data", 4) != 4) return 253;
    ::close(fd);
    return 0;
  });
}

std::uintmax_t size_of(const fs::path& p) {
  std::error_code ec;
  auto s = fs::file_size(p, ec);
  return ec ? static_cast<std::uintmax_t>(-1) : s;
}

// Polls COND every 20 ms until it holds or TIMEOUT passes.
template <class F>
bool eventually(F&& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// A tmpfs mounted on DIR (created) for the scope: the "USB stick".
class Tmpfs {
 public:
  explicit Tmpfs(fs::path dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=8m") == 0;
    if (!mounted_) ADD_FAILURE() << "cannot mount a tmpfs on " << dir_ << ": " << std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  const fs::path& path() const { return dir_; }
  fs::path operator/(const std::string& name) const { return dir_ / name; }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

// A process standing in for the coffer filesystem daemon: it becomes UID,
// registers with the guard through GuardConnection and relays what it gets
// over a pipe; on command it writes a file itself (the daemon is exempt).
class FakeCoffer {
 public:
  FakeCoffer(const fs::path& socket, const fs::path& mountpoint, const std::vector<fs::path>& approved,
             uid_t uid = kTeacher, bool guarded = false) {
    int up[2], down[2];
    if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      // Keep only our own pipe ends: an inherited write end of another fake
      // coffer's command pipe would keep that one from ever seeing EOF.
      int out = ::fcntl(up[1], F_DUPFD_CLOEXEC, 1000);
      int in = ::fcntl(down[0], F_DUPFD_CLOEXEC, 1000);
      ::close_range(3, static_cast<unsigned>(std::min(out, in)) - 1, 0);
      ::close_range(static_cast<unsigned>(std::max(out, in)) + 1, ~0U, 0);
      child(out, in, socket, mountpoint, approved, uid, guarded);
    }
    ::close(up[1]);
    ::close(down[0]);
    from_ = up[0];
    to_ = down[1];
    auto first = next_line(20s);
    if (!first) {
      error_ = "no answer from the fake coffer";
      return;
    }
    if (first->rfind("ERR ", 0) == 0) {
      error_ = first->substr(4);
      return;
    }
    while (auto line = next_line(5s)) {
      if (*line == "END") break;
      if (line->rfind("MARKED ", 0) == 0) marked_.push_back(line->substr(7));
      if (line->rfind("WRITER ", 0) == 0) writers_.push_back(line->substr(7));
      if (line->rfind("READONLY ", 0) == 0) readonly_.push_back(line->substr(9));
    }
  }
  ~FakeCoffer() { close(); }
  FakeCoffer(const FakeCoffer&) = delete;
  FakeCoffer& operator=(const FakeCoffer&) = delete;

  bool registered() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::vector<std::string>& marked() const { return marked_; }
  // "PID PATH" per descriptor already open for writing at registration.
  const std::vector<std::string>& open_writers() const { return writers_; }
  // Removable media the guard holds read-only for this (guarded) coffer.
  const std::vector<std::string>& readonly() const { return readonly_; }
  pid_t pid() const { return pid_; }

  // Reports received so far, waiting up to TIMEOUT for at least N.
  std::vector<GuardConnection::Report> reports(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (reports_.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !next_line(left)) break;
    }
    return reports_;
  }

  // True once the child saw its guard connection close (the real daemon
  // locks the coffer then).
  bool wait_closed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      auto line = next_line(left);
      if (!line) return false;
      if (*line == "CLOSED") return true;
    }
  }

  // The daemon itself opens PATH for writing: 0 or errno.
  int write_as_daemon(const fs::path& path) {
    write_all(to_, "W " + path.string() + "\n");
    for (;;) {
      auto line = next_line(10s);
      if (!line) return -1;
      if (line->rfind("W ", 0) == 0) return std::stoi(line->substr(2));
    }
  }

  void close() {
    if (pid_ <= 0) return;
    if (to_ >= 0) ::close(to_);
    to_ = -1;
    ::waitpid(pid_, nullptr, 0);
    if (from_ >= 0) ::close(from_);
    from_ = -1;
    pid_ = -1;
  }

 private:
  [[noreturn]] static void child(int out, int in, const fs::path& socket, const fs::path& mountpoint,
                                 const std::vector<fs::path>& approved, uid_t uid, bool guarded) {
    become(uid);
    auto say = [out](const std::string& s) { write_all(out, s + "\n"); };
    try {
      GuardConnection conn = GuardConnection::connect(socket, mountpoint, approved, guarded);
      say("OK");
      for (const auto& m : conn.marked()) say("MARKED " + m);
      for (const auto& m : conn.readonly()) say("READONLY " + m);
      for (const auto& w : conn.open_writers()) say("WRITER " + std::to_string(w.pid) + " " + w.path);
      say("END");
      std::string cmd;
      for (;;) {
        pollfd p[2] = {{conn.fd(), POLLIN, 0}, {in, POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) continue;
        if (p[0].revents) {
          for (const auto& r : conn.read_reports())
            say("REPORT " + std::to_string(r.pid) + "\t" + r.exe + "\t" + r.path + "\t" + r.flags + "\t" +
                (r.empty_file_left ? "1" : "0"));
          if (conn.closed()) {
            say("CLOSED");
            ::_exit(0);
          }
        }
        if (p[1].revents) {
          char c;
          ssize_t n = ::read(in, &c, 1);
          if (n <= 0) ::_exit(0);  // the test closed the pipe: unregister by exiting
          if (c != '\n') {
            cmd.push_back(c);
            continue;
          }
          if (cmd.rfind("W ", 0) == 0) {
            int fd = ::open(cmd.c_str() + 2, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            say("W " + std::to_string(fd < 0 ? errno : 0));
            if (fd >= 0) ::close(fd);
          }
          cmd.clear();
        }
      }
    } catch (const Error& e) {
      std::string what = e.what();
      std::replace(what.begin(), what.end(), '\n', ' ');  // one line on the pipe
      say("ERR " + what);
    } catch (const std::exception& e) {
      say(std::string("ERR (unexpected) ") + e.what());
    }
    ::_exit(1);
  }

  // One line from the child; REPORT lines are collected on the way.
  std::optional<std::string> next_line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (line.rfind("REPORT ", 0) == 0) {
          record_report(line.substr(7));
          return line;
        }
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char b[4096];
      ssize_t n = ::read(from_, b, sizeof b);
      if (n <= 0) return std::nullopt;
      buf_.append(b, static_cast<std::size_t>(n));
    }
  }

  void record_report(const std::string& fields) {
    std::vector<std::string> f;
    std::size_t start = 0;
    for (;;) {
      auto tab = fields.find('\t', start);
      f.push_back(fields.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (f.size() != 5) return;
    reports_.push_back({std::stoi(f[0]), f[1], f[2], f[3], f[4] == "1"});
  }

  pid_t pid_ = -1;
  int from_ = -1, to_ = -1;
  std::string buf_, error_;
  std::vector<std::string> marked_, writers_, readonly_;
  std::vector<GuardConnection::Report> reports_;
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// ------------------------------------------------------------- the service

class FanotifyGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << kNeedRoot;
    // The teacher (kTeacher) must reach the socket and the test folders.
    ::chmod(tmp_.path().c_str(), 0755);
    fs::create_directories(tmp_ / "plain");
    ::chmod((tmp_ / "plain").c_str(), 01777);
    fs::create_directories(tmp_ / "sticks");
    stick_ = std::make_unique<Tmpfs>(tmp_ / "sticks" / "a");
    socket_ = tmp_ / "guard.sock";
  }

  void TearDown() override {
    while (!coffers_.empty()) coffers_.pop_back();
    stop_guard();
    later_.clear();
    stick_.reset();
  }

  // Registrations are accepted for any mountpoint under tmp/coffer: these
  // tests have no fuse.coffer mount to show (the real check has its own
  // tests below and in tests/integration/guard_service.sh).
  void start_guard(bool real_verifier = false) {
    GuardConfig c;
    c.socket_path = socket_;
    c.readonly_record = record_;
    c.media.declared_removable = {tmp_ / "sticks"};
    // Other tests' mounts (FUSE servers killed on purpose among them) are
    // not this guard's business.
    c.only_below = tmp_.path();
    const std::string prefix = (tmp_ / "coffer").string();
    if (!real_verifier)
      c.verify_registration = [prefix](const PeerCredentials&, const std::string& mp) -> std::optional<std::string> {
        if (mp.rfind(prefix, 0) == 0) return std::nullopt;
        return "no coffer is mounted at " + mp;
      };
    c.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mutex_);
      log_.push_back(line);
    };
    c.heartbeat = [this] { heartbeats_++; };
    service_ = std::make_unique<GuardService>(std::move(c));
    thread_ = std::thread([this] {
      try {
        service_->run();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(log_mutex_);
        run_error_ = e.what();
      }
    });
  }

  void stop_guard() {
    if (!service_) return;
    service_->request_stop();
    if (thread_.joinable()) thread_.join();
    service_.reset();
    std::lock_guard<std::mutex> lock(log_mutex_);
    EXPECT_EQ(run_error_, "");
  }

  FakeCoffer& coffer(const std::vector<fs::path>& approved = {}, const std::string& name = "coffer",
                     uid_t uid = kTeacher) {
    coffers_.push_back(std::make_unique<FakeCoffer>(socket_, tmp_ / name, approved, uid));
    return *coffers_.back();
  }
  // A `guarded` coffer: removable media read-only while it is registered.
  FakeCoffer& guarded_coffer(const std::string& name = "coffer") {
    coffers_.push_back(std::make_unique<FakeCoffer>(socket_, tmp_ / name, std::vector<fs::path>{}, kTeacher, true));
    return *coffers_.back();
  }

  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return log_;
  }
  bool logged(const std::string& needle) {
    auto l = log();
    return std::any_of(l.begin(), l.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
  }

  test::TempDir tmp_;
  fs::path socket_;
  fs::path record_ = tmp_ / "readonly.record";
  std::unique_ptr<Tmpfs> stick_;
  std::vector<std::unique_ptr<Tmpfs>> later_;
  std::unique_ptr<GuardService> service_;
  std::thread thread_;
  std::vector<std::unique_ptr<FakeCoffer>> coffers_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
  std::string run_error_;
  std::atomic<int> heartbeats_{0};
};

TEST_F(FanotifyGuardTest, DeniesTheTeachersCreateOnAStickAndReportsIt) {
  start_guard();
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  EXPECT_TRUE(contains(c.marked(), stick_->path().string())) << "the stick is not in the marked list";

  const fs::path target = *stick_ / "pupils.csv";
  EXPECT_EQ(open_as(kTeacher, target, O_WRONLY | O_CREAT | O_EXCL), EPERM);
  // The kernel creates the file before asking: an empty file stays behind.
  EXPECT_EQ(size_of(target), 0u);
  auto reports = c.reports(1);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].path, target.string());
  EXPECT_EQ(reports[0].exe, self_exe());
  EXPECT_EQ(reports[0].flags, "0301");  // O_WRONLY|O_CREAT|O_EXCL
  EXPECT_TRUE(reports[0].empty_file_left);
  EXPECT_GT(reports[0].pid, 0);
  // The journal names the filesystem, never the file (names on sticks are
  // often pupils' names).
  EXPECT_TRUE(eventually([&] { return logged("blocked a write"); }, 2s));
  for (const auto& line : log()) EXPECT_EQ(line.find("pupils.csv"), std::string::npos) << line;
  EXPECT_GT(heartbeats_.load(), 0);
}

// A refused program often exits at once (python raising PermissionError):
// the report must still name it, so the guard reads the program while the
// opener is blocked, not after answering.
TEST_F(FanotifyGuardTest, AReportNamesAProgramThatExitsRightAfterTheRefusal) {
  start_guard();
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  // Many openers released at once: the guard answers a batch of events
  // before it reports any, so most have exited by the time it reports.
  constexpr int kTries = 20;
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < kTries; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(gate[1]);
      become(kTeacher);
      char b;
      if (::read(gate[0], &b, 1) != 0) ::_exit(252);
      int fd = ::open((*stick_ / ("quick" + std::to_string(i))).c_str(), O_WRONLY | O_CREAT, 0644);
      ::_exit(fd < 0 && errno == EPERM ? 0 : 1);
    }
    kids.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);  // releases every child at once
  for (pid_t pid : kids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "an open on the stick was not refused";
  }
  auto reports = c.reports(kTries);
  ASSERT_EQ(reports.size(), static_cast<std::size_t>(kTries));
  for (const auto& r : reports) EXPECT_EQ(r.exe, self_exe()) << r.path;
}

TEST_F(FanotifyGuardTest, ReadsStayAllowedEveryWriteModeIsDenied) {
  const fs::path existing = *stick_ / "timetable.txt";
  std::ofstream(existing) << "Monday: maths\n";
  ::chmod(existing.c_str(), 0666);
  start_guard();
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();

  EXPECT_EQ(open_as(kTeacher, existing, O_RDONLY), 0);
  EXPECT_EQ(open_as(kTeacher, existing, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), 0);
  EXPECT_EQ(open_as(kTeacher, existing, O_RDWR), EPERM);
  EXPECT_EQ(open_as(kTeacher, existing, O_RDONLY | O_TRUNC), EPERM);
  EXPECT_EQ(open_as(kTeacher, existing, O_WRONLY | O_APPEND), EPERM);
  EXPECT_EQ(size_of(existing), 14u) << "a denied open changed the file";

  auto reports = c.reports(3);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].flags, "02");
  EXPECT_FALSE(reports[0].empty_file_left);  // no O_CREAT, and not empty
  EXPECT_EQ(reports[2].flags, "02001");
}

TEST_F(FanotifyGuardTest, OpenatTwoAndCreatAreJudgedByTheirFlags) {
  const fs::path existing = *stick_ / "notes.txt";
  std::ofstream(existing) << "x\n";
  start_guard();
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  auto openat2_as = [&](std::uint64_t flags, const fs::path& p) {
    return in_child([&] {
      become(kTeacher);
      open_how how{};
      how.flags = flags;
      how.mode = (flags & O_CREAT) ? 0644 : 0;
      long fd = ::syscall(SYS_openat2, AT_FDCWD, p.c_str(), &how, sizeof how);
      if (fd < 0) return errno;
      ::close(static_cast<int>(fd));
      return 0;
    });
  };
  // openat2: flags read from the opener's memory (struct open_how).
  EXPECT_EQ(openat2_as(O_RDONLY, existing), 0);
  EXPECT_EQ(openat2_as(O_WRONLY | O_CREAT, *stick_ / "b.txt"), EPERM);
  EXPECT_EQ(in_child([&] {
              become(kTeacher);
              int fd = ::creat((*stick_ / "c.txt").c_str(), 0644);
              return fd < 0 ? errno : 0;
            }),
            EPERM);
  auto reports = c.reports(2);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].flags, "0101");
  EXPECT_EQ(reports[1].flags, "01101");  // creat = O_CREAT|O_WRONLY|O_TRUNC
}

TEST_F(FanotifyGuardTest, OtherPlacesOtherUsersAndNobodyRegisteredAreUnaffected) {
  start_guard();
  // Before any coffer registers, the stick is marked but every open passes.
  EXPECT_EQ(open_as(kTeacher, *stick_ / "before.txt", O_WRONLY | O_CREAT), 0);
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  EXPECT_EQ(open_as(kTeacher, tmp_ / "plain" / "x.txt", O_WRONLY | O_CREAT), 0) << "an unmarked folder";
  EXPECT_EQ(open_as(kOtherUser, *stick_ / "other.txt", O_WRONLY | O_CREAT), 0) << "another user";
  EXPECT_EQ(open_as(0, *stick_ / "root.txt", O_WRONLY | O_CREAT), 0) << "root";
  EXPECT_EQ(open_as(kTeacher, *stick_ / "mine.txt", O_WRONLY | O_CREAT), EPERM);
  // The registered daemon itself is exempt.
  EXPECT_EQ(c.write_as_daemon(*stick_ / "audit-drop.txt"), 0);
  EXPECT_EQ(c.reports(1).size(), 1u);
}

TEST_F(FanotifyGuardTest, WritesAreAllowedAgainOnceTheCofferDisconnects) {
  start_guard();
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  EXPECT_EQ(open_as(kTeacher, *stick_ / "a.txt", O_WRONLY | O_CREAT), EPERM);
  c.close();
  EXPECT_TRUE(eventually([&] { return open_as(kTeacher, *stick_ / "b.txt", O_WRONLY | O_CREAT) == 0; }, 2s));
  EXPECT_TRUE(eventually([&] { return logged("unregistered"); }, 2s));
}

TEST_F(FanotifyGuardTest, MarksAStickMountedAfterItStarted) {
  start_guard();
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  const fs::path dir = tmp_ / "sticks" / "b";
  const auto mounted_at = std::chrono::steady_clock::now();
  later_.push_back(std::make_unique<Tmpfs>(dir));
  int n = 0;
  bool denied = eventually(
      [&] { return open_as(kTeacher, dir / ("try" + std::to_string(n++)), O_WRONLY | O_CREAT) == EPERM; }, 1s);
  EXPECT_TRUE(denied) << "a stick mounted after the guard started was not guarded within a second";
  std::cout
      << "[ info ] new mount guarded after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - mounted_at).count()
      << " ms\n";
  EXPECT_TRUE(logged("guarding " + dir.string()));
  // Unmounted and mounted again at the same place: guarded again.
  later_.clear();
  EXPECT_TRUE(eventually([&] { return logged("no longer guarding " + dir.string()); }, 2s));
  later_.push_back(std::make_unique<Tmpfs>(dir));
  EXPECT_TRUE(eventually(
      [&] { return open_as(kTeacher, dir / ("again" + std::to_string(n++)), O_WRONLY | O_CREAT) == EPERM; }, 1s));
}

// Anonymous device numbers are handed out lowest-free first, so a tmpfs
// mounted right after a stick is unmounted usually gets the stick's device
// number (in CI, another test's tmpfs did). The guard must still see that
// the stick is gone, not take the newcomer for it.
TEST_F(FanotifyGuardTest, AStickWhoseDeviceNumberIsReusedIsSeenGone) {
  start_guard();
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  // Whether the guard reads the table between the two mount changes is a
  // race: repeat until the number was reused before it looked, or 40 times.
  int reused = 0;
  for (int i = 0; i < 40; ++i) {
    const fs::path dir = tmp_ / "sticks" / ("c" + std::to_string(i));
    auto stick = std::make_unique<Tmpfs>(dir);
    int n = 0;
    ASSERT_TRUE(eventually(
        [&] { return open_as(kTeacher, dir / ("try" + std::to_string(n++)), O_WRONLY | O_CREAT) == EPERM; }, 1s));
    struct stat before {};
    ASSERT_EQ(::stat(dir.c_str(), &before), 0);
    stick.reset();
    Tmpfs plain(tmp_ / ("plain" + std::to_string(i)));  // not declared removable: never guarded
    struct stat after {};
    ASSERT_EQ(::stat(plain.path().c_str(), &after), 0);
    reused += after.st_dev == before.st_dev;
    EXPECT_TRUE(eventually([&] { return logged("no longer guarding " + dir.string() + " (unmounted)"); }, 2s))
        << "round " << i << (after.st_dev == before.st_dev ? ", device number reused" : "");
    EXPECT_EQ(open_as(kTeacher, plain / "x.txt", O_WRONLY | O_CREAT), 0);
  }
  std::cout << "[ info ] device number reused in " << reused << " of 40 rounds\n";
}

TEST_F(FanotifyGuardTest, ApprovedDestinationsMustBeApprovedByEveryCoffer) {
  fs::create_directories(*stick_ / "approved");
  ::chmod((*stick_ / "approved").c_str(), 01777);
  start_guard();
  FakeCoffer& a = coffer({*stick_ / "approved"}, "coffer-a");
  ASSERT_TRUE(a.registered()) << a.error();
  EXPECT_EQ(open_as(kTeacher, *stick_ / "approved" / "export.csv", O_WRONLY | O_CREAT), 0);
  EXPECT_EQ(open_as(kTeacher, *stick_ / "approvedX.csv", O_WRONLY | O_CREAT), EPERM) << "prefix, not a folder";
  EXPECT_EQ(open_as(kTeacher, *stick_ / "elsewhere.csv", O_WRONLY | O_CREAT), EPERM);
  // A second coffer of the same teacher approves nothing there.
  FakeCoffer& b = coffer({}, "coffer-b");
  ASSERT_TRUE(b.registered()) << b.error();
  EXPECT_EQ(open_as(kTeacher, *stick_ / "approved" / "export2.csv", O_WRONLY | O_CREAT), EPERM);
  // Both coffers hear of it.
  EXPECT_EQ(b.reports(1).size(), 1u);
  EXPECT_EQ(a.reports(3).size(), 3u);
}

TEST_F(FanotifyGuardTest, ListsWritableDescriptorsAlreadyOpenAtRegistration) {
  start_guard();
  // A teacher's process opened a file on the stick before the coffer opened.
  int ready[2], release[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  const fs::path held = *stick_ / "held-open.csv";
  pid_t holder = ::fork();
  if (holder == 0) {
    ::close(release[1]);  // else it would never see the end of the pipe
    ::close(ready[0]);
    become(kTeacher);
    int fd = ::open(held.c_str(), O_WRONLY | O_CREAT, 0644);
    char c = fd >= 0 ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_EQ(c, 'y');
  FakeCoffer& co = coffer();
  EXPECT_TRUE(co.registered()) << co.error();
  EXPECT_TRUE(contains(co.open_writers(), std::to_string(holder) + " " + held.string()))
      << "open_writers: " << ::testing::PrintToString(co.open_writers());
  ::close(release[1]);
  ::close(ready[0]);
  ::waitpid(holder, nullptr, 0);
}

// ----------------------------------------- read-only removable media (guarded)

// The mount at PATH in this process's table (the topmost).
std::optional<MountEntry> mount_at(const fs::path& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  std::optional<MountEntry> found;
  for (const MountEntry& e : parse_mountinfo(text.str()))
    if (e.mount_point == path.string()) found = e;
  return found;
}

// The superblock's read-only flag, as the mount table shows it.
bool super_ro(const fs::path& path) {
  auto e = mount_at(path);
  return e && (e->super_options == "ro" || e->super_options.rfind("ro,", 0) == 0);
}

// Sets the superblock at PATH read-only or writable (not the mount's flag).
int set_super(const fs::path& path, bool readonly) {
  int fc = ::fspick(AT_FDCWD, path.c_str(), FSPICK_CLOEXEC);
  if (fc < 0) return errno;
  int rc = ::fsconfig(fc, FSCONFIG_SET_FLAG, readonly ? "ro" : "rw", nullptr, 0) == 0 &&
                   ::fsconfig(fc, FSCONFIG_CMD_RECONFIGURE, nullptr, nullptr, 0) == 0
               ? 0
               : errno;
  ::close(fc);
  return rc;
}

// mkdir as UID in a child: 0 or errno. A directory name is how a pupil's
// name reached the stick past the open check.
int mkdir_as(uid_t uid, const fs::path& path) {
  return in_child([&] {
    become(uid);
    return ::mkdir(path.c_str(), 0755) == 0 ? 0 : errno;
  });
}

bool file_has(const fs::path& p, const std::string& needle) {
  std::ifstream in(p);
  std::stringstream text;
  text << in.rdbuf();
  return text.str().find(needle) != std::string::npos;
}

TEST_F(FanotifyGuardTest, AGuardedCofferMakesRemovableMediaReadOnlyForEveryoneAndRestoresIt) {
  Tmpfs already_ro(tmp_ / "sticks" / "ro");
  ASSERT_EQ(set_super(already_ro.path(), true), 0);
  Tmpfs fixed(tmp_ / "fixed");  // not declared removable
  start_guard();
  // A mount namespace made before the coffer opened (as the teacher, with
  // `unshare -Urm`) holds its own copy of the stick's mount.
  int ready[2], release[2], result[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(result, O_CLOEXEC), 0);
  const fs::path name_dir = *stick_ / "Ada Lovelace, 4B";
  pid_t ns = ::fork();
  if (ns == 0) {
    ::close(release[1]);
    ::close(ready[0]);
    ::close(result[0]);
    become(kTeacher);
    char c = ::unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);
    int err = ::mkdir(name_dir.c_str(), 0755) == 0 ? 0 : errno;
    (void)!::write(result[1], &err, sizeof err);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  ::close(result[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y') << "unshare(CLONE_NEWUSER | CLONE_NEWNS) failed";

  FakeCoffer& co = guarded_coffer();
  ASSERT_TRUE(co.registered()) << co.error();
  EXPECT_TRUE(contains(co.readonly(), stick_->path().string())) << ::testing::PrintToString(co.readonly());
  EXPECT_FALSE(contains(co.readonly(), already_ro.path().string())) << "already read-only: not the guard's change";
  EXPECT_TRUE(super_ro(stick_->path())) << "the stick's superblock is still writable";
  EXPECT_EQ(mkdir_as(kTeacher, name_dir), EROFS);
  EXPECT_EQ(mkdir_as(0, *stick_ / "root"), EROFS) << "root, too, cannot write to the stick";
  EXPECT_EQ(mkdir_as(kOtherUser, *stick_ / "other"), EROFS);
  EXPECT_EQ(::symlink("Ada Lovelace", (*stick_ / "link").c_str()), -1);
  EXPECT_EQ(open_as(kOtherUser, *stick_ / "x.csv", O_WRONLY | O_CREAT), EROFS);
  struct statvfs sv {};
  ASSERT_EQ(::statvfs(stick_->path().c_str(), &sv), 0);
  EXPECT_TRUE(sv.f_flag & ST_NOSUID) << "the mount's own nosuid flag was lost in the remount";
  EXPECT_TRUE(sv.f_flag & ST_NODEV);
  EXPECT_EQ(mkdir_as(0, fixed / "ok"), 0) << "a filesystem not declared removable was made read-only";
  EXPECT_TRUE(file_has(record_, stick_->path().string())) << "the change is not recorded in " << record_;
  EXPECT_FALSE(file_has(record_, already_ro.path().string()));
  // Logged when the remount job is collected, which may be just after the
  // registration's answer.
  EXPECT_TRUE(eventually([&] { return logged("made " + stick_->path().string() + " read-only for every user"); }, 2s));

  ::close(release[1]);  // the namespace made earlier: its copy is read-only too
  int err = -1;
  ASSERT_EQ(::read(result[0], &err, sizeof err), static_cast<ssize_t>(sizeof err));
  EXPECT_EQ(err, EROFS) << "a mount copied into an earlier namespace stayed writable";
  ::waitpid(ns, nullptr, 0);
  ::close(ready[0]);
  ::close(result[0]);

  co.close();  // the last guarded coffer goes: exactly the guard's change is undone
  EXPECT_TRUE(eventually([&] { return !super_ro(stick_->path()); }, 2s)) << "the stick stayed read-only";
  EXPECT_TRUE(super_ro(already_ro.path())) << "a stick read-only before the coffer opened was made writable";
  EXPECT_TRUE(eventually([&] { return !fs::exists(record_); }, 2s)) << "the record outlived the change";
  EXPECT_EQ(mkdir_as(0, *stick_ / "after"), 0);
  EXPECT_TRUE(eventually([&] { return logged("made " + stick_->path().string() + " writable again"); }, 2s));
}

TEST_F(FanotifyGuardTest, AStandardCofferLeavesRemovableMediaWritable) {
  start_guard();
  FakeCoffer& co = coffer();
  ASSERT_TRUE(co.registered()) << co.error();
  EXPECT_TRUE(co.readonly().empty());
  EXPECT_FALSE(super_ro(stick_->path()));
  EXPECT_EQ(mkdir_as(kTeacher, *stick_ / "name"), 0) << "a standard coffer only checks opens";
  EXPECT_FALSE(fs::exists(record_));
}

TEST_F(FanotifyGuardTest, ABusyStickRefusesTheGuardedCofferNamingTheWriter) {
  Tmpfs second(tmp_ / "sticks" / "b");
  start_guard();
  // Another user's program writes to the stick: a read-only remount must
  // wait for it, so the coffer cannot open.
  int ready[2], release[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  const fs::path held = *stick_ / "held.csv";
  pid_t holder = ::fork();
  if (holder == 0) {
    ::close(release[1]);
    ::close(ready[0]);
    become(kOtherUser);
    int fd = ::open(held.c_str(), O_WRONLY | O_CREAT, 0644);
    char c = fd >= 0 ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  FakeCoffer& refused = guarded_coffer();
  EXPECT_FALSE(refused.registered());
  EXPECT_NE(refused.error().find("could not be made read-only"), std::string::npos) << refused.error();
  EXPECT_NE(refused.error().find(stick_->path().string() + ": Device or resource busy"), std::string::npos)
      << refused.error();
  EXPECT_NE(refused.error().find("process " + std::to_string(holder) + " ("), std::string::npos) << refused.error();
  EXPECT_NE(refused.error().find("writing " + held.string()), std::string::npos) << refused.error();
  // What it did make read-only meanwhile is undone.
  EXPECT_TRUE(eventually([&] { return !super_ro(second.path()); }, 2s));
  EXPECT_TRUE(eventually([&] { return !fs::exists(record_); }, 2s));
  ::close(release[1]);
  ::close(ready[0]);
  ::waitpid(holder, nullptr, 0);

  // A shared writable mapping made before the coffer opened, its descriptor
  // closed: no open to see, but the remount still waits for it.
  int mapped[2], unmap[2];
  ASSERT_EQ(::pipe2(mapped, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(unmap, O_CLOEXEC), 0);
  pid_t mapper = ::fork();
  if (mapper == 0) {
    ::close(unmap[1]);
    ::close(mapped[0]);
    become(kTeacher);
    int fd = ::open((*stick_ / "mapped.bin").c_str(), O_RDWR | O_CREAT, 0644);
    void* p = MAP_FAILED;
    if (fd >= 0 && ::ftruncate(fd, 4096) == 0) p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd >= 0) ::close(fd);
    char m = p != MAP_FAILED ? 'y' : 'n';
    (void)!::write(mapped[1], &m, 1);
    (void)!::read(unmap[0], &m, 1);
    ::_exit(0);
  }
  ::close(mapped[1]);
  ::close(unmap[0]);
  ASSERT_EQ(::read(mapped[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  FakeCoffer& refused2 = guarded_coffer("coffer2");
  EXPECT_FALSE(refused2.registered());
  EXPECT_NE(refused2.error().find("mapped for writing"), std::string::npos) << refused2.error();
  ::close(unmap[1]);
  ::close(mapped[0]);
  ::waitpid(mapper, nullptr, 0);

  // Once no one writes there, the coffer opens.
  FakeCoffer& ok = guarded_coffer("coffer3");
  EXPECT_TRUE(ok.registered()) << ok.error();
  EXPECT_TRUE(super_ro(stick_->path()));
}

// The hot-plug window: a stick mounted while a guarded coffer is open is
// writable until the guard, woken by the mount table, marks and remounts
// it. A root writer (the open check alone does not stop root) loops
// creating files from the moment the mount appears; the test reports how
// long it got through and how many files landed. Its open files keep the
// remount busy: until it succeeds, every write open there is refused
// (EPERM), and the guard tries again until the stick is read-only.
TEST_F(FanotifyGuardTest, AStickMountedWhileGuardedIsMadeReadOnlyWithinTheWindow) {
  start_guard();
  FakeCoffer& co = guarded_coffer();
  ASSERT_TRUE(co.registered()) << co.error();
  const fs::path dir = tmp_ / "sticks" / "late";
  fs::create_directories(dir);
  struct stat parent {};
  ASSERT_EQ(::stat(dir.c_str(), &parent), 0);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  pid_t writer = ::fork();
  if (writer == 0) {
    ::close(report[0]);
    struct stat st {};
    auto deadline = std::chrono::steady_clock::now() + 10s;
    // Wait for the new filesystem, then write until it refuses.
    while ((::stat(dir.c_str(), &st) != 0 || st.st_dev == parent.st_dev) &&
           std::chrono::steady_clock::now() < deadline) {
    }
    long landed = 0;
    int err = 0;
    for (long i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
      int fd = ::open((dir / ("race" + std::to_string(i))).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) {
        err = errno;
        break;
      }
      if (::write(fd, "x", 1) == 1) ++landed;
      ::close(fd);
    }
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    long long stamp[3] = {now.tv_sec * 1000000000LL + now.tv_nsec, landed, err};
    (void)!::write(report[1], stamp, sizeof stamp);
    ::_exit(0);
  }
  ::close(report[1]);
  later_.push_back(std::make_unique<Tmpfs>(dir));
  timespec mounted{};
  ::clock_gettime(CLOCK_MONOTONIC, &mounted);
  long long stamp[3] = {0, 0, 0};
  ASSERT_EQ(::read(report[0], stamp, sizeof stamp), static_cast<ssize_t>(sizeof stamp));
  ::close(report[0]);
  ::waitpid(writer, nullptr, 0);
  const long long window_us = (stamp[0] - (mounted.tv_sec * 1000000000LL + mounted.tv_nsec)) / 1000;
  std::cout << "[ info ] hot-plug window: a racing writer got " << stamp[1] << " file(s) onto a stick mounted while "
            << "guarded, for " << window_us << " us after mount() returned\n";
  EXPECT_TRUE(stamp[2] == EROFS || stamp[2] == EPERM) << "the racing writer was never refused: " << stamp[2];
  EXPECT_LT(window_us, 1000000) << "the new stick was still writable after a second";
  EXPECT_TRUE(eventually([&] { return super_ro(dir); }, 1s)) << "the new stick was not made read-only";
  // Logged once the guard has collected the remount child.
  EXPECT_TRUE(eventually([&] { return logged("made " + dir.string() + " read-only for every user"); }, 2s));
  EXPECT_TRUE(file_has(record_, dir.string()));
  co.close();
  EXPECT_TRUE(eventually([&] { return !super_ro(dir); }, 2s));
}

TEST_F(FanotifyGuardTest, AGuardStartedAfterACrashRestoresExactlyWhatItsRecordLists) {
  Tmpfs b(tmp_ / "sticks" / "b");
  Tmpfs ro(tmp_ / "sticks" / "ro");
  ASSERT_EQ(set_super(b.path(), true), 0);
  ASSERT_EQ(set_super(ro.path(), true), 0);
  auto e = mount_at(b.path());
  ASSERT_TRUE(e);
  {
    std::ofstream rec(record_);
    rec << "coffer-guard read-only v1\n"
        << e->major << " " << e->minor << " " << e->mount_id << " tmpfs " << b.path().string() << "\n";
  }
  start_guard();
  EXPECT_TRUE(eventually([&] { return !super_ro(b.path()); }, 2s)) << "the crashed guard's change was not undone";
  EXPECT_TRUE(super_ro(ro.path())) << "the guard made writable what it had not made read-only";
  EXPECT_FALSE(fs::exists(record_));
  EXPECT_TRUE(logged("restoring what a previous copy guard made read-only"));
}

// A FUSE filesystem mounted with subtype=coffer shows as "fuse.coffer"
// like a real coffer; any user can mount one and write through it. The
// guard exempts only a mount it verified at registration (by device, in
// the registrant's own mount table), never by that type.
TEST_F(FanotifyGuardTest, AFuseMountCallingItselfACofferIsGuardedUntilVerified) {
  const fs::path dir = tmp_ / "coffer-impostor";
  fs::create_directories(dir);
  pid_t server = ::fork();
  if (server == 0) {
    ::execl(FUSE_IMPOSTOR, FUSE_IMPOSTOR, dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Unmount {
    fs::path dir;
    pid_t pid;
    ~Unmount() {
      ::umount2(dir.c_str(), MNT_DETACH);
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } unmount{dir, server};
  ASSERT_TRUE(eventually(
      [&] {
        auto e = mount_at(dir);
        return e && e->fs_type == "fuse.coffer";
      },
      5s))
      << "the impostor filesystem did not mount";
  start_guard();
  EXPECT_EQ(open_as(kTeacher, dir / "before.csv", O_WRONLY | O_CREAT), 0);
  // The teacher's coffer is elsewhere: the impostor is just another FUSE
  // filesystem, and guarded.
  FakeCoffer& co = coffer();
  ASSERT_TRUE(co.registered()) << co.error();
  EXPECT_TRUE(contains(co.marked(), dir.string())) << ::testing::PrintToString(co.marked());
  EXPECT_EQ(open_as(kTeacher, dir / "leak.csv", O_WRONLY | O_CREAT), EPERM)
      << "a write through a FUSE mount named coffer got past the guard";
  // Registered as a coffer (verified: it is a fuse.coffer mount in the
  // registrant's table), its mount is the protected side: writes pass.
  FakeCoffer& verified = coffer({}, "coffer-impostor");
  ASSERT_TRUE(verified.registered()) << verified.error();
  EXPECT_EQ(open_as(kTeacher, dir / "inside.csv", O_WRONLY | O_CREAT), 0)
      << "a verified coffer's own mount was refused a write";
}

// A program of the teacher's holding every connection it can get (and
// never registering) must not keep the teacher's coffer from registering:
// the coffer would open without the guard while status claimed it.
TEST_F(FanotifyGuardTest, ConnectionsThatNeverRegisterCannotStarveARegistration) {
  start_guard();
  int ready[2], release[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  pid_t hog = ::fork();
  if (hog == 0) {
    ::close(release[1]);
    ::close(ready[0]);
    become(kTeacher);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    int held = 0;
    for (int i = 0; i < 100; ++i) {
      int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
      if (s >= 0 && ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) ++held;
    }
    char c = held > 0 ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  FakeCoffer& co = coffer();
  EXPECT_TRUE(co.registered()) << co.error();
  EXPECT_EQ(open_as(kTeacher, *stick_ / "x.csv", O_WRONLY | O_CREAT), EPERM);
  ::close(release[1]);
  ::close(ready[0]);
  ::waitpid(hog, nullptr, 0);
}

TEST_F(FanotifyGuardTest, TheRealCheckRefusesAProcessWithoutACofferMount) {
  start_guard(/*real_verifier=*/true);
  FakeCoffer& c = coffer();
  EXPECT_FALSE(c.registered());
  EXPECT_NE(c.error().find("the copy guard refused this coffer: no coffer is mounted at " + (tmp_ / "coffer").string()),
            std::string::npos)
      << c.error();
  EXPECT_TRUE(logged("refused a registration"));
}

TEST_F(FanotifyGuardTest, MalformedRegistrationsAreRefused) {
  start_guard();
  auto ask = [&](const std::string& request) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, socket_.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return std::string("connect failed");
    }
    write_all(fd, request);
    std::string reply;
    char b[4096];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 10000) > 0) {
      ssize_t n = ::read(fd, b, sizeof b);
      if (n <= 0) break;
      reply.append(b, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return reply;
  };
  EXPECT_NE(ask("not json\n").find("\"ok\":false"), std::string::npos);
  EXPECT_NE(ask("{\"op\":\"register\",\"mountpoint\":\"relative\",\"approved\":[]}\n").find("absolute"),
            std::string::npos);
  EXPECT_NE(ask(std::string(kMaxGuardLine + 10, 'x') + "\n").find("too long"), std::string::npos);
  // The guard survived all of it.
  FakeCoffer& c = coffer();
  EXPECT_TRUE(c.registered()) << c.error();
}

TEST_F(FanotifyGuardTest, ASecondGuardOnTheSameSocketIsRefusedAndShutdownCleansUp) {
  start_guard();
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  GuardConfig second;
  second.socket_path = socket_;
  try {
    GuardService s(std::move(second));
    ADD_FAILURE() << "a second guard started on the same socket";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBusy) << e.what();
  }
  EXPECT_TRUE(fs::exists(socket_)) << "the refused guard removed the running one's socket";
  stop_guard();
  EXPECT_FALSE(fs::exists(socket_));
  // The coffer sees its guard gone (and would lock)...
  EXPECT_TRUE(c.wait_closed(5s));
  // ...and the kernel lets opens through again.
  EXPECT_EQ(open_as(kTeacher, *stick_ / "after.txt", O_WRONLY | O_CREAT), 0);
}

TEST_F(FanotifyGuardTest, RefusesToRunAsAnOrdinaryUser) {
  int rc = in_child([&] {
    become(kTeacher);
    try {
      GuardConfig c;
      c.socket_path = tmp_ / "x.sock";
      GuardService s(std::move(c));
    } catch (const Error& e) {
      return e.code() == ErrorCode::kPolicy &&
                     std::string(e.what()) == "coffer guard must run as root (it is the coffer-guard system service)"
                 ? 0
                 : 2;
    }
    return 3;
  });
  EXPECT_EQ(rc, 0);
}

// Per-open cost, as the benchmark in the copy-guard issue asks (printed, and
// bounded loosely so a regression to milliseconds fails).
TEST_F(FanotifyGuardTest, OpenOverhead) {
  Tmpfs unmarked(tmp_ / "unmarked");
  std::ofstream(unmarked / "f") << "x";
  std::ofstream(*stick_ / "f") << "x";
  auto per_open_us = [&](uid_t uid, const fs::path& p) {
    int fds[2];
    if (::pipe(fds) != 0) return -1.0;
    in_child([&] {
      become(uid);
      constexpr int kN = 20000;
      timespec a{}, b{};
      ::clock_gettime(CLOCK_MONOTONIC, &a);
      for (int i = 0; i < kN; ++i) {
        int fd = ::open(p.c_str(), O_RDONLY);
        if (fd < 0) return 1;
        ::close(fd);
      }
      ::clock_gettime(CLOCK_MONOTONIC, &b);
      double us =
          (static_cast<double>(b.tv_sec - a.tv_sec) * 1e9 + static_cast<double>(b.tv_nsec - a.tv_nsec)) / 1e3 / kN;
      (void)!::write(fds[1], &us, sizeof us);
      return 0;
    });
    ::close(fds[1]);
    double us = -1;
    (void)!::read(fds[0], &us, sizeof us);
    ::close(fds[0]);
    return us;
  };
  const double base_before = per_open_us(kTeacher, unmarked / "f");
  const double stick_before = per_open_us(kTeacher, *stick_ / "f");
  start_guard();
  ASSERT_TRUE(eventually([&] { return logged("ready"); }, 5s));
  const double idle = per_open_us(kTeacher, *stick_ / "f");
  FakeCoffer& c = coffer();
  ASSERT_TRUE(c.registered()) << c.error();
  const double other_user = per_open_us(kOtherUser, *stick_ / "f");
  const double teacher_read = per_open_us(kTeacher, *stick_ / "f");
  const double unmarked_fs = per_open_us(kTeacher, unmarked / "f");
  std::cout << "[ info ] open+close, microseconds: other tmpfs " << base_before << " / " << unmarked_fs
            << " (guard off / coffer open); stick: " << stick_before << " without guard, " << idle
            << " guard running but no coffer open (no marks), " << other_user << " coffer open, another user, "
            << teacher_read << " coffer open, its owner reading\n";
  RecordProperty("open_us_unguarded", std::to_string(stick_before));
  RecordProperty("open_us_guard_idle", std::to_string(idle));
  RecordProperty("open_us_other_user", std::to_string(other_user));
  RecordProperty("open_us_teacher_read", std::to_string(teacher_read));
  for (double v : {base_before, stick_before, idle, other_user, teacher_read, unmarked_fs}) {
    EXPECT_GT(v, 0);
    EXPECT_LT(v, 1000) << "an open on a guarded filesystem took over a millisecond";
  }
}

// ------------------------------------------------------- client, no service

TEST(GuardClientTest, NoServiceMeansAPolicyErrorNamingWhatToInstall) {
  test::TempDir tmp;
  try {
    GuardConnection::connect(tmp / "guard.sock", "/home/t/Coffer/trip", {});
    FAIL() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPolicy);
    EXPECT_EQ(std::string(e.what()),
              "this coffer needs the copy guard service, which is not running on this computer: ask IT to "
              "install and enable it (systemctl enable --now coffer-guard)");
  }
  // A socket file nobody listens on (a guard that died): the same.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, (tmp / "dead.sock").c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  try {
    GuardConnection::connect(tmp / "dead.sock", "/home/t/Coffer/trip", {});
    FAIL() << "connected to a dead socket";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPolicy);
    EXPECT_NE(std::string(e.what()).find("not running"), std::string::npos) << e.what();
  }
}

TEST(GuardClientTest, ASocketNotOwnedByRootIsNotTheGuard) {
  ASSERT_EQ(::geteuid(), 0u) << kNeedRoot;
  test::TempDir tmp;
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, (tmp / "fake.sock").c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::chown((tmp / "fake.sock").c_str(), kTeacher, kTeacher), 0);
  try {
    GuardConnection::connect(tmp / "fake.sock", "/home/t/Coffer/trip", {});
    FAIL() << "trusted a socket owned by a user";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPolicy);
    EXPECT_NE(std::string(e.what()).find("not root's"), std::string::npos) << e.what();
  }
  ::close(fd);
}

TEST(GuardClientTest, RelativePathsAreUsageErrors) {
  try {
    GuardConnection::connect("/nonexistent/guard.sock", "relative/mp", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUsage);
  }
  try {
    GuardConnection::connect("/nonexistent/guard.sock", "/abs/mp", {"relative"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUsage);
  }
}

// ------------------------------------------------------------- protocol

TEST(GuardProtocolTest, MessagesRoundTrip) {
  RegisterRequest req{"/home/t/Coffer/trip", {"/srv/share", "/media/school"}, false};
  std::string line = encode(req);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(
      line,
      "{\"approved\":[\"/srv/share\",\"/media/school\"],\"mountpoint\":\"/home/t/Coffer/trip\",\"op\":\"register\"}\n");
  EXPECT_EQ(decode_register_request(line.substr(0, line.size() - 1)), req);

  RegisterReply ok{true, "", {"/media/usb"}, {{42, "/usr/bin/cp", "/media/usb/x"}}, {"/mnt/nfs: Permission denied"},
                   {}};
  line = encode(ok);
  EXPECT_EQ(decode_register_reply(line.substr(0, line.size() - 1)), ok);
  RegisterReply no{false, "no coffer is mounted at /x", {}, {}, {}, {}};
  line = encode(no);
  EXPECT_EQ(line, "{\"error\":\"no coffer is mounted at /x\",\"ok\":false}\n");
  EXPECT_EQ(decode_register_reply(line.substr(0, line.size() - 1)), no);
  // A guarded coffer's registration and the read-only media in its answer.
  RegisterRequest guarded{"/home/t/Coffer/trip", {}, true};
  line = encode(guarded);
  EXPECT_EQ(line,
            "{\"approved\":[],\"mountpoint\":\"/home/t/Coffer/trip\",\"op\":\"register\",\"readonly_media\":true}\n");
  EXPECT_EQ(decode_register_request(line.substr(0, line.size() - 1)), guarded);
  RegisterReply ro{true, "", {"/media/usb"}, {}, {}, {"/media/usb"}};
  line = encode(ro);
  EXPECT_EQ(decode_register_reply(line.substr(0, line.size() - 1)), ro);
  EXPECT_THROW(decode_register_request(R"({"op":"register","mountpoint":"/m","approved":[],"readonly_media":1})"),
               Error);

  BlockedReport b{1234, "/usr/bin/cp", "/media/usb/x.csv", "0301", true};
  line = encode(b);
  EXPECT_EQ(line,
            "{\"empty_file_left\":true,\"exe\":\"/usr/bin/cp\",\"flags\":\"0301\",\"op\":\"blocked\",\"path\":\"/media/"
            "usb/x.csv\",\"pid\":1234}\n");
  EXPECT_EQ(decode_blocked_report(line.substr(0, line.size() - 1)), b);
  // The brief's own example line.
  EXPECT_EQ(
      decode_blocked_report(
          R"({"op":"blocked","pid":7,"exe":"/usr/bin/cp","path":"/media/usb/x.csv","flags":"0301","empty_file_left":true})")
          .pid,
      7);
}

TEST(GuardProtocolTest, DecodingIsStrict) {
  auto damaged = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code() == ErrorCode::kDamaged;
    }
    return false;
  };
  EXPECT_TRUE(damaged([] { decode_register_request("{"); }));
  EXPECT_TRUE(damaged([] { decode_register_request("[]"); }));
  EXPECT_TRUE(damaged([] { decode_register_request(R"({"op":"register","mountpoint":"/m"})"); }));
  EXPECT_TRUE(damaged([] { decode_register_request(R"({"op":"register","mountpoint":"/m","approved":[],"x":1})"); }));
  EXPECT_TRUE(damaged([] { decode_register_request(R"({"op":"hello","mountpoint":"/m","approved":[]})"); }));
  EXPECT_TRUE(damaged([] { decode_register_request(R"({"op":"register","mountpoint":"m","approved":[]})"); }));
  EXPECT_TRUE(damaged([] { decode_register_request(R"({"op":"register","mountpoint":"/m","approved":["rel"]})"); }));
  EXPECT_TRUE(damaged([] { decode_register_request(R"({"op":"register","mountpoint":"/m","approved":[1]})"); }));
  EXPECT_TRUE(damaged([] { decode_register_request(R"({"op":"register","mountpoint":"/m\u0000x","approved":[]})"); }));
  std::string many = R"({"op":"register","mountpoint":"/m","approved":[)";
  for (std::size_t i = 0; i <= kMaxApprovedDestinations; ++i) many += std::string(i ? "," : "") + "\"/a\"";
  EXPECT_TRUE(damaged([&] { decode_register_request(many + "]}"); }));
  EXPECT_TRUE(
      damaged([] { decode_register_request("{\"op\":\"register\",\"mountpoint\":\"/\xff\",\"approved\":[]}"); }));
  EXPECT_TRUE(damaged([] {
    decode_blocked_report(R"({"op":"blocked","pid":-1,"exe":"","path":"","flags":"","empty_file_left":true})");
  }));
  EXPECT_TRUE(damaged(
      [] { decode_blocked_report(R"({"op":"blocked","pid":1,"exe":"","path":"","flags":"","empty_file_left":1})"); }));
  EXPECT_TRUE(damaged([] { decode_register_reply(R"({"ok":true})"); }));
  EXPECT_TRUE(damaged([] { decode_register_reply(R"({"ok":false})"); }));
  EXPECT_TRUE(damaged([] { decode_register_reply(R"({"ok":true,"marked":[],"open_writers":[{"pid":1}]})"); }));
}

TEST(GuardProtocolTest, PathsThatAreNotUtf8AreStillEncoded) {
  BlockedReport b{1, "/usr/bin/cp", "/media/usb/caf\xe9.csv", "01", false};
  std::string line = encode(b);
  auto back = decode_blocked_report(line.substr(0, line.size() - 1));
  EXPECT_EQ(back.path, "/media/usb/caf\xef\xbf\xbd.csv");
}

TEST(GuardProtocolTest, LineBufferSplitsAndBoundsLines) {
  LineBuffer b;
  b.append("one\ntw");
  EXPECT_EQ(b.next_line(), "one");
  EXPECT_EQ(b.next_line(), std::nullopt);
  b.append("o\n\nthree");
  EXPECT_EQ(b.next_line(), "two");
  EXPECT_EQ(b.next_line(), "");
  EXPECT_EQ(b.next_line(), std::nullopt);
  EXPECT_FALSE(b.overlong());

  LineBuffer big;
  big.append(std::string(kMaxGuardLine, 'a'));
  EXPECT_FALSE(big.overlong());
  big.append("a");
  EXPECT_TRUE(big.overlong());
  EXPECT_EQ(big.next_line(), std::nullopt);

  LineBuffer after_line;  // a complete line followed by an overlong one
  after_line.append("ok\n" + std::string(kMaxGuardLine + 1, 'b'));
  EXPECT_TRUE(after_line.overlong());
}

TEST(GuardRegistrationTest, TheMountMustBeTheCallersCoffer) {
  const std::string table =
      "1 0 254:0 / / rw - ext4 /dev/vda rw\n"
      "50 1 0:60 / /home/t/Coffer/trip rw,nosuid,nodev - fuse.coffer coffer rw,user_id=1000,group_id=1000\n"
      "51 1 0:61 / /home/t/ssh rw - fuse.sshfs t@h: rw,user_id=1000,group_id=1000\n"
      "52 1 0:62 / /home/u/Coffer/x rw - fuse.coffer coffer rw,user_id=1001,group_id=1001\n"
      "53 1 0:63 / /home/t/Coffer/hidden rw - fuse.coffer coffer rw,user_id=1000,group_id=1000\n"
      "54 53 0:64 / /home/t/Coffer/hidden rw - tmpfs tmpfs rw\n";
  EXPECT_EQ(coffer_mount_problem(table, 1000, "/home/t/Coffer/trip"), std::nullopt);
  EXPECT_EQ(coffer_mount_problem(table, 1000, "/home/t/Coffer/trip/"), std::nullopt);
  EXPECT_EQ(coffer_mount_problem(table, 1000, "/home/t/Coffer/none"), "no coffer is mounted at /home/t/Coffer/none");
  EXPECT_EQ(coffer_mount_problem(table, 1000, "/home/t/ssh"), "/home/t/ssh is not a coffer mount");
  EXPECT_EQ(coffer_mount_problem(table, 1000, "/home/u/Coffer/x"), "the coffer at /home/u/Coffer/x is not yours");
  EXPECT_EQ(coffer_mount_problem(table, 1000, "/home/t/Coffer/hidden"), "/home/t/Coffer/hidden is not a coffer mount")
      << "a mount on top of the coffer hides it";
  EXPECT_EQ(coffer_mount_problem("garbage", 1000, "/x"), "the copy guard could not read your mount table");
}

// ------------------------------------------- school sticks (fake sysfs)

using test::FakeSysfs;

class SchoolStickTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string hub = "pci0000:00/0000:00:14.0/usb2";
    const std::string dev = hub + "/2-1";
    const std::string iface = dev + "/2-1:1.0";
    stick_ = iface + "/host6/target6:0:0/6:0:0:0/block/sdb";
    sys_.usb(hub);
    sys_.usb(dev);
    sys_.usb(iface);
    sys_.attr(hub, "idVendor", "1d6b");  // the root hub has no serial of a stick
    sys_.attr(dev, "idVendor", "0951");
    sys_.attr(dev, "serial", "SCHOOL-0042");
    sys_.block(stick_, 8, 16);
    sys_.block(stick_ + "/sdb1", 8, 17, true);
    sys_.block(stick_ + "/sdb2", 8, 18, true);
    // LUKS on sdb1, LVM on top of it; a dm with two slaves; a LUKS-less dm.
    sys_.block("virtual/block/dm-0", 254, 0);
    sys_.attr("virtual/block/dm-0", "dm/name", "luks-stick");
    sys_.attr("virtual/block/dm-0", "dm/uuid", "CRYPT-LUKS2-0a1b2c3d4e5f60718293A4B5C6D7E8F9-luks-stick");
    sys_.slave("virtual/block/dm-0", stick_ + "/sdb1");
    sys_.block("virtual/block/dm-1", 254, 1);
    sys_.attr("virtual/block/dm-1", "dm/uuid", "LVM-abcdef");
    sys_.slave("virtual/block/dm-1", "virtual/block/dm-0");
    sys_.block("virtual/block/dm-2", 254, 2);
    sys_.attr("virtual/block/dm-2", "dm/uuid", "LVM-striped");
    sys_.slave("virtual/block/dm-2", "virtual/block/dm-0");
    sys_.slave("virtual/block/dm-2", stick_ + "/sdb2");
    sys_.block("pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1", 259, 0);
    sys_.block("virtual/block/dm-3", 254, 3);
    sys_.attr("virtual/block/dm-3", "dm/uuid", "CRYPT-PLAIN-swap");
    sys_.slave("virtual/block/dm-3", "pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1");
  }

  MediaClassifier make() {
    MediaConfig c;
    c.sysfs_root = sys_.root();
    c.mountinfo_text =
        "1 0 259:0 / / rw - ext4 /dev/nvme0n1 rw\n"
        "10 1 8:17 / /media/plain rw - vfat /dev/sdb1 rw\n"
        "11 1 254:0 / /media/luks rw - ext4 /dev/mapper/luks-stick rw\n"
        "12 1 254:1 / /media/lvm rw - ext4 /dev/mapper/vg-lv rw\n"
        "13 1 254:2 / /media/striped rw - ext4 /dev/mapper/striped rw\n"
        "14 1 254:3 / /swapfs rw - ext4 /dev/mapper/plain rw\n"
        "15 1 0:50 / /mnt/btrfs rw - btrfs /dev/mapper/luks-stick rw\n"
        "16 1 0:51 / /media/net rw - nfs4 server:/x rw\n"
        "17 1 0:52 / /run/user/1000/gvfs rw - fuse.gvfsd-fuse gvfsd-fuse rw\n";
    return MediaClassifier(c);
  }
  const MountEntry& at(const MediaClassifier& m, const std::string& mp) {
    for (const auto& e : m.mounts())
      if (e.mount_point == mp) return e;
    throw std::runtime_error("no mount " + mp);
  }

  test::TempDir tmp_;
  FakeSysfs sys_{tmp_.path() / "sys"};
  std::string stick_;
};

TEST_F(SchoolStickTest, LuksUuidOfTheDeviceUnderTheMount) {
  auto m = make();
  const std::string uuid = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9";
  EXPECT_EQ(m.luks_uuid(at(m, "/media/luks")), uuid);
  EXPECT_EQ(m.luks_uuid(at(m, "/media/lvm")), uuid) << "LVM on LUKS";
  EXPECT_EQ(m.luks_uuid(at(m, "/mnt/btrfs")), uuid) << "anonymous device number, found by source";
  EXPECT_EQ(m.luks_uuid(at(m, "/media/plain")), std::nullopt) << "not encrypted";
  EXPECT_EQ(m.luks_uuid(at(m, "/media/striped")), std::nullopt) << "two slaves";
  EXPECT_EQ(m.luks_uuid(at(m, "/swapfs")), std::nullopt) << "plain dm-crypt is not LUKS";
  EXPECT_EQ(m.luks_uuid(at(m, "/")), std::nullopt);
  EXPECT_EQ(m.luks_uuid(at(m, "/media/net")), std::nullopt);
  EXPECT_EQ(m.luks_uuid(at(m, "/run/user/1000/gvfs")), std::nullopt);
}

TEST_F(SchoolStickTest, UsbSerialOfTheStickHoldingTheMount) {
  auto m = make();
  EXPECT_EQ(m.usb_serial(at(m, "/media/plain")), "SCHOOL-0042");
  EXPECT_EQ(m.usb_serial(at(m, "/media/luks")), "SCHOOL-0042") << "LUKS on the stick";
  EXPECT_EQ(m.usb_serial(at(m, "/media/lvm")), "SCHOOL-0042") << "LVM on LUKS on the stick";
  EXPECT_EQ(m.usb_serial(at(m, "/media/striped")), std::nullopt) << "two slaves";
  EXPECT_EQ(m.usb_serial(at(m, "/")), std::nullopt) << "NVMe";
  EXPECT_EQ(m.usb_serial(at(m, "/swapfs")), std::nullopt);
  EXPECT_EQ(m.usb_serial(at(m, "/media/net")), std::nullopt);
}

TEST_F(SchoolStickTest, AStickWithoutASerialHasNone) {
  fs::remove(sys_.root() / "devices" / "pci0000:00/0000:00:14.0/usb2/2-1/serial");
  auto m = make();
  EXPECT_EQ(m.usb_serial(at(m, "/media/plain")), std::nullopt) << "the root hub's attributes must not be used";
}

}  // namespace
}  // namespace coffer::guard
