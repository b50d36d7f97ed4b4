// keystore: known-answer vectors for the subkeys of the master key, so a
// change of construction, context or id (all part of the format) fails here.
//
// The expected values were computed outside the code under test, with
// python3's hashlib (BLAKE2b, as libsodium's crypto_kdf_derive_from_key
// builds it: key = the master key, salt = the subkey id as 8 bytes
// little-endian then 8 zero bytes, person = "COFFERv1" then 8 zero bytes,
// empty message, 32-byte digest):
//
//   hashlib.blake2b(b"", digest_size=32, key=master,
//                   salt=struct.pack("<Q", id) + bytes(8),
//                   person=b"COFFERv1" + bytes(8)).hexdigest()
//
// and cross-checked against the system libsodium's crypto_kdf_derive_from_key
// through ctypes (same bytes for all eight).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "coffer/keystore/encoding.h"
#include "coffer/keystore/subkeys.h"

namespace coffer::keystore {
namespace {

MasterKey master_of(std::uint8_t (*byte)(std::size_t)) {
  MasterKey m;
  for (std::size_t i = 0; i < MasterKey::kSize; ++i) m.writable_bytes()[i] = byte(i);
  return m;
}

// Master key bytes 0x00, 0x01, ..., 0x1f.
MasterKey counting_master() {
  return master_of([](std::size_t i) { return static_cast<std::uint8_t>(i); });
}

// Master key of 32 bytes 0x42.
MasterKey constant_master() {
  return master_of([](std::size_t) { return std::uint8_t{0x42}; });
}

TEST(SubkeysKnownAnswer, CountingMaster) {
  MasterKey m = counting_master();
  EXPECT_EQ(to_hex(derive_db_key(m).reveal_bytes()),
            "2e267eb26874537b3597963511517e83b955fbc3c56c4272e89da3d168ff1075");  // id 1
  EXPECT_EQ(to_hex(derive_header_mac_key(m).reveal_bytes()),
            "a56afbfad3722be9c9a52d800d47572c585d8bfc8e0d957112764b1037b197e7");  // id 2
  EXPECT_EQ(to_hex(derive_audit_key(m).reveal_bytes()),
            "78a9269b89865af879019da69cdcad9c285bfca5cb727bacb61c73391fd242b7");  // id 3
  EXPECT_EQ(to_hex(derive_chunk_mac_key(m).reveal_bytes()),
            "a6d953ee54abee4cff50ed9218e1a13b90e24f68977b52c30412c0c71ef7e65d");  // id 4
}

TEST(SubkeysKnownAnswer, ConstantMaster) {
  MasterKey m = constant_master();
  EXPECT_EQ(to_hex(derive_db_key(m).reveal_bytes()),
            "8f562c3ede6a52219a035bf3bd4a726f08ad53b2342fb5eef12a4c05f650499f");  // id 1
  EXPECT_EQ(to_hex(derive_header_mac_key(m).reveal_bytes()),
            "2417f795fd3def6d336ebb09e7c6a8b269f708949962da0b55094489569249aa");  // id 2
  EXPECT_EQ(to_hex(derive_audit_key(m).reveal_bytes()),
            "b0b55f10b27710c78bbc9fa6cd083c120431aaf714972fdc46403c8951ab5608");  // id 3
  EXPECT_EQ(to_hex(derive_chunk_mac_key(m).reveal_bytes()),
            "2ec4ec858372849a699d753141d27c61e302962ab1023cc4bcfab4ce3b617880");  // id 4
}

// The ids are the format's (FORMAT.md): pinned here beside the vectors.
TEST(SubkeysKnownAnswer, IdsArePinned) {
  EXPECT_EQ(static_cast<std::uint64_t>(SubkeyId::kDatabase), 1u);
  EXPECT_EQ(static_cast<std::uint64_t>(SubkeyId::kHeaderMac), 2u);
  EXPECT_EQ(static_cast<std::uint64_t>(SubkeyId::kAudit), 3u);
  EXPECT_EQ(static_cast<std::uint64_t>(SubkeyId::kChunkMac), 4u);
}

// SQLCipher is keyed with the database subkey of the counting master in
// x'…' form: the literal that key gives, NUL-terminated.
TEST(SubkeysKnownAnswer, SqlcipherRawKeyOfTheCountingMaster) {
  SecretBytes lit = sqlcipher_raw_key(derive_db_key(counting_master()));
  std::string text(reinterpret_cast<const char*>(lit.reveal_bytes().data()), lit.size() - 1);
  EXPECT_EQ(text, "x'2e267eb26874537b3597963511517e83b955fbc3c56c4272e89da3d168ff1075'");
  EXPECT_EQ(lit.reveal_bytes().back(), 0);
}

}  // namespace
}  // namespace coffer::keystore
