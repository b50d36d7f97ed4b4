// Reading school key files named on the command line; see school_key_files.h.
#include "school_key_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "coffer/error.h"

namespace coffer::cli {

std::string read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      throw Error(ErrorCode::kIo, "cannot read " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 65536) {
      ::close(fd);
      throw Error(ErrorCode::kDamaged, path + " is too large to be a coffer key file");
    }
  }
  ::close(fd);
  return text;
}

keystore::SchoolPublicKey load_public_key(const std::string& path) {
  return keystore::parse_public_key_file(read_small_file(path), path);
}

keystore::SchoolKeyPair load_secret_key(const std::string& path, PassphraseSource& source) {
  std::string text = read_small_file(path);
  keystore::Passphrase pw = source.existing("Passphrase for the school key " + path);
  return keystore::open_secret_key_file(text, pw, path);
}

}  // namespace coffer::cli
