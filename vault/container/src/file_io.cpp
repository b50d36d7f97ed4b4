// POSIX helpers; see file_io.h.
#include "coffer/vault/container/file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "coffer/error.h"
#include "coffer/unique_fd.h"

namespace coffer::vault::io {
namespace {
[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  int e = errno;
  ErrorCode code = e == ENOSPC || e == EDQUOT ? ErrorCode::kNoSpace : ErrorCode::kIo;
  throw Error(code,
              what + " " + path.string() + ": " + (e == ENOSPC || e == EDQUOT ? "the disk is full" : std::strerror(e)));
}

// Finds a FLOCK on the file in /proc/locks and names its holder.
std::string describe_holder(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "another process";
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream in(line);
    std::string id, type, mode, access, pid, dev_ino;
    if (!(in >> id >> type)) continue;
    if (type == "->") in >> type;  // a waiter line
    if (type != "FLOCK" || !(in >> mode >> access >> pid >> dev_ino)) continue;
    unsigned maj = 0, min = 0;
    unsigned long long ino = 0;
    if (std::sscanf(dev_ino.c_str(), "%x:%x:%llu", &maj, &min, &ino) != 3) continue;
    if (ino != st.st_ino || makedev(maj, min) != st.st_dev) continue;
    std::ifstream comm("/proc/" + pid + "/comm");
    std::string name;
    std::getline(comm, name);
    return "process " + pid + (name.empty() ? "" : " (" + name + ")");
  }
  return "another process";
}
}  // namespace

std::size_t pread_all(int fd, std::span<std::uint8_t> out, std::uint64_t offset, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", path);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

void pwrite_all(int fd, std::span<const std::uint8_t> data, std::uint64_t offset, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path);
    }
    done += static_cast<std::size_t>(n);
  }
}

void sync_data(int fd, const std::filesystem::path& path) {
  if (::fdatasync(fd) != 0) fail("cannot sync", path);
}

void sync_directory_of(const std::filesystem::path& path) {
  auto dir = path.parent_path();
  if (dir.empty()) dir = ".";
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() < 0 || ::fsync(d.get()) != 0) fail("cannot sync directory", dir);
}

void lock_exclusive(int fd, const std::filesystem::path& path) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return;
  if (errno == EWOULDBLOCK)
    throw Error(ErrorCode::kBusy, path.string() + " is open in " + describe_holder(fd), Remedy::kLockOtherProcess);
  fail("cannot lock", path);
}

}  // namespace coffer::vault::io
