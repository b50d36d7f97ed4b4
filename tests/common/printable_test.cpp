// printable(): what reaches a terminal from outside text cannot be obeyed
// by it.
#include "coffer/printable.h"

#include <gtest/gtest.h>

#include <string>

namespace coffer {
namespace {

TEST(Printable, PlainTextAndUtf8Unchanged) {
  EXPECT_EQ(printable("report-2026.odt"), "report-2026.odt");
  EXPECT_EQ(printable("Zoë Brontë – élève"), "Zoë Brontë – élève");
  EXPECT_EQ(printable("日本語 😀"), "日本語 😀");
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, EscapeSequencesAreShownNotObeyed) {
  // Cursor up one line, erase it: what erased earlier audit lines.
  EXPECT_EQ(printable("a\x1b[1A\x1b[2Kb"), "a\\x1b[1A\\x1b[2Kb");
  EXPECT_EQ(printable(std::string("x\0y", 3)), "x\\x00y");
}

TEST(Printable, EveryC0ControlDelAndC1IsEscaped) {
  for (int c = 0; c < 0x20; ++c) {
    std::string s(1, static_cast<char>(c));
    EXPECT_EQ(printable(s).substr(0, 2), "\\x") << c;
  }
  EXPECT_EQ(printable("\x7f"), "\\x7f");
  EXPECT_EQ(printable("line\nfake line"), "line\\x0afake line");
  EXPECT_EQ(printable("\r\t"), "\\x0d\\x09");
  // C1 as UTF-8 (U+009B is CSI, an ESC [ of its own) and as raw bytes.
  EXPECT_EQ(printable("\xc2\x9b"
                      "2K"),
            "\\xc2\\x9b2K");
  EXPECT_EQ(printable("\xc2\x80"), "\\xc2\\x80");
  EXPECT_EQ(printable("\x9b"
                      "2K"),
            "\\x9b2K");
  EXPECT_EQ(printable("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is printable
}

TEST(Printable, InvalidUtf8BytesAndBackslashesAreEscaped) {
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");           // truncated
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");           // overlong
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  // A backslash is doubled, so "\x1b" typed in a name cannot pass for an
  // escaped ESC.
  EXPECT_EQ(printable("a\\x1b"), "a\\\\x1b");
}

}  // namespace
}  // namespace coffer
