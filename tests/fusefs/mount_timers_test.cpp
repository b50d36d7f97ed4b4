// The mount's timers against a fake clock: the idle lock and its warning,
// commit batching, the clock mark and the expiry lock, without sleeping.
#include "mount_timers.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "test_support.h"

namespace coffer::fusefs {
namespace {

using namespace std::chrono_literals;

class FakeMonotonic final : public MonotonicClock {
 public:
  time_point now() const override { return now_; }
  void advance(std::chrono::nanoseconds d) { now_ += d; }

 private:
  time_point now_{std::chrono::seconds(1000)};
};

// A mount whose last use was at `last_use` on the fake clock.
struct Fixture {
  FakeMonotonic clock;
  test::FixedClock wall{1'000'000};
  MonotonicClock::time_point last_use = clock.now();
  bool commit_requested = false;
  int commits = 0, marks = 0;
  bool commit_throws = false;
  std::vector<std::string> notes;
  bool logind_idle = false;
  std::vector<std::chrono::seconds> logind_asked;

  TimerSettings settings(std::chrono::seconds idle) {
    TimerSettings s;
    s.idle_timeout = idle;
    s.expires = 2'000'000;
    s.coffer_name = "t.coffer";
    return s;
  }
  TimerActions actions(bool with_logind = false) {
    TimerActions a;
    a.idle_for = [this] { return clock.now() - last_use; };
    a.commit_requested = [this] { return commit_requested; };
    a.commit = [this] {
      ++commits;
      commit_requested = false;
      if (commit_throws) throw std::runtime_error("disk full");
    };
    a.mark_clock = [this] { ++marks; };
    a.notify = [this](const std::string& text) { notes.push_back(text); };
    if (with_logind)
      a.user_idle_for = [this](std::chrono::seconds t) {
        logind_asked.push_back(t);
        return logind_idle;
      };
    return a;
  }
  void use() { last_use = clock.now(); }
};

TEST(MountTimers, IdleLockAtTheTimeoutNotBefore) {
  Fixture f;
  MountTimers t(f.settings(6s), f.actions(), f.clock, f.wall);
  f.clock.advance(5s);
  EXPECT_EQ(t.tick(), "");
  f.clock.advance(999ms);
  EXPECT_EQ(t.tick(), "");
  f.clock.advance(1ms);
  EXPECT_EQ(t.tick(), "idle for 6 s");
}

TEST(MountTimers, UsePostponesTheIdleLock) {
  // As lock.sh (a'): a read every second for longer than the timeout.
  Fixture f;
  MountTimers t(f.settings(3s), f.actions(), f.clock, f.wall);
  for (int i = 0; i < 6; ++i) {
    f.clock.advance(1s);
    f.use();
    EXPECT_EQ(t.tick(), "") << "second " << i;
  }
  f.clock.advance(3s);
  EXPECT_EQ(t.tick(), "idle for 3 s");
}

TEST(MountTimers, WarnsOnceBeforeTheIdleLockAndAgainAfterUse) {
  Fixture f;
  // 15 minutes: the warning comes 60 s before (the fifth would be 3 min).
  MountTimers t(f.settings(900s), f.actions(), f.clock, f.wall);
  f.clock.advance(839s);
  EXPECT_EQ(t.tick(), "");
  EXPECT_TRUE(f.notes.empty());
  f.clock.advance(1s);
  EXPECT_EQ(t.tick(), "");
  ASSERT_EQ(f.notes.size(), 1u);
  EXPECT_EQ(f.notes[0], "t.coffer locks in 60 s unless used");
  f.clock.advance(10s);
  EXPECT_EQ(t.tick(), "");
  EXPECT_EQ(f.notes.size(), 1u) << "warned once";
  f.use();
  EXPECT_EQ(t.tick(), "");
  f.clock.advance(850s);
  EXPECT_EQ(t.tick(), "");
  ASSERT_EQ(f.notes.size(), 2u) << "warned again after use";
  EXPECT_EQ(f.notes[1], "t.coffer locks in 50 s unless used");
}

TEST(MountTimers, ShortTimeoutsWarnAFifthBefore) {
  Fixture f;
  MountTimers t(f.settings(10s), f.actions(), f.clock, f.wall);
  f.clock.advance(7s);
  EXPECT_EQ(t.tick(), "");
  EXPECT_TRUE(f.notes.empty());
  f.clock.advance(1s);
  EXPECT_EQ(t.tick(), "");
  ASSERT_EQ(f.notes.size(), 1u);
  EXPECT_EQ(f.notes[0], "t.coffer locks in 2 s unless used");
}

TEST(MountTimers, CommitsEveryTwoSecondsAndWhenAsked) {
  Fixture f;
  MountTimers t(f.settings(900s), f.actions(), f.clock, f.wall);
  EXPECT_EQ(t.poll_timeout_ms(), 250);
  f.clock.advance(1999ms);
  t.tick();
  EXPECT_EQ(f.commits, 0);
  f.clock.advance(1ms);
  t.tick();
  EXPECT_EQ(f.commits, 1);
  f.clock.advance(1s);
  t.tick();
  EXPECT_EQ(f.commits, 1) << "the interval restarts at each commit";
  // A written file's last close asks for a commit: the loop wakes sooner
  // and the next tick commits at once.
  f.commit_requested = true;
  EXPECT_EQ(t.poll_timeout_ms(), 50);
  f.clock.advance(50ms);
  t.tick();
  EXPECT_EQ(f.commits, 2);
  EXPECT_EQ(t.poll_timeout_ms(), 250);
  f.clock.advance(1999ms);
  t.tick();
  EXPECT_EQ(f.commits, 2);
}

TEST(MountTimers, AFailedCommitIsRetriedAndDoesNotLock) {
  Fixture f;
  f.commit_throws = true;
  MountTimers t(f.settings(900s), f.actions(), f.clock, f.wall);
  f.clock.advance(2s);
  EXPECT_EQ(t.tick(), "");
  f.clock.advance(2s);
  EXPECT_EQ(t.tick(), "");
  EXPECT_EQ(f.commits, 2);
}

TEST(MountTimers, MarksTheClockEveryMinute) {
  Fixture f;
  MountTimers t(f.settings(900s), f.actions(), f.clock, f.wall);
  for (int i = 0; i < 59; ++i) {
    f.clock.advance(1s);
    f.use();
    t.tick();
  }
  EXPECT_EQ(f.marks, 0);
  f.clock.advance(1s);
  t.tick();
  EXPECT_EQ(f.marks, 1);
  f.clock.advance(60s);
  f.use();
  t.tick();
  EXPECT_EQ(f.marks, 2);
}

TEST(MountTimers, LocksOnceExpiredUnlessOnHold) {
  Fixture f;
  MountTimers t(f.settings(900s), f.actions(), f.clock, f.wall);
  f.wall.set(2'000'000);
  EXPECT_EQ(t.tick(), "") << "the expiry is the last second it may be open";
  f.wall.set(2'000'001);
  f.clock.advance(61s);
  EXPECT_EQ(t.tick(), "expired");
  EXPECT_EQ(f.marks, 0) << "nothing else runs once expired";
  EXPECT_EQ(f.commits, 0);

  Fixture h;
  auto held = h.settings(900s);
  held.on_hold = true;
  MountTimers on_hold(held, h.actions(), h.clock, h.wall);
  h.wall.set(3'000'000);
  EXPECT_EQ(on_hold.tick(), "");
}

TEST(MountTimers, TheExpiryLockComesBeforeTheIdleLock) {
  Fixture f;
  MountTimers t(f.settings(6s), f.actions(), f.clock, f.wall);
  f.clock.advance(7s);
  f.wall.set(2'000'001);
  EXPECT_EQ(t.tick(), "expired");
}

TEST(MountTimers, AsksLogindEveryFiveSeconds) {
  Fixture f;
  MountTimers t(f.settings(60s), f.actions(true), f.clock, f.wall);
  EXPECT_EQ(t.check_logind_idle(), "");
  EXPECT_TRUE(f.logind_asked.empty());
  f.clock.advance(5s);
  EXPECT_EQ(t.check_logind_idle(), "");
  ASSERT_EQ(f.logind_asked.size(), 1u);
  EXPECT_EQ(f.logind_asked[0], 60s) << "asked about the idle timeout";
  f.logind_idle = true;
  f.clock.advance(4s);
  EXPECT_EQ(t.check_logind_idle(), "");
  f.clock.advance(1s);
  EXPECT_EQ(t.check_logind_idle(), "logind reports the user idle");
}

TEST(MountTimers, WithoutLogindNothingIsAsked) {
  Fixture f;
  MountTimers t(f.settings(60s), f.actions(false), f.clock, f.wall);
  f.clock.advance(60s);
  EXPECT_EQ(t.check_logind_idle(), "");
}

TEST(MountTimers, TheSteadyClockMoves) {
  auto a = steady_clock().now();
  auto b = steady_clock().now();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace coffer::fusefs
