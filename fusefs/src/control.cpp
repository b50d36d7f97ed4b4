// Control sockets: paths, the request grammar, the client side and the
// server side; see control.h. What the server answers is decided in
// daemon.cpp (status, lock) and export.cpp.
#include "coffer/fusefs/control.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
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
#include <string_view>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/unix_socket.h"

namespace coffer::fusefs {
namespace fs = std::filesystem;

namespace {

// A real directory (not a link) of this user's, 0700.
bool is_private_directory(const fs::path& dir) {
  struct stat st {};
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 077) == 0;
}

void make_directory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw Error(ErrorCode::kIo, "cannot create " + dir.string() + ": " + std::strerror(errno));
}

// The user's own home: $HOME if absolute, else the password database's.
std::optional<fs::path> home_directory() {
  if (const char* home = std::getenv("HOME"); home && home[0] == '/') return fs::path(home);
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_dir &&
      found->pw_dir[0] == '/')
    return fs::path(found->pw_dir);
  return std::nullopt;
}

// Where the sockets may be, in order: $XDG_RUNTIME_DIR/coffer when that is
// usable; /run/coffer for root; otherwise /tmp/coffer-<uid> and, because any
// user can take that name in /tmp first, ~/.coffer-run.
std::vector<fs::path> candidate_directories() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg && ::access(xdg, W_OK) == 0)
    return {fs::path(xdg) / "coffer"};
  if (::geteuid() == 0) return {"/run/coffer"};
  std::vector<fs::path> out{"/tmp/coffer-" + std::to_string(::geteuid())};
  if (auto home = home_directory()) out.push_back(*home / ".coffer-run");
  return out;
}

}  // namespace

fs::path control_directory() {
  const std::vector<fs::path> candidates = candidate_directories();
  for (const auto& dir : candidates) {
    make_directory(dir);
    // A directory someone else made (e.g. in /tmp) must not be trusted: the
    // next candidate, if any, is used instead.
    if (is_private_directory(dir)) return dir;
  }
  std::string names;
  for (const auto& dir : candidates) names += (names.empty() ? "" : " and ") + dir.string();
  throw Error(ErrorCode::kPolicy,
              names + (candidates.size() > 1 ? " are not private directories" : " is not a private directory") +
                  " of this user; remove " + (candidates.size() > 1 ? "them" : "it") + " and try again");
}

std::vector<fs::path> control_directories() {
  std::vector<fs::path> out;
  for (const auto& dir : candidate_directories())
    if (is_private_directory(dir)) out.push_back(dir);
  return out;
}

fs::path control_socket_path(const std::string& vault_id_hex) { return control_directory() / (vault_id_hex + ".sock"); }

namespace {
// Paths are bytes, not necessarily UTF-8: they also travel hex-encoded so
// the client gets them back exactly (JSON strings must be UTF-8).
std::string hex_of(const std::string& s) {
  return keystore::to_hex({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
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

UnixAddress address_of(const fs::path& path) {
  auto addr = unix_address(path.native());
  if (!addr) throw Error(ErrorCode::kIo, "control socket path too long: " + path.string());
  return *addr;
}

// Connects, sends one line, returns the first reply line: empty if the
// process answered nothing in time, nullopt if nothing listens any more.
std::optional<std::string> ask(const fs::path& socket_path, const std::string& command, int timeout_ms = 5000) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return std::nullopt;
  UnixAddress addr;
  try {
    addr = address_of(socket_path);
  } catch (const Error&) {
    return std::nullopt;
  }
  if (::connect(fd.get(), addr.get(), addr.size) != 0) return std::nullopt;
  std::string line = command + "\n";
  (void)!::write(fd.get(), line.data(), line.size());
  std::string reply;
  char c = 0;
  pollfd p{fd.get(), POLLIN, 0};
  while (::poll(&p, 1, timeout_ms) > 0 && ::read(fd.get(), &c, 1) == 1 && c != '\n') reply += c;
  return reply;
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

std::vector<MountStatus> list_mounts() {
  std::vector<MountStatus> out;
  // Every private candidate: a mount made while /tmp/coffer-<uid> was
  // someone else's has its socket under the home directory, and is found
  // there even after that name has been freed.
  std::vector<fs::path> dirs = control_directories();
  if (dirs.empty()) dirs.push_back(control_directory());  // made here, or the reason it cannot be
  for (const auto& dir : dirs) {
    for (auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".sock") continue;
      auto reply = ask(e.path(), encode_request(ControlRequest::status()));
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
  std::string request = encode_request(ControlRequest::export_of(object, destination));
  auto reply = ask(m.socket, request, 60000);
  if (!reply) throw Error(ErrorCode::kIo, "the coffer at " + m.mountpoint + " is no longer open");
  return parse_export_reply(*reply);
}

LockResult lock_mount(const MountStatus& m, std::chrono::seconds timeout) {
  // pidfd lets us wait for exactly that process to end.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, m.pid, 0)));
  LockResult result;
  auto reply = ask(m.socket, encode_request(ControlRequest::lock()), static_cast<int>(timeout.count() * 1000));
  if (!reply && !process_alive(m.pid)) return result;
  if (reply && !reply->empty()) result = parse_lock_reply(*reply);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (pidfd.valid()) {
    pollfd p{pidfd.get(), POLLIN, 0};
    int ms = static_cast<int>(timeout.count() * 1000);
    int r = ::poll(&p, 1, ms);
    pidfd.reset();
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

// --- the request grammar ---

namespace {
constexpr std::string_view kExportPrefix = "export\t";
}

std::string encode_request(const ControlRequest& r) {
  switch (r.kind) {
    case ControlRequest::Kind::kStatus:
      return "status";
    case ControlRequest::Kind::kLock:
      return "lock";
    case ControlRequest::Kind::kExport:
      // Tabs and newlines would break the one-line request: never in a path we send.
      for (const std::string* s : {&r.object, &r.destination})
        if (s->find_first_of("\t\n") != std::string::npos)
          throw Error(ErrorCode::kUsage, "paths with tabs or newlines cannot be exported");
      return std::string(kExportPrefix) + r.object + "\t" + r.destination;
    case ControlRequest::Kind::kBadExport:
    case ControlRequest::Kind::kUnknown:
      break;
  }
  throw Error(ErrorCode::kUsage, "not a control request");
}

ControlRequest parse_request(const std::string& line) {
  ControlRequest r;
  if (line == "status") {
    r.kind = ControlRequest::Kind::kStatus;
  } else if (line == "lock") {
    r.kind = ControlRequest::Kind::kLock;
  } else if (line.rfind(kExportPrefix, 0) == 0) {
    auto tab = line.find('\t', kExportPrefix.size());
    if (tab == std::string::npos) {
      r.kind = ControlRequest::Kind::kBadExport;
    } else {
      r.kind = ControlRequest::Kind::kExport;
      r.object = line.substr(kExportPrefix.size(), tab - kExportPrefix.size());
      r.destination = line.substr(tab + 1);
    }
  }
  return r;
}

std::string encode_export_reply(std::uint64_t bytes) { return "ok " + std::to_string(bytes); }

std::string encode_export_error(const std::string& message) { return "error " + message; }

std::string encode_export_error(const Error& error) {
  if (error.remedy() == Remedy::kNone) return encode_export_error(std::string(error.what()));
  return "error#" + std::to_string(static_cast<int>(error.remedy())) + " " + error.what();
}

std::uint64_t parse_export_reply(const std::string& reply) {
  if (reply.rfind("ok ", 0) == 0) return std::strtoull(reply.c_str() + 3, nullptr, 10);
  if (reply.rfind("error ", 0) == 0) throw Error(ErrorCode::kIo, reply.substr(6));
  if (reply.rfind("error#", 0) == 0) {
    // The remedy travels as its number, so the CLI words it as it would its own.
    const std::size_t space = reply.find(' ');
    const int n = std::atoi(reply.substr(6, space == std::string::npos ? 0 : space - 6).c_str());
    const bool known = n > 0 && n <= static_cast<int>(kLastRemedy);
    throw Error(ErrorCode::kIo, space == std::string::npos ? std::string() : reply.substr(space + 1),
                known ? static_cast<Remedy>(n) : Remedy::kNone);
  }
  throw Error(ErrorCode::kIo, "the coffer did not answer the export in time");
}

std::string encode_lock_reply(const LockReply& r) {
  nlohmann::json j{
      {"locked", r.locked}, {"reason", r.reason}, {"held_open_by", r.held_open_by}, {"lock_ms", r.lock_ms}};
  if (!r.error.empty()) j["error"] = r.error;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

LockResult parse_lock_reply(const std::string& line) {
  LockResult result;
  try {
    auto j = nlohmann::json::parse(line);
    result.lock_ms = j.value("lock_ms", -1);
    result.held_open_by = j.value("held_open_by", std::vector<std::string>{});
    result.error = j.value("error", std::string());
  } catch (const std::exception&) {
    return LockResult{};
  }
  return result;
}

// --- the server side ---

ControlServer ControlServer::listen(const fs::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw Error(ErrorCode::kIo, "cannot create the control socket");
  UnixAddress addr = address_of(path);
  ::unlink(path.c_str());  // stale from a killed process (the flock proves it is dead)
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), addr.get(), addr.size);
  ::umask(old);
  if (rc != 0 || ::listen(fd.get(), 8) != 0)
    throw Error(ErrorCode::kIo, "cannot listen on " + path.string() + ": " + std::strerror(errno));
  return ControlServer(std::move(fd));
}

std::optional<ControlServer::Client> ControlServer::accept() {
  UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  Client client;
  ucred cred{};
  socklen_t len = sizeof cred;
  std::string line;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && (cred.uid == ::geteuid() || cred.uid == 0)) {
    char c = 0;
    pollfd cp{fd.get(), POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (std::chrono::steady_clock::now() < deadline && ::poll(&cp, 1, 50) >= 0 && line.size() < 16384) {
      if (!(cp.revents & POLLIN)) continue;
      if (::read(fd.get(), &c, 1) != 1 || c == '\n') break;
      line += c;
    }
  }
  client.uid = cred.uid;
  client.pid = cred.pid;
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; older headers lack it
#endif
  int pidfd = -1;
  socklen_t pidfd_len = sizeof pidfd;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &pidfd_len) == 0 && pidfd >= 0)
    client.pidfd = UniqueFd(pidfd);
  client.fd = std::move(fd);
  client.request = parse_request(line);
  return client;
}

void ControlServer::Client::reply(const std::string& line) {
  std::string text = line + "\n";
  (void)!::write(fd.get(), text.data(), text.size());
}

}  // namespace coffer::fusefs
