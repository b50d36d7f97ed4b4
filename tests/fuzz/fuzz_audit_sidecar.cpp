// Fuzz target: the audit sidecar reader. Any bytes must be reported or
// refused with coffer::Error, never crash, with a fixed audit key pair (the
// one tests/fixtures/format-v1.coffer.audit is sealed to: seed byte i = i),
// so seeds from that fixture decrypt and the MAC chain code is exercised.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "coffer/error.h"
#include "coffer/keystore/school_key.h"
#include "coffer/vault/audit/audit.h"

using namespace coffer;

namespace {
class SeedRandom final : public keystore::Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i);
  }
};

const keystore::SchoolKeyPair& audit_key() {
  static SeedRandom seed;
  static const keystore::SchoolKeyPair pair = keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, seed);
  return pair;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  try {
    vault::SidecarReport r = vault::read_sidecar_bytes(in, audit_key(), 3, "fuzz.audit");
    if (r.entries.size() != r.records || r.unconfirmed > r.records) std::abort();
  } catch (const Error&) {
  }
  return 0;
}
