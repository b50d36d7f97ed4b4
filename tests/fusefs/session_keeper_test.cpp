// SessionKeeper with /bin/sh standing in for the keeper: it waits for the
// go byte on descriptor 3, its exit status is reaped (128 + signal when
// killed), and one that does not end in time is killed.
#include "session_keeper.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "coffer/error.h"

namespace coffer::fusefs {
namespace {

using namespace std::chrono_literals;

bool exited_within(const SessionKeeper& k, int ms) {
  pollfd p{k.pidfd(), POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

TEST(SessionKeeper, BeginsOnTheGoByteAndReportsItsStatus) {
  // Exits 5 only after reading the byte sent by start().
  SessionKeeper k({"/bin/sh", "-c", "head -c 1 <&3 | grep -q g && exit 5; exit 9"});
  EXPECT_GT(k.identity().pid, 0);
  EXPECT_GT(k.identity().start_time, 0u);
  EXPECT_FALSE(exited_within(k, 100)) << "it waits for the go byte";
  k.start();
  ASSERT_TRUE(exited_within(k, 5000));
  EXPECT_TRUE(k.running());
  EXPECT_EQ(k.reap(), 5);
  EXPECT_FALSE(k.running());
  EXPECT_EQ(k.reap(), -1) << "reaped once";
}

TEST(SessionKeeper, HangupEndsItAndTheStatusSaysSo) {
  SessionKeeper k({"/bin/sh", "-c", "exec sleep 30"});
  k.start();
  k.hangup();
  ASSERT_TRUE(exited_within(k, 5000));
  EXPECT_EQ(k.reap(), 128 + SIGHUP);
}

TEST(SessionKeeper, OneThatDoesNotEndInTimeIsKilled) {
  SessionKeeper k({"/bin/sh", "-c", "exec sleep 30"});
  k.start();
  EXPECT_EQ(k.reap(1s), 128 + SIGKILL);
}

TEST(SessionKeeper, AProgramThatCannotStart) {
  try {
    SessionKeeper k({"/nonexistent/keeper"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_EQ(std::string(e.what()).rfind("cannot start the session: ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace coffer::fusefs
