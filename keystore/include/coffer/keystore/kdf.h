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
// Caps on what a file may ask for. Above them the file is refused.
inline constexpr std::uint32_t kMaxOpsLimit = 32;
inline constexpr std::uint64_t kMaxMemLimit = 1ull << 30;

KdfParams make_kdf_params(KdfCost cost, Random& random);

// True when the parameters are below the default cost (test cost or weaker).
bool is_insecure(const KdfParams& params);

// Throws coffer::Error(kDamaged) when params are outside the caps or unknown.
void validate_kdf_params(const KdfParams& params);

// Validates, then derives. Throws Error(kOther) if the memory is unavailable.
Kek derive_kek(const Passphrase& passphrase, const KdfParams& params);

}  // namespace coffer::keystore
