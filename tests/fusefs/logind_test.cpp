// LogindWatch without a bus (inactive: nothing happens) and against the
// stand-in logind of tests/logind on a private bus: the delay inhibitor,
// PrepareForSleep, the session's Lock signal and the idle hint.
#include "logind.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "test_support.h"

extern char** environ;

namespace coffer::fusefs {
namespace {

using namespace std::chrono_literals;

// Sets DBUS_SYSTEM_BUS_ADDRESS for one test.
class BusAddress {
 public:
  explicit BusAddress(const std::string& address) {
    if (const char* old = std::getenv("DBUS_SYSTEM_BUS_ADDRESS")) saved_ = old;
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", address.c_str(), 1);
  }
  ~BusAddress() {
    if (saved_) ::setenv("DBUS_SYSTEM_BUS_ADDRESS", saved_->c_str(), 1);
    else ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  }

 private:
  std::optional<std::string> saved_;
};

TEST(Logind, WithoutABusNothingHappens) {
  test::TempDir d;
  BusAddress bus("unix:path=" + (d / "no-bus").string());
  LogindWatch w;
  EXPECT_FALSE(w.active());
  EXPECT_EQ(w.fd(), -1);
  EXPECT_EQ(w.process(), "");
  EXPECT_FALSE(w.user_idle_for(0s));
  w.release_sleep_inhibitor();  // harmless
}

pid_t spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  return pid;
}

int run(const std::vector<std::string>& argv) {
  pid_t pid = spawn(argv);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool eventually(const std::function<bool()>& ok) {
  for (int i = 0; i < 100; ++i) {
    if (ok()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return ok();
}

// A private bus with the stand-in logind on it (skipped where dbus-daemon
// or python3-dbus are missing).
class FakeLogind : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/dbus-daemon", X_OK) != 0 || ::access("/usr/bin/dbus-send", X_OK) != 0 ||
        run({"/usr/bin/python3", "-c", "import dbus, gi"}) != 0)
      GTEST_SKIP() << "needs dbus-daemon, dbus-send and python3-dbus";
    address_ = "unix:path=" + (dir_ / "bus").string();
    bus_pid_ = spawn({"dbus-daemon", "--session", "--address=" + address_, "--nofork", "--nopidfile"});
    ASSERT_GT(bus_pid_, 0);
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(dir_ / "bus"); }));
    bus_.emplace(address_);
    logind_pid_ = spawn({"/usr/bin/python3", COFFER_FAKE_LOGIND, (dir_ / "state").string()});
    ASSERT_GT(logind_pid_, 0);
    ASSERT_TRUE(eventually([&] { return state().find("ready") != std::string::npos; }));
  }
  void TearDown() override {
    for (pid_t p : {logind_pid_, bus_pid_})
      if (p > 0) {
        ::kill(p, SIGTERM);
        ::waitpid(p, nullptr, 0);
      }
  }
  std::string state() { return read_text(dir_ / "state"); }
  void call(const std::string& method, const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv = {"dbus-send",     "--bus=" + address_,
                                     "--print-reply", "--dest=org.freedesktop.login1",
                                     "/test",         "org.coffer.Test." + method};
    argv.insert(argv.end(), args.begin(), args.end());
    ASSERT_EQ(run(argv), 0) << method;
  }
  // Waits for the watch's descriptor, then handles what came.
  std::string next_reason(LogindWatch& w) {
    for (int i = 0; i < 40; ++i) {
      pollfd p{w.fd(), POLLIN, 0};
      ::poll(&p, 1, 50);
      if (auto r = w.process(); !r.empty()) return r;
    }
    return {};
  }

  test::TempDir dir_;
  std::string address_;
  std::optional<BusAddress> bus_;
  pid_t bus_pid_ = -1, logind_pid_ = -1;
};

TEST_F(FakeLogind, HoldsADelayInhibitorUntilReleased) {
  LogindWatch w;
  ASSERT_TRUE(w.active());
  EXPECT_GE(w.fd(), 0);
  EXPECT_NE(state().find("inhibit taken sleep delay"), std::string::npos);
  EXPECT_EQ(state().find("inhibit released"), std::string::npos);
  w.release_sleep_inhibitor();
  EXPECT_TRUE(eventually([&] { return state().find("inhibit released") != std::string::npos; }));
  w.release_sleep_inhibitor();  // once is enough
}

TEST_F(FakeLogind, SleepAndScreenLockAreLockReasons) {
  LogindWatch w;
  ASSERT_TRUE(w.active());
  EXPECT_EQ(w.process(), "");
  call("EmitSleep");
  EXPECT_EQ(next_reason(w), "the computer is going to sleep");
  EXPECT_EQ(w.process(), "") << "reported once";
  call("EmitLock");
  EXPECT_EQ(next_reason(w), "the screen was locked");
}

TEST_F(FakeLogind, IdleHintCountsFromWhenTheUserWentIdle) {
  LogindWatch w;
  ASSERT_TRUE(w.active());
  EXPECT_FALSE(w.user_idle_for(60s)) << "not idle";
  call("SetIdleFor", {"uint64:120"});
  EXPECT_TRUE(w.user_idle_for(60s));
  EXPECT_FALSE(w.user_idle_for(600s)) << "idle, but not for that long";
}

}  // namespace
}  // namespace coffer::fusefs
