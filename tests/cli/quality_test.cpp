// Passphrase strength (cli/src/quality.cpp): zxcvbn with what an attacker
// knows about the coffer as dictionary words, a minimum of 50 bits, and the
// one-time passphrases of `provision` held to the same bar.
#include "quality.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "coffer/error.h"

namespace coffer::cli {
namespace {

keystore::Passphrase pass(const std::string& s) {
  keystore::Passphrase p;
  for (char c : s) p.push_back(static_cast<std::uint8_t>(c));
  return p;
}

const std::vector<std::string>& words() {
  static const std::vector<std::string> w =
      passphrase_context("Jane Smith", "trip", "trip-paris-2026.coffer", "Hillside Academy");
  return w;
}

TEST(Quality, RefusesTheWeakOnesOfTheIssueAndTheOwnersName) {
  for (const char* weak : {"Summer2026!", "P@ssw0rd2026", "Tr0ub4dor&3", "correcthorse", "Jane Smith", "janesmith",
                           "JaneSmith2026!", "Hillside Academy 1", "trip-paris-2026", "password1"}) {
    SCOPED_TRACE(weak);
    EXPECT_LT(passphrase_bits(pass(weak), words()), kMinPassphraseBits);
    try {
      require_strong(pass(weak), words());
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kPolicy);
      std::string what = e.what();
      EXPECT_NE(what.find("too weak"), std::string::npos) << what;
      EXPECT_NE(what.find("four or more unrelated words"), std::string::npos) << what;
      EXPECT_EQ(what.find(weak), std::string::npos) << "the message repeats the passphrase: " << what;
    }
  }
}

TEST(Quality, SaysWhenTheOwnersNameIsTheReason) {
  try {
    require_strong(pass("Jane Smith"), words());
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("owner's name"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("Jane"), std::string::npos) << e.what();
  }
}

TEST(Quality, TheCoffersOwnWordsCountAgainstIt) {
  // The test suites' earlier PW1 passes elsewhere but not for a coffer
  // whose file name holds "paris" and "2026".
  EXPECT_GE(passphrase_bits(pass("Tr1p-to-Paris-2026!"), {}), kMinPassphraseBits);
  EXPECT_LT(passphrase_bits(pass("Tr1p-to-Paris-2026!"), words()), kMinPassphraseBits);
}

TEST(Quality, TheOwnersNameCountsOnlyAsADictionaryWord) {
  // Without the context the name is a little stronger; with it, weaker.
  EXPECT_LT(passphrase_bits(pass("JaneSmith"), words()), passphrase_bits(pass("JaneSmith"), {}));
}

TEST(Quality, AcceptsFourUnrelatedWordsAndTheTestSuitesPassphrases) {
  for (const char* strong :
       {"correct horse battery staple", "Tr1p-Lantern-Okapi-Paris-26", "Marking-Lamp-Quartz-77",
        "Harbour-Violet-Compass-58", "Lantern-Otter-Glacier-19", "Recovery-Oak-Harbour-31", "Audit-Lamp-Quartz-77"}) {
    SCOPED_TRACE(strong);
    EXPECT_GE(passphrase_bits(pass(strong), words()), kMinPassphraseBits);
    EXPECT_NO_THROW(require_strong(pass(strong), words()));
  }
}

TEST(Quality, OneTimePassphrasesMeetTheSameBar) {
  for (int i = 0; i < 500; ++i) {
    std::string shown;
    keystore::Passphrase p = one_time_passphrase(keystore::system_random(), shown, words());
    ASSERT_EQ(shown.size(), 24U);
    ASSERT_EQ(p.size(), 24U);
    EXPECT_GE(passphrase_bits(p, words()), kMinPassphraseBits) << shown;
    EXPECT_NO_THROW(require_strong(p, words()));
  }
}

// A draw zxcvbn rates weak (all zero bytes: AAAA-AAAA-..., a repeat) is
// drawn again rather than handed out.
class ZerosFirst : public keystore::Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    if (calls_++ < 2) {
      std::fill(out.begin(), out.end(), std::uint8_t{0});
    } else {
      keystore::system_random().fill(out);
    }
  }
  int calls() const { return calls_; }

 private:
  int calls_ = 0;
};

TEST(Quality, AWeakOneTimeDrawIsDrawnAgain) {
  ZerosFirst random;
  std::string shown;
  keystore::Passphrase p = one_time_passphrase(random, shown, words());
  EXPECT_NE(shown, "AAAA-AAAA-AAAA-AAAA-AAAA");
  EXPECT_EQ(random.calls(), 3);
  EXPECT_GE(passphrase_bits(p, words()), kMinPassphraseBits);
}

}  // namespace
}  // namespace coffer::cli
