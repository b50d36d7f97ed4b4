// keystore: secret memory, KDF caps, key wrapping, subkeys, encodings.
#include <gtest/gtest.h>

#include <set>

#include "coffer/error.h"
#include "coffer/keystore/digest.h"
#include "coffer/keystore/encoding.h"
#include "coffer/keystore/kdf.h"
#include "coffer/keystore/subkeys.h"
#include "coffer/keystore/wrap.h"
#include "error_capture.h"
#include "test_support.h"

namespace coffer::keystore {
namespace {

using test::passphrase;

std::vector<std::uint8_t> ad(const std::string& s) { return {s.begin(), s.end()}; }

TEST(Secret, MoveLeavesSourceEmptyAndKeepsBytes) {
  MasterKey a = random_master_key(system_random());
  std::vector<std::uint8_t> copy(a.reveal_bytes().begin(), a.reveal_bytes().end());
  MasterKey b = std::move(a);
  EXPECT_TRUE(std::equal(copy.begin(), copy.end(), b.reveal_bytes().begin()));
  static_assert(!std::is_copy_constructible_v<MasterKey>);
  static_assert(!std::is_convertible_v<MasterKey, std::string>);
  // Distinct roles are distinct types: a DbKey is not a MasterKey.
  static_assert(!std::is_convertible_v<DbKey, MasterKey>);
}

TEST(Secret, PassphraseLimitsLengthAndCompares) {
  Passphrase p;
  for (std::size_t i = 0; i < Passphrase::kMaxLength; ++i) ASSERT_TRUE(p.push_back('a'));
  EXPECT_FALSE(p.push_back('a'));
  EXPECT_TRUE(passphrase("abc").equals(passphrase("abc")));
  EXPECT_FALSE(passphrase("abc").equals(passphrase("abd")));
  EXPECT_FALSE(passphrase("abc").equals(passphrase("abcd")));
}

TEST(Kdf, TestCostIsMinimalAndFlaggedInsecure) {
  KdfParams t = make_kdf_params(KdfCost::kTest, system_random());
  KdfParams d = make_kdf_params(KdfCost::kDefault, system_random());
  EXPECT_TRUE(is_insecure(t));
  EXPECT_FALSE(is_insecure(d));
  EXPECT_EQ(d.mem_limit, 256ull << 20);
  EXPECT_NE(t.salt, d.salt);
}

TEST(Kdf, SameInputsSameKeyOtherSaltOtherKey) {
  KdfParams p = make_kdf_params(KdfCost::kTest, system_random());
  Kek a = derive_kek(passphrase("one two three"), p);
  Kek b = derive_kek(passphrase("one two three"), p);
  EXPECT_TRUE(equal_constant_time(a.reveal_bytes(), b.reveal_bytes()));
  KdfParams q = p;
  q.salt[0] ^= 1;
  Kek c = derive_kek(passphrase("one two three"), q);
  EXPECT_FALSE(equal_constant_time(a.reveal_bytes(), c.reveal_bytes()));
}

TEST(Kdf, AbsurdParametersAreRefusedNotObeyed) {
  KdfParams p = make_kdf_params(KdfCost::kTest, system_random());
  auto refused = [&](KdfParams bad) {
    return test::code_of([&] { derive_kek(passphrase("x"), bad); }) == ErrorCode::kDamaged;
  };
  KdfParams huge = p;
  huge.mem_limit = 64ull << 30;  // 64 GiB
  EXPECT_TRUE(refused(huge));
  KdfParams slow = p;
  slow.ops_limit = 1000;
  EXPECT_TRUE(refused(slow));
  KdfParams zero = p;
  zero.ops_limit = 0;
  EXPECT_TRUE(refused(zero));
  KdfParams tiny = p;
  tiny.mem_limit = 1024;
  EXPECT_TRUE(refused(tiny));
  KdfParams alg = p;
  alg.algorithm = static_cast<KdfAlgorithm>(7);
  EXPECT_TRUE(refused(alg));
  KdfParams cap = p;
  cap.mem_limit = kMaxMemLimit;
  EXPECT_NO_THROW(validate_kdf_params(cap));
}

TEST(Kdf, CapsAreWhatALaptopNeedsNotWhatAFileAsksFor) {
  // The default cost is within the caps, with twice its passes and memory.
  KdfParams p = make_kdf_params(KdfCost::kDefault, system_random());
  EXPECT_NO_THROW(validate_kdf_params(p));
  p.ops_limit = 2 * kDefaultOpsLimit;
  p.mem_limit = 2 * kDefaultMemLimit;
  EXPECT_NO_THROW(validate_kdf_params(p));
  EXPECT_LE(kMaxMemLimit, 512ull << 20);
  EXPECT_LE(kMaxOpsLimit, 8U);
  // The earlier caps (32 passes, 1 GiB: 79 s per attempt) are refused.
  KdfParams old = p;
  old.ops_limit = 32;
  EXPECT_EQ(test::code_of([&] { validate_kdf_params(old); }), ErrorCode::kDamaged);
  old = p;
  old.mem_limit = 1ull << 30;
  EXPECT_EQ(test::code_of([&] { validate_kdf_params(old); }), ErrorCode::kDamaged);
}

TEST(Wrap, RoundTrip) {
  MasterKey m = random_master_key(system_random());
  Kek kek = derive_kek(passphrase("pw"), make_kdf_params(KdfCost::kTest, system_random()));
  WrappedKey w = wrap_key(m, kek, ad("header"), system_random());
  auto back = unwrap_key<MasterKey>(w, kek, ad("header"));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(equal_constant_time(back->reveal_bytes(), m.reveal_bytes()));
}

TEST(Wrap, WrongKeyTamperedAdOrCiphertextFail) {
  MasterKey m = random_master_key(system_random());
  KdfParams p = make_kdf_params(KdfCost::kTest, system_random());
  Kek kek = derive_kek(passphrase("right"), p);
  Kek other = derive_kek(passphrase("wrong"), p);
  WrappedKey w = wrap_key(m, kek, ad("header"), system_random());
  EXPECT_FALSE(unwrap_key<MasterKey>(w, other, ad("header")).has_value());
  EXPECT_FALSE(unwrap_key<MasterKey>(w, kek, ad("headeR")).has_value());
  for (std::size_t i = 0; i < w.ciphertext.size(); ++i) {
    WrappedKey t = w;
    t.ciphertext[i] ^= 0x01;
    EXPECT_FALSE(unwrap_key<MasterKey>(t, kek, ad("header")).has_value()) << i;
  }
  WrappedKey n = w;
  n.nonce[3] ^= 0x80;
  EXPECT_FALSE(unwrap_key<MasterKey>(n, kek, ad("header")).has_value());
}

TEST(Subkeys, DistinctPerRoleAndDeterministic) {
  MasterKey m = random_master_key(system_random());
  DbKey db = derive_db_key(m);
  HeaderMacKey mac = derive_header_mac_key(m);
  AuditKey audit = derive_audit_key(m);
  ChunkMacKey chunk = derive_chunk_mac_key(m);
  std::set<std::vector<std::uint8_t>> all;
  for (auto s : {std::span<const std::uint8_t>(db.reveal_bytes()), std::span<const std::uint8_t>(mac.reveal_bytes()),
                 std::span<const std::uint8_t>(audit.reveal_bytes()),
                 std::span<const std::uint8_t>(chunk.reveal_bytes()), std::span<const std::uint8_t>(m.reveal_bytes())})
    all.insert({s.begin(), s.end()});
  EXPECT_EQ(all.size(), 5u);
  DbKey again = derive_db_key(m);
  EXPECT_TRUE(equal_constant_time(again.reveal_bytes(), db.reveal_bytes()));
}

TEST(Subkeys, SqlcipherRawKeyLiteral) {
  DbKey k;
  for (std::size_t i = 0; i < DbKey::kSize; ++i) k.writable_bytes()[i] = static_cast<std::uint8_t>(i);
  SecretBytes lit = sqlcipher_raw_key(k);
  std::string text(reinterpret_cast<const char*>(lit.reveal_bytes().data()), lit.size() - 1);
  EXPECT_EQ(text, "x'" + to_hex(k.reveal_bytes()) + "'");
  EXPECT_EQ(lit.reveal_bytes().back(), 0);
}

TEST(Encoding, Base64IsStrict) {
  std::vector<std::uint8_t> data{1, 2, 3, 250, 251};
  std::string b = to_base64(data);
  EXPECT_EQ(from_base64(b), data);
  EXPECT_FALSE(from_base64(b + " ").has_value());
  EXPECT_FALSE(from_base64(b.substr(0, b.size() - 1)).has_value());
  EXPECT_FALSE(from_base64("AQID+vs").has_value());  // missing padding
  EXPECT_FALSE(from_base64("!!!!").has_value());
  // Empty is the encoding of nothing (and must not pass a null buffer to
  // libsodium: UBSan in fuzz_school_key found it).
  ASSERT_TRUE(from_base64("").has_value());
  EXPECT_TRUE(from_base64("")->empty());
}

TEST(Digest, ChecksumsDifferOnAnyFlipAndMacNeedsKey) {
  std::vector<std::uint8_t> data(100, 7);
  Digest32 base = checksum32(data);
  for (std::size_t i = 0; i < data.size(); ++i) {
    auto d = data;
    d[i] ^= 0x10;
    EXPECT_FALSE(equal_constant_time(checksum32(d), base));
  }
  HeaderMacKey k1, k2;
  k2.writable_bytes()[0] = 1;
  EXPECT_FALSE(equal_constant_time(header_mac(k1, data), header_mac(k2, data)));
  EXPECT_FALSE(equal_constant_time(header_mac(k1, data), base));
}

}  // namespace
}  // namespace coffer::keystore
