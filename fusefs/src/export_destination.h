// Where an export may land, decided by the daemon from descriptors, not
// from the text of the request. The request names a file below an approved
// directory; the daemon opens that directory itself (every component of its
// path a real directory: no symbolic link, which the teacher could plant),
// walks to the file's directory below it with openat2 (no symbolic link, no
// "..", never above the approved directory), classifies the filesystem of
// the directory it actually holds, and only then creates the file there.
// A symbolic link anywhere, an escape, or a filesystem the policy does not
// allow is refused before anything is created. docs/GUARD.md, "Exports".
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coffer/unique_fd.h"

namespace coffer::fusefs {

// Judges the filesystem an export would write to: `approved_dir` is the
// approved directory as opened, `dest_dir` the directory the file would be
// created in (both O_PATH descriptors). Returns why it is refused, or
// nullopt when the export may go there.
using ExportMediaCheck = std::function<std::optional<std::string>(int approved_dir, int dest_dir)>;

// The system's rule, through the guard's media classifier (the mount table
// and sysfs): removable media only when it is an allowlisted encrypted
// school stick (the policy's declared_removable counts as removable); any
// FUSE filesystem and anything that cannot be classified is refused; a
// filesystem mounted below the approved directory (a different mount than
// the approved directory's own) is refused unless it is an internal disk.
struct ExportMediaPolicy {
  std::vector<std::filesystem::path> declared_removable;
  std::vector<std::string> allowed_luks_uuids, allowed_usb_serials;
};
ExportMediaCheck system_export_media_check(ExportMediaPolicy policy);

// One export's destination file, created (mode 0600) but not yet in place:
// the data is written to fd() under a hidden part name beside the
// destination, then commit() syncs it and links it under its real name
// (never over an existing file). Destroyed uncommitted, it removes the part
// file, so a refused or failed export leaves nothing behind.
class ExportDestination {
 public:
  // Opens DEST (absolute, below one of `approved`). Throws coffer::Error:
  // kPolicy for a refusal (not approved, a symbolic link or ".." on the way,
  // a refused filesystem; nothing has been created), kIo when the
  // directory does not exist or the file cannot be created, or the name
  // exists already.
  static ExportDestination open(const std::filesystem::path& dest, const std::vector<std::filesystem::path>& approved,
                                const ExportMediaCheck& media);

  ExportDestination(ExportDestination&&) noexcept = default;
  ExportDestination& operator=(ExportDestination&&) = delete;
  ExportDestination(const ExportDestination&) = delete;
  ExportDestination& operator=(const ExportDestination&) = delete;
  ~ExportDestination();

  int fd() const noexcept { return file_.get(); }
  // Where the file is, as the kernel names the directory the daemon holds
  // (/proc/self/fd), plus the file's name: what the audit records.
  const std::filesystem::path& resolved() const noexcept { return resolved_; }
  // Syncs and links the file into place; throws Error(kIo) ("... already
  // exists; export never overwrites").
  void commit();

 private:
  ExportDestination() = default;
  UniqueFd dir_, file_;
  std::string name_, part_;
  std::filesystem::path resolved_;
  bool committed_ = false;
};

}  // namespace coffer::fusefs
