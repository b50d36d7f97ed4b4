// The mountinfo parser: real kernel lines, escapes, and hostile input that
// must be refused without crashing.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "coffer/error.h"
#include "coffer/guard/mountinfo.h"

namespace coffer::guard {
namespace {

TEST(Mountinfo, ParsesKernelExample) {
  auto e = parse_mountinfo_line("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->mount_id, 36u);
  EXPECT_EQ(e->parent_id, 35u);
  EXPECT_EQ(e->major, 98u);
  EXPECT_EQ(e->minor, 0u);
  EXPECT_EQ(e->root, "/mnt1");
  EXPECT_EQ(e->mount_point, "/mnt2");
  EXPECT_EQ(e->fs_type, "ext3");
  EXPECT_EQ(e->source, "/dev/root");
  EXPECT_EQ(e->super_options, "rw,errors=continue");
}

TEST(Mountinfo, NoOptionalFieldsAndSeveral) {
  auto a = parse_mountinfo_line("26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mount_point, "/");
  auto b = parse_mountinfo_line(
      "40 26 8:17 / /media/usb rw shared:5 master:3 propagate_from:2 unbindable - vfat /dev/sdb1 rw");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->fs_type, "vfat");
}

TEST(Mountinfo, UnescapesOctal) {
  auto e = parse_mountinfo_line("50 26 8:17 /a\\134b /media/USB\\040STICK\\011x rw - vfat /dev/sdb\\0401 rw");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->mount_point, "/media/USB STICK\tx");
  EXPECT_EQ(e->root, "/a\\b");
  EXPECT_EQ(e->source, "/dev/sdb 1");
}

TEST(Mountinfo, UnescapeRejectsBadEscapes) {
  EXPECT_EQ(unescape_mountinfo_field("a\\040b"), std::string("a b"));
  EXPECT_FALSE(unescape_mountinfo_field("a\\04"));
  EXPECT_FALSE(unescape_mountinfo_field("a\\"));
  EXPECT_FALSE(unescape_mountinfo_field("a\\x41"));
  EXPECT_FALSE(unescape_mountinfo_field("a\\089"));
  EXPECT_FALSE(unescape_mountinfo_field("a\\000"));  // NUL
  EXPECT_FALSE(unescape_mountinfo_field("a\\400"));  // > 0377
  EXPECT_FALSE(unescape_mountinfo_field(std::string_view("a\0b", 3)));
}

TEST(Mountinfo, EmptySourceAllowed) {
  auto e = parse_mountinfo_line("60 26 0:50 / /x rw - tmpfs  rw");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, "");
}

TEST(Mountinfo, RejectsMalformedLines) {
  const char* bad[] = {
      "",
      "garbage",
      "36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root",            // missing super options
      "36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw extra",   // too many after '-'
      "36 35 98:0 /mnt1 /mnt2 rw ext3 /dev/root rw",           // no separator
      "x 35 98:0 / /m rw - ext3 /dev/root rw",                 // non-numeric id
      "-1 35 98:0 / /m rw - ext3 /dev/root rw",                // sign
      "036 35 98:0 / /m rw - ext3 /dev/root rw",               // padded
      "99999999999999999999999 35 98:0 / /m rw - ext3 /d rw",  // overflow
      "36 35 98 / /m rw - ext3 /dev/root rw",                  // no colon
      "36 35 98:4294967296 / /m rw - ext3 /dev/root rw",       // minor overflow
      "36 35 98:0 / relative rw - ext3 /dev/root rw",          // relative mount point
      "36 35 98:0 / /m rw - ext3 /dev/root rw ",               // trailing space
      "36 35 98:0 /  /m rw - ext3 /dev/root rw",               // double space
      "36 35 98:0 / /m rw -  /dev/root rw",                    // empty type
      "36 35 98:0 / /m rw - ext/3 /dev/root rw",               // slash in type
      "36 35 98:0 / /m\\999 rw - ext3 /dev/root rw",           // bad escape
      "36 35 98:0 / /m\\000 rw - ext3 /dev/root rw",           // NUL escape
      "36 35 98:0 / /m r\x01w - ext3 /dev/root rw",            // control character
      "36 35 98:0 / /m rw\r - ext3 /dev/root rw",
  };
  for (const char* line : bad) EXPECT_FALSE(parse_mountinfo_line(line)) << line;
}

TEST(Mountinfo, TableRejectsWholeTextOnAnyBadLine) {
  EXPECT_EQ(parse_mountinfo("").size(), 0u);
  auto ok = parse_mountinfo("1 0 254:0 / / rw - ext4 /dev/vda rw\n2 1 0:20 / /proc rw - proc proc rw\n");
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1].fs_type, "proc");
  // No trailing newline is fine too.
  EXPECT_EQ(parse_mountinfo("1 0 254:0 / / rw - ext4 /dev/vda rw").size(), 1u);
  try {
    parse_mountinfo("1 0 254:0 / / rw - ext4 /dev/vda rw\nbroken\n");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDamaged);
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos);
  }
  EXPECT_THROW(parse_mountinfo("1 0 254:0 / / rw - ext4 /dev/vda rw\n\n"), Error);  // empty line
  EXPECT_THROW(parse_mountinfo("1 0 254:0 / / rw - ext4 /dev/vda rw\n"
                               "1 0 0:20 / /proc rw - proc proc rw\n"),
               Error);  // duplicate id
}

TEST(Mountinfo, SuperOption) {
  auto e = parse_mountinfo_line(
      "70 26 0:60 / /merged rw - overlay overlay "
      "rw,lowerdir=/l,upperdir=/media/usb/up\\054per\\040dir,workdir=/w");
  ASSERT_TRUE(e);
  EXPECT_EQ(super_option(*e, "upperdir"), std::string("/media/usb/up,per dir"));
  EXPECT_EQ(super_option(*e, "lowerdir"), std::string("/l"));
  EXPECT_FALSE(super_option(*e, "rw"));
  EXPECT_FALSE(super_option(*e, "nothere"));
}

TEST(Mountinfo, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);
  const std::string alphabet = "0123456789 :-/\\\nabcdefrw,=\t\x01\x7f";
  std::string base = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw\n";
  for (int i = 0; i < 20000; ++i) {
    std::string s = base + base;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < edits; ++k) {
      std::size_t pos = rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0:
          s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (pos < s.size()) s.erase(pos, 1);
          break;
        default:
          if (pos < s.size()) s[pos] = alphabet[rng() % alphabet.size()];
          break;
      }
    }
    try {
      auto table = parse_mountinfo(s);
      for (const auto& e : table) {
        EXPECT_FALSE(e.mount_point.empty());
        EXPECT_EQ(e.mount_point[0], '/');
      }
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDamaged);
    }
  }
}

}  // namespace
}  // namespace coffer::guard
