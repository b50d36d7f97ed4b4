// A libfuse low-level session serving a Filesystem, without exposing
// libfuse's headers: adapter.cpp is the only file that includes them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "coffer/fusefs/filesystem.h"

namespace coffer::fusefs {

class FuseSession {
 public:
  // options: the -o list (default_permissions, nosuid, ...). host_statfs
  // reports the space of the filesystem holding the coffer file.
  FuseSession(Filesystem& fs, const std::string& options, std::function<StatFs()> host_statfs);
  ~FuseSession();
  FuseSession(const FuseSession&) = delete;
  FuseSession& operator=(const FuseSession&) = delete;

  // Throws coffer::Error when the kernel refuses the mount.
  void mount(const std::string& mountpoint);
  // Serves requests until the filesystem is unmounted or exit() is called.
  void run();
  // Drops the kernel's cached pages and attributes of an inode.
  void invalidate(std::uint64_t ino);
  // Detaches the mount (lazily: open files do not keep it).
  void unmount();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::fusefs
