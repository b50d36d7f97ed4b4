// The `coffer guard` service: a fanotify permission-event loop, the
// registration socket and the mount watcher, all on one thread so that the
// registry is read by the event path without locks. Rules that keep it from
// deadlocking the machine it guards (copy-prevention.md §2, fapolicyd):
// answer every event before logging or reporting anything; never open a
// file on a guarded filesystem except through the event's own descriptor;
// never read another process's maps, cmdline or environ; do anything that
// can hang on a dead server (marking a network or FUSE mount) in a child
// process with a deadline.
#include "coffer/guard/fanotify_guard.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "coffer/error.h"
#include "coffer/paths.h"
#include "coffer/proc.h"
#include "coffer/unix_socket.h"

namespace coffer::guard {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxConnections = 1024;
constexpr std::size_t kMaxConnectionsPerUid = 32;
constexpr std::size_t kMaxOutBuffer = 1u << 20;  // a coffer that stops reading is dropped
constexpr auto kRegisterTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxMarkJobs = 16;
constexpr auto kMarkDeadline = std::chrono::seconds(3);
constexpr std::size_t kMaxOpenWriters = 256;
constexpr std::size_t kMaxProcFile = 64u << 20;
// Exit codes of the mark child beyond errno values.
constexpr int kMarkMoved = 250;
constexpr int kMarkCreds = 251;

const char* const kNeedsRoot = "coffer guard must run as root (it is the coffer-guard system service)";

Error io_error(const std::string& what) {
  const int err = errno;
  return Error(ErrorCode::kIo, what + ": " + std::strerror(err));
}

void default_log(const std::string& line) { std::cerr << "coffer guard: " << line << std::endl; }

std::string normal_path(const std::string& p) {
  std::string s = fs::path(p).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Reads a small /proc or sysfs file with plain syscalls (no iostreams on
// the event path). nullopt if it cannot be opened or read.
std::optional<std::string> read_proc_file(const std::string& path, std::size_t cap = kMaxProcFile) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return std::nullopt;
  std::string out;
  std::array<char, 8192> buf{};
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
    if (out.size() > cap) return std::nullopt;
  }
  return out;
}

// readlink of a /proc magic link: the kernel's d_path, no filesystem call;
// "" when it cannot be read.
std::string link_text(const std::string& path) { return read_link(path).value_or(std::string()); }

// From /proc/TID/status: which process the thread belongs to and its uids.
struct TaskStatus {
  pid_t tgid = 0;
  uid_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
};

std::optional<TaskStatus> read_status(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  // Tgid and Uid are in the first dozen lines; 4 KiB holds them.
  char buf[4096];
  ssize_t n;
  do n = ::read(fd.get(), buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  TaskStatus st;
  bool have_tgid = false, have_uid = false;
  for (char* line = buf; line && *line;) {
    char* nl = std::strchr(line, '\n');
    if (nl) *nl = '\0';
    unsigned a = 0, b = 0, c = 0, d = 0;
    int t = 0;
    if (std::sscanf(line, "Tgid:\t%d", &t) == 1) {
      st.tgid = t;
      have_tgid = true;
    } else if (std::sscanf(line, "Uid:\t%u\t%u\t%u\t%u", &a, &b, &c, &d) == 4) {
      st.ruid = a;
      st.euid = b;
      st.suid = c;
      st.fsuid = d;
      have_uid = true;
    }
    if (have_tgid && have_uid) return st;
    line = nl ? nl + 1 : nullptr;
  }
  return std::nullopt;
}

// The opener's open flags, read from /proc/TID/syscall while it is blocked
// in the open (copy-prevention.md §2: the event itself carries none).
struct OpenerFlags {
  bool known = false;
  std::uint64_t flags = 0;
  long syscall = -1;
};

bool read_remote_u64(pid_t tid, std::uint64_t address, std::uint64_t& out) {
  iovec local{&out, sizeof out};
  iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(address)), sizeof out};
  return ::process_vm_readv(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(sizeof out);
}

OpenerFlags opener_flags(pid_t tid) {
  OpenerFlags r;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/syscall", static_cast<int>(tid));
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return r;
  char buf[512];
  // The event can reach us before the opener has gone to sleep waiting for
  // the answer; until it does, the kernel shows "running" instead of its
  // arguments. It sleeps within microseconds: retry for up to ~20 ms.
  for (int attempt = 0;; ++attempt) {
    ssize_t n;
    do n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return r;
    buf[n] = '\0';
    if (std::strncmp(buf, "running", 7) != 0) break;
    if (attempt >= 400) return r;
    if (attempt < 50) ::sched_yield();
    else ::usleep(50);
  }
  // "NR 0xARG1 0xARG2 ... 0xARG6 0xSP 0xPC", or "running", or "-1 SP PC".
  char* end = nullptr;
  errno = 0;
  long nr = std::strtol(buf, &end, 10);
  if (end == buf || errno != 0 || nr < 0) return r;
  r.syscall = nr;
  std::array<std::uint64_t, 6> arg{};
  char* p = end;
  for (auto& a : arg) {
    errno = 0;
    a = std::strtoull(p, &end, 16);
    if (end == p || errno != 0) return r;
    p = end;
  }
  switch (nr) {
#ifdef SYS_open
    case SYS_open:
      r.flags = arg[1];
      r.known = true;
      break;
#endif
#ifdef SYS_creat
    case SYS_creat:
      r.flags = O_CREAT | O_WRONLY | O_TRUNC;
      r.known = true;
      break;
#endif
    case SYS_openat:
    case SYS_open_by_handle_at:
      r.flags = arg[2];
      r.known = true;
      break;
#ifdef SYS_openat2
    case SYS_openat2:
      // struct open_how starts with its u64 flags; ARG4 is its size.
      if (arg[3] >= sizeof(std::uint64_t) && read_remote_u64(tid, arg[2], r.flags)) r.known = true;
      break;
#endif
    // The kernel opens the program (and an ELF interpreter) read-only.
    case SYS_execve:
    case SYS_execveat:
      r.flags = O_RDONLY;
      r.known = true;
      break;
    default:
      break;  // io_uring workers, kernel-internal opens...: unknown
  }
  return r;
}

bool is_write(const OpenerFlags& f) {
  if (!f.known) return true;  // unknown counts as write
  return (f.flags & O_ACCMODE) != O_RDONLY || (f.flags & (O_TRUNC | O_CREAT)) != 0;
}

std::string flags_text(const OpenerFlags& f) {
  if (!f.known) return "unknown";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#" PRIo64, f.flags);
  return buf;
}

std::string errno_text(int err) {
  if (err == kMarkMoved) return "the mount moved while it was being marked";
  if (err == kMarkCreds) return "could not take on the FUSE mount owner's identity";
  return std::strerror(err);
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

bool root_owned_not_writable(const struct stat& st) {
  return st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

using Dev = std::pair<std::uint32_t, std::uint32_t>;

// An open directory stream, closed once.
struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};
using Dir = std::unique_ptr<DIR, DirCloser>;

}  // namespace

std::optional<std::string> coffer_mount_problem(std::string_view mountinfo_text, uid_t uid,
                                                std::string_view mountpoint) {
  std::vector<MountEntry> table;
  try {
    table = parse_mountinfo(mountinfo_text);
  } catch (const Error&) {
    return "the copy guard could not read your mount table";
  }
  const std::string mp = normal_path(std::string(mountpoint));
  const MountEntry* top = nullptr;
  for (const MountEntry& e : table)
    if (e.mount_point == mp) top = &e;  // later lines are mounted on top
  if (!top) return "no coffer is mounted at " + mp;
  if (top->fs_type != "fuse.coffer") return mp + " is not a coffer mount";
  auto owner = super_option(*top, "user_id");
  if (!owner || *owner != std::to_string(uid)) return "the coffer at " + mp + " is not yours";
  return std::nullopt;
}

std::optional<std::string> verify_coffer_registration(const PeerCredentials& peer, const std::string& mountpoint) {
  const std::string proc = "/proc/" + std::to_string(peer.pid);
  auto mountinfo = read_proc_file(proc + "/mountinfo");
  if (!mountinfo) return "the copy guard could not read your mount table";
  if (auto problem = coffer_mount_problem(*mountinfo, peer.uid, mountpoint)) return problem;
  // stat, never open: the program may live on a guarded filesystem, and an
  // open there would wait for this very thread's answer.
  struct stat peer_exe {
  }, own_exe{};
  if (::stat((proc + "/exe").c_str(), &peer_exe) != 0 || ::stat("/proc/self/exe", &own_exe) != 0)
    return "the copy guard could not identify your program";
  const char* refusal = "only the coffer program may register with the copy guard";
  if (!root_owned_not_writable(peer_exe)) return refusal;
  if (same_file(peer_exe, own_exe)) return std::nullopt;
  // After an upgrade the guard still runs the replaced file: accept the
  // program now installed at the path it was started from.
  std::string own_path = link_text("/proc/self/exe");
  constexpr std::string_view kDeleted = " (deleted)";
  if (own_path.size() > kDeleted.size() &&
      own_path.compare(own_path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0)
    own_path.resize(own_path.size() - kDeleted.size());
  struct stat installed {};
  if (!own_path.empty() && ::stat(own_path.c_str(), &installed) == 0 && root_owned_not_writable(installed) &&
      same_file(peer_exe, installed))
    return std::nullopt;
  return refusal;
}

struct GuardService::Impl {
  // ---- configuration and fixed handles ----
  GuardConfig config;
  std::function<void(const std::string&)> log;
  RegistrationVerifier verify;
  const pid_t self_pid = ::getpid();
  UniqueFd fan;        // the fanotify group: closed first at shutdown
  UniqueFd stop_fd;    // eventfd written by request_stop()
  UniqueFd listener;   // the registration socket
  UniqueFd mountinfo;  // polled for POLLPRI on mount changes
  struct stat socket_stat {};
  MediaClassifier classifier;

  // ---- mounts ----
  struct MountDecision {
    MountEntry entry;
    MediaKind kind = MediaKind::kUnknown;
    bool guard = false;
  };
  std::map<std::uint64_t, MountDecision> decisions;  // by mount id; entry rechecked
  struct MarkTarget {
    std::string mount_point;
    std::uint64_t mount_id = 0;
    Dev dev;
    MediaKind kind = MediaKind::kUnknown;
    bool as_owner = false;  // a user's FUSE mount: root may not look inside it
    uid_t owner_uid = 0;
    gid_t owner_gid = 0;
    std::uint64_t round = 0;
  };
  struct MarkJob {
    MarkTarget target;
    pid_t pid = -1;
    UniqueFd pidfd;
    Clock::time_point deadline;
    bool killed = false;
  };
  struct Marked {
    std::string mount_point;
    MediaKind kind = MediaKind::kUnknown;
  };
  std::uint64_t round = 0;
  std::deque<MarkTarget> mark_queue;
  std::vector<MarkJob> jobs;
  std::map<Dev, std::uint64_t> latest_round;
  std::map<Dev, Marked> marked;
  std::map<Dev, std::string> unmarked;  // "PATH: reason"
  // Marks exist only while some coffer is registered (see activate()).
  bool active = false;
  bool flush_pending = false;       // flush again once in-flight mark jobs end
  std::vector<int> awaiting_reply;  // registered, answered once marking is done

  // ---- registrations ----
  struct Connection {
    UniqueFd fd;
    PeerCredentials peer;
    LineBuffer in;
    std::string out;
    bool registered = false;
    bool drop = false;
    std::string mountpoint;
    std::vector<std::string> approved;
    Clock::time_point accepted_at;
  };
  std::map<int, Connection> conns;                // by descriptor
  std::map<uid_t, std::vector<int>> regs_by_uid;  // registered connections
  std::multiset<pid_t> daemon_pids;

  Clock::time_point last_heartbeat{};
  alignas(fanotify_event_metadata) char event_buf[16384];

  explicit Impl(GuardConfig c) : config(std::move(c)), classifier(checked_media(config.media)) {
    log = config.log ? config.log : default_log;
    verify = config.verify_registration ? config.verify_registration : verify_coffer_registration;
  }

  static MediaConfig checked_media(MediaConfig m) {
    if (m.mountinfo_text)
      throw Error(ErrorCode::kUsage, "the copy guard needs a real mount table to watch, not injected text");
    return m;
  }

  void setup() {
    stop_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd.valid()) throw io_error("cannot create an eventfd");

    // FAN_REPORT_TID: /proc/TID/syscall of the very thread that is opening.
    // An unlimited queue, because a full queue lets permission events through.
    int fd = ::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_TID | FAN_UNLIMITED_QUEUE,
                             O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (fd < 0) {
      if (errno == EPERM) throw Error(ErrorCode::kPolicy, kNeedsRoot);
      if (errno == EINVAL)
        throw Error(ErrorCode::kIo, "this kernel's fanotify cannot report thread ids (Linux 4.20 or later is needed)");
      throw io_error("cannot start fanotify");
    }
    fan.reset(fd);

    mountinfo.reset(::open(config.media.mountinfo_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!mountinfo.valid()) throw io_error("cannot open " + config.media.mountinfo_path.string());
    drain_mountinfo();

    open_socket();
  }

  void open_socket() {
    const std::string path = config.socket_path.string();
    const auto addr = unix_address(path);
    if (!addr) throw Error(ErrorCode::kUsage, "the copy guard socket path is empty or too long: " + path);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw Error(ErrorCode::kIo, path + " exists and is not a socket");
      UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (probe.valid() && ::connect(probe.get(), addr->get(), addr->size) == 0)
        throw Error(ErrorCode::kBusy, "another copy guard is already running on " + path);
      ::unlink(path.c_str());  // left by a guard that died
    }
    listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!listener.valid()) throw io_error("cannot create the guard socket");
    // Anyone may connect (peer credentials are checked). The mode is set
    // through the umask at bind time: a chmod by path afterwards would
    // follow whatever a directory writer put there instead.
    mode_t old = ::umask(0111);
    int rc = ::bind(listener.get(), addr->get(), addr->size);
    ::umask(old);
    if (rc != 0) throw io_error("cannot bind the guard socket " + path);
    if (::lstat(path.c_str(), &socket_stat) != 0) throw io_error("cannot examine " + path);
    if (::listen(listener.get(), 128) != 0) throw io_error("cannot listen on " + path);
  }

  ~Impl() {
    fan.reset();  // queued opens are let through at once
    conns.clear();
    listener.reset();
    struct stat st {};
    const std::string path = config.socket_path.string();
    if (::lstat(path.c_str(), &st) == 0 && same_file(st, socket_stat)) ::unlink(path.c_str());
    for (MarkJob& j : jobs) {
      if (!j.killed) ::kill(j.pid, SIGKILL);
      ::waitpid(j.pid, nullptr, WNOHANG);
    }
  }

  // ---------------------------------------------------------------- events

  struct Verdict {
    bool allow = true;
    bool possibly_guarded = false;  // on an internal error: deny if true
    bool report = false;
    std::vector<uid_t> uids;  // registered uids the opener runs as
    pid_t tgid = 0;
    OpenerFlags flags;
    std::string path;
  };

  void decide(pid_t tid, int event_fd, Verdict& v) {
    if (regs_by_uid.empty()) return;  // nobody registered: allow, read nothing
    v.possibly_guarded = true;
    auto st = read_status(tid);
    if (!st) {
      // A thread blocked in open stays readable unless it is being killed;
      // who it was cannot be told, so it counts as a registered user's.
      v.allow = false;
      return;
    }
    if (st->tgid == self_pid) {
      v.possibly_guarded = false;
      return;
    }
    for (uid_t u : {st->ruid, st->euid, st->fsuid})
      if (regs_by_uid.count(u) && std::find(v.uids.begin(), v.uids.end(), u) == v.uids.end()) v.uids.push_back(u);
    if (v.uids.empty() || daemon_pids.count(st->tgid)) {
      v.possibly_guarded = false;
      return;
    }
    v.tgid = st->tgid;
    v.flags = opener_flags(tid);
    if (!is_write(v.flags)) return;
    v.path = link_text("/proc/self/fd/" + std::to_string(event_fd));
    if (approved_for_all(v.uids, v.path)) return;
    v.allow = false;
    v.report = true;
  }

  // Within an approved destination of every coffer the opener's user has
  // open: each coffer's own policy must allow the write.
  bool approved_for_all(const std::vector<uid_t>& uids, const std::string& path) const {
    constexpr std::string_view kDeleted = " (deleted)";
    if (path.empty() || path[0] != '/' ||
        (path.size() > kDeleted.size() && path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0))
      return false;
    for (uid_t u : uids) {
      auto it = regs_by_uid.find(u);
      if (it == regs_by_uid.end()) continue;
      for (int cfd : it->second) {
        const Connection& c = conns.at(cfd);
        if (std::none_of(c.approved.begin(), c.approved.end(),
                         [&](const std::string& a) { return path_within(path, a); }))
          return false;
      }
    }
    return true;
  }

  void respond(int event_fd, bool allow) {
    fanotify_response r{};
    r.fd = event_fd;
    r.response = allow ? FAN_ALLOW : FAN_DENY;
    for (;;) {
      if (::write(fan.get(), &r, sizeof r) == static_cast<ssize_t>(sizeof r)) return;
      if (errno != EINTR) return;  // ENOENT: the opener is gone already
    }
  }

  struct Pending {
    UniqueFd event_fd;
    Verdict verdict;
  };

  void handle_fanotify() {
    char* buf = event_buf;
    for (;;) {
      ssize_t n = ::read(fan.get(), buf, sizeof event_buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        throw io_error("cannot read fanotify events");
      }
      if (n == 0) return;
      std::vector<Pending> after;
      auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
      for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
        if (m->vers != FANOTIFY_METADATA_VERSION)
          throw Error(ErrorCode::kIo, "fanotify reports an unknown metadata version");
        if (m->fd < 0) continue;  // queue overflow: no descriptor, nothing to answer
        UniqueFd efd(m->fd);
        if (!(m->mask & FAN_OPEN_PERM)) continue;
        Verdict v;
        try {
          decide(m->pid, efd.get(), v);
        } catch (...) {
          // Every event is answered, whatever went wrong.
          v.allow = !v.possibly_guarded;
          v.report = false;
        }
        respond(efd.get(), v.allow);
        if (v.report) after.push_back({std::move(efd), std::move(v)});
      }
      // Answer first, report after: the logger may be the blocked opener.
      for (Pending& p : after) {
        try {
          report(p);
        } catch (...) {
        }
      }
    }
  }

  void report(Pending& p) {
    const Verdict& v = p.verdict;
    BlockedReport r;
    r.pid = v.tgid;
    r.exe = link_text("/proc/" + std::to_string(v.tgid) + "/exe");
    r.path = v.path;
    r.flags = flags_text(v.flags);
    // The kernel creates the file before asking. AT_STATX_DONT_SYNC: use
    // what the kernel has cached, never a round trip to a FUSE or network
    // server that may be the one stuck.
    struct statx stx {};
    bool have_stat = ::statx(p.event_fd.get(), "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_SIZE, &stx) == 0;
    r.empty_file_left = v.flags.known && (v.flags.flags & O_CREAT) && have_stat && stx.stx_size == 0;
    const std::string line = encode(r);
    for (uid_t u : v.uids) {
      auto it = regs_by_uid.find(u);
      if (it == regs_by_uid.end()) continue;
      for (int cfd : it->second) queue_send(conns.at(cfd), line);
    }
    // The journal gets the filesystem, not the file name: names on a stick
    // are often pupils' names, and the full path goes to the coffer's own
    // (encrypted) audit trail.
    std::string where = "a guarded filesystem";
    if (have_stat) {
      auto it = marked.find({stx.stx_dev_major, stx.stx_dev_minor});
      if (it != marked.end()) where = it->second.mount_point;
    }
    log("blocked a write by pid " + std::to_string(v.tgid) + " (" + (r.exe.empty() ? "?" : r.exe) + ", uid " +
        std::to_string(v.uids.front()) + ") on " + where + " (flags " + r.flags + ")");
  }

  // ---------------------------------------------------------------- mounts

  void drain_mountinfo() {
    // Reading the file to its end is what re-arms POLLPRI for this fd.
    ::lseek(mountinfo.get(), 0, SEEK_SET);
    std::array<char, 8192> buf{};
    while (::read(mountinfo.get(), buf.data(), buf.size()) > 0) {
    }
  }

  const MountDecision& decide_mount(const MountEntry& e) {
    auto it = decisions.find(e.mount_id);
    if (it != decisions.end() && it->second.entry == e) return it->second;
    MountDecision d;
    d.entry = e;
    d.kind = classifier.classify_mount(e);
    d.guard = d.kind == MediaKind::kRemovable || d.kind == MediaKind::kNetwork || d.kind == MediaKind::kOtherFuse;
    if (e.fs_type == "fuse.coffer") d.guard = false;  // coffers are the protected side
    if (d.guard) {
      if (auto stick = classifier.school_stick(e, config.allowed_luks_uuids, config.allowed_usb_serials)) {
        d.guard = false;
        log("not guarding " + e.mount_point + ": school stick (" + *stick + ")");
      }
    }
    if (d.kind == MediaKind::kUnknown)
      log("not guarding " + e.mount_point + " (" + e.fs_type + "): its kind of storage cannot be determined");
    return decisions[e.mount_id] = std::move(d);
  }

  // Every mount change re-marks every guarded superblock: a mark is per
  // superblock, and a stick unplugged and replugged between two reads of
  // the table may come back with the same mount id and device number but
  // no mark. Marking an already marked superblock is a no-op.
  void start_round() {
    try {
      classifier.refresh();
    } catch (const Error& e) {
      log(std::string("cannot reread the mount table: ") + e.what());
      return;
    }
    ++round;
    std::set<std::uint64_t> ids;
    std::set<Dev> devs, queued;
    for (const MountEntry& e : classifier.mounts()) {
      ids.insert(e.mount_id);
      devs.insert({e.major, e.minor});
      const MountDecision& d = decide_mount(e);
      if (!d.guard || !queued.insert({e.major, e.minor}).second) continue;
      MarkTarget t;
      t.mount_point = e.mount_point;
      t.mount_id = e.mount_id;
      t.dev = {e.major, e.minor};
      t.kind = d.kind;
      t.round = round;
      if (e.fs_type == "fuse" || e.fs_type.compare(0, 5, "fuse.") == 0 || e.fs_type == "fuseblk") {
        auto uid = super_option(e, "user_id");
        auto gid = super_option(e, "group_id");
        if (uid && *uid != "0") {
          t.as_owner = true;
          t.owner_uid = static_cast<uid_t>(std::strtoul(uid->c_str(), nullptr, 10));
          t.owner_gid = gid ? static_cast<gid_t>(std::strtoul(gid->c_str(), nullptr, 10)) : t.owner_uid;
        }
      }
      latest_round[t.dev] = round;
      mark_queue.push_back(std::move(t));
    }
    for (auto it = decisions.begin(); it != decisions.end();)
      it = ids.count(it->first) ? std::next(it) : decisions.erase(it);
    for (auto it = marked.begin(); it != marked.end();) {
      if (devs.count(it->first)) {
        ++it;
        continue;
      }
      log("no longer guarding " + it->second.mount_point + " (unmounted)");
      it = marked.erase(it);
    }
    for (auto it = unmarked.begin(); it != unmarked.end();)
      it = devs.count(it->first) ? std::next(it) : unmarked.erase(it);
    for (auto it = latest_round.begin(); it != latest_round.end();)
      it = devs.count(it->first) ? std::next(it) : latest_round.erase(it);
    pump_jobs();
  }

  // The child: plain system calls only (the parent may have other threads).
  [[noreturn]] static void mark_child(int fan_fd, const MarkTarget& t, const char* path) {
    if (t.as_owner) {
      // FUSE refuses every uid but the mount's owner, root included, unless
      // mounted allow_other: become the owner, keeping CAP_SYS_ADMIN for
      // the mark itself.
      __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct data[2]{};
      data[0].effective = data[0].permitted = 1u << CAP_SYS_ADMIN;
      if (::syscall(SYS_prctl, PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0 || ::syscall(SYS_setgroups, 0L, nullptr) != 0 ||
          ::syscall(SYS_setresgid, t.owner_gid, t.owner_gid, t.owner_gid) != 0 ||
          ::syscall(SYS_setresuid, t.owner_uid, t.owner_uid, t.owner_uid) != 0 ||
          ::syscall(SYS_capset, &hdr, data) != 0)
        ::_exit(kMarkCreds);
    }
    // Open the mount point without following a final symlink and check it
    // is still the mount we classified before marking what it holds.
    int dir = ::open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) ::_exit(errno & 0xff);
    struct statx stx {};
    if (::statx(dir, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) != 0)
      ::_exit(errno & 0xff);
    if (((stx.stx_mask & STATX_MNT_ID) && stx.stx_mnt_id != t.mount_id) || stx.stx_dev_major != t.dev.first ||
        stx.stx_dev_minor != t.dev.second)
      ::_exit(kMarkMoved);
    if (::fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_PERM, dir, ".") != 0)
      ::_exit(errno & 0xff);
    ::_exit(0);
  }

  void pump_jobs() {
    while (jobs.size() < kMaxMarkJobs && !mark_queue.empty()) {
      MarkTarget t = std::move(mark_queue.front());
      mark_queue.pop_front();
      const std::string path = t.mount_point;  // built before fork
      pid_t pid = ::fork();
      if (pid < 0) {
        finish_mark(t, errno);
        continue;
      }
      if (pid == 0) mark_child(fan.get(), t, path.c_str());
      MarkJob j;
      j.pid = pid;
      j.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      j.deadline = Clock::now() + kMarkDeadline;
      j.target = std::move(t);
      jobs.push_back(std::move(j));
    }
    if (!mark_queue.empty() || !jobs.empty()) return;
    if (!active && flush_pending) {
      flush_marks();  // a job that was running at deactivation may have marked
      flush_pending = false;
    }
    // A coffer hears back only once everything guarded is marked: from then
    // on no write of its owner's can slip past.
    std::vector<int> waiting;
    waiting.swap(awaiting_reply);
    for (int fd : waiting)
      if (auto it = conns.find(fd); it != conns.end()) reply_registered(it->second);
  }

  // Marks are placed when the first coffer registers and removed when the
  // last one goes. With none open, opens on removable and network
  // filesystems do not wait for the guard at all (each marked open costs a
  // round trip through this process, tens of microseconds, and a stalled
  // guard would hold up every open there).
  void activate() {
    if (active) return;
    active = true;
    log("a coffer is open: guarding removable, network and other FUSE filesystems");
    start_round();
  }

  void deactivate() {
    if (!active) return;
    active = false;
    mark_queue.clear();
    latest_round.clear();  // results of jobs still running are ignored
    marked.clear();
    unmarked.clear();
    flush_marks();
    flush_pending = !jobs.empty();
    log("no coffer is open: guarding nothing");
  }

  void flush_marks() {
    if (::fanotify_mark(fan.get(), FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM, 0, AT_FDCWD, nullptr) != 0)
      log(std::string("cannot remove the marks: ") + std::strerror(errno));
  }

  void collect_jobs() {
    const auto now = Clock::now();
    for (auto it = jobs.begin(); it != jobs.end();) {
      int status = 0;
      pid_t r = ::waitpid(it->pid, &status, WNOHANG);
      if (r == it->pid) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : ETIMEDOUT;
        if (it->killed) code = ETIMEDOUT;
        finish_mark(it->target, code);
        it = jobs.erase(it);
        continue;
      }
      if (!it->killed && now >= it->deadline) {
        // A dead network or FUSE server: the child is stuck in the lookup.
        // Never wait for it here; its exit is collected later.
        ::kill(it->pid, SIGKILL);
        it->killed = true;
      }
      ++it;
    }
    pump_jobs();
  }

  void finish_mark(const MarkTarget& t, int code) {
    auto latest = latest_round.find(t.dev);
    if (latest == latest_round.end() || latest->second != t.round) return;  // superseded
    if (code == 0) {
      unmarked.erase(t.dev);
      if (!marked.count(t.dev)) log("guarding " + t.mount_point + " (" + std::string(media_kind_name(t.kind)) + ")");
      marked[t.dev] = {t.mount_point, t.kind};
      return;
    }
    marked.erase(t.dev);
    std::string reason = t.mount_point + ": " + errno_text(code);
    auto old = unmarked.find(t.dev);
    if (old == unmarked.end() || old->second != reason) log("cannot guard " + reason);
    unmarked[t.dev] = std::move(reason);
  }

  // ---------------------------------------------------------------- clients

  void accept_clients() {
    for (;;) {
      int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;  // EAGAIN, or out of descriptors: try again on the next wake-up
      }
      UniqueFd sock(fd);
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) continue;
      std::size_t same_uid = 0;
      for (const auto& [_, c] : conns) same_uid += c.peer.uid == cred.uid;
      if (conns.size() >= kMaxConnections || same_uid >= kMaxConnectionsPerUid) {
        send_now(fd, encode(RegisterReply{false, "the copy guard has too many connections", {}, {}, {}}));
        continue;
      }
      Connection c;
      c.peer = {cred.pid, cred.uid, cred.gid};
      c.accepted_at = Clock::now();
      c.fd = std::move(sock);
      conns.emplace(fd, std::move(c));
    }
  }

  static void send_now(int fd, const std::string& line) {
    (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  void queue_send(Connection& c, const std::string& line) {
    if (c.drop) return;
    if (c.out.size() + line.size() > kMaxOutBuffer) {
      // A coffer that stops reading its reports loses its guard connection,
      // and so locks: better than reports silently lost.
      c.drop = true;
      return;
    }
    c.out += line;
    flush(c);
  }

  void flush(Connection& c) {
    while (!c.out.empty()) {
      ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) c.drop = true;
        return;
      }
      c.out.erase(0, static_cast<std::size_t>(n));
    }
  }

  void read_client(Connection& c) {
    std::array<char, 16384> buf{};
    for (;;) {
      ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) c.drop = true;
        break;
      }
      if (n == 0) {
        c.drop = true;  // closing the socket is how a coffer unregisters
        break;
      }
      c.in.append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      if (c.in.overlong()) {
        refuse(c, "message too long");
        return;
      }
      while (auto line = c.in.next_line()) {
        if (c.registered) {
          c.drop = true;  // the protocol has nothing more to say after registering
          return;
        }
        handle_register(c, *line);
        if (c.drop) return;
      }
      if (c.in.overlong()) {
        refuse(c, "message too long");
        return;
      }
    }
  }

  void refuse(Connection& c, const std::string& why) {
    send_now(c.fd.get(), encode(RegisterReply{false, why, {}, {}, {}}));
    c.drop = true;
  }

  void handle_register(Connection& c, const std::string& line) {
    RegisterRequest req;
    try {
      req = decode_register_request(line);
    } catch (const Error& e) {
      refuse(c, e.what());
      return;
    }
    std::string mp = normal_path(req.mountpoint);
    std::vector<std::string> approved;
    for (const std::string& a : req.approved) approved.push_back(normal_path(a));
    std::optional<std::string> problem;
    try {
      problem = verify(c.peer, mp);
    } catch (const std::exception& e) {
      problem = std::string("the copy guard could not check the registration: ") + e.what();
    }
    if (problem) {
      log("refused a registration by pid " + std::to_string(c.peer.pid) + " (uid " + std::to_string(c.peer.uid) +
          "): " + *problem);
      refuse(c, *problem);
      return;
    }
    // Enforced from here on, for every mount already marked; the answer
    // waits until the rest are.
    c.registered = true;
    c.mountpoint = mp;
    c.approved = std::move(approved);
    regs_by_uid[c.peer.uid].push_back(c.fd.get());
    daemon_pids.insert(c.peer.pid);
    activate();
    if (mark_queue.empty() && jobs.empty()) reply_registered(c);
    else awaiting_reply.push_back(c.fd.get());
  }

  void reply_registered(Connection& c) {
    RegisterReply reply;
    reply.ok = true;
    for (const auto& [_, m] : marked) reply.marked.push_back(m.mount_point);
    for (const auto& [_, u] : unmarked) reply.unmarked.push_back(u);
    reply.open_writers = scan_open_writers(c.peer.uid, c.peer.pid);
    queue_send(c, encode(reply));
    log("coffer at " + c.mountpoint + " registered by pid " + std::to_string(c.peer.pid) + " (uid " +
        std::to_string(c.peer.uid) + "); " + std::to_string(reply.marked.size()) + " filesystem(s) guarded" +
        (reply.open_writers.empty()
             ? ""
             : "; " + std::to_string(reply.open_writers.size()) + " descriptor(s) already open for writing on them"));
  }

  void close_connection(int fd) {
    auto it = conns.find(fd);
    if (it == conns.end()) return;
    Connection& c = it->second;
    if (c.registered) {
      auto& list = regs_by_uid[c.peer.uid];
      list.erase(std::remove(list.begin(), list.end(), fd), list.end());
      if (list.empty()) regs_by_uid.erase(c.peer.uid);
      if (auto p = daemon_pids.find(c.peer.pid); p != daemon_pids.end()) daemon_pids.erase(p);
      awaiting_reply.erase(std::remove(awaiting_reply.begin(), awaiting_reply.end(), fd), awaiting_reply.end());
      log("coffer at " + c.mountpoint + " unregistered (pid " + std::to_string(c.peer.pid) + ")");
    }
    conns.erase(it);
    if (regs_by_uid.empty()) deactivate();
  }

  // Writable descriptors the user's processes already hold on guarded
  // filesystems: fanotify only sees new opens. /proc/PID/fdinfo gives flags
  // and mount id, the process's own mountinfo maps the id to a device; the
  // targets are never stat()ed.
  std::vector<OpenWriter> scan_open_writers(uid_t uid, pid_t exclude) {
    std::vector<OpenWriter> out;
    if (marked.empty()) return out;
    std::map<std::string, std::map<std::uint64_t, Dev>> namespaces;  // by "mnt:[inode]"
    Dir proc(::opendir("/proc"));
    if (!proc) return out;
    while (dirent* e = ::readdir(proc.get())) {
      if (out.size() >= kMaxOpenWriters) break;
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 0 || pid == exclude || pid == self_pid) continue;
      auto st = read_status(static_cast<pid_t>(pid));
      if (!st || (st->ruid != uid && st->euid != uid && st->fsuid != uid)) continue;
      const std::string base = "/proc/" + std::to_string(pid);
      std::string ns = link_text(base + "/ns/mnt");
      if (ns.empty()) continue;
      auto nit = namespaces.find(ns);
      if (nit == namespaces.end()) {
        std::map<std::uint64_t, Dev> ids;
        if (auto text = read_proc_file(base + "/mountinfo")) {
          try {
            for (const MountEntry& m : parse_mountinfo(*text)) ids[m.mount_id] = {m.major, m.minor};
          } catch (const Error&) {
          }
        }
        nit = namespaces.emplace(ns, std::move(ids)).first;
      }
      Dir fdinfo(::opendir((base + "/fdinfo").c_str()));
      if (!fdinfo) continue;
      std::string exe;
      while (dirent* f = ::readdir(fdinfo.get())) {
        if (f->d_name[0] < '0' || f->d_name[0] > '9') continue;
        auto info = read_proc_file(base + "/fdinfo/" + f->d_name, 1u << 16);
        if (!info) continue;
        unsigned long long flags = 0, mnt_id = 0;
        bool have_flags = false, have_mnt = false;
        std::size_t pos = 0;
        while (pos < info->size()) {
          std::size_t nl = info->find('\n', pos);
          std::string l = info->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
          if (std::sscanf(l.c_str(), "flags:\t%llo", &flags) == 1) have_flags = true;
          if (std::sscanf(l.c_str(), "mnt_id:\t%llu", &mnt_id) == 1) have_mnt = true;
          if (nl == std::string::npos) break;
          pos = nl + 1;
        }
        if (!have_flags || !have_mnt || (flags & O_ACCMODE) == O_RDONLY) continue;
        auto dev = nit->second.find(mnt_id);
        if (dev == nit->second.end() || !marked.count(dev->second)) continue;
        if (exe.empty()) exe = link_text(base + "/exe");
        out.push_back({static_cast<pid_t>(pid), exe, link_text(base + "/fd/" + f->d_name)});
        if (out.size() >= kMaxOpenWriters) break;
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- loop

  void loop(const std::atomic<bool>* stop) {
    log("ready on " + config.socket_path.string() + "; guarding nothing until a coffer registers");
    std::vector<pollfd> fds;
    std::vector<int> conn_fds;
    for (;;) {
      if (stop && stop->load()) return;
      fds.clear();
      conn_fds.clear();
      fds.push_back({stop_fd.get(), POLLIN, 0});
      fds.push_back({fan.get(), POLLIN, 0});
      fds.push_back({mountinfo.get(), POLLPRI, 0});
      fds.push_back({listener.get(), POLLIN, 0});
      for (const MarkJob& j : jobs) fds.push_back({j.pidfd.get(), POLLIN, 0});
      const std::size_t first_conn = fds.size();
      for (auto& [fd, c] : conns) {
        fds.push_back({fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
        conn_fds.push_back(fd);
      }

      auto now = Clock::now();
      auto wake = now + std::chrono::milliseconds(stop ? 100 : 500);
      for (const MarkJob& j : jobs)
        if (!j.killed) wake = std::min(wake, j.deadline);
      if (!jobs.empty()) wake = std::min(wake, now + std::chrono::milliseconds(100));
      for (const auto& [_, c] : conns)
        if (!c.registered) wake = std::min(wake, c.accepted_at + kRegisterTimeout);
      int timeout = static_cast<int>(
          std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1));

      int n = ::poll(fds.data(), fds.size(), timeout);
      if (n < 0 && errno != EINTR) throw io_error("poll failed");

      // Pending opens first: every other task can wait a few microseconds.
      if (n > 0 && (fds[1].revents & POLLIN)) handle_fanotify();
      if (n > 0 && (fds[0].revents & POLLIN)) return;
      if (n > 0 && (fds[2].revents & (POLLPRI | POLLERR))) {
        drain_mountinfo();
        if (active) start_round();
      }
      // The pidfds only wake the loop; every job is checked without blocking.
      if (!jobs.empty()) collect_jobs();
      if (n > 0 && (fds[3].revents & POLLIN)) accept_clients();
      for (std::size_t i = first_conn; i < fds.size() && n > 0; ++i) {
        auto it = conns.find(conn_fds[i - first_conn]);
        if (it == conns.end()) continue;
        Connection& c = it->second;
        if (fds[i].revents & POLLOUT) flush(c);
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) read_client(c);
      }
      now = Clock::now();
      std::vector<int> dead;
      for (auto& [fd, c] : conns)
        if (c.drop || (!c.registered && now - c.accepted_at > kRegisterTimeout)) dead.push_back(fd);
      for (int fd : dead) close_connection(fd);

      if (config.heartbeat && now - last_heartbeat >= std::chrono::milliseconds(500)) {
        last_heartbeat = now;
        config.heartbeat();
      }
    }
  }
};

GuardService::GuardService(GuardConfig config) {
  // Checked first so a teacher gets the plain message, not a socket error.
  if (::geteuid() != 0) throw Error(ErrorCode::kPolicy, kNeedsRoot);
  impl_ = std::make_unique<Impl>(std::move(config));
  impl_->setup();
}

GuardService::~GuardService() = default;

void GuardService::run() {
  impl_->loop(nullptr);
  impl_->fan.reset();  // release every queued open before anything else
}

void GuardService::run(const std::atomic<bool>& stop) {
  impl_->loop(&stop);
  impl_->fan.reset();
}

void GuardService::request_stop() noexcept {
  std::uint64_t one = 1;
  if (impl_ && impl_->stop_fd.valid()) (void)!::write(impl_->stop_fd.get(), &one, sizeof one);
}

}  // namespace coffer::guard
