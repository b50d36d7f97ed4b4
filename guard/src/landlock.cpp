// Landlock through raw system calls: glibc 2.36 has no wrappers, and
// Bookworm's linux-libc-dev 6.1 headers know only ABI <= 2, so the newer
// constants and the three-word ruleset attribute are declared here.
#include "coffer/guard/landlock.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>

#include "coffer/error.h"
#include "coffer/proc.h"
#include "coffer/unique_dir.h"
#include "coffer/unique_fd.h"

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif
#ifndef LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON
#define LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON (1U << 1)
#endif

namespace coffer::guard {
namespace fs = std::filesystem;
namespace {

// struct landlock_ruleset_attr as of ABI 6. Kernels with an older ABI accept
// the larger struct as long as the fields they do not know are zero.
struct RulesetAttr {
  std::uint64_t handled_access_fs = 0;
  std::uint64_t handled_access_net = 0;
  std::uint64_t scoped = 0;
};

constexpr const char* kNeedsLandlock =
    "the sandboxed protection level needs Landlock: Linux 5.13 or later with landlock in the "
    "lsm= boot parameter";

constexpr std::uint64_t kReadRights =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// The only rights a rule on a non-directory may carry (others give EINVAL).
constexpr std::uint64_t kFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                      LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
                                      LANDLOCK_ACCESS_FS_IOCTL_DEV;
// WRITE_FILE and TRUNCATE always go together: creat() needs TRUNCATE on an
// existing file, and O_RDONLY|O_TRUNC truncates without WRITE_FILE.
// IOCTL_DEV so terminals opened below /dev/pts can be configured.
constexpr std::uint64_t kWriteFileRights =
    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV;
// No MAKE_CHAR or MAKE_BLOCK: a device node made in an approved directory
// would be a writable door to the USB stick's raw disk.
constexpr std::uint64_t kWriteDirRights =
    kWriteFileRights | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |
    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
    LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER;

struct Feature {
  int abi;
  const char* name;
  bool LandlockStatus::*flag;
};
constexpr std::array<Feature, 8> kFeatures = {{
    {1, "write restriction", &LandlockStatus::fs},
    {2, "rename and link across directories", &LandlockStatus::refer},
    {3, "truncate", &LandlockStatus::truncate},
    {4, "TCP connect/bind", &LandlockStatus::net_tcp},
    {5, "device ioctl", &LandlockStatus::ioctl_dev},
    {6, "abstract UNIX socket scope", &LandlockStatus::scope_abstract_unix},
    {6, "signal scope", &LandlockStatus::scope_signal},
    {7, "audit log of denials after exec", &LandlockStatus::log_flags},
}};

// Every filesystem right the ABI knows: an unhandled right is allowed
// everywhere, so anything left out here would be a way to write.
std::uint64_t handled_fs_rights(int abi) {
  std::uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 5) rights |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  return rights;
}

int query_abi() {
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi > 0 ? static_cast<int>(abi) : 0;  // ENOSYS or EOPNOTSUPP: none
}

LandlockStatus features_of(int abi) {
  LandlockStatus status;
  status.abi = abi;
  for (const Feature& f : kFeatures) status.*f.flag = abi >= f.abi;
  return status;
}

// errno is read before any string is built.
Error io_error(const char* what, const fs::path& path = {}) {
  const int err = errno;
  std::string message = what;
  if (!path.empty()) message += " " + path.string();
  return Error(ErrorCode::kIo, message + ": " + std::strerror(err));
}

void add_rule(const UniqueFd& ruleset, const fs::path& path, std::uint64_t rights) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return;  // an absent destination grants nothing
    throw io_error("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw io_error("cannot examine", path);
  if (!S_ISDIR(st.st_mode)) rights &= kFileRights;
  landlock_path_beneath_attr rule{};
  rule.allowed_access = rights;
  rule.parent_fd = fd.get();
  if (::syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
    throw io_error("cannot add a sandbox rule for", path);
}

}  // namespace

LandlockStatus landlock_status() { return features_of(query_abi()); }

std::vector<std::string> describe(const LandlockStatus& status) {
  if (status.abi < 1) return {"Landlock: not available on this kernel", kNeedsLandlock};
  std::vector<std::string> lines{"Landlock ABI " + std::to_string(status.abi)};
  for (const Feature& f : kFeatures) {
    const char* state = status.*f.flag ? "active" : status.abi >= f.abi ? "not used" : "not available on this kernel";
    lines.push_back(std::string(f.name) + " (ABI " + std::to_string(f.abi) + "): " + state);
  }
  return lines;
}

LandlockStatus restrict_self(const SandboxSpec& spec) {
  const int abi = query_abi();
  if (abi < 1) throw Error(ErrorCode::kPolicy, kNeedsLandlock);
  LandlockStatus applied = features_of(abi);

  RulesetAttr attr;
  attr.handled_access_fs = handled_fs_rights(abi);
  // Handled with no rule: every TCP connect and bind is denied.
  applied.net_tcp = applied.net_tcp && spec.deny_tcp;
  if (applied.net_tcp) attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
  // Signals only. Scoping abstract UNIX sockets too would cut X11 programs
  // off from the X server's abstract socket @/tmp/.X11-unix/X0.
  applied.scope_abstract_unix = false;
  applied.scope_signal = applied.scope_signal && spec.scope;
  if (applied.scope_signal) attr.scoped = LANDLOCK_SCOPE_SIGNAL;

  UniqueFd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
  if (!ruleset.valid()) throw io_error("cannot create the Landlock ruleset");
  add_rule(ruleset, "/", kReadRights);
  for (const fs::path& dir : spec.writable_dirs) add_rule(ruleset, dir, kWriteDirRights & attr.handled_access_fs);
  for (const fs::path& file : spec.writable_files) add_rule(ruleset, file, kWriteFileRights & attr.handled_access_fs);

  // Also required by landlock_restrict_self() without CAP_SYS_ADMIN, and no
  // set-user-ID program run inside may shed the sandbox's limits.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw io_error("cannot set no_new_privs");
  long rc = -1;
  if (abi >= 7) {
    // Without this flag the kernel logs nothing for the program we exec.
    rc = ::syscall(SYS_landlock_restrict_self, ruleset.get(), LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON);
    applied.log_flags = rc == 0;
    if (rc != 0 && errno != EINVAL) throw io_error("cannot enforce the Landlock ruleset");
  }
  if (rc != 0 && ::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0)
    throw io_error("cannot enforce the Landlock ruleset");
  return applied;
}

void close_fds_from(int first) {
  if (::close_range(static_cast<unsigned>(first), ~0U, 0) == 0) return;
  // Kernels before 5.9 have no close_range: close what /proc lists.
  UniqueDir dir(::opendir("/proc/self/fd"));
  if (!dir) throw io_error("cannot list open file descriptors");
  std::vector<int> open_fds;
  while (const dirent* entry = ::readdir(dir.get())) {
    std::string_view name = entry->d_name;
    int fd = -1;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
    if (ec == std::errc() && end == name.data() + name.size() && fd >= first && fd != ::dirfd(dir.get()))
      open_fds.push_back(fd);
  }
  for (int fd : open_fds) ::close(fd);
}

std::optional<std::string> unsafe_stdio(const std::function<bool(const fs::path&)>& writable_ok) {
  static constexpr std::array<const char*, 3> kNames = {"standard input", "standard output", "standard error"};
  for (int fd = 0; fd < 3; ++fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) continue;  // closed, or cannot write
    struct stat st {};
    if (::fstat(fd, &st) != 0) continue;
    // A terminal is the screen; /dev/null, /dev/zero and /dev/full keep
    // nothing.
    if (::isatty(fd) == 1) continue;
    if (S_ISCHR(st.st_mode) && ::major(st.st_rdev) == 1 &&
        (::minor(st.st_rdev) == 3 || ::minor(st.st_rdev) == 5 || ::minor(st.st_rdev) == 7))
      continue;
    std::string path = read_link("/proc/self/fd/" + std::to_string(fd)).value_or(std::string());
    const std::string name = kNames[fd];
    // A pipe or socket leads to a program outside the session (nothing runs
    // inside it yet), which may keep or send on whatever it receives.
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
      std::string message = name;
      message += S_ISFIFO(st.st_mode) ? " is a pipe" : " is a socket";
      message +=
          " to a program outside the protected session, which could save or send what the session prints: run it "
          "on a terminal (not in a pipe or $(...)), with ";
      message += name;
      message +=
          " to /dev/null, or redirected into the coffer or an approved folder; to take data out, use `coffer "
          "export` outside the session";
      return message;
    }
    if (S_ISREG(st.st_mode) && !path.empty() && path.front() == '/' && writable_ok(path)) continue;
    return name + " is redirected to " + (path.empty() ? "a file or device" : path) +
           ", outside the coffer and the approved destinations: run without the redirection";
  }
  return std::nullopt;
}

}  // namespace coffer::guard
