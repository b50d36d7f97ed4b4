// Fuzz target: the school key file parsers. The public parser must accept
// only canonical files; the secret parser is driven up to its KDF step with
// the KDF limited to test cost by refusing costlier inputs first.
#include <cstdint>
#include <string_view>

#include "coffer/error.h"
#include "coffer/keystore/school_key.h"

using namespace coffer::keystore;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    SchoolPublicKey k = parse_public_key_file(text, "fuzz.pub");
    if (encode_public_key_file(k) != text) __builtin_trap();
  } catch (const coffer::Error&) {
  }
  // Keep executions fast: only inputs whose KDF line asks for the minimum.
  if (text.find("kdf argon2id13 1 8192 ") != std::string_view::npos) {
    try {
      Passphrase pw;
      pw.push_back('x');
      open_secret_key_file(text, pw, "fuzz.key");
    } catch (const coffer::Error&) {
    }
  }
  return 0;
}
