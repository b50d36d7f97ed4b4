// vault: header serialisation, strict parsing and copy selection.
#include <gtest/gtest.h>

#include <random>

#include "coffer/error.h"
#include "coffer/keystore/kdf.h"
#include "coffer/keystore/school_key.h"
#include "coffer/keystore/wrap.h"
#include "coffer/vault/container/header.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

Header sample_header() {
  auto& rnd = keystore::system_random();
  Header h;
  rnd.fill(h.vault_id);
  h.created = 1795000000;
  h.expires = 1800000000;
  h.profile = "trip";
  h.owner = "Ms Smith";
  for (std::size_t i : {0u, 3u}) {
    h.slots[i].state = SlotState::kPassphrase;
    h.slots[i].kdf = keystore::make_kdf_params(keystore::KdfCost::kTest, rnd);
    rnd.fill(h.slots[i].wrapped.nonce);
    rnd.fill(h.slots[i].wrapped.ciphertext);
  }
  RecoverySlot r;
  rnd.fill(r.fingerprint);
  rnd.fill(r.sealed);
  h.recovery = r;
  AuditKeyRef a;
  rnd.fill(a.fingerprint);
  rnd.fill(a.public_key);
  h.audit = a;
  rnd.fill(h.mac);
  h.generation = 7;
  h.failed_attempts = 2;
  return h;
}

TEST(Header, SerializeParseIsIdentity) {
  HeaderCopy bytes = serialize_header(sample_header());
  ParsedCopy p = parse_header_copy(bytes);
  ASSERT_EQ(p.status, CopyStatus::kOk) << p.problem;
  EXPECT_EQ(serialize_header(*p.header), bytes);
  EXPECT_EQ(p.header->owner, "Ms Smith");
  EXPECT_EQ(p.header->slots_in_use(), 2u);
  EXPECT_EQ(p.header->failed_attempts, 2u);
  EXPECT_TRUE(p.header->recovery.has_value());
}

TEST(Header, EveryByteFlipInOneCopyFallsBackToTheOther) {
  Header h = sample_header();
  HeaderCopy good = serialize_header(h);
  for (std::size_t i = 0; i < kHeaderCopySize; ++i) {
    HeaderCopy bad = good;
    bad[i] ^= 0x01;
    SelectedHeader a = select_header(bad, good, "x.coffer");
    EXPECT_EQ(serialize_header(a.header), good) << "offset " << i;
    ASSERT_EQ(a.warnings.size(), 1u) << "offset " << i;
    EXPECT_NE(a.warnings[0].find("copy A"), std::string::npos);
    EXPECT_TRUE(a.needs_repair);
    SelectedHeader b = select_header(good, bad, "x.coffer");
    EXPECT_EQ(serialize_header(b.header), good) << "offset " << i;
    EXPECT_NE(b.warnings.at(0).find("copy B"), std::string::npos);
  }
}

TEST(Header, SameFlipInBothCopiesIsRefused) {
  HeaderCopy good = serialize_header(sample_header());
  for (std::size_t i = 0; i < kHeaderCopySize; ++i) {
    HeaderCopy bad = good;
    bad[i] ^= 0x40;
    try {
      select_header(bad, bad, "x.coffer");
      ADD_FAILURE() << "accepted a flip at " << i;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDamaged);
      EXPECT_NE(std::string(e.what()).find("x.coffer"), std::string::npos);
    }
  }
}

TEST(Header, FlipInASlotOfBothCopiesIsReportedAsSlotDamage) {
  HeaderCopy good = serialize_header(sample_header());
  HeaderCopy bad = good;
  bad[kSlotsOffset + 3 * kSlotSize + 60] ^= 0x04;  // slot 3's wrapped key
  try {
    select_header(bad, bad, "x.coffer");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDamaged);
    EXPECT_NE(std::string(e.what()).find("key slot 3 is damaged"), std::string::npos) << e.what();
  }
}

TEST(Header, SlotWithBadOwnChecksumIsMarkedDamagedAndRoundTrips) {
  // A slot edited with the copy checksum recomputed (only possible on
  // purpose) is reported as damaged, not silently used.
  Header h = sample_header();
  HeaderCopy bytes = serialize_header(h);
  bytes[kSlotsOffset + 40] ^= 0x01;
  auto sum = keystore::checksum32(std::span<const std::uint8_t>(bytes.data(), kChecksumOffset));
  std::copy(sum.begin(), sum.end(), bytes.begin() + kChecksumOffset);
  ParsedCopy p = parse_header_copy(bytes);
  ASSERT_EQ(p.status, CopyStatus::kOk) << p.problem;
  EXPECT_TRUE(p.header->slots[0].damaged);
  EXPECT_FALSE(p.header->slots[3].damaged);
  EXPECT_EQ(serialize_header(*p.header), bytes);
}

TEST(Header, NewerGenerationWinsAndTornCopyIsIgnored) {
  Header h = sample_header();
  HeaderCopy older = serialize_header(h);
  h.generation += 1;
  h.failed_attempts = 3;
  HeaderCopy newer = serialize_header(h);
  EXPECT_EQ(select_header(older, newer, "x").header.failed_attempts, 3u);
  EXPECT_EQ(select_header(newer, older, "x").header.failed_attempts, 3u);
  // Torn write: half of copy A is new, half old.
  HeaderCopy torn = older;
  std::copy(newer.begin(), newer.begin() + 2048, torn.begin());
  if (torn != older) {
    SelectedHeader s = select_header(torn, older, "x");
    EXPECT_EQ(serialize_header(s.header), older);
  }
  std::vector<std::uint8_t> garbage(kHeaderCopySize);
  keystore::system_random().fill(garbage);
  EXPECT_EQ(serialize_header(select_header(garbage, newer, "x").header), newer);
}

TEST(Header, UnknownVersionAndNonCoffersAreNamed) {
  HeaderCopy bytes = serialize_header(sample_header());
  bytes[8] = 2;
  try {
    select_header(bytes, bytes, "new.coffer");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 2"), std::string::npos) << e.what();
  }
  std::vector<std::uint8_t> text(kHeaderCopySize, 'a');
  try {
    select_header(text, text, "notes.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDamaged);
    EXPECT_NE(std::string(e.what()).find("notes.txt is not a coffer"), std::string::npos);
  }
  std::vector<std::uint8_t> short_file(100, 0);
  EXPECT_EQ(parse_header_copy(short_file).status, CopyStatus::kNotCoffer);
}

TEST(Header, RandomAndMutatedInputNeverCrash) {
  std::mt19937_64 rng(12345);
  HeaderCopy good = serialize_header(sample_header());
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::uint8_t> b(good.begin(), good.end());
    if (round % 2 == 0) {
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
      std::copy_n("COFFER01", 8, b.begin());
    } else {
      for (int k = 0; k < 1 + static_cast<int>(rng() % 8); ++k) b[rng() % b.size()] = rng();
    }
    b.resize(rng() % 5 == 0 ? rng() % b.size() : b.size());
    ParsedCopy p = parse_header_copy(b);
    if (p.header) {
      HeaderCopy again = serialize_header(*p.header);
      EXPECT_EQ(std::vector<std::uint8_t>(again.begin(), again.end()), b);
    }
  }
}

}  // namespace
}  // namespace coffer::vault
