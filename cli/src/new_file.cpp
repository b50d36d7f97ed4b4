// See new_file.h.
#include "new_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "coffer/error.h"

namespace coffer::cli {

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

}  // namespace coffer::cli
