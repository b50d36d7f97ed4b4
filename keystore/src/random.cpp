// The system random source; see random.h.
#include "coffer/keystore/random.h"

#include <sodium.h>

#include "coffer/keystore/secret.h"

namespace coffer::keystore {
namespace {
class SodiumRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    ensure_sodium();
    randombytes_buf(out.data(), out.size());
  }
};
}  // namespace

Random& system_random() {
  static SodiumRandom random;
  return random;
}

}  // namespace coffer::keystore
