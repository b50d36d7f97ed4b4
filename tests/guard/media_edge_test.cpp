// Media classification corners the main media test leaves out: a stacked
// device whose slaves differ (the worst one wins), a slave whose dev
// attribute is unreadable, and the school-stick decision on a LUKS stick
// (UUID with any case and dashes, USB serial, neither).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "coffer/guard/media.h"
#include "fake_sysfs.h"
#include "test_support.h"

namespace coffer::guard {
namespace {
namespace fs = std::filesystem;

class MediaEdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dev = "pci0000:00/0000:00:14.0/usb2/2-1";
    stick_ = dev + "/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb";
    sys_.usb("pci0000:00/0000:00:14.0/usb2");
    sys_.usb(dev);
    sys_.usb(dev + "/2-1:1.0");
    sys_.attr(dev, "idVendor", "0951");
    sys_.attr(dev, "serial", "SCHOOL-0042");
    sys_.block(stick_, 8, 16, "1");
    sys_.block(stick_ + "/sdb1", 8, 17, true);
    sys_.block(kNvme, 259, 0, "0");
    sys_.block(kNvme + "/nvme0n1p1", 259, 1, true);
    // LUKS on the stick.
    sys_.block("virtual/block/dm-0", 254, 0, "0");
    sys_.attr("virtual/block/dm-0", "dm/name", "luks-stick");
    sys_.attr("virtual/block/dm-0", "dm/uuid", "CRYPT-LUKS1-0A1B2C3D4E5F60718293A4B5C6D7E8F9-luks-stick");
    sys_.slave("virtual/block/dm-0", stick_ + "/sdb1");
    // An LVM volume spread over the internal disk and the stick.
    sys_.block("virtual/block/dm-1", 254, 1, "0");
    sys_.slave("virtual/block/dm-1", kNvme + "/nvme0n1p1");
    sys_.slave("virtual/block/dm-1", stick_ + "/sdb1");
    // An LVM volume on the internal disk and a slave with a broken dev attribute.
    sys_.block("virtual/block/dm-2", 254, 2, "0");
    sys_.slave("virtual/block/dm-2", kNvme + "/nvme0n1p1");
    sys_.attr("virtual/block/broken", "dev", "not-a-number");
    sys_.slave("virtual/block/dm-2", "virtual/block/broken");
    // Only internal slaves.
    sys_.block("virtual/block/dm-3", 254, 3, "0");
    sys_.slave("virtual/block/dm-3", kNvme + "/nvme0n1p1");
    // A LUKS container with a malformed UUID.
    sys_.block("virtual/block/dm-4", 254, 4, "0");
    sys_.attr("virtual/block/dm-4", "dm/uuid", "CRYPT-LUKS2-0a1b2c3dXX-short");
    sys_.slave("virtual/block/dm-4", stick_ + "/sdb1");
  }

  MediaClassifier make() {
    MediaConfig c;
    c.sysfs_root = sys_.root();
    c.mountinfo_text =
        "1 0 259:1 / / rw - ext4 /dev/nvme0n1p1 rw\n"
        "10 1 254:0 / /media/luks rw - ext4 /dev/mapper/luks-stick rw\n"
        "11 1 8:17 / /media/plain rw - vfat /dev/sdb1 rw\n"
        "12 1 254:4 / /media/odd rw - ext4 /dev/mapper/odd rw\n";
    return MediaClassifier(c);
  }
  const MountEntry& at(const MediaClassifier& m, const std::string& mp) {
    for (const auto& e : m.mounts())
      if (e.mount_point == mp) return e;
    throw std::runtime_error("no mount " + mp);
  }

  static inline const std::string kNvme = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1";
  test::TempDir tmp_;
  test::FakeSysfs sys_{tmp_.path() / "sys"};
  std::string stick_;
};

TEST_F(MediaEdgeTest, AStackedDeviceIsAsRemovableAsItsWorstSlave) {
  auto m = make();
  EXPECT_EQ(m.classify_block_device(254, 1), MediaKind::kRemovable) << "one slave on the stick";
  EXPECT_EQ(m.classify_block_device(254, 2), MediaKind::kUnknown) << "a slave that cannot be read";
  EXPECT_EQ(m.classify_block_device(254, 3), MediaKind::kInternal);
  EXPECT_EQ(m.classify_block_device(254, 0), MediaKind::kRemovable) << "LUKS on the stick";
  EXPECT_EQ(m.classify_block_device(254, 99), MediaKind::kUnknown) << "no such device";
}

TEST_F(MediaEdgeTest, ASchoolStickByLuksUuidInAnyCaseAndDashes) {
  auto m = make();
  const MountEntry& luks = at(m, "/media/luks");
  EXPECT_EQ(m.luks_uuid(luks), "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
  EXPECT_EQ(m.school_stick(luks, {"0A1B2C3D4E5F60718293A4B5C6D7E8F9"}, {}),
            "LUKS 0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
  EXPECT_EQ(m.school_stick(luks, {"ffffffff-4e5f-6071-8293-a4b5c6d7e8f9", "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"}, {}),
            "LUKS 0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
  EXPECT_EQ(m.school_stick(luks, {"ffffffff-4e5f-6071-8293-a4b5c6d7e8f9"}, {}), std::nullopt);
}

TEST_F(MediaEdgeTest, ASchoolStickByTheSerialOfAnEncryptedStickOnly) {
  auto m = make();
  EXPECT_EQ(m.school_stick(at(m, "/media/luks"), {}, {"OTHER", "SCHOOL-0042"}), "USB serial SCHOOL-0042");
  EXPECT_EQ(m.school_stick(at(m, "/media/luks"), {}, {"OTHER"}), std::nullopt);
  EXPECT_EQ(m.school_stick(at(m, "/media/plain"), {}, {"SCHOOL-0042"}), std::nullopt)
      << "an unencrypted stick is never a school stick";
  EXPECT_EQ(m.school_stick(at(m, "/media/luks"), {}, {}), std::nullopt) << "no allowlist, no school stick";
}

TEST_F(MediaEdgeTest, AMalformedLuksUuidIsNoLuksUuid) {
  auto m = make();
  EXPECT_EQ(m.luks_uuid(at(m, "/media/odd")), std::nullopt);
  EXPECT_EQ(m.school_stick(at(m, "/media/odd"), {"0a1b2c3d"}, {"SCHOOL-0042"}), std::nullopt);
}

}  // namespace
}  // namespace coffer::guard
