// The address of a unix domain socket built from a path, with the length
// checks every bind/connect/sendto needs (sun_path holds 107 bytes + NUL).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <optional>
#include <string_view>

namespace coffer {

struct UnixAddress {
  sockaddr_un addr{};
  socklen_t size = 0;  // the length to pass with addr: family + name (+ NUL)

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&addr); }
};

enum class UnixName {
  kPath,            // a filesystem path, taken as it is
  kPathOrAbstract,  // also "@name": the abstract namespace (systemd's NOTIFY_SOCKET)
};

// nullopt when PATH is empty, holds a NUL, or does not fit sun_path with its
// terminating NUL (a silently truncated path would name another socket).
std::optional<UnixAddress> unix_address(std::string_view path, UnixName kind = UnixName::kPath);

}  // namespace coffer
