// A sandboxed session's namespaces and the tracer checks; see isolation.h.
#include "coffer/guard/isolation.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "coffer/error.h"
#include "coffer/unique_fd.h"

namespace coffer::guard {
namespace fs = std::filesystem;
namespace {

Error io_error(const std::string& what) {
  const int err = errno;
  return Error(ErrorCode::kIo, what + ": " + std::strerror(err));
}

// A /proc text of at most 64 KiB; nullopt if it cannot be read.
std::optional<std::string> read_small(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 65536) return std::nullopt;
  }
}

void write_proc_file(const char* path, const std::string& text) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd.valid() || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw io_error(std::string("cannot write ") + path);
}

void loopback_up() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) throw io_error("cannot open a socket in the session's network");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) throw io_error("cannot read the session's loopback interface");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) throw io_error("cannot bring up the session's loopback interface");
}

void drop_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) throw io_error("cannot drop the session's capabilities");
}

// Binds ORIGINAL (opened before the tmpfs covered it) onto a placeholder
// of the same kind at TARGET.
void bind_back(const UniqueFd& original, const fs::path& target) {
  struct stat st {};
  if (::fstat(original.get(), &st) != 0) throw io_error("cannot examine " + target.string());
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(target.c_str(), 0700) != 0 && errno != EEXIST) throw io_error("cannot create " + target.string());
  } else {
    UniqueFd placeholder(::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    if (!placeholder.valid()) throw io_error("cannot create " + target.string());
  }
  const std::string source = "/proc/self/fd/" + std::to_string(original.get());
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    throw io_error("cannot keep " + target.string() + " visible in the session");
}

bool hide_one(const fs::path& path, const std::vector<fs::path>& keep) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;
  if (!S_ISDIR(st.st_mode)) {
    if (::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr) != 0)
      throw io_error("cannot hide " + path.string() + " from the session");
    return true;
  }
  std::vector<std::pair<UniqueFd, fs::path>> kept;
  for (const fs::path& k : kept_below(path, keep)) {
    UniqueFd fd(::open(k.c_str(), O_PATH | O_CLOEXEC));
    if (fd.valid()) kept.emplace_back(std::move(fd), k);
  }
  const std::string options =
      "mode=0700,size=64k,uid=" + std::to_string(::geteuid()) + ",gid=" + std::to_string(::getegid());
  if (::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.c_str()) != 0)
    throw io_error("cannot hide " + path.string() + " from the session");
  for (const auto& [fd, target] : kept) bind_back(fd, target);
  return true;
}

}  // namespace

std::optional<pid_t> parse_tracer_pid(std::string_view text) {
  constexpr std::string_view kKey = "TracerPid:";
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    std::string_view line = text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    if (line.substr(0, kKey.size()) == kKey) {
      std::string_view value = line.substr(kKey.size());
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      pid_t pid = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), pid);
      if (ec != std::errc() || ptr != value.data() + value.size() || pid < 0) return std::nullopt;
      return pid;
    }
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return std::nullopt;
}

std::optional<pid_t> tracer_of_self(const fs::path& proc) {
  auto text = read_small(proc / "self" / "status");
  if (!text) return std::nullopt;
  return parse_tracer_pid(*text);
}

std::string traced_refusal(std::optional<pid_t> tracer) {
  if (!tracer)
    return "cannot tell whether a debugger is attached (/proc/self/status is unreadable): a protected session does not "
           "start";
  return "coffer is being traced by process " + std::to_string(*tracer) +
         " (a debugger, strace or similar), which could read every pupil file the session shows: a protected "
         "session does not start under one; run it without the debugger";
}

std::optional<int> yama_ptrace_scope(const fs::path& proc) {
  auto text = read_small(proc / "sys" / "kernel" / "yama" / "ptrace_scope");
  if (!text) return std::nullopt;
  std::string_view v = *text;
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
  int scope = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), scope);
  if (ec != std::errc() || ptr != v.data() + v.size() || scope < 0) return std::nullopt;
  return scope;
}

bool ptrace_restricted(std::optional<int> scope) { return scope && *scope >= 1; }

std::string describe_ptrace_scope(std::optional<int> scope) {
  if (!scope)
    return "no (the kernel has no Yama): another program of the same user can read a session's memory and so the "
           "pupil data it shows";
  if (*scope == 0)
    return "no (kernel.yama.ptrace_scope = 0): another program of the same user can read a session's memory and so "
           "the pupil data it shows";
  return "yes (kernel.yama.ptrace_scope = " + std::to_string(*scope) +
         "): only the session's own ancestors (or root) can read a session's memory";
}

std::vector<fs::path> kept_below(const fs::path& hidden, const std::vector<fs::path>& paths) {
  std::vector<fs::path> out;
  const fs::path base = hidden.lexically_normal();
  for (const fs::path& p : paths) {
    fs::path n = p.lexically_normal();
    if (n == base) continue;
    fs::path rel = n.lexically_relative(base);
    if (rel.empty() || *rel.begin() == "..") continue;
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

IsolationResult isolate_session(const IsolationSpec& spec) {
  IsolationResult result;
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    if (errno != EPERM) throw io_error("cannot give the session its own network");
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS) != 0) {
      const int err = errno;
      throw Error(ErrorCode::kPolicy,
                  std::string("a protected session needs its own network, and this computer does not let a user "
                              "make one (user namespaces: ") +
                      std::strerror(err) +
                      "); ask IT to allow unprivileged user namespaces for coffer (sysctl "
                      "kernel.unprivileged_userns_clone=1, or an AppArmor profile for coffer with `userns,`)");
    }
    result.own_user_namespace = true;
    // A process that is not dumpable (coffer's main() makes itself so) has
    // its /proc/self files owned by root: the maps could not be written.
    // Dumpable only for as long as that takes.
    const int dumpable = ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (dumpable == 0 && ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) throw io_error("cannot set up the session's user");
    write_proc_file("/proc/self/setgroups", "deny");
    write_proc_file("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1\n");
    write_proc_file("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1\n");
    if (dumpable == 0 && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) throw io_error("cannot set up the session's user");
  }
  loopback_up();
  // Our mounts must not reach the teacher's namespace; theirs still reach us.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
    throw io_error("cannot make the session's mounts private");
  for (const fs::path& p : spec.hide)
    if (hide_one(p, spec.keep)) result.hidden.push_back(p);
  if (result.own_user_namespace) drop_capabilities();
  return result;
}

}  // namespace coffer::guard
