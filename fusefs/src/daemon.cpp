// The mount lifecycle; see daemon.h. A Mount holds what one mount needs
// from unlock to lock; serve() runs its phases: start (mount, copy guard,
// session), the poll loop, the lock sequence. Threads: the FUSE loop runs on
// its own thread; the serving thread owns everything else (signals, the
// control socket, the timers, locking) through one poll loop.
#include "coffer/fusefs/daemon.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "caller_audit.h"
#include "coffer/error.h"
#include "coffer/fusefs/control.h"
#include "coffer/fusefs/filesystem.h"
#include "coffer/keystore/encoding.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_drop.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/files/filestore.h"
#include "copy_guard.h"
#include "export.h"
#include "logind.h"
#include "mount_timers.h"
#include "session.h"
#include "session_keeper.h"

namespace coffer::fusefs {
namespace fs = std::filesystem;

namespace {

std::string duration_text(std::chrono::seconds d) {
  auto m = d.count() / 60, s = d.count() % 60;
  if (s == 0) return std::to_string(m) + (m == 1 ? " minute" : " minutes");
  if (m == 0) return std::to_string(s) + " seconds";
  return std::to_string(m) + " min " + std::to_string(s) + " s";
}

void notify_desktop(const std::string& text) {
  if (!std::getenv("DISPLAY") && !std::getenv("WAYLAND_DISPLAY")) return;
  const char* argv[] = {"notify-send", "--app-name=coffer", "Coffer", text.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "notify-send", nullptr, nullptr, const_cast<char**>(argv), environ) == 0)
    std::thread([pid] { waitpid(pid, nullptr, 0); }).detach();
}

// One mount, from the unlocked coffer to the end of the lock sequence. Its
// members are what serve() used to keep on its stack; the FUSE thread uses
// them until it ends (see serve()).
class Mount {
 public:
  Mount(vault::Coffer coffer, const MountOptions& options);
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  // Mounts, registers with the copy guard, starts the session; on_ready
  // runs once the mount is usable. Throws with nothing left mounted.
  void start(const std::function<void()>& on_ready);
  // Serves until something asks for a lock; returns why.
  std::string run();
  // Stops serving, makes it durable, forgets the keys, drops caches,
  // unmounts and answers a waiting `coffer lock`.
  void lock(const std::string& reason);
  // True once the FUSE thread has ended (joined). With files still open the
  // detached mount can keep it waiting: false after about 2 s (100 ms when
  // files were open).
  bool join_loop();

 private:
  std::string poll_once(MountTimers& timers);
  std::string answer_control();
  MountStatus status() const;
  void audit(const vault::AuditEvent& e) { coffer_->audit(e); }
  void purge();
  void copy_to_drop();

  const MountOptions& o_;
  UniqueFd sig_fd_, loop_done_;
  std::optional<vault::Coffer> coffer_;
  const vault::Header header_;
  const std::vector<std::string> notices_;
  // The end of a bounded hold (read once, before the filesystem runs).
  std::optional<std::int64_t> hold_until_;
  std::optional<vault::FileStore> store_;
  std::optional<Filesystem> filesystem_;
  std::optional<FuseSession> session_;
  std::optional<CopyGuard> guard_;
  fs::path socket_path_;
  std::optional<ControlServer> control_;
  std::thread loop_;
  std::optional<LogindWatch> logind_;
  std::optional<SessionKeeper> keeper_;
  std::optional<ControlServer::Client> lock_client_;
  std::vector<std::uint64_t> open_at_lock_;
};

// Signals are taken synchronously through a signalfd, in the serving thread
// only: blocked before any other thread starts, so all of them inherit it.
UniqueFd take_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  UniqueFd fd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  // A client that hangs up before its reply must not kill the daemon.
  ::signal(SIGPIPE, SIG_IGN);
  return fd;
}

Mount::Mount(vault::Coffer coffer, const MountOptions& o)
    : o_(o),
      sig_fd_(take_signals()),
      loop_done_(::eventfd(0, EFD_CLOEXEC)),
      coffer_(std::move(coffer)),
      header_(coffer_->header()),
      notices_(coffer_->notices()),
      hold_until_(header_.on_hold ? coffer_->hold_until() : std::nullopt) {
  store_.emplace(coffer_->database(), coffer_->chunk_mac_key(), vault::system_clock());
  coffer_->forget_master_key();
  store_->remove_orphans();
  MountInfo info;
  info.mounter_uid = ::getuid();
  info.mounter_gid = ::getgid();
  info.read_only = o.read_only;
  info.readme = readme_text(header_, o.idle_timeout);
  info.coffer_name = o.coffer_path.filename().string();
  info.coffer_expires = header_.on_hold ? 0 : header_.expires;
  filesystem_.emplace(*store_, coffer_->database(), info);
  // Every first open of a view or file by a process is audited before it is
  // served (the hook runs under the filesystem's mutex, which also guards
  // the database the audit writes to), with where that process writes
  // (docs/DPO.md): "writing to: none" or each file it has open for writing
  // and its class, so a copy layer 1 lets through still shows.
  filesystem_->set_open_hook([this](const Caller& c, const std::string& object, bool write, const std::string& writes) {
    audit(caller_event(object.rfind("files/", 0) == 0 ? vault::AuditKind::kOpenFile : vault::AuditKind::kOpenView,
                       c.uid, c.pid, object + (write ? " (write)" : " (read)"), "ok",
                       writes.empty() ? "" : "writing to: " + writes, vault::system_clock().now()));
  });
  copy_to_drop();
}

// With a deadline (audit_drop.h: the copy runs in a child process): a
// school share that never answers must not hang `open` or a lock. Longer
// than the prompt's limit, since a whole trail may go over a slow link.
void Mount::copy_to_drop() {
  constexpr std::chrono::seconds kMountDropLimit{10};
  if (o_.audit_drop_dir && header_.audit)
    vault::copy_to_drop_within(coffer_->sidecar(), *o_.audit_drop_dir, o_.coffer_path, header_.vault_id,
                               kMountDropLimit);
}

// Records and files whose own expiry has passed go at once, and then every
// minute (with the clock mark): their views disappear, the rows are deleted
// (secure_delete), and the purge is audited by count.
void Mount::purge() {
  if (header_.on_hold) return;  // a hold suspends purges too
  PurgeResult r = filesystem_->purge_expired(vault::system_clock().now());
  if (r.pupils == 0 && r.files == 0) return;
  filesystem_->with_database([&](vault::Database&) {
    coffer_->audit(vault::AuditKind::kExpiryPurge, "", "ok",
                   std::to_string(r.pupils) + " pupil record(s), " + std::to_string(r.files) + " file(s)");
  });
  for (auto ino : r.invalidate) session_->invalidate(ino);
}

void Mount::start(const std::function<void()>& on_ready) {
  std::string options =
      "default_permissions,nosuid,nodev,noexec,fsname=coffer:" + o_.coffer_path.stem().string() + ",subtype=coffer";
  if (o_.read_only) options += ",ro";
  if (o_.allow_other) options += ",allow_other";
  fs::path host_dir = o_.coffer_path.parent_path();
  session_.emplace(*filesystem_, options, [host_dir] {
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
  session_->mount(o_.mountpoint.string());
  try {
    guard_.emplace(o_, *filesystem_, [this](const vault::AuditEvent& e) { audit(e); });
    socket_path_ = control_socket_path(keystore::to_hex(header_.vault_id));
    control_.emplace(ControlServer::listen(socket_path_));
    loop_ = std::thread([this] {
      session_->run();
      std::uint64_t one = 1;
      (void)!::write(loop_done_.get(), &one, sizeof one);
    });
    logind_.emplace();
    // The first purge reads the records: in a damaged coffer it fails here,
    // before the main loop's own guard.
    purge();
    guard_->connect_service();  // layer 2
    if (!o_.session_keeper.empty()) {
      keeper_.emplace(o_.session_keeper);
      guard_->admit_session(keeper_->identity());
      keeper_->start();
    }
  } catch (...) {
    // Never leave the loop thread running (std::terminate) or the folder
    // mounted with nothing behind it.
    session_->unmount();
    if (loop_.joinable()) loop_.join();
    throw;
  }
  on_ready();
  // Expiry approaching: the terminal was told by `open`; the desktop too.
  for (auto& n : notices_) notify_desktop(o_.coffer_path.filename().string() + ": " + n);
}

std::string Mount::run() {
  const vault::Clock& wall = vault::system_clock();
  TimerSettings settings{o_.idle_timeout, header_.expires, header_.on_hold, o_.coffer_path.filename().string()};
  // A bounded hold keeps the coffer open only until its end: then it locks
  // as at expiry, and the next unlock lifts the hold and seals or wipes it.
  if (hold_until_) {
    settings.on_hold = false;
    settings.expires = std::max(header_.expires, *hold_until_);
  }
  TimerActions actions{
      .idle_for = [this] { return filesystem_->idle_for(); },
      .commit_requested = [this] { return filesystem_->commit_requested(); },
      .commit = [this] { filesystem_->commit(); },
      .mark_clock =
          [this, &wall] {
            filesystem_->with_database([&](vault::Database& db) { vault::raise_clock_mark(db, wall.now()); });
            purge();
          },
      .notify = notify_desktop,
      .user_idle_for = nullptr};
  if (logind_->active()) actions.user_idle_for = [this](std::chrono::seconds t) { return logind_->user_idle_for(t); };
  MountTimers timers(std::move(settings), std::move(actions), steady_clock(), wall);
  std::string reason;
  while (reason.empty()) {
    try {
      reason = poll_once(timers);
    } catch (const std::exception& e) {
      // Never leave the mount up with an unhandled error: lock instead.
      reason = std::string("internal error: ") + e.what();
    }
  }
  return reason;
}

// One wake-up of the loop; returns a lock reason, or empty.
std::string Mount::poll_once(MountTimers& timers) {
  pollfd p[6] = {{sig_fd_.get(), POLLIN, 0},        {control_->fd(), POLLIN, 0},
                 {loop_done_.get(), POLLIN, 0},     {keeper_ ? keeper_->pidfd() : -1, POLLIN, 0},
                 {guard_->service_fd(), POLLIN, 0}, {logind_->fd(), POLLIN, 0}};
  ::poll(p, logind_->active() ? 6 : 5, timers.poll_timeout_ms());
  if (p[4].revents & (POLLIN | POLLHUP | POLLERR)) {
    if (auto reason = guard_->on_service_event(); !reason.empty()) return reason;
  }
  if (p[3].revents & POLLIN) {
    int status = keeper_->reap();
    if (o_.session_status) *o_.session_status = status;
    return "the session ended";
  }
  if (logind_->active()) {
    std::string reason = logind_->process();
    if (reason.empty()) reason = timers.check_logind_idle();
    if (!reason.empty()) return reason;
  }
  if (p[0].revents & POLLIN) {
    signalfd_siginfo si{};
    (void)!::read(sig_fd_.get(), &si, sizeof si);
    return std::string("signal ") + strsignal(static_cast<int>(si.ssi_signo));
  }
  if (p[2].revents & POLLIN) return "unmounted from outside";
  if (p[1].revents & POLLIN) {
    if (auto reason = answer_control(); !reason.empty()) return reason;
  }
  return timers.tick();
}

MountStatus Mount::status() const {
  MountStatus s;
  s.coffer_path = o_.coffer_path;
  s.mountpoint = o_.mountpoint;
  s.purpose = header_.profile;
  s.owner = header_.owner;
  s.expires = header_.expires;
  s.idle_timeout_seconds = o_.idle_timeout.count();
  auto idle_for = std::chrono::duration_cast<std::chrono::seconds>(filesystem_->idle_for());
  s.idle_seconds_left = std::max<std::int64_t>(0, (o_.idle_timeout - idle_for).count());
  s.pid = ::getpid();
  s.read_only = o_.read_only;
  s.protection = o_.protection;
  // Layer 2 only while the registration is live.
  s.copy_guard = guard_ ? copy_guard_lines(o_, guard_->service_registered()) : copy_guard_lines(o_);
  if (guard_) s.copy_guard.insert(s.copy_guard.end(), guard_->warnings().begin(), guard_->warnings().end());
  for (auto& a : o_.approved_destinations) s.approved.push_back(a.string());
  return s;
}

std::string Mount::answer_control() {
  auto client = control_->accept();
  if (!client) return {};
  switch (client->request.kind) {
    case ControlRequest::Kind::kStatus:
      client->reply(to_json(status()));
      break;
    case ControlRequest::Kind::kExport:
    case ControlRequest::Kind::kBadExport:
      client->reply(answer_export(
          *filesystem_, o_.approved_destinations,
          system_export_media_check({o_.declared_removable, o_.allowed_luks_uuids, o_.allowed_usb_serials}), *client,
          [this](const vault::AuditEvent& e) { audit(e); }));
      break;
    case ControlRequest::Kind::kLock:
      lock_client_ = std::move(client);  // answered once locked
      return "coffer lock";
    case ControlRequest::Kind::kUnknown:
      break;  // closed unanswered
  }
  return {};
}

void Mount::lock(const std::string& reason) {
  auto lock_start = std::chrono::steady_clock::now();
  LockReply reply;
  reply.reason = reason;
  try {
    reply.held_open_by = processes_using(o_.mountpoint);
  } catch (const std::exception&) {
  }
  try {
    filesystem_->with_database([&](vault::Database& db) {
      vault::raise_clock_mark(db, vault::system_clock().now());
      coffer_->audit(vault::AuditKind::kLock, "", "ok", reason);
    });
  } catch (const std::exception&) {
    // A failed write fail-stops the store; lock() below reports it.
  }
  try {
    filesystem_->lock();
  } catch (const std::exception& e) {
    reply.error = e.what();
  }
  // After lock(): nothing can be opened any more, so this list is complete.
  open_at_lock_ = filesystem_->open_inodes();
  for (auto ino : open_at_lock_) session_->invalidate(ino);
  store_.reset();
  copy_to_drop();   // the trail up to this lock, while the school share is reachable
  coffer_.reset();  // closes the database; the keys are wiped with it
  session_->unmount();
  ::unlink(socket_path_.c_str());
  logind_->release_sleep_inhibitor();  // locked: the machine may sleep now
  if (keeper_ && keeper_->running()) {
    // Locked under a running session: its programs are told to end (their
    // open files give errors already).
    keeper_->hangup();
    if (o_.session_status) *o_.session_status = keeper_->reap(std::chrono::seconds(3));
  }
  reply.locked = reply.error.empty();
  reply.lock_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - lock_start).count();
  if (lock_client_) {
    lock_client_->reply(encode_lock_reply(reply));
    lock_client_.reset();
  }
}

bool Mount::join_loop() {
  for (int i = 0; i < (open_at_lock_.empty() ? 100 : 5); ++i) {
    pollfd p{loop_done_.get(), POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      loop_.join();
      return true;
    }
  }
  return false;
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
         vault::local_day(h.expires) +
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
    std::string entry = pid;
    entry.append(" (").append(name).append(")");
    out.push_back(std::move(entry));
  }
  return out;
}

ServeResult serve(vault::Coffer coffer, const MountOptions& options, const std::function<void()>& on_ready) {
  auto mount = std::make_unique<Mount>(std::move(coffer), options);
  mount->start(on_ready);
  ServeResult result;
  result.reason = mount->run();
  mount->lock(result.reason);
  if (!mount->join_loop()) {
    // With files still open the detached mount keeps the FUSE loop waiting
    // on /dev/fuse; only ending the process closes it, which aborts the
    // connection so those handles get errors from now on. The loop still
    // uses the mount's objects, so they stay (never destroyed) and the
    // caller ends the process without running destructors.
    static_cast<void>(mount.release());
    result.must_exit_now = true;
  }
  return result;
}

}  // namespace coffer::fusefs
