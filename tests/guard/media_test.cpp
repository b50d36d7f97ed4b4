// Media classification against a fake sysfs tree and mount table (USB stick,
// USB hard disk with removable=0, SD card, eMMC, LUKS on USB, loop on USB,
// NVMe...), plus loose checks on this machine's real mounts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "coffer/error.h"
#include "coffer/guard/media.h"
#include "fake_sysfs.h"
#include "test_support.h"

namespace coffer::guard {
namespace {
namespace fs = std::filesystem;

using test::FakeSysfs;

constexpr const char* kUsbPort = "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0";
const std::string kUsbStick = std::string(kUsbPort) + "/host6/target6:0:0/6:0:0:0/block/sdb";
const std::string kUsbDisk = "pci0000:00/0000:00:14.0/usb3/3-2/3-2:1.0/host7/target7:0:0/7:0:0:0/block/sdc";
// No usbN segment in the path: only the subsystem link says USB.
const std::string kUsbBySubsystem = "platform/soc/xhci-hcd.0/port1/dev1/host8/block/sde";
const std::string kNvme = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1";
const std::string kSdCard = "pci0000:00/0000:00:1c.0/0000:02:00.0/mmc_host/mmc0/mmc0:aaaa";
const std::string kEmmc = "platform/80860F14:00/mmc_host/mmc1/mmc1:0001";
const std::string kAta = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block";

constexpr const char* kMountinfo =
    "1 0 259:1 / / rw - ext4 /dev/nvme0n1p1 rw\n"
    "2 1 0:20 / /proc rw - proc proc rw\n"
    "3 1 0:21 / /sys rw - sysfs sysfs rw\n"
    "4 1 0:22 / /tmp rw - tmpfs tmpfs rw\n"
    "10 1 8:17 / /media/usb rw - vfat /dev/sdb1 rw\n"
    "11 1 254:0 / /media/luks rw - ext4 /dev/mapper/luks-stick rw\n"
    "12 1 7:0 / /mnt/loop-on-usb rw - ext4 /dev/loop0 rw\n"
    "13 1 179:1 / /media/sd rw - exfat /dev/mmcblk0p1 rw\n"
    "14 1 8:32 / /media/USB\\040DISK rw - ext4 /dev/sdc rw\n"
    "15 1 0:40 / /net/share rw - nfs4 server:/export rw\n"
    "16 1 0:41 / /home/t/remote rw - fuse.sshfs t@host: rw\n"
    "17 1 0:42 / /run/user/1000/gvfs rw - fuse.gvfsd-fuse gvfsd-fuse rw\n"
    "18 1 8:18 / /media/ntfs-stick rw - fuseblk /dev/sdb2 rw\n"
    "19 1 259:2 / /mnt/windows rw - fuseblk /dev/nvme0n1p2 rw\n"
    "20 1 0:44 / /mnt/btrfs rw - btrfs /dev/sdc rw\n"
    "21 1 0:45 / /merged rw - overlay overlay rw,lowerdir=/l,upperdir=/media/usb/up,workdir=/media/usb/w\n"
    "22 1 0:46 / /ro rw - overlay overlay ro,lowerdir=/a:/b\n"
    "23 1 0:47 / /ctr rw - overlay overlay rw,lowerdir=/l,upperdir=/var/lib/c/up,workdir=/var/lib/c/w\n"
    "24 1 0:48 / /tank rw - zfs tank/data rw\n"
    "25 1 7:3 / /mnt/loop3 rw - ext4 /dev/loop3 rw\n"
    "26 1 7:1 / /mnt/img rw - ext4 /dev/loop1 rw\n"
    "27 1 254:1 / /srv rw - ext4 /dev/mapper/vg-srv rw\n"
    "28 1 179:8 / /emmc rw - ext4 /dev/mmcblk1 rw\n"
    "29 1 8:48 / /media/cardreader rw - vfat /dev/sdd rw\n"
    "30 1 8:0 / /data rw - ext4 /dev/sda rw\n"
    "31 1 8:64 / /media/sde rw - ext4 /dev/sde rw\n"
    "32 1 0:50 / /srv/school-stick rw - tmpfs usbstick rw\n"
    "33 1 0:51 / /srv/school-stickX rw - tmpfs tmpfs rw\n"
    "34 1 0:52 / /mnt/host rw - 9p hostshare rw\n"
    "35 1 9:9 / /mnt/escape rw - ext4 /dev/md9 rw\n"
    "36 1 0:53 / /mnt/mapper-luks rw - btrfs /dev/mapper/luks-stick rw\n"
    "37 1 0:54 / /mnt/coffer rw - fuse.coffer coffer rw\n"
    "38 1 0:55 / /mnt/unknown-dev rw - xfs /dev/disk/by-uuid/1234 rw\n";

class MediaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeSysfs& s = sys_;
    // USB stick with two partitions.
    s.subsystem("pci0000:00/0000:00:14.0/usb2", "usb");
    s.subsystem("pci0000:00/0000:00:14.0/usb2/2-1", "usb");
    s.subsystem(kUsbPort, "usb");
    s.block(kUsbStick, 8, 16, "1");
    s.block(kUsbStick + "/sdb1", 8, 17, nullptr, true);
    s.block(kUsbStick + "/sdb2", 8, 18, nullptr, true);
    // USB hard disk: removable 0, and no subsystem links (the usb3 segment).
    s.block(kUsbDisk, 8, 32, "0");
    // USB found only through a subsystem link.
    s.subsystem("platform/soc/xhci-hcd.0/port1/dev1", "usb");
    s.block(kUsbBySubsystem, 8, 64, "0");
    // NVMe with partitions.
    s.subsystem("pci0000:00/0000:00:1d.0/0000:3d:00.0", "pci");
    s.block(kNvme, 259, 0, "0");
    s.block(kNvme + "/nvme0n1p1", 259, 1, nullptr, true);
    s.block(kNvme + "/nvme0n1p2", 259, 2, nullptr, true);
    // SD card (removable attr 0, as udisks warns) and soldered eMMC.
    s.subsystem(kSdCard, "mmc");
    s.attr(kSdCard, "type", "SD");
    s.block(kSdCard + "/block/mmcblk0", 179, 0, "0");
    s.block(kSdCard + "/block/mmcblk0/mmcblk0p1", 179, 1, nullptr, true);
    s.subsystem(kEmmc, "mmc");
    s.attr(kEmmc, "type", "MMC");
    s.block(kEmmc + "/block/mmcblk1", 179, 8, "0");
    // SATA: an internal disk and a card reader with removable media.
    s.block(kAta + "/sda", 8, 0, "0");
    s.block(kAta + "/sdd", 8, 48, "1");
    // LUKS on the USB stick; LVM on the NVMe.
    s.block("virtual/block/dm-0", 254, 0, "0");
    s.attr("virtual/block/dm-0", "dm/name", "luks-stick");
    s.slave("virtual/block/dm-0", kUsbStick + "/sdb1");
    s.block("virtual/block/dm-1", 254, 1, "0");
    s.attr("virtual/block/dm-1", "dm/name", "vg-srv");
    s.slave("virtual/block/dm-1", kNvme + "/nvme0n1p1");
    // Loop devices: on the USB stick, on the internal disk, on itself.
    s.block("virtual/block/loop0", 7, 0, "0");
    s.attr("virtual/block/loop0", "loop/backing_file", "/media/usb/disk.img");
    s.block("virtual/block/loop1", 7, 1, "0");
    s.attr("virtual/block/loop1", "loop/backing_file", "/home/t/img (deleted)");
    s.block("virtual/block/loop3", 7, 3, "0");
    s.attr("virtual/block/loop3", "loop/backing_file", "/mnt/loop3/self.img");
    s.block("virtual/block/loop4", 7, 4, "0");  // unbound: no backing file
    fs::create_directories(sys_.root() / "devices/virtual/block/loop4/loop");
    // A link that leaves the sysfs tree.
    fs::create_symlink(fs::temp_directory_path(), sys_.root() / "dev/block/9:9");
  }

  MediaClassifier make(std::vector<fs::path> declared = {"/srv/school-stick"}) {
    MediaConfig c;
    c.sysfs_root = sys_.root();
    c.mountinfo_text = kMountinfo;
    c.declared_removable = std::move(declared);
    return MediaClassifier(c);
  }

  MediaKind kind_at(const MediaClassifier& m, const std::string& mount_point) {
    for (const auto& e : m.mounts())
      if (e.mount_point == mount_point) return m.classify_mount(e);
    ADD_FAILURE() << "no mount " << mount_point;
    return MediaKind::kUnknown;
  }

  test::TempDir tmp_;
  FakeSysfs sys_{tmp_.path() / "sys"};
};

TEST_F(MediaTest, KindNames) {
  EXPECT_EQ(media_kind_name(MediaKind::kInternal), "internal");
  EXPECT_EQ(media_kind_name(MediaKind::kRemovable), "removable");
  EXPECT_EQ(media_kind_name(MediaKind::kNetwork), "network");
  EXPECT_EQ(media_kind_name(MediaKind::kVirtual), "virtual");
  EXPECT_EQ(media_kind_name(MediaKind::kOtherFuse), "other-fuse");
  EXPECT_EQ(media_kind_name(MediaKind::kUnknown), "unknown");
}

TEST_F(MediaTest, BlockDevices) {
  auto m = make();
  EXPECT_EQ(m.classify_block_device(8, 16), MediaKind::kRemovable);  // USB stick
  EXPECT_EQ(m.classify_block_device(8, 17), MediaKind::kRemovable);  // its partition
  EXPECT_EQ(m.classify_block_device(8, 32), MediaKind::kRemovable);  // USB disk, removable=0
  EXPECT_EQ(m.classify_block_device(8, 64), MediaKind::kRemovable);  // USB by subsystem link
  EXPECT_EQ(m.classify_block_device(259, 0), MediaKind::kInternal);  // NVMe
  EXPECT_EQ(m.classify_block_device(259, 1), MediaKind::kInternal);
  EXPECT_EQ(m.classify_block_device(179, 0), MediaKind::kRemovable);  // SD card
  EXPECT_EQ(m.classify_block_device(179, 1), MediaKind::kRemovable);
  EXPECT_EQ(m.classify_block_device(179, 8), MediaKind::kInternal);   // eMMC
  EXPECT_EQ(m.classify_block_device(8, 0), MediaKind::kInternal);     // SATA disk
  EXPECT_EQ(m.classify_block_device(8, 48), MediaKind::kRemovable);   // card reader
  EXPECT_EQ(m.classify_block_device(254, 0), MediaKind::kRemovable);  // LUKS on USB
  EXPECT_EQ(m.classify_block_device(254, 1), MediaKind::kInternal);   // LVM on NVMe
  EXPECT_EQ(m.classify_block_device(7, 0), MediaKind::kRemovable);    // loop on USB
  EXPECT_EQ(m.classify_block_device(7, 1), MediaKind::kInternal);     // loop on / (deleted)
  EXPECT_EQ(m.classify_block_device(7, 3), MediaKind::kUnknown);      // loop on itself
  EXPECT_EQ(m.classify_block_device(7, 4), MediaKind::kUnknown);      // unbound loop
  EXPECT_EQ(m.classify_block_device(9, 9), MediaKind::kUnknown);      // link leaves sysfs
  EXPECT_EQ(m.classify_block_device(8, 99), MediaKind::kUnknown);     // no such device
}

TEST_F(MediaTest, Mounts) {
  auto m = make();
  EXPECT_EQ(kind_at(m, "/"), MediaKind::kInternal);
  EXPECT_EQ(kind_at(m, "/proc"), MediaKind::kVirtual);
  EXPECT_EQ(kind_at(m, "/sys"), MediaKind::kVirtual);
  EXPECT_EQ(kind_at(m, "/tmp"), MediaKind::kVirtual);
  EXPECT_EQ(kind_at(m, "/media/usb"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(m, "/media/luks"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(m, "/mnt/loop-on-usb"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(m, "/media/sd"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(m, "/media/USB DISK"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(m, "/net/share"), MediaKind::kNetwork);
  EXPECT_EQ(kind_at(m, "/home/t/remote"), MediaKind::kNetwork);
  EXPECT_EQ(kind_at(m, "/mnt/host"), MediaKind::kNetwork);
  EXPECT_EQ(kind_at(m, "/run/user/1000/gvfs"), MediaKind::kOtherFuse);
  EXPECT_EQ(kind_at(m, "/mnt/coffer"), MediaKind::kOtherFuse);
  EXPECT_EQ(kind_at(m, "/media/ntfs-stick"), MediaKind::kRemovable);  // fuseblk on USB
  EXPECT_EQ(kind_at(m, "/mnt/windows"), MediaKind::kOtherFuse);       // fuseblk on NVMe
  EXPECT_EQ(kind_at(m, "/mnt/btrfs"), MediaKind::kRemovable);         // anonymous dev, /dev/sdc
  EXPECT_EQ(kind_at(m, "/mnt/mapper-luks"), MediaKind::kRemovable);   // /dev/mapper name
  EXPECT_EQ(kind_at(m, "/mnt/unknown-dev"), MediaKind::kUnknown);
  EXPECT_EQ(kind_at(m, "/merged"), MediaKind::kRemovable);  // upperdir on USB
  EXPECT_EQ(kind_at(m, "/ro"), MediaKind::kVirtual);        // no upperdir
  EXPECT_EQ(kind_at(m, "/ctr"), MediaKind::kInternal);      // upperdir on /
  EXPECT_EQ(kind_at(m, "/tank"), MediaKind::kUnknown);
  EXPECT_EQ(kind_at(m, "/mnt/loop3"), MediaKind::kUnknown);
  EXPECT_EQ(kind_at(m, "/mnt/img"), MediaKind::kInternal);
  EXPECT_EQ(kind_at(m, "/srv"), MediaKind::kInternal);
  EXPECT_EQ(kind_at(m, "/emmc"), MediaKind::kInternal);
  EXPECT_EQ(kind_at(m, "/media/cardreader"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(m, "/data"), MediaKind::kInternal);
  EXPECT_EQ(kind_at(m, "/media/sde"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(m, "/mnt/escape"), MediaKind::kUnknown);
}

TEST_F(MediaTest, DeclaredRemovable) {
  auto m = make();
  EXPECT_EQ(kind_at(m, "/srv/school-stick"), MediaKind::kRemovable);  // a tmpfs, declared
  EXPECT_EQ(kind_at(m, "/srv/school-stickX"), MediaKind::kVirtual);   // not a path prefix
  EXPECT_EQ(kind_at(m, "/srv"), MediaKind::kInternal);
  auto none = make({});
  EXPECT_EQ(kind_at(none, "/srv/school-stick"), MediaKind::kVirtual);
  auto whole = make({"/srv/"});  // trailing slash: /srv and everything below it
  EXPECT_EQ(kind_at(whole, "/srv"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(whole, "/srv/school-stickX"), MediaKind::kRemovable);
  EXPECT_EQ(kind_at(whole, "/"), MediaKind::kInternal);
  try {
    make({"relative/path"});
    FAIL() << "accepted a relative prefix";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUsage);
  }
}

TEST_F(MediaTest, RemovableMountsList) {
  auto m = make();
  std::vector<std::string> points;
  for (const auto& c : m.removable_mounts()) {
    EXPECT_TRUE(c.kind == MediaKind::kRemovable || c.kind == MediaKind::kNetwork || c.kind == MediaKind::kOtherFuse);
    points.push_back(c.mount.mount_point);
  }
  auto has = [&](const std::string& p) { return std::find(points.begin(), points.end(), p) != points.end(); };
  EXPECT_TRUE(has("/media/usb"));
  EXPECT_TRUE(has("/net/share"));
  EXPECT_TRUE(has("/mnt/coffer"));
  EXPECT_TRUE(has("/srv/school-stick"));
  EXPECT_FALSE(has("/"));
  EXPECT_FALSE(has("/proc"));
  EXPECT_FALSE(has("/tank"));  // unknown: the enforcer's policy decides
  EXPECT_EQ(m.classify_all().size(), m.mounts().size());
}

TEST_F(MediaTest, MissingSysfsIsUnknownNotInternal) {
  MediaConfig c;
  c.sysfs_root = tmp_.path() / "no-such-sys";
  c.mountinfo_text = kMountinfo;
  MediaClassifier m(c);
  EXPECT_EQ(kind_at(m, "/media/usb"), MediaKind::kUnknown);
  EXPECT_EQ(kind_at(m, "/"), MediaKind::kUnknown);
  EXPECT_EQ(kind_at(m, "/proc"), MediaKind::kVirtual);
  EXPECT_EQ(kind_at(m, "/net/share"), MediaKind::kNetwork);
}

TEST_F(MediaTest, SlaveCycleEnds) {
  // dm-5 and dm-6 are each other's slaves: the depth limit ends the walk.
  sys_.block("virtual/block/dm-5", 254, 5, "0");
  sys_.block("virtual/block/dm-6", 254, 6, "0");
  sys_.slave("virtual/block/dm-5", "virtual/block/dm-6");
  sys_.slave("virtual/block/dm-6", "virtual/block/dm-5");
  auto m = make();
  EXPECT_EQ(m.classify_block_device(254, 5), MediaKind::kUnknown);
}

TEST_F(MediaTest, BadMountinfoRefused) {
  MediaConfig c;
  c.sysfs_root = sys_.root();
  c.mountinfo_text = "1 0 8:1 / / rw - ext4 /dev/sda1\n";
  try {
    MediaClassifier m(c);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDamaged);
  }
  c.mountinfo_text.reset();
  c.mountinfo_path = tmp_.path() / "no-such-mountinfo";
  try {
    MediaClassifier m(c);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

// This machine's real mounts: loose, so the test holds in CI containers.
TEST(MediaRealSystem, ProcAndRoot) {
  MediaClassifier m;
  ASSERT_FALSE(m.mounts().empty());
  EXPECT_EQ(m.classify_path("/proc"), MediaKind::kVirtual);
  EXPECT_EQ(m.classify_path("/proc/self/status"), MediaKind::kVirtual);
  EXPECT_EQ(m.classify_path("/proc/no/such/file"), MediaKind::kVirtual);
  MediaKind root = m.classify_path("/");
  EXPECT_TRUE(root == MediaKind::kInternal || root == MediaKind::kVirtual || root == MediaKind::kUnknown)
      << media_kind_name(root);
  auto e = m.mount_for_path("/proc");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->fs_type, "proc");
  EXPECT_FALSE(m.mount_for_path(""));
}

TEST(MediaRealSystem, PathsAndSymlinks) {
  test::TempDir dir;
  MediaClassifier m;
  auto here = m.mount_for_path(dir.path());
  ASSERT_TRUE(here);
  // A file not created yet lands on its directory's mount.
  auto later = m.mount_for_path(dir.path() / "not" / "yet" / "file.txt");
  ASSERT_TRUE(later);
  EXPECT_EQ(later->mount_id, here->mount_id);
  auto slash = m.mount_for_path(dir.path().string() + "/new-dir/");
  ASSERT_TRUE(slash);
  EXPECT_EQ(slash->mount_id, here->mount_id);
  // A symlink is followed as open() follows it.
  fs::create_symlink("/proc", dir.path() / "to-proc");
  EXPECT_EQ(m.classify_path(dir.path() / "to-proc" / "self"), MediaKind::kVirtual);
  EXPECT_EQ(m.classify_path(dir.path() / "to-proc" / "new-file"), MediaKind::kVirtual);
  // A dangling symlink would create its target elsewhere: unknown.
  fs::create_symlink("/nonexistent-coffer-target/x", dir.path() / "dangling");
  EXPECT_EQ(m.classify_path(dir.path() / "dangling"), MediaKind::kUnknown);
  // Relative paths are taken against the working directory.
  auto rel = m.mount_for_path("relative-name-that-does-not-exist");
  auto cwd = m.mount_for_path(fs::current_path());
  ASSERT_TRUE(rel);
  ASSERT_TRUE(cwd);
  EXPECT_EQ(rel->mount_id, cwd->mount_id);
}

TEST(MediaRealSystem, TmpfsDeclaredRemovable) {
  test::SmallTmpfs tmpfs("1M");
  if (!tmpfs.mounted()) GTEST_SKIP() << "mounting a tmpfs needs root";
  MediaClassifier plain;
  EXPECT_EQ(plain.classify_path(tmpfs.path() / "copy.txt"), MediaKind::kVirtual);
  MediaConfig c;
  c.declared_removable = {tmpfs.path()};
  MediaClassifier declared(c);
  EXPECT_EQ(declared.classify_path(tmpfs.path() / "copy.txt"), MediaKind::kRemovable);
  bool listed = false;
  for (const auto& r : declared.removable_mounts())
    if (r.mount.mount_point == tmpfs.path().string()) listed = true;
  EXPECT_TRUE(listed);
  // A mount made after the table was read is not guessed at.
  test::SmallTmpfs later("1M");
  ASSERT_TRUE(later.mounted());
  EXPECT_EQ(plain.classify_path(later.path()), MediaKind::kUnknown);
  plain.refresh();
  EXPECT_EQ(plain.classify_path(later.path()), MediaKind::kVirtual);
}

// Issue 15 §3: what holds an overlay's or a loop device's data is a place,
// never "virtual": memory (a tmpfs such as /dev/shm) is this computer, an
// upper directory or backing file on proc is unknown, and one on a
// declared-removable mount is removable.
TEST(MediaBacking, OverlayAndLoopStorageIsAPlaceNeverVirtual) {
  test::TempDir tmp;
  FakeSysfs s{tmp.path() / "sys"};
  s.block("virtual/block/loop5", 7, 5, "0");
  s.attr("virtual/block/loop5", "loop/backing_file", "/dev/shm/disk.img");
  s.block("virtual/block/loop6", 7, 6, "0");
  s.attr("virtual/block/loop6", "loop/backing_file", "/proc/disk.img");
  s.block("virtual/block/loop7", 7, 7, "0");
  s.attr("virtual/block/loop7", "loop/backing_file", "/media/stick/disk.img");
  MediaConfig c;
  c.sysfs_root = s.root();
  c.declared_removable = {"/media"};
  c.mountinfo_text =
      "2 1 0:20 / /proc rw - proc proc rw\n"
      "3 1 0:22 / /dev/shm rw - tmpfs tmpfs rw\n"
      "4 1 0:45 / /m1 rw - overlay overlay rw,lowerdir=/l,upperdir=/dev/shm/u,workdir=/dev/shm/w\n"
      "5 1 0:46 / /m2 rw - overlay overlay rw,lowerdir=/l,upperdir=/proc/sys/fs,workdir=/proc/sys/w\n"
      "6 1 7:5 / /m3 rw - ext4 /dev/loop5 rw\n"
      "7 1 7:6 / /m4 rw - ext4 /dev/loop6 rw\n"
      "8 1 0:23 / /media/stick rw - tmpfs usb rw\n"
      "9 1 7:7 / /m5 rw - ext4 /dev/loop7 rw\n"
      "10 1 0:47 / /m6 rw - overlay overlay rw,lowerdir=/l,upperdir=/media/stick/u,workdir=/media/stick/w\n";
  MediaClassifier m(c);
  auto kind = [&](const std::string& at) {
    for (const auto& e : m.mounts())
      if (e.mount_point == at) return m.classify_mount(e);
    ADD_FAILURE() << "no mount " << at;
    return MediaKind::kUnknown;
  };
  EXPECT_EQ(kind("/dev/shm"), MediaKind::kVirtual);  // tmpfs itself: layer 1 judges it by its type
  EXPECT_EQ(kind("/m1"), MediaKind::kInternal);      // overlay, upper in /dev/shm
  EXPECT_EQ(kind("/m2"), MediaKind::kUnknown);       // overlay, upper "on proc"
  EXPECT_EQ(kind("/m3"), MediaKind::kInternal);      // loop, image in /dev/shm
  EXPECT_EQ(kind("/m4"), MediaKind::kUnknown);       // loop, image "on proc"
  EXPECT_EQ(kind("/m5"), MediaKind::kRemovable);     // loop, image on a declared-removable mount
  EXPECT_EQ(kind("/m6"), MediaKind::kRemovable);     // overlay, upper on it
}

}  // namespace
}  // namespace coffer::guard
