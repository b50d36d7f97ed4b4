// Unencrypted swap and hibernation images (guard/include/coffer/guard/
// swap.h), with injected /proc/swaps, /proc/cmdline and a fake sysfs.
#include "coffer/guard/swap.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>

#include "fake_sysfs.h"
#include "test_support.h"

namespace coffer::guard {
namespace {

namespace fs = std::filesystem;

const std::string kDisk = "pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1";

class SwapTest : public ::testing::Test {
 protected:
  SwapTest() : sys_(tmp_.path() / "sys") {
    fs::create_directories(proc_);
    sys_.block(kDisk, 259, 0, false);
    sys_.block(kDisk + "/nvme0n1p2", 259, 2, true);  // a plain partition
    sys_.block(kDisk + "/nvme0n1p3", 259, 3, true);  // under dm-crypt
    sys_.block("virtual/block/dm-0", 254, 0, "0");   // LUKS on p3
    sys_.attr("virtual/block/dm-0", "dm/name", "cryptswap");
    sys_.attr("virtual/block/dm-0", "dm/uuid", "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-cryptswap");
    sys_.slave("virtual/block/dm-0", kDisk + "/nvme0n1p3");
    sys_.block("virtual/block/dm-1", 254, 1, "0");  // LVM on the LUKS device
    sys_.attr("virtual/block/dm-1", "dm/name", "vg-swap");
    sys_.attr("virtual/block/dm-1", "dm/uuid", "LVM-abcdef");
    sys_.slave("virtual/block/dm-1", "virtual/block/dm-0");
    sys_.block("virtual/block/dm-2", 254, 2, "0");  // LVM on the plain partition
    sys_.attr("virtual/block/dm-2", "dm/name", "vg-plain");
    sys_.attr("virtual/block/dm-2", "dm/uuid", "LVM-012345");
    sys_.slave("virtual/block/dm-2", kDisk + "/nvme0n1p2");
    sys_.block("virtual/block/zram0", 252, 0, "0");
    sys_.block("virtual/block/zram1", 252, 1, "0");
    sys_.attr("virtual/block/zram1", "backing_dev", "/dev/nvme0n1p2");
    swaps("");
    cmdline("quiet splash");
  }

  void swaps(const std::string& lines) {
    std::ofstream(proc_ / "swaps") << "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" << lines;
  }
  void cmdline(const std::string& text) { std::ofstream(proc_ / "cmdline") << text << "\n"; }
  std::vector<std::string> check() {
    SwapConfig c;
    c.proc_root = proc_;
    c.sysfs_root = sys_.root();
    c.stat_devices = false;
    return unprotected_swap(c);
  }

  test::TempDir tmp_;
  fs::path proc_ = tmp_.path() / "proc";
  test::FakeSysfs sys_;
};

TEST_F(SwapTest, NoSwapNoHibernationIsFine) { EXPECT_TRUE(check().empty()); }

TEST_F(SwapTest, APlainSwapPartitionIsReported) {
  swaps("/dev/nvme0n1p2                          partition\t8388604\t\t0\t\t-2\n");
  auto found = check();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_NE(found[0].find("/dev/nvme0n1p2 is not encrypted"), std::string::npos) << found[0];
}

TEST_F(SwapTest, DmCryptLvmOnLuksAndZramAreFine) {
  swaps(
      "/dev/dm-0 partition 8388604 0 -2\n"
      "/dev/mapper/vg-swap partition 8388604 0 -3\n"
      "/dev/zram0 partition 4194300 0 100\n");
  EXPECT_TRUE(check().empty()) << check().front();
}

TEST_F(SwapTest, LvmOnAPlainDiskAndZramWithWritebackAreReported) {
  swaps(
      "/dev/mapper/vg-plain partition 8388604 0 -2\n"
      "/dev/zram1 partition 4194300 0 100\n");
  auto found = check();
  ASSERT_EQ(found.size(), 2U);
  EXPECT_NE(found[0].find("vg-plain"), std::string::npos);
  EXPECT_NE(found[1].find("zram1"), std::string::npos);
}

TEST_F(SwapTest, AnUnknownDeviceIsNotAssumedEncrypted) {
  swaps("/dev/sdz9 partition 8388604 0 -2\n");
  auto found = check();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_NE(found[0].find("cannot be identified"), std::string::npos) << found[0];
}

TEST_F(SwapTest, ASwapFileCountsAsItsFilesystemsDevice) {
  fs::path file = tmp_.path() / "swap file";  // a space: \040 in /proc/swaps
  std::ofstream(file) << "x";
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  // This machine's temporary filesystem may have the numbers of one of the
  // fake devices above: it stands for itself here.
  fs::remove(sys_.root() / "dev/block" / (std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev))));
  const std::string escaped = (tmp_.path() / "swap\\040file").string();
  swaps(escaped + " file 1048572 0 -2\n");
  // The filesystem's device is not in sysfs: not known to be encrypted.
  auto found = check();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_NE(found[0].find("swap file " + file.string()), std::string::npos) << found[0];
  // On a plain disk.
  sys_.block("virtual/block/fsdev", major(st.st_dev), minor(st.st_dev), "0");
  found = check();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_NE(found[0].find("is not encrypted"), std::string::npos) << found[0];
  // The same device made dm-crypt: fine.
  sys_.attr("virtual/block/fsdev", "dm/uuid", "CRYPT-PLAIN-fsdev");
  EXPECT_TRUE(check().empty());
}

TEST_F(SwapTest, AHibernationImageOnAPlainDeviceIsReported) {
  cmdline("quiet resume=/dev/nvme0n1p2");
  auto found = check();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_NE(found[0].find("hibernation image (resume=/dev/nvme0n1p2)"), std::string::npos) << found[0];
  cmdline("quiet resume=/dev/mapper/vg-swap");
  EXPECT_TRUE(check().empty());
  // resume=UUID=... cannot be resolved here: reported, not assumed safe.
  cmdline("resume=UUID=1234-5678");
  EXPECT_EQ(check().size(), 1U);
  // The kernel's own resume device wins over the command line.
  fs::create_directories(sys_.root() / "power");
  std::ofstream(sys_.root() / "power" / "resume") << "254:0\n";
  cmdline("quiet");
  EXPECT_TRUE(check().empty());
  std::ofstream(sys_.root() / "power" / "resume") << "259:2\n";
  EXPECT_EQ(check().size(), 1U);
  std::ofstream(sys_.root() / "power" / "resume") << "0:0\n";
  EXPECT_TRUE(check().empty());
}

TEST_F(SwapTest, UnreadableProcSwapsIsReported) {
  fs::remove(proc_ / "swaps");
  EXPECT_EQ(check().size(), 1U);
}

TEST(SwapParse, FieldsAndEscapes) {
  auto a = parse_proc_swaps(
      "Filename\tType\tSize\tUsed\tPriority\n/dev/sda3 partition 1 0 -2\n/swap\\040file file 1 0 -3\n\n");
  ASSERT_EQ(a.size(), 2U);
  EXPECT_EQ(a[0].filename, "/dev/sda3");
  EXPECT_EQ(a[0].type, "partition");
  EXPECT_EQ(a[1].filename, "/swap file");
  EXPECT_EQ(a[1].type, "file");
}

}  // namespace
}  // namespace coffer::guard
