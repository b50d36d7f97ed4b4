// School key pairs and their files; see school_key.h. The file formats are
// specified in docs/FORMAT.md ("School key files").
#include "coffer/keystore/school_key.h"

#include <sodium.h>

#include <sstream>
#include <vector>

#include "coffer/error.h"
#include "coffer/keystore/digest.h"
#include "coffer/keystore/encoding.h"
#include "coffer/keystore/wrap.h"

namespace coffer::keystore {
namespace {

constexpr std::string_view kPublicMagic = "coffer school public key v1";
constexpr std::string_view kSecretMagic = "coffer school secret key v1";

static_assert(kSealedMasterKeySize == MasterKey::kSize + crypto_box_SEALBYTES);

[[noreturn]] void malformed(std::string_view source, std::string_view what) {
  throw Error(ErrorCode::kDamaged,
              std::string(source) + ": not a valid coffer school key file (" + std::string(what) + ")");
}

// Splits into lines; every line must end with '\n'.
std::vector<std::string_view> lines_of(std::string_view text, std::string_view source) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) malformed(source, "missing final newline");
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::string_view field(std::string_view line, std::string_view key, std::string_view source) {
  if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ' ')
    malformed(source, "expected '" + std::string(key) + "' line");
  return line.substr(key.size() + 1);
}

SchoolKeyRole parse_role(std::string_view name, std::string_view source) {
  if (name == "recovery") return SchoolKeyRole::kRecovery;
  if (name == "audit") return SchoolKeyRole::kAudit;
  malformed(source, "unknown role");
}

template <std::size_t N>
std::array<std::uint8_t, N> decode_fixed(std::string_view b64, std::string_view source, std::string_view what) {
  auto bytes = from_base64(b64);
  if (!bytes || bytes->size() != N) malformed(source, "bad " + std::string(what));
  std::array<std::uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

std::string kdf_line(const KdfParams& p) {
  return "kdf argon2id13 " + std::to_string(p.ops_limit) + " " + std::to_string(p.mem_limit) + " " + to_base64(p.salt);
}

KdfParams parse_kdf_line(std::string_view value, std::string_view source) {
  std::istringstream in{std::string(value)};
  std::string alg, salt;
  KdfParams p;
  if (!(in >> alg >> p.ops_limit >> p.mem_limit >> salt) || alg != "argon2id13" || !in.eof())
    malformed(source, "bad kdf line");
  p.salt = decode_fixed<16>(salt, source, "salt");
  if (kdf_line(p) != "kdf " + std::string(value)) malformed(source, "non-canonical kdf line");
  validate_kdf_params(p);
  return p;
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::string_view role_name(SchoolKeyRole role) { return role == SchoolKeyRole::kAudit ? "audit" : "recovery"; }

std::array<std::uint8_t, 16> SchoolPublicKey::fingerprint() const { return checksum16(bytes); }

SchoolKeyPair generate_school_key(SchoolKeyRole role, Random& random) {
  ensure_sodium();
  SecretBytes seed(crypto_box_SEEDBYTES);
  random.fill(seed.writable_bytes());
  SchoolKeyPair pair{SchoolPublicKey{role, {}}, SchoolSecretKey{}};
  crypto_box_seed_keypair(pair.public_key.bytes.data(), pair.secret_key.writable_bytes().data(),
                          seed.reveal_bytes().data());
  return pair;
}

std::string encode_public_key_file(const SchoolPublicKey& key) {
  return std::string(kPublicMagic) + "\nrole " + std::string(role_name(key.role)) + "\nkey " + to_base64(key.bytes) +
         "\n";
}

SchoolPublicKey parse_public_key_file(std::string_view text, std::string_view source) {
  auto lines = lines_of(text, source);
  if (lines.size() != 3 || lines[0] != kPublicMagic) {
    if (!lines.empty() && lines[0] == kSecretMagic) malformed(source, "this is a secret key file; give the .pub file");
    malformed(source, "wrong first line or line count");
  }
  SchoolPublicKey key;
  key.role = parse_role(field(lines[1], "role", source), source);
  key.bytes = decode_fixed<32>(field(lines[2], "key", source), source, "key");
  return key;
}

std::string encode_secret_key_file(const SchoolKeyPair& pair, const Passphrase& passphrase, KdfCost cost,
                                   Random& random) {
  KdfParams params = make_kdf_params(cost, random);
  std::string authenticated = std::string(kSecretMagic) + "\nrole " + std::string(role_name(pair.public_key.role)) +
                              "\npublic " + to_base64(pair.public_key.bytes) + "\n" + kdf_line(params) + "\n";
  Kek kek = derive_kek(passphrase, params);
  WrappedKey wrapped = wrap_key(pair.secret_key, kek, as_bytes(authenticated), random);
  return authenticated + "nonce " + to_base64(wrapped.nonce) + "\nsealed " + to_base64(wrapped.ciphertext) + "\n";
}

SchoolKeyPair open_secret_key_file(std::string_view text, const Passphrase& passphrase, std::string_view source) {
  auto lines = lines_of(text, source);
  if (lines.size() != 6 || lines[0] != kSecretMagic) {
    if (!lines.empty() && lines[0] == kPublicMagic) malformed(source, "this is a public key file; give the .key file");
    malformed(source, "wrong first line or line count");
  }
  SchoolKeyPair pair;
  pair.public_key.role = parse_role(field(lines[1], "role", source), source);
  pair.public_key.bytes = decode_fixed<32>(field(lines[2], "public", source), source, "public key");
  KdfParams params = parse_kdf_line(field(lines[3], "kdf", source), source);
  WrappedKey wrapped;
  wrapped.nonce = decode_fixed<24>(field(lines[4], "nonce", source), source, "nonce");
  wrapped.ciphertext =
      decode_fixed<WrappedKey::kCiphertextSize>(field(lines[5], "sealed", source), source, "sealed key");
  std::size_t authenticated_len = 0;
  for (int i = 0; i < 4; ++i) authenticated_len += lines[i].size() + 1;
  Kek kek = derive_kek(passphrase, params);
  auto key = unwrap_key<SchoolSecretKey>(wrapped, kek, as_bytes(text.substr(0, authenticated_len)));
  if (!key) throw Error(ErrorCode::kWrongPassphrase, "wrong passphrase for the school key " + std::string(source));
  pair.secret_key = std::move(*key);
  // The public key in the file must belong to the secret key.
  std::array<std::uint8_t, 32> derived{};
  crypto_scalarmult_base(derived.data(), pair.secret_key.reveal_bytes().data());
  if (!equal_constant_time(derived, pair.public_key.bytes))
    malformed(source, "public key does not match the secret key");
  return pair;
}

SealedMasterKey seal_master_key(const MasterKey& key, const SchoolPublicKey& to) {
  ensure_sodium();
  SealedMasterKey out{};
  crypto_box_seal(out.data(), key.reveal_bytes().data(), MasterKey::kSize, to.bytes.data());
  return out;
}

std::optional<MasterKey> unseal_master_key(const SealedMasterKey& sealed, const SchoolKeyPair& pair) {
  ensure_sodium();
  MasterKey key;
  if (crypto_box_seal_open(key.writable_bytes().data(), sealed.data(), sealed.size(), pair.public_key.bytes.data(),
                           pair.secret_key.reveal_bytes().data()) != 0)
    return std::nullopt;
  return key;
}

}  // namespace coffer::keystore
