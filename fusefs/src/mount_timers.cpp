// The timers of a mount; see mount_timers.h.
#include "mount_timers.h"

#include <algorithm>
#include <iostream>

namespace coffer::fusefs {

namespace {
class SteadyClock : public MonotonicClock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};
}  // namespace

const MonotonicClock& steady_clock() {
  static SteadyClock clock;
  return clock;
}

MountTimers::MountTimers(TimerSettings settings, TimerActions actions, const MonotonicClock& clock,
                         const vault::Clock& wall)
    : settings_(std::move(settings)), actions_(std::move(actions)), clock_(clock), wall_(wall) {
  last_logind_check_ = last_commit_ = last_mark_ = clock_.now();
}

int MountTimers::poll_timeout_ms() const { return actions_.commit_requested() ? 50 : 250; }

std::string MountTimers::check_logind_idle() {
  auto now = clock_.now();
  if (!actions_.user_idle_for || now - last_logind_check_ < kLogindIdleCheckInterval) return {};
  last_logind_check_ = now;
  return actions_.user_idle_for(settings_.idle_timeout) ? "logind reports the user idle" : "";
}

std::string MountTimers::tick() {
  auto now = clock_.now();
  if (!settings_.on_hold && wall_.now() > settings_.expires) {
    // Expired while open: lock at once; the next unlock says it is sealed.
    return "expired";
  }
  if (now - last_mark_ >= kClockMarkInterval) {
    actions_.mark_clock();
    last_mark_ = now;
  }
  if (actions_.commit_requested() || now - last_commit_ >= kCommitInterval) {
    try {
      actions_.commit();
    } catch (const std::exception& e) {
      std::cerr << "coffer: periodic commit failed: " << e.what() << "\n";
    }
    last_commit_ = now;
  }
  const auto idle_timeout = settings_.idle_timeout;
  auto idle_for = actions_.idle_for();
  auto warn_before = std::min<std::chrono::nanoseconds>(std::chrono::seconds(60), idle_timeout / 5);
  if (idle_for >= idle_timeout) return "idle for " + std::to_string(idle_timeout.count()) + " s";
  if (!warned_ && idle_for >= idle_timeout - warn_before) {
    actions_.notify(settings_.coffer_name + " locks in " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(idle_timeout - idle_for).count()) +
                    " s unless used");
    warned_ = true;
  } else if (idle_for < idle_timeout - warn_before) {
    warned_ = false;
  }
  return {};
}

}  // namespace coffer::fusefs
