// The system wall clock; see clock.h.
#include "coffer/vault/clock.h"

#include <ctime>

namespace coffer::vault {
namespace {
class SystemClock final : public Clock {
 public:
  std::int64_t now() const override { return static_cast<std::int64_t>(std::time(nullptr)); }
};
}  // namespace

const Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace coffer::vault
