// Argon2id passphrase KDF. Parameters are stored per key slot; any read from
// a file are hostile and validated against hard caps before use, so a header
// asking for 64 GiB is refused rather than obeyed.
#pragma once

#include <array>
#include <cstdint>

#include "coffer/keystore/random.h"
#include "coffer/keystore/secret.h"

namespace coffer::keystore {

enum class KdfAlgorithm : std::uint8_t { kArgon2id13 = 1 };

// kDefault: about 0.6 s and 256 MiB on the reference 2-core machine.
// kTest: libsodium's minimum limits; recorded in the slot, reported insecure.
enum class KdfCost { kDefault, kTest };

struct KdfParams {
  KdfAlgorithm algorithm = KdfAlgorithm::kArgon2id13;
  std::uint32_t ops_limit = 0;
  std::uint64_t mem_limit = 0;  // bytes
  std::array<std::uint8_t, 16> salt{};
};

inline constexpr std::uint32_t kDefaultOpsLimit = 4;
inline constexpr std::uint64_t kDefaultMemLimit = 256ull << 20;
// Caps on what a file may ask for. Above them the slot (or key file) is
// refused before any derivation. Nothing this program writes goes above the
// default cost; the caps leave room for twice the default in each dimension
// (4x the work: about 2.4 s and 512 MiB per attempt on the reference 2-core
// machine, so at most about 20 s for all eight slots) and no more: a laptop
// with 4 GiB can always afford it, and a header edited to ask for more (the
// earlier caps, 32 passes and 1 GiB, cost 79 s per slot) is reported as
// damaged or altered instead of being obeyed.
inline constexpr std::uint32_t kMaxOpsLimit = 2 * kDefaultOpsLimit;
inline constexpr std::uint64_t kMaxMemLimit = 2 * kDefaultMemLimit;

KdfParams make_kdf_params(KdfCost cost, Random& random);

// True when the parameters are below the default cost (test cost or weaker).
bool is_insecure(const KdfParams& params);

// Throws coffer::Error(kDamaged) when params are outside the caps or unknown.
void validate_kdf_params(const KdfParams& params);

// Validates, then derives. Throws Error(kOther) if the memory is unavailable.
Kek derive_kek(const Passphrase& passphrase, const KdfParams& params);

}  // namespace coffer::keystore
