// The mount lifecycle; see daemon.h. Threads: the FUSE loop runs on its own
// thread; this thread owns everything else (signals, the control socket,
// the commit and idle timers, locking) through one poll loop.
#include "coffer/fusefs/daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "coffer/error.h"
#include "coffer/fusefs/control.h"
#include "coffer/fusefs/filesystem.h"
#include "coffer/guard/caller_check.h"
#include "coffer/guard/guard_client.h"
#include "coffer/guard/landlock.h"
#include "coffer/guard/mountinfo.h"
#include "coffer/guard/session.h"
#include "coffer/keystore/encoding.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_drop.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/files/filestore.h"
#include "coffer/vault/policy/policy.h"
#include "logind.h"
#include "session.h"

extern char** environ;

namespace coffer::fusefs {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Buffered writes are committed at least this often, at fsync, within
// about 50 ms of a written file's last close, and at lock.
constexpr auto kCommitInterval = std::chrono::seconds(2);
constexpr auto kClockMarkInterval = std::chrono::seconds(60);

std::string date_of(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string duration_text(std::chrono::seconds d) {
  auto m = d.count() / 60, s = d.count() % 60;
  if (s == 0) return std::to_string(m) + (m == 1 ? " minute" : " minutes");
  if (m == 0) return std::to_string(s) + " seconds";
  return std::to_string(m) + " min " + std::to_string(s) + " s";
}

// An owned descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

int listen_on(const fs::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot create the control socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.string().size() >= sizeof(addr.sun_path))
    throw Error(ErrorCode::kIo, "control socket path too long: " + path.string());
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ::unlink(path.c_str());  // stale from a killed process (the flock proves it is dead)
  mode_t old = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "cannot listen on " + path.string() + ": " + std::strerror(errno));
  }
  return fd;
}

// The caller's executable for the audit: readlink of /proc/PID/exe only
// (never maps, cmdline or environ, which can deadlock a FUSE server).
std::string process_executable(std::int32_t pid) {
  char buf[4096];
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "(unknown)";
  return std::string(buf, static_cast<std::size_t>(n));
}

// The device number of the mount at `mountpoint` (this process's view), so
// layer 1 can tell writes into the coffer itself from writes elsewhere.
std::optional<std::pair<std::uint32_t, std::uint32_t>> mount_device(const fs::path& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  std::optional<std::pair<std::uint32_t, std::uint32_t>> dev;
  try {
    for (auto& m : guard::parse_mountinfo(text.str()))
      if (m.mount_point == mountpoint.string()) dev = std::pair{m.major, m.minor};  // the last (topmost)
  } catch (const std::exception&) {
  }
  return dev;
}

void audit_copy_blocked(vault::Coffer& coffer, std::uint32_t uid, std::int32_t pid, const std::string& object,
                        const std::string& destination) {
  vault::AuditEvent e;
  e.time = vault::system_clock().now();
  e.uid = uid;
  e.pid = pid;
  e.exe = process_executable(pid);
  e.kind = vault::AuditKind::kCopyBlocked;
  e.object = object;
  e.result = "refused";
  e.detail = "to " + destination;
  coffer.audit(e);
}

// Copies OBJECT ("files/a.txt", "pupils/X/profile.txt") out of the
// filesystem to DEST: written beside it, synced, then linked into place
// (never over an existing file); nothing is left on failure.
std::uint64_t export_object(Filesystem& filesystem, const std::string& object, const fs::path& dest) {
  Caller self{static_cast<std::uint32_t>(::getuid()), static_cast<std::uint32_t>(::getgid()), ::getpid(), true};
  std::uint64_t ino = kRootIno;
  std::vector<std::uint64_t> looked_up;
  auto forget_all = [&] {
    for (auto i : looked_up) filesystem.forget(i, 1);
  };
  std::uint64_t total = 0;
  try {
    for (auto& part : fs::path(object)) {
      if (part.empty() || part == "." || part == "..") throw Error(ErrorCode::kUsage, "bad path " + object);
      ino = filesystem.lookup(ino, part.string(), self).ino;
      looked_up.push_back(ino);
    }
    filesystem.open(ino, O_RDONLY, self);
    fs::path part = dest.parent_path() / ("." + dest.filename().string() + ".coffer-part");
    int out = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
      filesystem.release(ino);
      throw Error(ErrorCode::kIo, "cannot write " + part.string() + ": " + std::strerror(errno));
    }
    std::string error;
    try {
      std::vector<std::uint8_t> buf(1 << 16);
      for (;;) {
        std::size_t n = filesystem.read(ino, total, buf, self);
        if (n == 0) break;
        for (std::size_t done = 0; done < n;) {
          ssize_t w = ::write(out, buf.data() + done, n - done);
          if (w < 0) throw Error(ErrorCode::kIo, "cannot write " + dest.string() + ": " + std::strerror(errno));
          done += static_cast<std::size_t>(w);
        }
        total += n;
      }
      if (::fsync(out) != 0) throw Error(ErrorCode::kIo, "cannot write " + dest.string() + ": " + std::strerror(errno));
    } catch (const std::exception& e) {
      error = e.what();
    }
    ::close(out);
    filesystem.release(ino);
    if (error.empty() && ::link(part.c_str(), dest.c_str()) != 0)
      error = errno == EEXIST ? dest.string() + " already exists; export never overwrites"
                              : "cannot create " + dest.string() + ": " + std::strerror(errno);
    ::unlink(part.c_str());
    if (!error.empty()) throw Error(ErrorCode::kIo, error);
  } catch (...) {
    forget_all();
    throw;
  }
  forget_all();
  return total;
}

// What `status` shows about the copy guard of this mount.
std::vector<std::string> copy_guard_lines(const MountOptions& o) {
  std::vector<std::string> lines = {
      "layer 1: reads refused to programs writing to removable media or unapproved places"};
  if (!o.session_keeper.empty()) {
    lines.push_back("layer 3: a Landlock session; only its programs may use the coffer");
    for (auto& l : guard::describe(guard::landlock_status())) lines.push_back("  " + l);
  }
  if (o.guard_socket)
    lines.push_back(std::string("layer 2: the copy guard service") +
                    (o.guard_required ? " (required: the coffer locks if it stops)" : " (when running)"));
  return lines;
}

// The sandboxed session's keeper process (a hidden coffer command: see
// cli/src/cmd_run.cpp). Started with a pipe on descriptor 3; the byte sent
// by start() tells it the filesystem knows it and it may begin.
struct SessionKeeper {
  pid_t pid = -1;
  int pidfd = -1;
  int ready = -1;
  guard::ProcessIdentity identity;
  bool exited = false;

  explicit SessionKeeper(const std::vector<std::string>& argv) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorCode::kIo, "cannot create a pipe for the session");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], 3);  // dup2 clears close-on-exec
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    // This thread blocks the signals it takes through its signalfd; the
    // session must start with none blocked and default handlers, or its
    // programs (dbus-daemon, editors) could not be asked to end.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    ::close(p[0]);
    ready = p[1];
    if (rc != 0) {
      ::close(ready);
      throw Error(ErrorCode::kIo, std::string("cannot start the session: ") + std::strerror(rc));
    }
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    auto id = guard::process_identity(pid);
    if (pidfd < 0 || !id) {
      ::kill(pid, SIGKILL);
      reap();
      throw Error(ErrorCode::kIo, "the session ended before it started");
    }
    identity = *id;
  }
  ~SessionKeeper() {
    if (ready >= 0) ::close(ready);
    if (pidfd >= 0) ::close(pidfd);
  }
  SessionKeeper(const SessionKeeper&) = delete;
  SessionKeeper& operator=(const SessionKeeper&) = delete;

  void start() {
    char go = 'g';
    (void)!::write(ready, &go, 1);
    ::close(ready);
    ready = -1;
  }
  bool running() const { return !exited; }
  void hangup() const { ::kill(pid, SIGHUP); }
  // The keeper's exit status (128 + signal if killed); waits up to `limit`,
  // then kills it.
  int reap(std::chrono::seconds limit = std::chrono::seconds(0)) {
    if (exited) return -1;
    int status = 0;
    auto deadline = Clock::now() + limit;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (Clock::now() >= deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      ::usleep(20000);
    }
    exited = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

void notify_desktop(const std::string& text) {
  if (!std::getenv("DISPLAY") && !std::getenv("WAYLAND_DISPLAY")) return;
  const char* argv[] = {"notify-send", "--app-name=coffer", "Coffer", text.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "notify-send", nullptr, nullptr, const_cast<char**>(argv), environ) == 0)
    std::thread([pid] { waitpid(pid, nullptr, 0); }).detach();
}

}  // namespace

std::string readme_text(const vault::Header& h, std::chrono::seconds idle) {
  return "This folder is a coffer: an encrypted container, opened by coffer.\n\n"
         "Owner:    " +
         h.owner +
         "\n"
         "Purpose:  " +
         h.profile +
         "\n"
         "Expires:  " +
         date_of(h.expires) +
         " (end of day). The files you keep in files/ go\n"
         "          with the coffer when it expires: ask IT to check it in before then.\n"
         "Locks:    after " +
         duration_text(idle) +
         " without use, and when you run: coffer lock\n\n"
         "Save your own documents in files/: they are stored encrypted inside the coffer\n"
         "file. Do not copy pupil data out of this folder.\n\n"
         "If this laptop is lost or stolen, tell the school's data protection lead at once\n"
         "and give this coffer's id: " +
         keystore::to_hex(h.vault_id) +
         ".\n"
         "The contents are encrypted and cannot be read without the passphrase.\n";
}

std::vector<std::string> processes_using(const fs::path& path) {
  std::vector<std::string> out;
  std::string prefix = path.string() + "/";
  std::error_code ec;
  for (auto& proc : fs::directory_iterator("/proc", ec)) {
    std::string pid = proc.path().filename();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    bool uses = false;
    std::error_code e2;
    auto cwd = fs::read_symlink(proc.path() / "cwd", e2);
    if (!e2 && (cwd == path || cwd.string().rfind(prefix, 0) == 0)) uses = true;
    for (auto& fd : fs::directory_iterator(proc.path() / "fd", e2)) {
      if (uses) break;
      std::error_code e3;
      auto target = fs::read_symlink(fd.path(), e3);
      if (!e3 && (target == path || target.string().rfind(prefix, 0) == 0)) uses = true;
    }
    if (!uses || std::to_string(::getpid()) == pid) continue;
    std::ifstream comm(proc.path() / "comm");
    std::string name;
    std::getline(comm, name);
    out.push_back(pid + " (" + name + ")");
  }
  return out;
}

std::string serve(vault::Coffer coffer_in, const MountOptions& o, const std::function<void()>& on_ready) {
  // Signals are taken synchronously through a signalfd, in this thread only.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  Fd sig_fd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  // A client that hangs up before its reply must not kill the daemon.
  ::signal(SIGPIPE, SIG_IGN);
  Fd loop_done(::eventfd(0, EFD_CLOEXEC));

  std::optional<vault::Coffer> coffer(std::move(coffer_in));
  const vault::Header header = coffer->header();
  const std::vector<std::string> notices = coffer->notices();
  std::optional<vault::FileStore> store;
  store.emplace(coffer->database(), coffer->chunk_mac_key(), vault::system_clock());
  coffer->forget_master_key();
  store->remove_orphans();

  MountInfo info;
  info.mounter_uid = ::getuid();
  info.mounter_gid = ::getgid();
  info.read_only = o.read_only;
  info.readme = readme_text(header, o.idle_timeout);
  info.coffer_name = o.coffer_path.filename().string();
  info.coffer_expires = header.on_hold ? 0 : header.expires;
  Filesystem filesystem(*store, coffer->database(), info);
  // Every first open of a view or file by a process is audited before it is
  // served (the hook runs under the filesystem's mutex, which also guards
  // the database the audit writes to).
  filesystem.set_open_hook([&coffer](const Caller& c, const std::string& object, bool write) {
    vault::AuditEvent e;
    e.time = vault::system_clock().now();
    e.uid = c.uid;
    e.pid = c.pid;
    e.exe = process_executable(c.pid);
    e.kind = object.rfind("files/", 0) == 0 ? vault::AuditKind::kOpenFile : vault::AuditKind::kOpenView;
    e.object = object + (write ? " (write)" : " (read)");
    e.result = "ok";
    coffer->audit(e);
  });
  auto copy_to_drop = [&] {
    if (o.audit_drop_dir && header.audit)
      vault::copy_to_drop(coffer->sidecar(), *o.audit_drop_dir, o.coffer_path, header.vault_id);
  };
  copy_to_drop();

  std::string options =
      "default_permissions,nosuid,nodev,noexec,fsname=coffer:" + o.coffer_path.stem().string() + ",subtype=coffer";
  if (o.read_only) options += ",ro";
  if (o.allow_other) options += ",allow_other";
  fs::path host_dir = o.coffer_path.parent_path();
  FuseSession session(filesystem, options, [host_dir] {
    struct statvfs v {};
    StatFs s;
    if (::statvfs(host_dir.c_str(), &v) == 0) {
      s.block_size = v.f_frsize;
      s.blocks = v.f_blocks;
      s.blocks_free = v.f_bfree;
      s.blocks_avail = v.f_bavail;
    }
    return s;
  });
  session.mount(o.mountpoint.string());
  // Layer 1 of the copy guard: every read first looks at the reader's
  // writable descriptors (cached per process and file while they do not
  // change); a copier is refused and audited once per process and file.
  guard::WriteRules rules;
  rules.approved = o.approved_destinations;
  rules.app_state = o.app_state;
  rules.media.declared_removable = o.declared_removable;
  rules.allowed_luks_uuids = o.allowed_luks_uuids;
  rules.allowed_usb_serials = o.allowed_usb_serials;
  if (auto dev = mount_device(o.mountpoint)) std::tie(rules.coffer_major, rules.coffer_minor) = *dev;
  guard::CallerInspector inspector(std::move(rules));
  Filesystem::Gates gates;
  gates.before_read = [&inspector](const Caller& c, std::uint64_t ino) -> std::optional<std::string> {
    auto f = inspector.check(c.pid, ino);
    if (!f) return std::nullopt;
    return f->target + " (" + f->reason + ") through " + guard::describe_fd(f->fd);
  };
  gates.blocked = [&coffer](const Caller& c, const std::string& object, const std::string& destination) {
    audit_copy_blocked(*coffer, c.uid, c.pid, object, destination);
  };
  // Layer 3: in a sandboxed session nobody but the session's processes may
  // see names or contents; until the keeper is known, nobody at all.
  std::optional<guard::SessionMembers> members;
  std::atomic<bool> members_ready{false};
  if (!o.session_keeper.empty())
    gates.member = [&](const Caller& c) { return members_ready.load() && members->is_member(c.pid); };
  filesystem.set_gates(gates);
  // Records and files whose own expiry has passed go at once, and then
  // every minute (with the clock mark): their views disappear, the rows are
  // deleted (secure_delete), and the purge is audited by count.
  auto purge = [&] {
    if (header.on_hold) return;  // a hold suspends purges too
    PurgeResult r = filesystem.purge_expired(vault::system_clock().now());
    if (r.pupils == 0 && r.files == 0) return;
    filesystem.with_database([&](vault::Database&) {
      coffer->audit(vault::AuditKind::kExpiryPurge, "", "ok",
                    std::to_string(r.pupils) + " pupil record(s), " + std::to_string(r.files) + " file(s)");
    });
    for (auto ino : r.invalidate) session.invalidate(ino);
  };
  fs::path socket_path = control_socket_path(keystore::to_hex(header.vault_id));
  std::optional<Fd> listener;
  try {
    listener.emplace(listen_on(socket_path));
  } catch (...) {
    session.unmount();
    throw;
  }

  std::thread loop([&] {
    session.run();
    std::uint64_t one = 1;
    (void)!::write(loop_done.fd, &one, sizeof one);
  });
  LogindWatch logind;
  try {
    purge();
  } catch (...) {
    // The first purge reads the records: in a damaged coffer it fails here,
    // before the main loop's own guard. Never leave the loop thread running
    // (std::terminate) or the folder mounted with nothing behind it.
    session.unmount();
    loop.join();
    throw;
  }
  // Layer 2: register with the copy guard (it answers once it has marked
  // the removable and unapproved filesystems).
  std::optional<guard::GuardConnection> guard_link;
  if (o.guard_socket) {
    try {
      std::vector<fs::path> approved;
      for (auto& a : o.approved_destinations) approved.push_back(fs::weakly_canonical(a));
      guard_link.emplace(guard::GuardConnection::connect(*o.guard_socket, o.mountpoint, approved));
      auto writers = guard_link->open_writers();
      if (!writers.empty() && o.guard_required) {
        std::string list;
        for (auto& w : writers) list += "\n  process " + std::to_string(w.pid) + " (" + w.exe + ") writing " + w.path;
        throw Error(ErrorCode::kPolicy,
                    "programs already have files open for writing on removable or unapproved "
                    "storage; close them (or remove the stick) and open the coffer again:" +
                        list);
      }
    } catch (...) {
      if (o.guard_required) {
        session.unmount();
        loop.join();
        throw;
      }
      guard_link.reset();  // a standard coffer uses the guard only when it is there
    }
  }
  auto audit_guard_blocks = [&] {
    for (auto& r : guard_link->read_reports()) {
      filesystem.with_database([&](vault::Database&) {
        vault::AuditEvent e;
        e.time = vault::system_clock().now();
        e.uid = info.mounter_uid;
        e.pid = r.pid;
        e.exe = r.exe;
        e.kind = vault::AuditKind::kCopyBlocked;
        e.result = "refused";
        e.detail = "to " + r.path + " (opened for writing on guarded storage, flags " + r.flags +
                   ") by the copy guard" + (r.empty_file_left ? "; an empty file was left there" : "");
        coffer->audit(e);
      });
    }
  };
  std::optional<SessionKeeper> keeper;
  if (!o.session_keeper.empty()) {
    try {
      keeper.emplace(o.session_keeper);
      members.emplace(keeper->identity);
      members_ready = true;
      keeper->start();
    } catch (...) {
      session.unmount();
      loop.join();
      throw;
    }
  }
  on_ready();
  // Expiry approaching: the terminal was told by `open`; the desktop too.
  for (auto& n : notices) notify_desktop(o.coffer_path.filename().string() + ": " + n);

  std::string reason;
  auto last_logind_idle_check = Clock::now();
  int lock_client = -1;
  bool warned = false;
  auto last_commit = Clock::now();
  // The coffer's clock mark follows the time while mounted (checked at the
  // next unlock: a clock set back behind it refuses to open).
  auto last_mark = Clock::now();
  const vault::Clock& wall = vault::system_clock();
  while (reason.empty()) {
    try {
      pollfd p[6] = {{sig_fd.fd, POLLIN, 0},
                     {listener->fd, POLLIN, 0},
                     {loop_done.fd, POLLIN, 0},
                     {keeper ? keeper->pidfd : -1, POLLIN, 0},
                     {guard_link ? guard_link->fd() : -1, POLLIN, 0},
                     {logind.fd(), POLLIN, 0}};
      ::poll(p, logind.active() ? 6 : 5, filesystem.commit_requested() ? 50 : 250);
      if (p[4].revents & (POLLIN | POLLHUP | POLLERR)) {
        audit_guard_blocks();
        if (guard_link->closed()) {
          // The kernel lets pending opens through once the guard is gone.
          if (o.guard_required) {
            reason = "the copy guard stopped";
            break;
          }
          guard_link.reset();
        }
      }
      if (p[3].revents & POLLIN) {
        int status = keeper->reap();
        if (o.session_status) *o.session_status = status;
        reason = "the session ended";
        break;
      }
      auto now = Clock::now();
      if (logind.active()) {
        reason = logind.process();
        if (reason.empty() && now - last_logind_idle_check >= std::chrono::seconds(5)) {
          last_logind_idle_check = now;
          if (logind.user_idle_for(o.idle_timeout)) reason = "logind reports the user idle";
        }
        if (!reason.empty()) break;
      }
      if (p[0].revents & POLLIN) {
        signalfd_siginfo si{};
        (void)!::read(sig_fd.fd, &si, sizeof si);
        reason = std::string("signal ") + strsignal(static_cast<int>(si.ssi_signo));
        break;
      }
      if (p[2].revents & POLLIN) {
        reason = "unmounted from outside";
        break;
      }
      if (p[1].revents & POLLIN) {
        int client = ::accept4(listener->fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
          ucred cred{};
          socklen_t len = sizeof cred;
          std::string line;
          char c = 0;
          pollfd cp{client, POLLIN, 0};
          if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
              (cred.uid == ::geteuid() || cred.uid == 0)) {
            auto deadline = Clock::now() + std::chrono::milliseconds(200);
            while (Clock::now() < deadline && ::poll(&cp, 1, 50) >= 0 && line.size() < 16384) {
              if (!(cp.revents & POLLIN)) continue;
              if (::read(client, &c, 1) != 1 || c == '\n') break;
              line += c;
            }
          }
          if (line == "status") {
            MountStatus s;
            s.coffer_path = o.coffer_path;
            s.mountpoint = o.mountpoint;
            s.purpose = header.profile;
            s.owner = header.owner;
            s.expires = header.expires;
            s.idle_timeout_seconds = o.idle_timeout.count();
            auto idle_for = std::chrono::duration_cast<std::chrono::seconds>(filesystem.idle_for());
            s.idle_seconds_left = std::max<std::int64_t>(0, (o.idle_timeout - idle_for).count());
            s.pid = ::getpid();
            s.read_only = o.read_only;
            s.protection = o.protection;
            s.copy_guard = copy_guard_lines(o);
            for (auto& a : o.approved_destinations) s.approved.push_back(a.string());
            std::string reply = to_json(s) + "\n";
            (void)!::write(client, reply.data(), reply.size());
            ::close(client);
          } else if (line.rfind("export\t", 0) == 0) {
            // `coffer export OBJECT DEST` (the destination already checked
            // against the policy by the command): this process copies it
            // from the store, so the command's own terminal or log file is
            // not an issue, and records it with the asker's pid and program.
            std::string reply;
            auto tab = line.find('\t', 7);
            try {
              if (tab == std::string::npos) throw Error(ErrorCode::kUsage, "bad export request");
              std::string object = line.substr(7, tab - 7);
              fs::path dest = line.substr(tab + 1);
              if (!vault::path_within(dest, o.approved_destinations))
                throw Error(ErrorCode::kPolicy, dest.string() + " is not an approved destination");
              std::uint64_t bytes = export_object(filesystem, object, dest);
              filesystem.with_database([&](vault::Database&) {
                vault::AuditEvent e;
                e.time = vault::system_clock().now();
                e.uid = cred.uid;
                e.pid = cred.pid;
                e.exe = process_executable(cred.pid);
                e.kind = vault::AuditKind::kExport;
                e.object = object;
                e.result = "ok";
                e.detail = "to " + dest.string() + " (" + std::to_string(bytes) + " bytes)";
                coffer->audit(e);
              });
              reply = "ok " + std::to_string(bytes) + "\n";
            } catch (const std::exception& e) {
              reply = std::string("error ") + e.what() + "\n";
            }
            (void)!::write(client, reply.data(), reply.size());
            ::close(client);
          } else if (line == "lock") {
            lock_client = client;  // answered once locked
            reason = "coffer lock";
          } else {
            ::close(client);
          }
        }
      }
      if (!reason.empty()) break;
      if (!header.on_hold && wall.now() > header.expires) {
        // Expired while open: lock at once; the next unlock says it is sealed.
        reason = "expired";
        break;
      }
      if (now - last_mark >= kClockMarkInterval) {
        filesystem.with_database([&](vault::Database& db) { vault::raise_clock_mark(db, wall.now()); });
        purge();
        last_mark = now;
      }
      if (filesystem.commit_requested() || now - last_commit >= kCommitInterval) {
        try {
          filesystem.commit();
        } catch (const std::exception& e) {
          std::cerr << "coffer: periodic commit failed: " << e.what() << "\n";
        }
        last_commit = now;
      }
      auto idle_for = filesystem.idle_for();
      auto warn_before = std::min<std::chrono::nanoseconds>(std::chrono::seconds(60), o.idle_timeout / 5);
      if (idle_for >= o.idle_timeout) {
        reason = "idle for " + std::to_string(o.idle_timeout.count()) + " s";
      } else if (!warned && idle_for >= o.idle_timeout - warn_before) {
        notify_desktop(
            o.coffer_path.filename().string() + " locks in " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(o.idle_timeout - idle_for).count()) +
            " s unless used");
        warned = true;
      } else if (idle_for < o.idle_timeout - warn_before) {
        warned = false;
      }
    } catch (const std::exception& e) {
      // Never leave the mount up with an unhandled error: lock instead.
      reason = std::string("internal error: ") + e.what();
    }
  }

  // Lock: stop serving, make it durable, forget the keys, drop caches, unmount.
  auto lock_start = Clock::now();
  std::vector<std::string> holders;
  try {
    holders = processes_using(o.mountpoint);
  } catch (const std::exception&) {
  }
  std::string error;
  try {
    filesystem.with_database([&](vault::Database& db) {
      vault::raise_clock_mark(db, wall.now());
      coffer->audit(vault::AuditKind::kLock, "", "ok", reason);
    });
  } catch (const std::exception&) {
    // A failed write fail-stops the store; lock() below reports it.
  }
  try {
    filesystem.lock();
  } catch (const std::exception& e) {
    error = e.what();
  }
  // After lock(): nothing can be opened any more, so this list is complete.
  std::vector<std::uint64_t> open_inodes = filesystem.open_inodes();
  for (auto ino : open_inodes) session.invalidate(ino);
  store.reset();
  copy_to_drop();  // the trail up to this lock, while the school share is reachable
  coffer.reset();  // closes the database; the keys are wiped with it
  session.unmount();
  ::unlink(socket_path.c_str());
  logind.release_sleep_inhibitor();  // locked: the machine may sleep now
  if (keeper && keeper->running()) {
    // Locked under a running session: its programs are told to end (their
    // open files give errors already).
    keeper->hangup();
    if (o.session_status) *o.session_status = keeper->reap(std::chrono::seconds(3));
  }
  auto lock_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - lock_start).count();
  if (lock_client >= 0) {
    nlohmann::json j{{"locked", error.empty()}, {"reason", reason}, {"held_open_by", holders}, {"lock_ms", lock_ms}};
    if (!error.empty()) j["error"] = error;
    std::string reply = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    (void)!::write(lock_client, reply.data(), reply.size());
    ::close(lock_client);
  }
  // With files still open the detached mount keeps the FUSE loop waiting;
  // ending the process closes /dev/fuse, which aborts the connection so
  // those handles get errors from now on.
  for (int i = 0; i < (open_inodes.empty() ? 100 : 5); ++i) {
    pollfd p{loop_done.fd, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      loop.join();
      return reason;
    }
  }
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(0);
}

}  // namespace coffer::fusefs
