// keystore: the audit trail's cryptography (ratchet, MACs, sealing to the
// school's audit key).
#include <gtest/gtest.h>

#include <string>

#include "coffer/keystore/audit_crypto.h"
#include "coffer/keystore/digest.h"

namespace coffer::keystore {
namespace {

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(AuditCrypto, RatchetIsDeterministicOneWayAndInPlace) {
  auto k = random_audit_chain_key(system_random());
  auto copy = copy_chain_key(k);
  ASSERT_TRUE(equal_constant_time(k.reveal_bytes(), copy.reveal_bytes()));
  const std::uint8_t* where = k.reveal_bytes().data();
  ratchet(k);
  EXPECT_EQ(k.reveal_bytes().data(), where);  // same secure buffer, overwritten
  EXPECT_FALSE(equal_constant_time(k.reveal_bytes(), copy.reveal_bytes()));
  ratchet(copy);
  EXPECT_TRUE(equal_constant_time(k.reveal_bytes(), copy.reveal_bytes()));
  // K1 = BLAKE2b-256 keyed with K0 over the label (the same function as
  // the entry MAC, so the MAC of the label under K0 is K1).
  AuditChainKey zero;  // all-zero K0
  ratchet(zero);
  Digest32 expect = audit_entry_mac(AuditChainKey{}, bytes_of("coffer audit ratchet v1"));
  EXPECT_TRUE(equal_constant_time(zero.reveal_bytes(), expect));
}

TEST(AuditCrypto, EntryMacDependsOnKeyAndData) {
  auto k = random_audit_chain_key(system_random());
  auto a = audit_entry_mac(k, bytes_of("record one"));
  EXPECT_TRUE(digest_equal(a, audit_entry_mac(k, bytes_of("record one"))));
  EXPECT_FALSE(digest_equal(a, audit_entry_mac(k, bytes_of("record onf"))));
  auto next = copy_chain_key(k);
  ratchet(next);
  EXPECT_FALSE(digest_equal(a, audit_entry_mac(next, bytes_of("record one"))));
  AuditMacStream stream(k);
  stream.update(bytes_of("record"));
  stream.update(bytes_of(" one"));
  EXPECT_TRUE(digest_equal(a, stream.finish()));
}

TEST(AuditCrypto, ChainHashBindsThePrevious) {
  AuditKey key;
  system_random().fill(key.writable_bytes());
  Digest32 zero{}, one{};
  one[0] = 1;
  auto h0 = audit_chain_hash(key, zero, bytes_of("entry"));
  EXPECT_FALSE(digest_equal(h0, audit_chain_hash(key, one, bytes_of("entry"))));
  EXPECT_TRUE(digest_equal(h0, audit_chain_hash(key, zero, bytes_of("entry"))));
}

TEST(AuditCrypto, SealOpensOnlyWithTheAuditSecretKey) {
  auto pair = generate_school_key(SchoolKeyRole::kAudit, system_random());
  auto other = generate_school_key(SchoolKeyRole::kAudit, system_random());
  std::string text = "{\"kind\":\"unlock\"}";
  auto sealed = seal_to_school(bytes_of(text), pair.public_key);
  EXPECT_EQ(sealed.size(), text.size() + kSealOverhead);
  auto opened = open_sealed(sealed, pair);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(std::string(opened->begin(), opened->end()), text);
  EXPECT_FALSE(open_sealed(sealed, other).has_value());
  sealed[60] ^= 1;
  EXPECT_FALSE(open_sealed(sealed, pair).has_value());
  EXPECT_FALSE(open_sealed(std::span(sealed).first(10), pair).has_value());

  auto k = random_audit_chain_key(system_random());
  SealedChainKey sk = seal_chain_key(k, pair.public_key);
  auto back = unseal_chain_key(sk, pair);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(equal_constant_time(back->reveal_bytes(), k.reveal_bytes()));
  EXPECT_FALSE(unseal_chain_key(sk, other).has_value());
  EXPECT_FALSE(unseal_chain_key(std::span(sk).first(79), pair).has_value());
}

}  // namespace
}  // namespace coffer::keystore
