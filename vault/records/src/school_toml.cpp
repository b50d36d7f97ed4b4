// The school's TOML files; see school_toml.h.
#include "coffer/vault/records/school_toml.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "coffer/error.h"
#include "coffer/unique_fd.h"

namespace coffer::vault {

void toml_error(const std::filesystem::path& file, const toml::source_region& where, const std::string& what) {
  throw Error(ErrorCode::kUsage, file.string() + ":" + std::to_string(where.begin.line) + ": " + what);
}

std::string read_trusted_file(const std::filesystem::path& path) {
  // One open, by a walk that refuses a symbolic link in any component (a
  // directory link swapped between a check and a second open made a
  // teacher's file take effect); the checks and the read then use that
  // descriptor only. O_NONBLOCK: a FIFO put in its place cannot hang us.
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how)));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ELOOP)
      throw Error(ErrorCode::kPolicy, path.string() +
                                          " is not trusted: its path goes through a symbolic link (give the real "
                                          "path of a root-owned file)");
    if (err == ENOSYS)
      throw Error(ErrorCode::kPolicy, "cannot read the policy file " + path.string() +
                                          " safely: this kernel lacks openat2 (Linux 5.6 or later is needed)");
    throw Error(ErrorCode::kPolicy, "cannot read the policy file " + path.string() + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw Error(ErrorCode::kPolicy, "cannot examine the policy file " + path.string() + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    throw Error(ErrorCode::kPolicy, path.string() +
                                        " is not trusted: a policy file must be a regular file "
                                        "owned by root and not writable by group or others");
  // A policy is a few kilobytes; a huge file is not one.
  constexpr off_t kMaxBytes = off_t{1} << 20;
  if (st.st_size > kMaxBytes)
    throw Error(ErrorCode::kPolicy, path.string() + " is too large for a policy file (over 1 MiB)");
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw Error(ErrorCode::kPolicy, "cannot read the policy file " + path.string() + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (static_cast<off_t>(text.size()) > kMaxBytes)
      throw Error(ErrorCode::kPolicy, path.string() + " is too large for a policy file (over 1 MiB)");
  }
  return text;
}

toml::table load_trusted_toml(const std::filesystem::path& file) {
  const std::string text = read_trusted_file(file);
  try {
    return toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    toml_error(file, e.source(), std::string(e.description()));
  }
}

}  // namespace coffer::vault
