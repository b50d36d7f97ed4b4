// Control sockets, client side and paths; see control.h. The server side is
// in daemon.cpp.
#include "coffer/fusefs/control.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "coffer/error.h"

namespace coffer::fusefs {
namespace fs = std::filesystem;

fs::path control_directory() {
  fs::path dir;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg && ::access(xdg, W_OK) == 0)
    dir = fs::path(xdg) / "coffer";
  else if (::geteuid() == 0) dir = "/run/coffer";
  else dir = "/tmp/coffer-" + std::to_string(::geteuid());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw Error(ErrorCode::kIo, "cannot create " + dir.string() + ": " + std::strerror(errno));
  struct stat st {};
  // A directory someone else made (e.g. in /tmp) must not be trusted.
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0)
    throw Error(ErrorCode::kPolicy, dir.string() +
                                        " is not a private directory of this user; "
                                        "remove it and try again");
  return dir;
}

fs::path control_socket_path(const std::string& id) { return control_directory() / (id + ".sock"); }

namespace {
// Paths are bytes, not necessarily UTF-8: they also travel hex-encoded so
// the client gets them back exactly (JSON strings must be UTF-8).
std::string hex_of(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}
}  // namespace

std::string to_json(const MountStatus& s) {
  nlohmann::json j{{"coffer", s.coffer_path},
                   {"mountpoint", s.mountpoint},
                   {"purpose", s.purpose},
                   {"owner", s.owner},
                   {"expires", s.expires},
                   {"idle_seconds_left", s.idle_seconds_left},
                   {"idle_timeout_seconds", s.idle_timeout_seconds},
                   {"pid", s.pid},
                   {"read_only", s.read_only},
                   {"protection", s.protection},
                   {"copy_guard", s.copy_guard},
                   {"approved", s.approved},
                   {"coffer_hex", hex_of(s.coffer_path)},
                   {"mountpoint_hex", hex_of(s.mountpoint)}};
  // Paths need not be UTF-8; invalid bytes become U+FFFD rather than throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

MountStatus status_from_json(const std::string& line) {
  auto j = nlohmann::json::parse(line);
  MountStatus s;
  s.coffer_path = j.at("coffer");
  s.mountpoint = j.at("mountpoint");
  s.purpose = j.at("purpose");
  s.owner = j.at("owner");
  s.expires = j.at("expires");
  s.idle_seconds_left = j.at("idle_seconds_left");
  s.idle_timeout_seconds = j.at("idle_timeout_seconds");
  s.pid = j.at("pid");
  s.read_only = j.at("read_only");
  if (j.contains("protection")) s.protection = j.at("protection");
  if (j.contains("approved")) s.approved = j.at("approved").get<std::vector<std::string>>();
  if (j.contains("copy_guard")) s.copy_guard = j.at("copy_guard").get<std::vector<std::string>>();
  if (j.contains("coffer_hex")) s.coffer_path = unhex(j.at("coffer_hex"));
  if (j.contains("mountpoint_hex")) s.mountpoint = unhex(j.at("mountpoint_hex"));
  return s;
}

namespace {

// Connects, sends one line, returns the first reply line: empty if the
// process answered nothing in time, nullopt if nothing listens any more.
std::optional<std::string> ask(const fs::path& socket_path, const std::string& command, int timeout_ms = 5000) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string line = command + "\n";
  (void)!::write(fd, line.data(), line.size());
  std::string reply;
  char c = 0;
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, timeout_ms) > 0 && ::read(fd, &c, 1) == 1 && c != '\n') reply += c;
  ::close(fd);
  return reply;
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

std::vector<MountStatus> list_mounts() {
  std::vector<MountStatus> out;
  fs::path dir = control_directory();
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".sock") continue;
    auto reply = ask(e.path(), "status");
    if (!reply) {
      // Nobody listens: the process is gone (killed); the socket is stale.
      std::error_code ec;
      fs::remove(e.path(), ec);
      continue;
    }
    if (reply->empty()) continue;  // alive but busy: leave its socket alone
    try {
      MountStatus s = status_from_json(*reply);
      s.socket = e.path();
      out.push_back(std::move(s));
    } catch (const std::exception&) {
    }
  }
  return out;
}

bool is_mounted(const fs::path& path) {
  std::ifstream info("/proc/self/mountinfo");
  std::string line;
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(path, ec);
  while (std::getline(info, line)) {
    std::istringstream in(line);
    std::string id, parent, dev, root, point;
    in >> id >> parent >> dev >> root >> point;
    // mountinfo escapes spaces as \040.
    std::string decoded;
    for (std::size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size()) {
        decoded += static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        decoded += point[i];
      }
    }
    if (decoded == canonical.string() || decoded == path.string()) return true;
  }
  return false;
}

std::uint64_t export_from_mount(const MountStatus& m, const std::string& object, const std::string& destination) {
  // Tabs and newlines would break the one-line request: never in a path we send.
  for (const std::string* s : {&object, &destination})
    if (s->find_first_of("\t\n") != std::string::npos)
      throw Error(ErrorCode::kUsage, "paths with tabs or newlines cannot be exported");
  auto reply = ask(m.socket, "export\t" + object + "\t" + destination, 60000);
  if (!reply) throw Error(ErrorCode::kIo, "the coffer at " + m.mountpoint + " is no longer open");
  if (reply->rfind("ok ", 0) == 0) return std::strtoull(reply->c_str() + 3, nullptr, 10);
  if (reply->rfind("error ", 0) == 0) throw Error(ErrorCode::kIo, reply->substr(6));
  throw Error(ErrorCode::kIo, "the coffer did not answer the export in time");
}

LockResult lock_mount(const MountStatus& m, std::chrono::seconds timeout) {
  // pidfd lets us wait for exactly that process to end.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, m.pid, 0));
  LockResult result;
  auto reply = ask(m.socket, "lock", static_cast<int>(timeout.count() * 1000));
  if (!reply && !process_alive(m.pid)) {
    if (pidfd >= 0) ::close(pidfd);
    return result;
  }
  try {
    if (reply && !reply->empty()) {
      auto j = nlohmann::json::parse(*reply);
      result.lock_ms = j.value("lock_ms", -1);
      result.held_open_by = j.value("held_open_by", std::vector<std::string>{});
      result.error = j.value("error", std::string());
    }
  } catch (const std::exception&) {
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int ms = static_cast<int>(timeout.count() * 1000);
    int r = ::poll(&p, 1, ms);
    ::close(pidfd);
    if (r <= 0)
      throw Error(ErrorCode::kBusy, "the coffer process " + std::to_string(m.pid) + " did not finish locking within " +
                                        std::to_string(timeout.count()) + " s");
  } else {
    while (process_alive(m.pid)) {
      if (std::chrono::steady_clock::now() > deadline)
        throw Error(ErrorCode::kBusy, "the coffer process did not finish locking");
      ::usleep(20000);
    }
  }
  while (is_mounted(m.mountpoint)) {
    if (std::chrono::steady_clock::now() > deadline)
      throw Error(ErrorCode::kIo, m.mountpoint + " is still mounted after locking");
    ::usleep(20000);
  }
  return result;
}

}  // namespace coffer::fusefs
