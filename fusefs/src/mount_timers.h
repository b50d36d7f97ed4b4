// The timers of a mount (the idle lock and its desktop warning, commit
// batching, the clock mark with its expiry purge, the expiry lock and
// logind's idle check), with their clocks injected so tests drive them by
// advancing a fake time instead of sleeping. The daemon's poll loop calls
// them after every wake-up.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "coffer/vault/container/clock.h"

namespace coffer::fusefs {

// Buffered writes are committed at least this often, at fsync, within
// about 50 ms of a written file's last close, and at lock.
inline constexpr auto kCommitInterval = std::chrono::seconds(2);
// The coffer's clock mark follows the time while mounted (checked at the
// next unlock: a clock set back behind it refuses to open); expired records
// and files are purged as often.
inline constexpr auto kClockMarkInterval = std::chrono::seconds(60);
// How often logind's IdleHint is asked for.
inline constexpr auto kLogindIdleCheckInterval = std::chrono::seconds(5);

// The monotonic time the intervals are measured in.
class MonotonicClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~MonotonicClock() = default;
  virtual time_point now() const = 0;
};
const MonotonicClock& steady_clock();

struct TimerSettings {
  std::chrono::seconds idle_timeout{15 * 60};
  std::int64_t expires = 0;  // unix seconds; the coffer locks once past it
  bool on_hold = false;      // a hold suspends expiry
  std::string coffer_name;   // for the desktop warning
};

// What the timers act on: the filesystem, the desktop and logind in the
// daemon, fakes in tests.
struct TimerActions {
  std::function<std::chrono::nanoseconds()> idle_for;  // since the last use
  std::function<bool()> commit_requested;
  std::function<void()> commit;      // a failure is reported; the next tick retries
  std::function<void()> mark_clock;  // raise the clock mark, purge what expired
  std::function<void(const std::string&)> notify;
  std::function<bool(std::chrono::seconds)> user_idle_for;  // logind; may be empty
};

class MountTimers {
 public:
  // Intervals count from construction (the mount being ready).
  MountTimers(TimerSettings settings, TimerActions actions, const MonotonicClock& clock, const vault::Clock& wall);

  // How long the loop may sleep: 50 ms while a commit is asked for (it
  // follows a written file's last close closely), else 250 ms.
  int poll_timeout_ms() const;
  // Every kLogindIdleCheckInterval: a lock reason when logind reports the
  // user idle for the idle timeout, else empty.
  std::string check_logind_idle();
  // In this order: the expiry lock, the clock mark, the commit, the idle
  // lock (and the warning before it). Returns a lock reason, or empty.
  // Errors other than a commit's propagate (the daemon then locks).
  std::string tick();

 private:
  TimerSettings settings_;
  TimerActions actions_;
  const MonotonicClock& clock_;
  const vault::Clock& wall_;
  MonotonicClock::time_point last_logind_check_, last_commit_, last_mark_;
  bool warned_ = false;
};

}  // namespace coffer::fusefs
