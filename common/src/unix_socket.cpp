// unix_address (unix_socket.h).
#include "coffer/unix_socket.h"

#include <cstddef>
#include <cstring>

namespace coffer {

std::optional<UnixAddress> unix_address(std::string_view path, UnixName kind) {
  UnixAddress a;
  if (path.empty() || path.size() >= sizeof a.addr.sun_path || path.find('\0') != std::string_view::npos)
    return std::nullopt;
  a.addr.sun_family = AF_UNIX;
  std::memcpy(a.addr.sun_path, path.data(), path.size());
  const bool abstract = kind == UnixName::kPathOrAbstract && path[0] == '@';
  if (abstract) a.addr.sun_path[0] = '\0';
  // An abstract name is exactly its bytes; a path ends at its NUL.
  a.size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return a;
}

}  // namespace coffer
