// vault: purpose profiles: the built-in limits, the trusted-file rule, and
// a school's file that may narrow but never widen or name a denied field.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "coffer/error.h"
#include "coffer/vault/records/profile.h"
#include "error_capture.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using test::code_of;

TEST(Profile, BuiltinsFollowTheRetentionTable) {
  ProfileSet set = ProfileSet::load(std::nullopt);
  const Profile* trip = set.find("trip");
  ASSERT_NE(trip, nullptr);
  EXPECT_TRUE(trip->fields.count("emergency_contacts"));
  EXPECT_FALSE(set.find("trip-local")->fields.count("emergency_contacts"));
  EXPECT_FALSE(set.find("marking")->fields.count("medical"));
  Date trip_end{2026, 12, 10};
  EXPECT_EQ(default_expiry(*trip, trip_end), (Date{2026, 12, 17}));
  EXPECT_EQ(max_expiry(*trip, trip_end), (Date{2027, 3, 10}));
  // Marking: 28 days, never past 31 August.
  const Profile* marking = set.find("marking");
  EXPECT_EQ(default_expiry(*marking, Date{2026, 11, 24}), (Date{2026, 12, 22}));
  EXPECT_EQ(max_expiry(*marking, Date{2026, 11, 24}), (Date{2027, 8, 31}));
  EXPECT_EQ(default_expiry(*marking, Date{2027, 8, 20}), (Date{2027, 8, 31}));
  for (const auto& p : builtin_profiles()) {
    EXPECT_EQ(p.protection, "standard");
    for (const auto& f : p.fields) {
      EXPECT_TRUE(known_fields().count(f)) << f;
      EXPECT_FALSE(denied_fields().count(f)) << f;
    }
  }
  EXPECT_EQ(add_days(Date{2028, 2, 28}, 1), (Date{2028, 2, 29}));
  EXPECT_EQ(add_days(Date{2026, 12, 31}, 1), (Date{2027, 1, 1}));
}

class SchoolFileTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& text, mode_t mode = 0644) {
    auto p = dir_ / "profiles.toml";
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }
  test::TempDir dir_;
};

TEST_F(SchoolFileTest, NarrowsAndAdds) {
  if (::geteuid() != 0) GTEST_SKIP() << "the trust rule needs the file owned by root";
  auto p = write(R"([profile.trip]
based_on = "trip"
max_days = 30

[profile.swimming]
based_on = "trip-local"
description = "swimming lessons"
fields = ["names", "reg_group", "medical", "activity_notes"]
default_days = 1
)");
  ProfileSet set = ProfileSet::load(p);
  EXPECT_EQ(set.find("trip")->max_days, 30);
  const Profile* swim = set.find("swimming");
  ASSERT_NE(swim, nullptr);
  EXPECT_EQ(swim->fields.size(), 4u);
  EXPECT_TRUE(swim->from_trip_end);
}

TEST_F(SchoolFileTest, NeverWidensNorCarriesDeniedFields) {
  if (::geteuid() != 0) GTEST_SKIP() << "the trust rule needs the file owned by root";
  std::string msg;
  auto widen = write("[profile.x]\nbased_on = \"marking\"\nfields = [\"names\", \"medical\"]\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(widen); }, &msg), ErrorCode::kUsage);
  EXPECT_NE(msg.find("profiles.toml:3"), std::string::npos) << msg;
  auto denied = write("[profile.x]\nbased_on = \"trip\"\nfields = [\"names\", \"religion\"]\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(denied); }, &msg), ErrorCode::kUsage);
  EXPECT_NE(msg.find("religion may never"), std::string::npos) << msg;
  auto longer = write("[profile.trip]\nbased_on = \"trip\"\nmax_days = 365\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(longer); }, &msg), ErrorCode::kUsage);
  auto broken = write("[profile.x\nbased_on = 1\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(broken); }, &msg), ErrorCode::kUsage);
  EXPECT_NE(msg.find("profiles.toml:1"), std::string::npos) << msg;
}

TEST_F(SchoolFileTest, UnknownKeysAreRefusedWithTheirLine) {
  if (::geteuid() != 0) GTEST_SKIP() << "the trust rule needs the file owned by root";
  std::string msg;
  // "field" for "fields": the narrowed profile would silently carry
  // every field of its base.
  auto typo = write("[profile.swim]\nbased_on = \"trip\"\nfield = [\"names\"]\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(typo); }, &msg), ErrorCode::kUsage);
  EXPECT_NE(msg.find("profiles.toml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key field"), std::string::npos) << msg;
  auto other = write("[profile.trip]\nbased_on = \"trip\"\n\nmax_day = 30\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(other); }, &msg), ErrorCode::kUsage);
  EXPECT_NE(msg.find("profiles.toml:4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_day"), std::string::npos) << msg;
  auto not_a_list = write("[profile.x]\nbased_on = \"trip\"\nfields = \"names\"\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(not_a_list); }, &msg), ErrorCode::kUsage);
  EXPECT_NE(msg.find("profiles.toml:3"), std::string::npos) << msg;
}

TEST_F(SchoolFileTest, ProtectionMayOnlyBeRaised) {
  if (::geteuid() != 0) GTEST_SKIP() << "the trust rule needs the file owned by root";
  std::string msg;
  auto p = write(
      "[profile.abroad]\nbased_on = \"trip\"\nprotection = \"guarded\"\n"
      "[profile.sealed]\nbased_on = \"abroad\"\nprotection = \"sandboxed\"\n");
  ProfileSet set = ProfileSet::load(p);
  EXPECT_EQ(set.find("abroad")->protection, "guarded");
  EXPECT_EQ(set.find("sealed")->protection, "sandboxed");
  EXPECT_EQ(set.find("trip")->protection, "standard");
  auto lower = write(
      "[profile.abroad]\nbased_on = \"trip\"\nprotection = \"guarded\"\n"
      "[profile.loose]\nbased_on = \"abroad\"\nprotection = \"standard\"\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(lower); }, &msg), ErrorCode::kUsage);
  EXPECT_NE(msg.find("profiles.toml:6"), std::string::npos) << msg;
  auto unknown = write("[profile.x]\nbased_on = \"trip\"\nprotection = \"strict\"\n");
  EXPECT_EQ(code_of([&] { ProfileSet::load(unknown); }, &msg), ErrorCode::kUsage);
  EXPECT_NE(msg.find("profiles.toml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("standard"), std::string::npos) << msg;
}

TEST_F(SchoolFileTest, UntrustedFilesAreRefused) {
  auto writable = write("", 0666);
  EXPECT_EQ(code_of([&] { ProfileSet::load(writable); }), ErrorCode::kPolicy);
  if (::geteuid() == 0) {
    auto p = write("", 0644);
    ASSERT_EQ(::chown(p.c_str(), 65534, 65534), 0);  // owned by nobody
    EXPECT_EQ(code_of([&] { ProfileSet::load(p); }), ErrorCode::kPolicy);
  }
  EXPECT_EQ(code_of([&] { ProfileSet::load(dir_ / "missing.toml"); }), ErrorCode::kPolicy);
}

// The file is opened once without following any link (openat2
// RESOLVE_NO_SYMLINKS): a link as the last component or as a directory on
// the way is refused, even to a trusted file; a FIFO does not hang the load.
TEST_F(SchoolFileTest, LinksInAnyComponentAreRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "a trusted file must be owned by root";
  auto real = dir_ / "real";
  std::filesystem::create_directory(real);
  auto file = real / "profiles.toml";
  std::ofstream(file) << "";
  ::chmod(file.c_str(), 0644);
  EXPECT_NO_THROW(ProfileSet::load(file));
  std::filesystem::create_directory_symlink("real", dir_ / "dirlink");
  std::filesystem::create_symlink(file, dir_ / "filelink.toml");
  std::string message;
  EXPECT_EQ(code_of([&] { ProfileSet::load(dir_ / "dirlink" / "profiles.toml"); }, &message), ErrorCode::kPolicy);
  EXPECT_NE(message.find("symbolic link"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { ProfileSet::load(dir_ / "filelink.toml"); }), ErrorCode::kPolicy);
  auto fifo = dir_ / "fifo.toml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  EXPECT_EQ(code_of([&] { ProfileSet::load(fifo); }), ErrorCode::kPolicy);
}

}  // namespace
}  // namespace coffer::vault
