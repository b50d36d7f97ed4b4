// See new_file.h.
#include "new_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "coffer/error.h"

namespace coffer::cli {
namespace {

std::string dir_of(const std::string& path) {
  auto d = std::filesystem::path(path).parent_path();
  return d.empty() ? "." : d.string();
}

}  // namespace

void write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    throw Error(errno == EEXIST ? ErrorCode::kPolicy : ErrorCode::kIo,
                "cannot create " + path + ": " + std::strerror(errno));
  ssize_t n = ::write(fd, text.data(), text.size());
  bool ok = n == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    throw Error(ErrorCode::kIo, "cannot write " + path + ": " + std::strerror(e));
  }
}

void sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool ok = fd >= 0 && ::fsync(fd) == 0;
  int e = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) throw Error(ErrorCode::kIo, "cannot sync the directory " + dir + ": " + std::strerror(e));
}

void replace_file(const std::string& path, const std::string& text, mode_t mode) {
  // A temporary left by a crash is ours to replace.
  const std::string tmp = dir_of(path) + "/." + std::filesystem::path(path).filename().string() + ".new";
  ::unlink(tmp.c_str());
  write_new_file(tmp, text, mode);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot replace " + path + ": " + std::strerror(e));
  }
  sync_directory(dir_of(path));
}

void rename_new(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0)
    throw Error(errno == EEXIST ? ErrorCode::kPolicy : ErrorCode::kIo,
                "cannot rename " + from + " to " + to + ": " + std::strerror(errno));
  sync_directory(dir_of(to));
}

std::optional<std::string> read_file_if_exists(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw Error(ErrorCode::kIo, "cannot read " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  std::string text;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (16 << 20);
  char buf[8192];
  while (ok) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  int e = errno;
  ::close(fd);
  if (!ok) throw Error(ErrorCode::kIo, "cannot read " + path + (e ? std::string(": ") + std::strerror(e) : ""));
  return text;
}

}  // namespace coffer::cli
