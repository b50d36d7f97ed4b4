// vault: the UPN check letter against the research's vectors (including
// public fixtures known to be wrong) and malformed input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "coffer/vault/records/upn.h"

namespace coffer::vault {
namespace {

TEST(Upn, MatchesEveryTestVector) {
  std::ifstream in(std::string(COFFER_FIXTURES_DIR) + "/upn_test_vectors.csv");
  ASSERT_TRUE(in) << "missing tests/fixtures/upn_test_vectors.csv";
  std::string line;
  std::getline(in, line);  // header
  int rows = 0, valid = 0;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string upn, letter, ok;
    std::getline(row, upn, ',');
    std::getline(row, letter, ',');
    std::getline(row, ok, ',');
    UpnCheck c = check_upn(upn);
    EXPECT_TRUE(c.well_formed) << upn;
    EXPECT_EQ(std::string(1, c.expected), letter) << upn;
    EXPECT_EQ(c.valid(), ok == "true") << upn;
    ++rows;
    valid += c.valid();
  }
  EXPECT_EQ(rows, 13);
  EXPECT_EQ(valid, 7);
}

TEST(Upn, NormalisesAndRefusesMalformed) {
  UpnCheck c = check_upn("  r674 1231 01121 ");
  EXPECT_EQ(c.normalised, "R674123101121");
  EXPECT_TRUE(c.valid());
  EXPECT_TRUE(check_upn("Q99988882401A").temporary);
  for (const char* bad : {"", "R67412310112", "R6741231011211", "I674123101121", "1674123101121", "R67412310112I",
                          "R6741231O1121", "R674123101S21"})
    EXPECT_FALSE(check_upn(bad).well_formed) << bad;
}

// A UPN typed with a digit where its check letter belongs is told apart
// from one of the wrong length or shape (importers word their warning by it).
TEST(Upn, LeadingDigitIsNamed) {
  for (const char* digit_first : {"1674123101121", "0999888824001", "999888824001", " 7 999888824001", "12345"}) {
    UpnCheck c = check_upn(digit_first);
    EXPECT_FALSE(c.well_formed) << digit_first;
    EXPECT_TRUE(c.leading_digit) << digit_first;
  }
  for (const char* other : {"", "R67412310112", "I674123101121", "R6741231O1121", "R674123101121", "r674123101121"})
    EXPECT_FALSE(check_upn(other).leading_digit) << other;
}

}  // namespace
}  // namespace coffer::vault
