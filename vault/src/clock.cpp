// The system wall clock; see clock.h.
#include "coffer/vault/clock.h"

#include <ctime>

namespace coffer::vault {
namespace {
class SystemClock final : public Clock {
 public:
  std::int64_t now() const override { return static_cast<std::int64_t>(std::time(nullptr)); }
  std::int64_t now_ns() const override {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }
};
}  // namespace

const Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace coffer::vault
