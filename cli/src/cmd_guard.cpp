// coffer guard: the copy guard service (layer 2, "guarded"), run as root by
// systemd (contrib/systemd/coffer-guard.service) in the foreground until
// SIGTERM or SIGINT. Its settings come only from the root-owned school
// policy ([copy]: declared-removable mounts, school sticks); nothing on the
// command line can make a stick count as safe. `--probe MOUNTPOINT`
// (hidden) registers an open coffer the way its filesystem process does
// and prints what the guard guards: IT's check that it works, and the
// integration test's.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/guard/fanotify_guard.h"
#include "coffer/guard/guard_client.h"
#include "coffer/unique_fd.h"
#include "coffer/unix_socket.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct GuardOptions {
  std::string socket = guard::kDefaultGuardSocket;
  std::string probe;
  std::string query;
  std::string readonly_record = guard::kDefaultReadonlyRecord;
  std::vector<std::string> approved;
  bool watch = false;
  bool guarded = false;
};

// For the signal handler: request_stop() is async-signal-safe.
guard::GuardService* g_service = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_service) g_service->request_stop();
}

// The socket's directory must be root's and not writable by others, or
// someone could replace the socket with their own.
void prepare_socket_dir(const fs::path& socket) {
  fs::path dir = socket.parent_path();
  if (dir.empty()) dir = ".";
  bool created = ::mkdir(dir.c_str(), 0755) == 0;
  if (!created && errno != EEXIST)
    throw Error(ErrorCode::kIo, "cannot create " + dir.string() + ": " + std::strerror(errno));
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  bool ok = fd >= 0 && ::fstat(fd, &st) == 0 && st.st_uid == 0 && (created || (st.st_mode & 022) == 0);
  if (ok && created) ok = ::fchmod(fd, 0755) == 0;  // whatever the umask made of it
  if (fd >= 0) ::close(fd);
  if (!ok)
    throw Error(ErrorCode::kPolicy,
                dir.string() + " must be a directory owned by root and not writable by group or others");
}

// One descriptor per connected coffer: lift the soft limit to the hard one.
void raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

// systemd's watchdog (WatchdogSec= in the unit), spoken without libsystemd:
// a datagram "WATCHDOG=1" to $NOTIFY_SOCKET at half the interval. Fed from
// the event loop, so a guard stuck on a dead filesystem gets restarted
// (the kernel then lets the stuck opens through, and coffers lock).
class Watchdog {
 public:
  Watchdog() {
    const char* sock = std::getenv("NOTIFY_SOCKET");
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    if (!sock || !usec || (pid && std::atol(pid) != ::getpid())) return;
    if (sock[0] != '/' && sock[0] != '@') return;
    auto addr = unix_address(sock, UnixName::kPathOrAbstract);  // '@': the abstract namespace
    if (!addr) return;
    long long interval = std::atoll(usec);
    if (interval <= 0) return;
    addr_ = *addr;
    interval_ = std::chrono::microseconds(interval / 2);
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void beat() {
    if (!fd_.valid()) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < interval_) return;
    last_ = now;
    static const char kMessage[] = "WATCHDOG=1";
    ::sendto(fd_.get(), kMessage, sizeof kMessage - 1, MSG_NOSIGNAL | MSG_DONTWAIT, addr_.get(), addr_.size);
  }

 private:
  UniqueFd fd_;
  UnixAddress addr_;
  std::chrono::microseconds interval_{0};
  std::chrono::steady_clock::time_point last_{};
};

void run_service(const GuardOptions& o, Context& ctx) {
  if (::geteuid() != 0)
    throw Error(ErrorCode::kPolicy, "coffer guard must run as root (it is the coffer-guard system service)");
  const vault::SchoolPolicy policy = school_policy(ctx);
  guard::GuardConfig config;
  config.socket_path = o.socket;
  config.readonly_record = o.readonly_record;
  config.media.declared_removable = policy.copy.declared_removable;
  config.allowed_luks_uuids = policy.copy.allowed_luks_uuids;
  config.allowed_usb_serials = policy.copy.allowed_usb_serials;
  std::ostream& err = *ctx.err;
  // std::endl: every line reaches the journal at once.
  config.log = [&err](const std::string& line) { err << "coffer guard: " << line << std::endl; };
  Watchdog watchdog;
  config.heartbeat = [&watchdog] { watchdog.beat(); };

  prepare_socket_dir(o.socket);
  raise_fd_limit();
  guard::GuardService service(std::move(config));

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  ::sigemptyset(&sa.sa_mask);
  struct sigaction old_term {
  }, old_int{};
  g_service = &service;
  ::sigaction(SIGTERM, &sa, &old_term);
  ::sigaction(SIGINT, &sa, &old_int);
  ::signal(SIGPIPE, SIG_IGN);
  auto restore = [&] {
    ::sigaction(SIGTERM, &old_term, nullptr);
    ::sigaction(SIGINT, &old_int, nullptr);
    g_service = nullptr;
  };
  try {
    service.run();
  } catch (...) {
    restore();
    throw;
  }
  restore();
  err << "coffer guard: stopped" << std::endl;
}

void print_report(std::ostream& out, const guard::GuardConnection::Report& r) {
  out << "blocked: pid " << r.pid << " (" << r.exe << ") writing " << r.path << " (flags " << r.flags << ")"
      << (r.empty_file_left ? "; an empty file was left behind" : "") << std::endl;
}

void run_probe(const GuardOptions& o, Context& ctx) {
  std::vector<fs::path> approved(o.approved.begin(), o.approved.end());
  auto conn = guard::GuardConnection::connect(o.socket, fs::absolute(o.probe), approved, o.guarded);
  std::ostream& out = *ctx.out;
  out << "registered " << fs::absolute(o.probe).string() << " with the copy guard\n";
  for (const auto& m : conn.marked()) out << "guarded: " << m << "\n";
  for (const auto& m : conn.unmarked()) out << "NOT guarded: " << m << "\n";
  for (const auto& m : conn.readonly()) out << "read-only: " << m << "\n";
  for (const auto& w : conn.open_writers())
    out << "already open for writing: pid " << w.pid << " (" << w.exe << ") " << w.path << "\n";
  out << std::flush;
  if (!o.watch) return;  // closing the connection unregisters
  // Stays registered until standard input ends, printing each block.
  for (;;) {
    pollfd p[2] = {{conn.fd(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo, std::string("poll failed: ") + std::strerror(errno));
    }
    if (p[0].revents) {
      for (const auto& r : conn.read_reports()) print_report(out, r);
      if (conn.closed()) throw Error(ErrorCode::kPolicy, "the copy guard service went away");
    }
    if (p[1].revents) {
      char buf[256];
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR)) return;
    }
  }
}

// `coffer guard --query guarded-open`: exit 0 if a guarded coffer is open
// (removable media are read-only), 1 if not; the polkit rule
// (contrib/polkit/50-coffer-guard.rules) runs it before udisks2 mounts.
int run_query(const GuardOptions& o, Context& ctx) {
  if (o.query != "guarded-open") throw Error(ErrorCode::kUsage, "coffer guard --query knows only \"guarded-open\"");
  bool open = guard::query_guarded_open(o.socket);
  *ctx.out << (open ? "a guarded coffer is open: removable media are read-only\n" : "no guarded coffer is open\n")
           << std::flush;
  return open ? 0 : 1;
}

}  // namespace

void register_guard(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<GuardOptions>();
  auto* cmd =
      app.add_subcommand("guard",
                         "IT (root): run the copy guard service in the foreground (systemd: coffer-guard.service); "
                         "while a coffer is open it refuses its owner's writes to USB sticks and unapproved network "
                         "or FUSE filesystems, and while a guarded one is open USB sticks are read-only for every "
                         "user (docs/GUARD.md's table says what each level stops)");
  cmd->add_option("--socket", o->socket, "the socket coffers register on")->capture_default_str();
  cmd->add_option("--probe", o->probe, "")->group("");  // IT checks and tests: register an open coffer
  cmd->add_option("--approved", o->approved, "")->group("");
  cmd->add_flag("--watch", o->watch, "")->group("");
  cmd->add_flag("--guarded", o->guarded, "")->group("");  // probe as a guarded coffer: media read-only
  cmd->add_option("--readonly-record", o->readonly_record, "")->group("");  // tests: a private record file
  cmd->add_option("--query", o->query,
                  "guarded-open: exit 0 if a guarded coffer is open (removable media are then read-only), 1 if "
                  "not (the polkit rule refusing udisks2 mounts asks this)");
  cmd->callback([o, &ctx] {
    if (!o->query.empty()) {
      if (run_query(*o, ctx) != 0) throw CLI::RuntimeError(1);  // already said: no guarded coffer open
      return;
    }
    if (o->probe.empty()) run_service(*o, ctx);
    else run_probe(*o, ctx);
  });
}

}  // namespace coffer::cli
