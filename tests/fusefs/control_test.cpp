// The control socket's two sides against each other, in-process: the
// request grammar, a ControlServer on a temporary socket answering the
// client functions `coffer status`, `export` and `lock` use.
#include "coffer/fusefs/control.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "coffer/error.h"
#include "test_support.h"

namespace coffer::fusefs {
namespace {

using Kind = ControlRequest::Kind;

TEST(ControlGrammar, RequestsRoundTrip) {
  for (const ControlRequest& r : {ControlRequest::of(Kind::kStatus, "", ""), ControlRequest::of(Kind::kLock, "", ""),
                                  ControlRequest::export_of("files/a b.txt", "/media/x/a b.txt")}) {
    ControlRequest back = parse_request(encode_request(r));
    EXPECT_EQ(back.kind, r.kind);
    EXPECT_EQ(back.object, r.object);
    EXPECT_EQ(back.destination, r.destination);
  }
  EXPECT_EQ(encode_request(ControlRequest::of(Kind::kStatus, "", "")), "status");
  EXPECT_EQ(encode_request(ControlRequest::of(Kind::kLock, "", "")), "lock");
  EXPECT_EQ(encode_request(ControlRequest::export_of("files/a", "/d/a")), "export\tfiles/a\t/d/a");
}

TEST(ControlGrammar, ExportPathsWithTabsOrNewlinesAreRefused) {
  for (auto [object, dest] : {std::pair{"files/a\tb", "/d"}, std::pair{"files/a", "/d\nx"}}) {
    try {
      encode_request(ControlRequest::export_of(object, dest));
      FAIL() << "encoded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUsage);
      EXPECT_STREQ(e.what(), "paths with tabs or newlines cannot be exported");
    }
  }
  EXPECT_THROW(encode_request(ControlRequest::of(Kind::kUnknown, "", "")), Error);
  EXPECT_THROW(encode_request(ControlRequest::of(Kind::kBadExport, "", "")), Error);
}

TEST(ControlGrammar, ParsesWhatTheServerUsedTo) {
  EXPECT_EQ(parse_request("status").kind, Kind::kStatus);
  EXPECT_EQ(parse_request("lock").kind, Kind::kLock);
  EXPECT_EQ(parse_request("export\tfiles/a").kind, Kind::kBadExport);
  EXPECT_EQ(parse_request("export\t").kind, Kind::kBadExport);
  auto r = parse_request("export\tfiles/a\t/d/with\ttab");
  EXPECT_EQ(r.kind, Kind::kExport);
  EXPECT_EQ(r.object, "files/a");
  EXPECT_EQ(r.destination, "/d/with\ttab");  // everything after the second tab
  for (const char* other : {"", "Status", "status ", "lock\t", "export", "exportx\ta\tb", "unlock"})
    EXPECT_EQ(parse_request(other).kind, Kind::kUnknown) << other;
}

TEST(ControlGrammar, ExportReplies) {
  EXPECT_EQ(encode_export_reply(1234), "ok 1234");
  EXPECT_EQ(parse_export_reply(encode_export_reply(1234)), 1234u);
  EXPECT_EQ(encode_export_error("no such file"), "error no such file");
  try {
    parse_export_reply(encode_export_error("no such file"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_STREQ(e.what(), "no such file");
  }
  try {
    parse_export_reply("");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the coffer did not answer the export in time");
  }
}

// A remedy crosses the socket as data, so `coffer export` words it as the
// CLI words its own errors.
TEST(ControlGrammar, ExportErrorsKeepTheirRemedy) {
  const Error damaged(ErrorCode::kDamaged, "the audit sidecar is damaged; not appending", Remedy::kVerifyAudit);
  EXPECT_EQ(encode_export_error(damaged), "error#" + std::to_string(static_cast<int>(Remedy::kVerifyAudit)) +
                                              " the audit sidecar is damaged; not appending");
  try {
    parse_export_reply(encode_export_error(damaged));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.remedy(), Remedy::kVerifyAudit);
    EXPECT_STREQ(e.what(), "the audit sidecar is damaged; not appending");
  }
  EXPECT_EQ(encode_export_error(Error(ErrorCode::kIo, "no such file")), "error no such file");
  // A number this build does not know is no remedy, never a wrong one.
  try {
    parse_export_reply("error#999 later build");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.remedy(), Remedy::kNone);
    EXPECT_STREQ(e.what(), "later build");
  }
}

TEST(ControlGrammar, LockReplies) {
  LockReply r;
  r.locked = true;
  r.reason = "coffer lock";
  r.held_open_by = {"12 (vim)"};
  r.lock_ms = 42;
  auto j = nlohmann::json::parse(encode_lock_reply(r));
  EXPECT_EQ(j.at("locked"), true);
  EXPECT_EQ(j.at("reason"), "coffer lock");
  EXPECT_FALSE(j.contains("error"));
  LockResult back = parse_lock_reply(encode_lock_reply(r));
  EXPECT_EQ(back.lock_ms, 42);
  EXPECT_EQ(back.held_open_by, r.held_open_by);
  EXPECT_EQ(back.error, "");
  r.locked = false;
  r.error = "disk full";
  EXPECT_EQ(parse_lock_reply(encode_lock_reply(r)).error, "disk full");
  // Not UTF-8 (a process name): replaced, never thrown.
  r.held_open_by = {"13 (\xff\xfe)"};
  EXPECT_NO_THROW(parse_lock_reply(encode_lock_reply(r)));
  EXPECT_EQ(parse_lock_reply("not json").lock_ms, -1);
}

TEST(ControlGrammar, StatusKeepsPathsThatAreNotUtf8) {
  MountStatus s;
  s.coffer_path = "/home/t/caf\xe9.coffer";
  s.mountpoint = "/home/t/Coffer/caf\xe9";
  s.purpose = "trip";
  s.owner = "T";
  s.expires = 123;
  s.idle_seconds_left = 5;
  s.idle_timeout_seconds = 6;
  s.pid = 77;
  s.read_only = true;
  s.protection = "guarded";
  s.copy_guard = {"layer 1: x"};
  s.approved = {"/media/ok"};
  MountStatus back = status_from_json(to_json(s));
  EXPECT_EQ(back.coffer_path, s.coffer_path);
  EXPECT_EQ(back.mountpoint, s.mountpoint);
  EXPECT_EQ(back.purpose, "trip");
  EXPECT_EQ(back.owner, "T");
  EXPECT_EQ(back.expires, 123);
  EXPECT_EQ(back.idle_seconds_left, 5);
  EXPECT_EQ(back.idle_timeout_seconds, 6);
  EXPECT_EQ(back.pid, 77);
  EXPECT_TRUE(back.read_only);
  EXPECT_EQ(back.protection, "guarded");
  EXPECT_EQ(back.copy_guard, s.copy_guard);
  EXPECT_EQ(back.approved, s.approved);
  // The hex copies are what keep the bytes exact.
  auto j = nlohmann::json::parse(to_json(s));
  EXPECT_EQ(j.at("coffer_hex"), "2f686f6d652f742f636166e92e636f66666572");
}

TEST(ControlGrammar, StatusFromAnOlderDaemon) {
  // Without protection, approved, copy_guard or the hex paths.
  auto s = status_from_json(R"({"coffer":"/c","mountpoint":"/m","purpose":"p","owner":"o","expires":1,)"
                            R"("idle_seconds_left":2,"idle_timeout_seconds":3,"pid":4,"read_only":false})");
  EXPECT_EQ(s.coffer_path, "/c");
  EXPECT_EQ(s.protection, "standard");
  EXPECT_TRUE(s.approved.empty());
}

// A control directory of its own: XDG_RUNTIME_DIR set to a temporary one.
class ControlSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* old = std::getenv("XDG_RUNTIME_DIR")) saved_ = old;
    ::setenv("XDG_RUNTIME_DIR", dir_.path().c_str(), 1);
  }
  void TearDown() override {
    if (saved_) ::setenv("XDG_RUNTIME_DIR", saved_->c_str(), 1);
    else ::unsetenv("XDG_RUNTIME_DIR");
  }
  MountStatus sample() const {
    MountStatus s;
    s.coffer_path = "/c/t.coffer";
    s.mountpoint = (dir_.path() / "not-mounted").string();
    s.purpose = "trip";
    s.owner = "T";
    s.pid = ::getpid();
    return s;
  }
  // Serves `count` connections on a thread with `answer`.
  std::thread serve(ControlServer& server, int count, const std::function<void(ControlServer::Client&)>& answer) {
    return std::thread([&server, count, answer] {
      for (int i = 0; i < count; ++i) {
        pollfd p{server.fd(), POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return;
        if (auto c = server.accept()) answer(*c);
      }
    });
  }
  test::TempDir dir_;
  std::optional<std::string> saved_;
};

TEST_F(ControlSocket, TheDirectoryIsPrivate) {
  auto d = control_directory();
  EXPECT_EQ(d, dir_.path() / "coffer");
  struct stat st {};
  ASSERT_EQ(::stat(d.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(control_socket_path("ab12"), d / "ab12.sock");
  // Someone else's permissions: refused.
  ::chmod(d.c_str(), 0755);
  EXPECT_THROW(control_directory(), Error);
}

TEST_F(ControlSocket, StatusThroughListMounts) {
  auto server = ControlServer::listen(control_socket_path("ab12"));
  struct stat st {};
  ASSERT_EQ(::stat(control_socket_path("ab12").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the socket is 0600";
  MountStatus s = sample();
  auto t = serve(server, 1, [&](ControlServer::Client& c) {
    EXPECT_EQ(c.request.kind, Kind::kStatus);
    EXPECT_EQ(c.pid, ::getpid());
    EXPECT_EQ(c.uid, ::geteuid());
    c.reply(to_json(s));
  });
  auto mounts = list_mounts();
  t.join();
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].coffer_path, "/c/t.coffer");
  EXPECT_EQ(mounts[0].socket, control_socket_path("ab12"));
}

// The peer as the kernel names it: SO_PEERCRED, and a pidfd of that very
// process (SO_PEERPIDFD, Linux 6.5 and later) for the audit.
TEST_F(ControlSocket, ThePeerComesWithAPidfd) {
  auto server = ControlServer::listen(control_socket_path("ab12"));
  bool valid = false;
  std::string pid_line;
  auto t = serve(server, 1, [&](ControlServer::Client& c) {
    valid = c.pidfd.valid();
    if (valid) {
      std::ifstream info("/proc/self/fdinfo/" + std::to_string(c.pidfd.get()));
      for (std::string line; std::getline(info, line);)
        if (line.rfind("Pid:", 0) == 0) pid_line = line;
    }
    c.reply(to_json(sample()));
  });
  list_mounts();
  t.join();
  if (!valid) GTEST_SKIP() << "this kernel has no SO_PEERPIDFD";
  EXPECT_EQ(pid_line, "Pid:\t" + std::to_string(::getpid()));
}

TEST_F(ControlSocket, ListMountsRemovesStaleSocketsAndSkipsBadAnswers) {
  { auto gone = ControlServer::listen(control_socket_path("dead")); }  // closed: nobody listens there any more
  ASSERT_TRUE(std::filesystem::exists(control_socket_path("dead")));
  auto odd = ControlServer::listen(control_socket_path("odd"));
  auto t = serve(odd, 1, [](ControlServer::Client& c) { c.reply("not json"); });
  EXPECT_TRUE(list_mounts().empty());
  t.join();
  EXPECT_FALSE(std::filesystem::exists(control_socket_path("dead")));
  EXPECT_TRUE(std::filesystem::exists(control_socket_path("odd")));
}

TEST_F(ControlSocket, ExportRequestAndReplies) {
  auto server = ControlServer::listen(control_socket_path("ab12"));
  MountStatus m = sample();
  m.socket = control_socket_path("ab12");
  auto t = serve(server, 2, [](ControlServer::Client& c) {
    ASSERT_EQ(c.request.kind, Kind::kExport);
    EXPECT_EQ(c.request.object, "files/a.txt");
    if (c.request.destination == "/media/ok/a.txt") c.reply(encode_export_reply(99));
    else c.reply(encode_export_error("/elsewhere/a.txt is not an approved destination"));
  });
  EXPECT_EQ(export_from_mount(m, "files/a.txt", "/media/ok/a.txt"), 99u);
  try {
    export_from_mount(m, "files/a.txt", "/elsewhere/a.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/elsewhere/a.txt is not an approved destination");
  }
  t.join();
  EXPECT_THROW(export_from_mount(m, "files/a\tb", "/media/ok/x"), Error) << "refused before sending";
}

TEST_F(ControlSocket, ExportToAMountThatHasGone) {
  MountStatus m = sample();
  m.mountpoint = "/m";
  m.socket = control_socket_path("gone");
  try {
    export_from_mount(m, "files/a.txt", "/media/ok/a.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the coffer at /m is no longer open");
  }
}

TEST_F(ControlSocket, ARequestThatNeverEndsReadsAsUnknown) {
  auto server = ControlServer::listen(control_socket_path("ab12"));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, control_socket_path("ab12").c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::write(fd, "stat", 4), 4);  // and nothing more: the server gives up after 200 ms
  auto c = server.accept();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->request.kind, Kind::kUnknown);
  ::close(fd);
}

TEST_F(ControlSocket, LockWaitsForTheProcessToEnd) {
  auto server = ControlServer::listen(control_socket_path("ab12"));
  // The "mount" is a child process: it answers the lock, then exits, as
  // the daemon does.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pollfd p{server.fd(), POLLIN, 0};
    if (::poll(&p, 1, 5000) > 0) {
      if (auto c = server.accept(); c && c->request.kind == Kind::kLock) {
        LockReply r;
        r.locked = true;
        r.reason = "coffer lock";
        r.held_open_by = {"5 (sh)"};
        r.lock_ms = 7;
        c->reply(encode_lock_reply(r));
      }
    }
    ::_exit(0);
  }
  MountStatus m = sample();
  m.pid = child;
  m.socket = control_socket_path("ab12");
  LockResult r = lock_mount(m, std::chrono::seconds(10));
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(r.lock_ms, 7);
  EXPECT_EQ(r.held_open_by, std::vector<std::string>{"5 (sh)"});
  EXPECT_EQ(r.error, "");
}

TEST_F(ControlSocket, LockOfAProcessThatHasGone) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  MountStatus m = sample();
  m.pid = child;
  m.socket = control_socket_path("gone");
  LockResult r = lock_mount(m, std::chrono::seconds(1));
  EXPECT_EQ(r.lock_ms, -1);
}

TEST(ControlMounts, IsMounted) {
  EXPECT_TRUE(is_mounted("/"));
  EXPECT_TRUE(is_mounted("/proc"));
  test::TempDir d;
  EXPECT_FALSE(is_mounted(d.path()));
}

}  // namespace
}  // namespace coffer::fusefs
