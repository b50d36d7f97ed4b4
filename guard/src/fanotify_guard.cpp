// The `coffer guard` service: a fanotify permission-event loop, the
// registration socket and the mount watcher, all on one thread so that the
// registry is read by the event path without locks. Rules that keep it from
// deadlocking the machine it guards (copy-prevention.md §2, fapolicyd):
// answer every event before logging or reporting anything; never open a
// file on a guarded filesystem except through the event's own descriptor;
// never read another process's maps, cmdline or environ; do anything that
// can hang on a dead server (marking a network or FUSE mount) in a child
// process with a deadline. This file holds setup and the loop; the parts
// are in guard_events.cpp, guard_mounts.cpp and guard_clients.cpp.
#include "coffer/guard/fanotify_guard.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "coffer/unix_socket.h"
#include "guard_service.h"

namespace coffer::guard {

GuardService::Impl::Impl(GuardConfig c) : config(std::move(c)), classifier(checked_media(config.media)) {
  log = config.log ? config.log : default_log;
  verify = config.verify_registration ? config.verify_registration : verify_coffer_registration;
}

MediaConfig GuardService::Impl::checked_media(MediaConfig m) {
  if (m.mountinfo_text)
    throw Error(ErrorCode::kUsage, "the copy guard needs a real mount table to watch, not injected text");
  return m;
}

void GuardService::Impl::setup() {
  stop_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) throw io_error("cannot create an eventfd");

  // FAN_REPORT_TID: /proc/TID/syscall of the very thread that is opening.
  // An unlimited queue, because a full queue lets permission events through.
  fan.reset(::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_TID | FAN_UNLIMITED_QUEUE,
                            O_RDONLY | O_LARGEFILE | O_CLOEXEC));
  if (!fan.valid()) {
    if (errno == EPERM) throw Error(ErrorCode::kPolicy, kNeedsRoot);
    if (errno == EINVAL)
      throw Error(ErrorCode::kIo, "this kernel's fanotify cannot report thread ids (Linux 4.20 or later is needed)");
    throw io_error("cannot start fanotify");
  }

  mountinfo.reset(::open(config.media.mountinfo_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!mountinfo.valid()) throw io_error("cannot open " + config.media.mountinfo_path.string());
  drain_mountinfo();

  open_socket();
  // After the socket: a second guard must not undo the first one's work.
  recover_record();
}

void GuardService::Impl::open_socket() {
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

GuardService::Impl::~Impl() {
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
  // Stopping (every coffer has just lost its guard and locks): what this
  // guard made read-only becomes writable again.
  jobs.clear();
  readonly_regs = 0;
  restore_readonly();
}

void GuardService::Impl::loop(const std::atomic<bool>* stop) {
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
    if (readonly_wanted() && !readonly_failed.empty()) wake = std::min(wake, last_readonly_retry + kReadonlyRetry);
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
    if (active && readonly_wanted() && !readonly_failed.empty() && mark_queue.empty() &&
        std::none_of(jobs.begin(), jobs.end(), [](const MarkJob& j) { return !j.killed; }) &&
        now - last_readonly_retry >= kReadonlyRetry) {
      last_readonly_retry = now;
      start_round();  // the stick that stayed writable, again
    }

    if (config.heartbeat && now - last_heartbeat >= std::chrono::milliseconds(500)) {
      last_heartbeat = now;
      config.heartbeat();
    }
  }
}

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
