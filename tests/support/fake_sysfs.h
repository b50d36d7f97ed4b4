// A fake sysfs tree for the guard's media tests: directories and relative
// symlinks laid out as the kernel's sysfs (devices, dev/block, class/block,
// block, bus/*), so a MediaClassifier pointed at it sees USB sticks, SD
// cards, device-mapper stacks... without hardware.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

namespace coffer::test {

class FakeSysfs {
 public:
  explicit FakeSysfs(std::filesystem::path root) : root_(std::move(root)) {
    for (const char* d : {"dev/block", "bus/usb", "bus/mmc", "bus/pci", "class/block", "class/mmc_host", "block",
                          "devices/virtual/block"})
      std::filesystem::create_directories(root_ / d);
  }
  const std::filesystem::path& root() const { return root_; }

  // ROOT/devices/DEVPATH, created.
  std::filesystem::path dir(const std::string& devpath) {
    std::filesystem::path p = root_ / "devices" / devpath;
    std::filesystem::create_directories(p);
    return p;
  }
  void attr(const std::string& devpath, const std::string& name, const std::string& value) {
    std::filesystem::path p = dir(devpath) / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << value << "\n";
  }
  // A relative symlink AT -> TARGET, as sysfs has them.
  void link(const std::filesystem::path& at, const std::filesystem::path& target) {
    std::filesystem::create_directories(at.parent_path());
    std::filesystem::create_symlink(std::filesystem::relative(target, at.parent_path()), at);
  }
  // DEVPATH/subsystem -> ../bus/NAME (or class/NAME for hosts).
  void subsystem(const std::string& devpath, const std::string& name, const char* kind = "bus") {
    std::filesystem::create_directories(root_ / kind / name);
    link(dir(devpath) / "subsystem", root_ / kind / name);
  }
  void usb(const std::string& devpath) { subsystem(devpath, "usb"); }
  // A block device: its dev attribute, /sys/dev/block/MAJ:MIN and
  // /sys/class/block/NAME links; disks also get /sys/block/NAME.
  void block(const std::string& devpath, unsigned major, unsigned minor, const char* removable = nullptr,
             bool partition = false) {
    std::filesystem::path d = dir(devpath);
    std::string majmin = std::to_string(major) + ":" + std::to_string(minor);
    attr(devpath, "dev", majmin);
    if (removable) attr(devpath, "removable", removable);
    if (partition) attr(devpath, "partition", "1");
    link(root_ / "dev/block" / majmin, d);
    link(root_ / "class/block" / d.filename(), d);
    if (!partition) link(root_ / "block" / d.filename(), d);
  }
  void block(const std::string& devpath, unsigned major, unsigned minor, bool partition) {
    block(devpath, major, minor, nullptr, partition);
  }
  // DEVPATH/slaves/NAME -> the slave device (dm-crypt, LVM, md).
  void slave(const std::string& devpath, const std::string& slave_devpath) {
    std::filesystem::path s = root_ / "devices" / slave_devpath;
    link(dir(devpath) / "slaves" / s.filename(), s);
  }

 private:
  std::filesystem::path root_;
};

}  // namespace coffer::test
