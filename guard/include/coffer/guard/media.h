// Media classification: is a mount, a block device or a path on internal
// disk, removable media (USB, SD, FireWire), the network, a virtual
// filesystem or a FUSE filesystem we know nothing about? The copy guard's
// layers ask this before allowing writes; docs/GUARD.md gives the rules.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/guard/mountinfo.h"

namespace coffer::guard {

enum class MediaKind {
  kInternal,   // a local disk that is not on a removable bus; an overlay or
               // loop device whose storage is memory (tmpfs) on this computer
  kRemovable,  // USB or FireWire ancestry, removable=1, SD card, or declared by policy
  kNetwork,    // nfs, cifs, sshfs, 9p, ceph, ...
  kVirtual,    // tmpfs, proc, sysfs, devtmpfs, read-only overlay, ...
  kOtherFuse,  // a FUSE filesystem whose storage we cannot see
  kUnknown,    // could not be determined: callers must treat it as unapproved
};

// "internal", "removable", "network", "virtual", "other-fuse", "unknown".
std::string_view media_kind_name(MediaKind kind) noexcept;

// Where the classifier looks. The defaults are the running system; tests
// hand in a fake sysfs tree and mountinfo text. Nothing here is read from the
// environment: only code (the root-owned guard service reading the root-owned
// system policy) can declare mounts removable, and nothing can make a mount
// look internal.
struct MediaConfig {
  std::filesystem::path sysfs_root = "/sys";
  std::filesystem::path mountinfo_path = "/proc/self/mountinfo";
  std::optional<std::string> mountinfo_text;  // used instead of mountinfo_path when set
  // Absolute mount-point prefixes that count as removable whatever they are
  // (the system policy's "declared removable" list).
  std::vector<std::filesystem::path> declared_removable;
  // Where an overlay's upper directory is looked up. Empty: by its text,
  // against the table (tests' fake tables, the guard service). A process's
  // "/proc/PID/root": by the kernel, in that process's mount namespace,
  // with no symlink followed and never through a FUSE or network mount
  // (the walk could reach a server that waits on us); an upper directory
  // that cannot be resolved so is kUnknown.
  std::filesystem::path resolve_root;
};

struct ClassifiedMount {
  MountEntry mount;
  MediaKind kind = MediaKind::kUnknown;
};

class MediaClassifier {
 public:
  // The running system: /sys and /proc/self/mountinfo.
  MediaClassifier();
  // Reads the mount table at once. Throws coffer::Error: kIo if mountinfo
  // cannot be read, kDamaged if it does not parse, kUsage for a declared
  // prefix that is not absolute.
  explicit MediaClassifier(MediaConfig config);

  // Rereads mountinfo_path (after a mount change); no-op with injected text.
  void refresh();
  // A new MediaConfig::resolve_root (the process whose table this is has
  // gone, another of its namespace is asked).
  void set_resolve_root(std::filesystem::path root) { config_.resolve_root = std::move(root); }
  const std::vector<MountEntry>& mounts() const noexcept { return mounts_; }

  MediaKind classify_mount(const MountEntry& entry) const;
  // A block device by number, through SYSFS/dev/block/MAJ:MIN.
  MediaKind classify_block_device(std::uint32_t major, std::uint32_t minor) const;

  // The mount a write to PATH would land on: PATH with symlinks followed as
  // open() follows them, or its nearest existing ancestor if PATH does not
  // exist yet; nullopt (so kUnknown) for a dangling symlink, a path that
  // cannot be examined, or a mount not in the table (call refresh()).
  std::optional<MountEntry> mount_for_path(const std::filesystem::path& path) const;
  MediaKind classify_path(const std::filesystem::path& path) const;

  // Every mount with its kind, in table order.
  std::vector<ClassifiedMount> classify_all() const;
  // Mounts that are removable, network or other FUSE: those the fanotify
  // enforcer marks.
  std::vector<ClassifiedMount> removable_mounts() const;

  bool is_declared_removable(const MountEntry& entry) const;

  // What identifies a school-issued stick, for the guard's allowlist. Both
  // read sysfs only and return nullopt when the mount is not on a block
  // device, the device chain branches (several slaves) or the attribute is
  // absent. Neither is secret: a LUKS UUID can be set on any stick with
  // cryptsetup, a USB serial by special hardware (docs/GUARD.md).
  //
  // The LUKS UUID (lowercase, 8-4-4-4-12) of the dm-crypt device under the
  // mount: its /sys/block/dm-N/dm/uuid reads "CRYPT-LUKS[12]-<uuid without
  // dashes>-<name>". Single-slave device-mapper layers above it (LVM on
  // LUKS) are followed.
  std::optional<std::string> luks_uuid(const MountEntry& entry) const;
  // The `serial` attribute of the USB device (the ancestor with subsystem
  // usb and an idVendor) holding the mount's storage, through single-slave
  // device-mapper layers (LUKS on the stick).
  std::optional<std::string> usb_serial(const MountEntry& entry) const;
  // The one rule for an allowlisted school stick, used by every layer and by
  // exports: its LUKS UUID is listed (case and dashes ignored), or its USB
  // serial is listed and it is LUKS-encrypted. Returns what matched
  // ("LUKS 0d1f...", "USB serial X"), nullopt when it is not one.
  std::optional<std::string> school_stick(const MountEntry& entry, const std::vector<std::string>& luks_uuids,
                                          const std::vector<std::string>& usb_serials) const;

 private:
  // The canonical sysfs directory of the block device holding ENTRY.
  std::optional<std::filesystem::path> block_device_dir(const MountEntry& entry) const;
  std::optional<std::filesystem::path> sysfs_device_of(const std::filesystem::path& link) const;
  MediaKind classify_mount_at(const MountEntry& entry, int depth) const;
  MediaKind classify_block_at(std::uint32_t major, std::uint32_t minor, int depth) const;
  MediaKind classify_sysfs_device(const std::filesystem::path& dev_dir, int depth) const;
  MediaKind classify_by_source(const MountEntry& entry, int depth) const;
  MediaKind classify_backing_path(std::string_view path, int depth, bool resolve) const;
  MediaKind classify_backing_mount(const MountEntry& holder, int depth) const;
  const MountEntry* resolve_in_namespace(const std::string& normal_path) const;
  const MountEntry* mount_holding(std::string_view absolute_path) const;

  MediaConfig config_;
  std::filesystem::path sysfs_canonical_;
  std::vector<MountEntry> mounts_;
};

}  // namespace coffer::guard
