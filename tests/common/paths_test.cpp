// coffer::path_within: the shared rule, and one case for each way the four
// copies it replaced (vault policy, guard caller check, fanotify guard,
// media classifier) used to differ.
#include "coffer/paths.h"

#include <gtest/gtest.h>

namespace coffer {
namespace {

TEST(PathWithin, PathEqualToOrBelowThePrefix) {
  EXPECT_TRUE(path_within("/srv/share", "/srv/share"));
  EXPECT_TRUE(path_within("/srv/share/a/b", "/srv/share"));
  EXPECT_FALSE(path_within("/srv", "/srv/share"));
  EXPECT_FALSE(path_within("/home/u", "/srv/share"));
}

TEST(PathWithin, WholeComponentsOnly) {
  EXPECT_FALSE(path_within("/srv/shared", "/srv/share"));
  EXPECT_FALSE(path_within("/srv/shared/a", "/srv/share"));
  EXPECT_FALSE(path_within("/srv/sharf", "/srv/share"));
}

// The guard's copies (fanotify, media) compared the prefix as given: a
// trailing slash made "/mnt/usb/" hold nothing below it. The vault and the
// caller check dropped it; now everyone does.
TEST(PathWithin, TrailingSlashOnThePrefixIsIgnored) {
  EXPECT_TRUE(path_within("/mnt/usb/x", "/mnt/usb/"));
  EXPECT_TRUE(path_within("/mnt/usb", "/mnt/usb//"));
  EXPECT_FALSE(path_within("/mnt/usbx", "/mnt/usb/"));
}

// Only the vault normalised the path; the guard's copies compared it raw.
// ".." cannot escape a prefix now.
TEST(PathWithin, PathIsNormalisedBeforeComparing) {
  EXPECT_FALSE(path_within("/srv/share/../etc/passwd", "/srv/share"));
  EXPECT_TRUE(path_within("/srv/other/../share/a", "/srv/share"));
  EXPECT_TRUE(path_within("/srv/./share//a/", "/srv/share"));
  EXPECT_TRUE(path_within("/srv/share/", "/srv/share"));
}

// The vault and the caller check normalised the prefix; fanotify and media
// did not ("/srv/./share" held nothing but itself there).
TEST(PathWithin, PrefixIsNormalisedBeforeComparing) {
  EXPECT_TRUE(path_within("/srv/share/a", "/srv/./share"));
  EXPECT_TRUE(path_within("/srv/share/a", "/srv/x/../share"));
  EXPECT_FALSE(path_within("/srv/x/a", "/srv/x/../share"));
}

// The vault and the caller check let "/" hold every path; fanotify and
// media only non-empty absolute ones (their callers only ever pass those).
TEST(PathWithin, RootHoldsEveryPath) {
  EXPECT_TRUE(path_within("/", "/"));
  EXPECT_TRUE(path_within("/a/b", "/"));
  EXPECT_TRUE(path_within("relative/x", "/"));
  EXPECT_TRUE(path_within("", "/"));
  EXPECT_TRUE(path_within("/a", "//"));
  EXPECT_TRUE(path_within("/a", "/."));
}

// Same in every former copy: an empty prefix holds "" and every absolute
// path, but no relative one.
TEST(PathWithin, EmptyPrefixHoldsAbsolutePaths) {
  EXPECT_TRUE(path_within("", ""));
  EXPECT_TRUE(path_within("/x", ""));
  EXPECT_FALSE(path_within("x", ""));
}

TEST(PathWithin, RelativePathsAreComparedLexically) {
  EXPECT_TRUE(path_within("a/b", "a"));
  EXPECT_TRUE(path_within("a/./b", "a/"));
  EXPECT_FALSE(path_within("ab", "a"));
  EXPECT_FALSE(path_within("/a/b", "a"));
  EXPECT_TRUE(path_within(".", "."));
  EXPECT_TRUE(path_within("a/..", "."));
}

// Kernel paths such as a deleted file's or a pipe's are plain strings here.
TEST(PathWithin, KernelDecorationsAreNotPathSyntax) {
  EXPECT_TRUE(path_within("/srv/share/f (deleted)", "/srv/share"));
  EXPECT_FALSE(path_within("pipe:[1234]", "/srv"));
}

}  // namespace
}  // namespace coffer
