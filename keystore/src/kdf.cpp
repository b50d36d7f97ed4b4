// Argon2id KDF with capped parameters; see kdf.h.
#include "coffer/keystore/kdf.h"

#include <sodium.h>

#include <string>

#include "coffer/error.h"

namespace coffer::keystore {

KdfParams make_kdf_params(KdfCost cost, Random& random) {
  KdfParams p;
  if (cost == KdfCost::kTest) {
    p.ops_limit = crypto_pwhash_OPSLIMIT_MIN;
    p.mem_limit = crypto_pwhash_MEMLIMIT_MIN;
  } else {
    p.ops_limit = kDefaultOpsLimit;
    p.mem_limit = kDefaultMemLimit;
  }
  random.fill(p.salt);
  return p;
}

bool is_insecure(const KdfParams& params) { return params.mem_limit < (64ull << 20) || params.ops_limit < 2; }

void validate_kdf_params(const KdfParams& p) {
  if (p.algorithm != KdfAlgorithm::kArgon2id13)
    throw Error(ErrorCode::kDamaged,
                "unknown key-derivation algorithm " + std::to_string(static_cast<int>(p.algorithm)));
  if (p.ops_limit < crypto_pwhash_OPSLIMIT_MIN || p.ops_limit > kMaxOpsLimit)
    throw Error(ErrorCode::kDamaged, "key-derivation time cost " + std::to_string(p.ops_limit) +
                                         " is outside the accepted range 1.." + std::to_string(kMaxOpsLimit));
  if (p.mem_limit < crypto_pwhash_MEMLIMIT_MIN || p.mem_limit > kMaxMemLimit)
    throw Error(ErrorCode::kDamaged, "key-derivation memory cost " + std::to_string(p.mem_limit >> 10) +
                                         " KiB is outside the accepted range 8 KiB.." +
                                         std::to_string(kMaxMemLimit >> 20) + " MiB");
}

Kek derive_kek(const Passphrase& passphrase, const KdfParams& params) {
  ensure_sodium();
  validate_kdf_params(params);
  Kek kek;
  auto pw = passphrase.reveal_bytes();
  if (crypto_pwhash(kek.writable_bytes().data(), Kek::kSize, reinterpret_cast<const char*>(pw.data()), pw.size(),
                    params.salt.data(), params.ops_limit, static_cast<size_t>(params.mem_limit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw Error(ErrorCode::kOther,
                "not enough memory for the key derivation (" + std::to_string(params.mem_limit >> 20) + " MiB)");
  return kek;
}

}  // namespace coffer::keystore
