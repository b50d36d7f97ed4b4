// Where decrypted coffer data could reach a disk in the clear without any
// write by coffer: the kernel paging it out to unencrypted swap, or writing
// it into a hibernation image. Read from the kernel's text interfaces:
// /proc/swaps (each swap area), /proc/cmdline (`resume=`) and sysfs
// (/sys/power/resume, each block device's device-mapper identity and its
// slaves), as systemd and udisks do. Both roots are injectable (the tests
// use a fake sysfs tree; CI has no swap).
//
// A swap area is protected when it is zram without a writeback device
// (compressed RAM), or a block device that is dm-crypt or stacked only on
// dm-crypt (LVM on LUKS); a swap file counts as its filesystem's block
// device. Anything else, or anything that cannot be resolved, is reported:
// not proven encrypted is treated as unencrypted.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace coffer::guard {

struct SwapConfig {
  std::filesystem::path proc_root = "/proc";
  std::filesystem::path sysfs_root = "/sys";
  // Resolve a swap partition by stat(2) of its /dev path and a swap file by
  // stat(2) of the file (the real system); off, device names are looked up
  // in sysfs only (tests, whose /dev paths are not this machine's).
  bool stat_devices = true;
};

// One sentence per unprotected place ("swap partition /dev/sda3 is not
// encrypted", "the hibernation image (resume=/dev/sda3) ..."); empty when
// nothing decrypted can reach a disk in the clear this way.
std::vector<std::string> unprotected_swap(const SwapConfig& config = {});

// /proc/swaps' file names are escaped as in mountinfo (\040 for a space).
struct SwapArea {
  std::string filename;
  std::string type;  // "partition" or "file"
};
std::vector<SwapArea> parse_proc_swaps(const std::string& text);

}  // namespace coffer::guard
