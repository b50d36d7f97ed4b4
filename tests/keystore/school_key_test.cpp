// keystore: school key pairs, their files, and the recovery seal.
#include <gtest/gtest.h>

#include "coffer/error.h"
#include "coffer/keystore/digest.h"
#include "coffer/keystore/school_key.h"
#include "coffer/keystore/wrap.h"
#include "error_capture.h"
#include "test_support.h"

namespace coffer::keystore {
namespace {

using test::passphrase;

using test::code_of;

TEST(SchoolKey, RecoveryUnsealRoundTripAndWrongKeyFails) {
  SchoolKeyPair school = generate_school_key(SchoolKeyRole::kRecovery, system_random());
  SchoolKeyPair other = generate_school_key(SchoolKeyRole::kRecovery, system_random());
  MasterKey m = random_master_key(system_random());
  SealedMasterKey sealed = seal_master_key(m, school.public_key);
  auto back = unseal_master_key(sealed, school);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(equal_constant_time(back->reveal_bytes(), m.reveal_bytes()));
  EXPECT_FALSE(unseal_master_key(sealed, other).has_value());
  sealed[40] ^= 1;
  EXPECT_FALSE(unseal_master_key(sealed, school).has_value());
}

TEST(SchoolKey, PublicFileRoundTripAndStrictParse) {
  SchoolKeyPair k = generate_school_key(SchoolKeyRole::kAudit, system_random());
  std::string text = encode_public_key_file(k.public_key);
  SchoolPublicKey back = parse_public_key_file(text, "a.pub");
  EXPECT_EQ(back.role, SchoolKeyRole::kAudit);
  EXPECT_EQ(back.bytes, k.public_key.bytes);
  EXPECT_EQ(code_of([&] { parse_public_key_file(text.substr(0, text.size() - 1), "a.pub"); }), ErrorCode::kDamaged);
  EXPECT_EQ(code_of([&] { parse_public_key_file("hello\n", "a.pub"); }), ErrorCode::kDamaged);
  std::string bad_role = text;
  bad_role.replace(bad_role.find("audit"), 5, "admin");
  EXPECT_EQ(code_of([&] { parse_public_key_file(bad_role, "a.pub"); }), ErrorCode::kDamaged);
}

TEST(SchoolKey, SecretFileNeedsItsPassphrase) {
  SchoolKeyPair k = generate_school_key(SchoolKeyRole::kRecovery, system_random());
  std::string text = encode_secret_key_file(k, passphrase("Recovery-Oak-Harbour-31"), KdfCost::kTest, system_random());
  SchoolKeyPair back = open_secret_key_file(text, passphrase("Recovery-Oak-Harbour-31"), "s.key");
  EXPECT_TRUE(equal_constant_time(back.secret_key.reveal_bytes(), k.secret_key.reveal_bytes()));
  EXPECT_EQ(back.public_key.bytes, k.public_key.bytes);
  EXPECT_EQ(code_of([&] { open_secret_key_file(text, passphrase("wrong"), "s.key"); }), ErrorCode::kWrongPassphrase);
  // The public key line is authenticated: swapping in another key is caught.
  SchoolKeyPair other = generate_school_key(SchoolKeyRole::kRecovery, system_random());
  std::string swapped = text;
  std::string pub_line = encode_public_key_file(k.public_key);
  std::string other_line = encode_public_key_file(other.public_key);
  auto key_b64 = pub_line.substr(pub_line.find("\nkey ") + 5, 44);
  auto other_b64 = other_line.substr(other_line.find("\nkey ") + 5, 44);
  swapped.replace(swapped.find(key_b64), key_b64.size(), other_b64);
  ASSERT_NE(swapped, text);
  EXPECT_EQ(code_of([&] { open_secret_key_file(swapped, passphrase("Recovery-Oak-Harbour-31"), "s.key"); }),
            ErrorCode::kWrongPassphrase);
  // A public file is not a secret file, and says so.
  try {
    open_secret_key_file(pub_line, passphrase("x"), "s.pub");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("public key file"), std::string::npos);
  }
}

TEST(SchoolKey, SecretFileRefusesAbsurdKdfCost) {
  SchoolKeyPair k = generate_school_key(SchoolKeyRole::kRecovery, system_random());
  std::string text = encode_secret_key_file(k, passphrase("pw"), KdfCost::kTest, system_random());
  auto pos = text.find("kdf argon2id13 ");
  auto end = text.find('\n', pos);
  std::string line = text.substr(pos, end - pos);
  auto salt = line.substr(line.rfind(' ') + 1);
  text.replace(pos, end - pos, "kdf argon2id13 1 68719476736 " + salt);
  EXPECT_EQ(code_of([&] { open_secret_key_file(text, passphrase("pw"), "s.key"); }), ErrorCode::kDamaged);
}

TEST(SchoolKey, FingerprintIdentifiesKey) {
  SchoolKeyPair a = generate_school_key(SchoolKeyRole::kRecovery, system_random());
  SchoolKeyPair b = generate_school_key(SchoolKeyRole::kRecovery, system_random());
  EXPECT_EQ(a.public_key.fingerprint(), a.public_key.fingerprint());
  EXPECT_NE(a.public_key.fingerprint(), b.public_key.fingerprint());
}

}  // namespace
}  // namespace coffer::keystore
