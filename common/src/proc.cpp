// read_link (proc.h).
#include "coffer/proc.h"

#include <unistd.h>

#include <array>

namespace coffer {

std::optional<std::string> read_link(const std::string& path) {
  // A /proc link's text is at most PATH_MAX - 1 bytes (d_path works in one
  // page); a full buffer means the target was cut short.
  std::array<char, 4096> buf{};
  const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= buf.size()) return std::nullopt;
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

}  // namespace coffer
