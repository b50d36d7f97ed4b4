// GuardConnection (the coffer side of the guard protocol) against a scripted
// stand-in for the guard in this process: every answer the client can get
// (a registration, a refusal, nonsense, silence, reports, a hang-up) and
// what it makes of it. Root-only, as the client trusts only root's socket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coffer/error.h"
#include "coffer/guard/guard_client.h"
#include "coffer/unix_socket.h"
#include "test_support.h"

namespace coffer::guard {
namespace {

// Listens on DIR/guard.sock; for one client, reads its request line, then
// sends `answer` and, unless `hang_up` is false, closes.
class ScriptedGuard {
 public:
  ScriptedGuard(const std::filesystem::path& socket, std::string answer, bool hang_up = true)
      : answer_(std::move(answer)), hang_up_(hang_up) {
    auto addr = unix_address(socket.string());
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::bind(listener_.get(), addr->get(), addr->size), 0);
    EXPECT_EQ(::listen(listener_.get(), 1), 0);
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    done_read_.reset(p[0]);
    done_write_.reset(p[1]);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedGuard() {
    done_write_.reset();  // wakes the server, which then closes its end
    thread_.join();
  }
  // Sends more bytes to the connected client (after the answer).
  void send(const std::string& bytes) {
    while (!connected_.load()) std::this_thread::yield();
    ASSERT_EQ(::send(client_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  void hang_up() {
    while (!connected_.load()) std::this_thread::yield();
    ::shutdown(client_.get(), SHUT_RDWR);
  }
  std::string request() const {
    std::lock_guard lock(mu_);
    return request_;
  }

 private:
  void serve() {
    UniqueFd c(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c.valid()) return;
    char ch = 0;
    std::string line;
    while (::recv(c.get(), &ch, 1, 0) == 1 && ch != '\n') line += ch;
    {
      std::lock_guard lock(mu_);
      request_ = line;
    }
    if (!answer_.empty()) (void)!::send(c.get(), answer_.data(), answer_.size(), MSG_NOSIGNAL);
    if (hang_up_) return;
    client_ = std::move(c);
    connected_ = true;
    pollfd p{done_read_.get(), POLLIN, 0};
    ::poll(&p, 1, 30000);
  }

  std::string answer_;
  bool hang_up_;
  UniqueFd listener_, client_, done_read_, done_write_;
  std::atomic<bool> connected_{false};
  mutable std::mutex mu_;
  std::string request_;
  std::thread thread_;
};

std::string policy_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPolicy) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

class GuardClientScriptTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0u) << "needs root: the client trusts only root's socket"; }
  test::TempDir tmp_;
  std::filesystem::path sock_ = tmp_ / "guard.sock";
};

TEST_F(GuardClientScriptTest, RegistersAndReadsReportsUntilTheGuardGoes) {
  ScriptedGuard guard(sock_,
                      "{\"ok\":true,\"marked\":[\"/media/usb\"],\"unmarked\":[\"/mnt/nfs: Permission denied\"],"
                      "\"open_writers\":[{\"pid\":42,\"exe\":\"/usr/bin/cp\",\"path\":\"/media/usb/x\"}]}\n",
                      /*hang_up=*/false);
  GuardConnection c = GuardConnection::connect(sock_, "/home/t/Coffer/trip", {"/srv/share"});
  EXPECT_EQ(guard.request(),
            "{\"approved\":[\"/srv/share\"],\"mountpoint\":\"/home/t/Coffer/trip\",\"op\":\"register\"}");
  EXPECT_EQ(c.marked(), std::vector<std::string>{"/media/usb"});
  EXPECT_EQ(c.unmarked(), std::vector<std::string>{"/mnt/nfs: Permission denied"});
  ASSERT_EQ(c.open_writers().size(), 1u);
  EXPECT_EQ(c.open_writers()[0].pid, 42);
  EXPECT_EQ(c.open_writers()[0].exe, "/usr/bin/cp");
  EXPECT_EQ(c.open_writers()[0].path, "/media/usb/x");
  EXPECT_GE(c.fd(), 0);

  EXPECT_TRUE(c.read_reports().empty()) << "nothing sent yet, and it never blocks";
  EXPECT_FALSE(c.closed());

  guard.send(
      "{\"op\":\"blocked\",\"pid\":7,\"exe\":\"/usr/bin/cp\",\"path\":\"/media/usb/a.csv\",\"flags\":\"0301\","
      "\"empty_file_left\":true}\n{\"op\":\"blocked\",\"pid\":8,\"exe\":\"\",\"path\":\"/media/usb/b\",");
  pollfd p{c.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  auto reports = c.read_reports();
  ASSERT_EQ(reports.size(), 1u) << "the half line waits for the rest";
  EXPECT_EQ(reports[0].pid, 7);
  EXPECT_EQ(reports[0].path, "/media/usb/a.csv");
  EXPECT_EQ(reports[0].flags, "0301");
  EXPECT_TRUE(reports[0].empty_file_left);
  EXPECT_FALSE(c.closed());

  guard.send("\"flags\":\"unknown\",\"empty_file_left\":false}\n");
  guard.hang_up();
  std::vector<GuardConnection::Report> rest;
  for (int i = 0; i < 500 && !c.closed(); ++i) {
    for (auto& r : c.read_reports()) rest.push_back(r);
    if (!c.closed()) ::poll(&p, 1, 10);
  }
  ASSERT_EQ(rest.size(), 1u) << "what came before the end is still reported";
  EXPECT_EQ(rest[0].pid, 8);
  EXPECT_EQ(rest[0].flags, "unknown");
  EXPECT_TRUE(c.closed()) << "end of stream: the coffer must lock";
  EXPECT_TRUE(c.read_reports().empty());
}

TEST_F(GuardClientScriptTest, AMalformedReportClosesTheConnection) {
  ScriptedGuard guard(sock_, "{\"ok\":true,\"marked\":[]}\n", /*hang_up=*/false);
  GuardConnection c = GuardConnection::connect(sock_, "/m", {});
  EXPECT_TRUE(c.open_writers().empty());
  guard.send("{\"op\":\"hello\"}\n");
  pollfd p{c.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_TRUE(c.read_reports().empty());
  EXPECT_TRUE(c.closed()) << "a guard that talks nonsense is no guard";
}

TEST_F(GuardClientScriptTest, ARefusalCarriesTheGuardsReason) {
  ScriptedGuard guard(sock_, "{\"ok\":false,\"error\":\"no coffer is mounted at /m\"}\n");
  EXPECT_EQ(policy_error([&] { GuardConnection::connect(sock_, "/m", {}); }),
            "the copy guard refused this coffer: no coffer is mounted at /m");
}

TEST_F(GuardClientScriptTest, AnAnswerItCannotParseIsRefused) {
  ScriptedGuard guard(sock_, "{\"ok\":true}\n");
  EXPECT_EQ(policy_error([&] {
              GuardConnection::connect(sock_, "/m", {});
            }).rfind("the copy guard gave an answer this coffer does not understand: ", 0),
            0u);
}

TEST_F(GuardClientScriptTest, HangingUpBeforeAnsweringIsRefused) {
  ScriptedGuard guard(sock_, "");
  EXPECT_EQ(policy_error([&] { GuardConnection::connect(sock_, "/m", {}); }),
            "the copy guard closed the connection before answering");
}

TEST_F(GuardClientScriptTest, AnOverlongAnswerIsRefused) {
  ScriptedGuard guard(sock_, std::string(kMaxGuardLine + 2, 'x'));
  EXPECT_EQ(policy_error([&] { GuardConnection::connect(sock_, "/m", {}); }), "the copy guard gave an overlong answer");
}

TEST_F(GuardClientScriptTest, AFileThatIsNotASocketIsNotTheGuard) {
  test::write_bytes(sock_, {});
  EXPECT_NE(policy_error([&] { GuardConnection::connect(sock_, "/m", {}); }).find("is not root's"), std::string::npos);
}

TEST(GuardClientArgs, TooManyDestinationsOrABadSocketPathAreUsageErrors) {
  std::vector<std::filesystem::path> many(kMaxApprovedDestinations + 1, "/a");
  auto usage = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code() == ErrorCode::kUsage;
    }
    return false;
  };
  EXPECT_TRUE(usage([&] { GuardConnection::connect("/nonexistent/guard.sock", "/m", many); }));
  EXPECT_TRUE(usage([] { GuardConnection::connect("", "/m", {}); }));
  EXPECT_TRUE(usage([] { GuardConnection::connect("/" + std::string(200, 's'), "/m", {}); }));
}

}  // namespace
}  // namespace coffer::guard
