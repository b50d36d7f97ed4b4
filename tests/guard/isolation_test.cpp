// A sandboxed session's own namespaces and tracer checks (isolation.h):
// the parsers on fake /proc texts, and isolate_session() on this machine's
// kernel in a forked child (as root it needs no user namespace; as another
// user it makes one).
#include "coffer/guard/isolation.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "child_exit.h"
#include "in_child.h"
#include "test_support.h"

namespace coffer::guard {
namespace {
namespace fs = std::filesystem;

TEST(TracerPid, ParsesTheStatusLine) {
  EXPECT_EQ(parse_tracer_pid("Name:\tcoffer\nState:\tR (running)\nTracerPid:\t0\nUid:\t0\t0\t0\t0\n"), 0);
  EXPECT_EQ(parse_tracer_pid("Name:\tcoffer\nTracerPid:\t4242\n"), 4242);
  EXPECT_EQ(parse_tracer_pid("TracerPid:\t17"), 17);  // no final newline
  EXPECT_EQ(parse_tracer_pid("Name:\tcoffer\n"), std::nullopt);
  EXPECT_EQ(parse_tracer_pid("TracerPid:\tx\n"), std::nullopt);
  EXPECT_EQ(parse_tracer_pid("TracerPid:\t-1\n"), std::nullopt);
  // A process may name itself "TracerPid: 0"; Name comes first, on its own line.
  EXPECT_EQ(parse_tracer_pid("Name:\tTracerPid: 0\nTracerPid:\t99\n"), 99);
}

TEST(TracerPid, ReadsTheGivenProcRoot) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "self");
  EXPECT_EQ(tracer_of_self(dir.path()), std::nullopt);  // unreadable
  std::ofstream(dir.path() / "self" / "status") << "Name:\tcoffer\nTracerPid:\t321\n";
  EXPECT_EQ(tracer_of_self(dir.path()), 321);
  EXPECT_EQ(tracer_of_self(), 0);  // this test is not traced
}

TEST(Yama, ScopeFromProcOrAbsent) {
  test::TempDir dir;
  EXPECT_EQ(yama_ptrace_scope(dir.path()), std::nullopt);
  EXPECT_FALSE(ptrace_restricted(std::nullopt));
  EXPECT_NE(describe_ptrace_scope(std::nullopt).find("no (the kernel has no Yama)"), std::string::npos);
  fs::create_directories(dir.path() / "sys/kernel/yama");
  std::ofstream(dir.path() / "sys/kernel/yama/ptrace_scope") << "0\n";
  EXPECT_EQ(yama_ptrace_scope(dir.path()), 0);
  EXPECT_FALSE(ptrace_restricted(0));
  std::ofstream(dir.path() / "sys/kernel/yama/ptrace_scope") << "1\n";
  EXPECT_EQ(yama_ptrace_scope(dir.path()), 1);
  EXPECT_TRUE(ptrace_restricted(1));
  EXPECT_TRUE(ptrace_restricted(3));
  EXPECT_EQ(describe_ptrace_scope(1).rfind("yes", 0), 0u);
  std::ofstream(dir.path() / "sys/kernel/yama/ptrace_scope") << "one\n";
  EXPECT_EQ(yama_ptrace_scope(dir.path()), std::nullopt);
}

TEST(Isolation, KeptBelowOnlyWhatIsStrictlyBelow) {
  std::vector<fs::path> keep = {"/run/user/1000/wayland-0",   "/run/user/1000",
                                "/run/user/10000/x",          "/home/t/Coffer/x",
                                "/run/user/1000/./wayland-0", "/run/user/1000/a/../b"};
  EXPECT_EQ(kept_below("/run/user/1000", keep),
            (std::vector<fs::path>{"/run/user/1000/wayland-0", "/run/user/1000/b"}));
  EXPECT_TRUE(kept_below("/tmp", keep).empty());
}

using test::in_child;

// A UNIX socket address for NAME: in the abstract namespace (a leading NUL,
// no terminator) or a path. Returns the address length to pass on.
socklen_t unix_address(const std::string& name, bool abstract, sockaddr_un& addr) {
  addr = sockaddr_un{};
  addr.sun_family = AF_UNIX;
  const std::size_t off = abstract ? 1 : 0;
  std::memcpy(addr.sun_path + off, name.data(), name.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + off + name.size() + (abstract ? 0 : 1));
}

int unix_listener(const std::string& name, bool abstract) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  const socklen_t len = unix_address(name, abstract, addr);
  if (fd < 0) return -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int unix_connect(const std::string& name, bool abstract) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  const socklen_t len = unix_address(name, abstract, addr);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  int err = errno;
  ::close(fd);
  errno = err;
  return rc;
}

// The leaks of issue 15 section 4 from a process that isolated itself: UDP
// to an outside listener on 127.0.0.1, an outside abstract socket and a
// pathname socket in a hidden directory; the kept path and its own
// loopback still work.
TEST(Isolation, NothingOutsideIsReachable) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "run" / "keep");
  std::ofstream(dir.path() / "run" / "keep" / "file") << "kept";
  const std::string bus = (dir.path() / "run" / "bus").string();
  int bus_fd = unix_listener(bus, false);
  const std::string abstract = "coffer-isolation-test-" + std::to_string(::getpid());
  int abstract_fd = unix_listener(abstract, true);
  ASSERT_GE(bus_fd, 0);
  ASSERT_GE(abstract_fd, 0);
  ASSERT_EQ(unix_connect(abstract, true), 0) << "the outside abstract socket must work before isolation";
  int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof addr;
  ASSERT_EQ(::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &alen), 0);

  EXPECT_EQ(in_child([&]() -> std::string {
              // As the keeper: coffer's main() makes every coffer process
              // non-dumpable, so /proc/self belongs to root.
              ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
              IsolationSpec spec;
              spec.hide = {dir.path() / "run", dir.path() / "absent"};
              spec.keep = {dir.path() / "run" / "keep"};
              IsolationResult r = isolate_session(spec);
              std::string problems;
              if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) problems += "left dumpable\n";
              if (r.hidden != std::vector<fs::path>{dir.path() / "run"}) problems += "hidden list wrong\n";
              int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
              if (::sendto(s, "leak", 4, 0, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 4)
                problems += std::string("sendto on the own loopback failed: ") + std::strerror(errno) + "\n";
              sockaddr_in far{};
              far.sin_family = AF_INET;
              far.sin_port = htons(53);
              far.sin_addr.s_addr = htonl(0x08080808);
              if (::sendto(s, "leak", 4, 0, reinterpret_cast<const sockaddr*>(&far), sizeof far) >= 0)
                problems += "a datagram to 8.8.8.8 was sent\n";
              if (unix_connect(abstract, true) == 0) problems += "the outside abstract socket was reached\n";
              if (unix_connect(bus, false) == 0) problems += "the hidden bus socket was reached\n";
              std::ifstream kept(dir.path() / "run" / "keep" / "file");
              std::string text;
              kept >> text;
              if (text != "kept") problems += "the kept path is not visible\n";
              return problems;
            }),
            "");
  pollfd p{udp, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 200), 0) << "a datagram from the isolated process reached the outside listener";
  EXPECT_EQ(unix_connect(bus, false), 0) << "the bus is hidden outside too";
  ::close(udp);
  ::close(bus_fd);
  ::close(abstract_fd);
}

}  // namespace
}  // namespace coffer::guard
