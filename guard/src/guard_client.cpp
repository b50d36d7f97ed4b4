// Registering a coffer with the copy guard service and reading its reports
// (guard_client.h). Runs as the teacher, inside the coffer filesystem
// process; trusts the other end only once it has shown it is root.
#include "coffer/guard/guard_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "coffer/error.h"
#include "coffer/unix_socket.h"

namespace coffer::guard {
namespace {

// The registration scans /proc for descriptors already open: on a busy
// machine that takes a moment, never this long.
constexpr auto kReplyTimeout = std::chrono::seconds(30);

const char* const kNotRunning =
    "this coffer needs the copy guard service, which is not running on this computer: ask IT to "
    "install and enable it (systemctl enable --now coffer-guard)";

Error policy(const std::string& message) { return Error(ErrorCode::kPolicy, message); }

GuardConnection::Report to_report(const BlockedReport& b) {
  return {static_cast<int>(b.pid), b.exe, b.path, b.flags, b.empty_file_left};
}

// Connects to the guard's socket at PATH, checking it is root's (the file
// and the peer's credentials).
UniqueFd connect_to_guard(const std::string& path) {
  const auto addr = unix_address(path);
  if (!addr) throw Error(ErrorCode::kUsage, "the copy guard socket path is empty or too long: " + path);

  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw policy(kNotRunning);
    throw policy(std::string(kNotRunning) + " (" + path + ": " + std::strerror(errno) + ")");
  }
  if (!S_ISSOCK(st.st_mode) || st.st_uid != 0)
    throw policy("the copy guard socket " + path + " is not root's: it cannot be the copy guard service; tell IT");

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw Error(ErrorCode::kIo, std::string("cannot create a socket: ") + std::strerror(errno));
  int rc;
  do rc = ::connect(fd.get(), addr->get(), addr->size);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) throw policy(kNotRunning);
    throw policy(std::string(kNotRunning) + " (" + std::strerror(errno) + ")");
  }
  // The file's owner was checked above, but the file can be swapped between
  // that check and connect(); the peer's credentials cannot.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != 0)
    throw policy("the program answering on " + path + " is not root's: it cannot be the copy guard service; tell IT");
  return fd;
}

}  // namespace

GuardConnection GuardConnection::connect(const std::filesystem::path& socket, const std::filesystem::path& mountpoint,
                                         const std::vector<std::filesystem::path>& approved, bool readonly_media) {
  if (!mountpoint.is_absolute()) throw Error(ErrorCode::kUsage, "the mountpoint must be an absolute path");
  RegisterRequest req;
  req.mountpoint = mountpoint.string();
  req.readonly_media = readonly_media;
  for (const auto& a : approved) {
    if (!a.is_absolute())
      throw Error(ErrorCode::kUsage, "an approved destination is not an absolute path: " + a.string());
    req.approved.push_back(a.string());
  }
  if (req.approved.size() > kMaxApprovedDestinations)
    throw Error(ErrorCode::kUsage, "too many approved destinations for the copy guard");

  const std::string path = socket.string();
  GuardConnection c;
  c.fd_ = connect_to_guard(path);

  const std::string line = encode(req);
  for (std::size_t off = 0; off < line.size();) {
    ssize_t n = ::send(c.fd_.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw policy("the copy guard closed the connection before this coffer could register");
    off += static_cast<std::size_t>(n);
  }

  const auto deadline = std::chrono::steady_clock::now() + kReplyTimeout;
  std::array<char, 16384> buf{};
  for (;;) {
    if (auto reply = c.in_.next_line()) {
      try {
        c.reply_ = decode_register_reply(*reply);
      } catch (const Error& e) {
        throw policy(std::string("the copy guard gave an answer this coffer does not understand: ") + e.what());
      }
      break;
    }
    if (c.in_.overlong()) throw policy("the copy guard gave an overlong answer");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw policy("the copy guard service did not answer; ask IT to check it");
    pollfd p{c.fd_.get(), POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    ssize_t n = ::recv(c.fd_.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw policy("the copy guard closed the connection before answering");
    c.in_.append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
  if (!c.reply_.ok) throw policy("the copy guard refused this coffer: " + c.reply_.error);
  int flags = ::fcntl(c.fd_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(c.fd_.get(), F_SETFL, flags | O_NONBLOCK) != 0)
    throw Error(ErrorCode::kIo, std::string("cannot configure the guard socket: ") + std::strerror(errno));
  return c;
}

std::vector<GuardConnection::Report> GuardConnection::read_reports() {
  std::vector<Report> out;
  if (closed_) return out;
  std::array<char, 16384> buf{};
  bool eof = false;
  for (;;) {
    // Lines may already be buffered (they can arrive with the reply).
    while (auto line = in_.next_line()) {
      try {
        out.push_back(to_report(decode_blocked_report(*line)));
      } catch (const Error&) {
        closed_ = true;  // a guard that talks nonsense is no guard
        return out;
      }
    }
    if (in_.overlong() || eof) {
      closed_ = true;
      return out;
    }
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) closed_ = true;
      return out;
    }
    if (n == 0) {
      eof = true;  // parse what came before the end, then report closed
      continue;
    }
    in_.append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
}

std::vector<GuardConnection::Report> GuardConnection::open_writers() const {
  std::vector<Report> out;
  for (const OpenWriter& w : reply_.open_writers) out.push_back({static_cast<int>(w.pid), w.exe, w.path, "", false});
  return out;
}

}  // namespace coffer::guard

namespace coffer::guard {

bool query_guarded_open(const std::filesystem::path& socket) {
  UniqueFd fd = connect_to_guard(socket.string());
  const std::string line = encode(QueryRequest{});
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
    throw policy("the copy guard closed the connection before it was asked");
  LineBuffer in;
  std::array<char, 4096> buf{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    if (auto reply = in.next_line()) {
      try {
        return decode_query_reply(*reply).guarded_open;
      } catch (const Error& e) {
        throw policy(std::string("the copy guard gave an answer this program does not understand: ") + e.what());
      }
    }
    if (in.overlong()) throw policy("the copy guard gave an overlong answer");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw policy("the copy guard service did not answer; ask IT to check it");
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) continue;
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw policy("the copy guard closed the connection before answering");
    in.append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
}

}  // namespace coffer::guard
