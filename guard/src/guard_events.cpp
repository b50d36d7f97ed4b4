// Judging one fanotify permission event: who opens (from /proc/TID/status
// and /proc/TID/syscall), whether it is a write, whether every coffer its
// user has open approves the place; answering it, then reporting a refusal
// to those coffers and the journal. Part of GuardService (guard_service.h).
#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "coffer/paths.h"
#include "guard_service.h"

namespace coffer::guard {

void GuardService::Impl::decide(pid_t tid, int event_fd, Verdict& v) {
  if (regs_by_uid.empty()) return;  // nobody registered: allow, read nothing
  if (readonly_wanted() && (!readonly_failed.empty() || !readonly_since.empty())) {
    // A removable filesystem that should be read-only but is not yet (being
    // remounted, or a writer kept the remount busy): no new write opens for
    // anyone, so a try succeeds once the writers present now are done. The
    // device number comes from the superblock (DONT_SYNC: no round trip).
    struct statx stx {};
    if (::statx(event_fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, 0, &stx) == 0 &&
        (readonly_failed.contains({stx.stx_dev_major, stx.stx_dev_minor}) ||
         readonly_since.contains({stx.stx_dev_major, stx.stx_dev_minor}))) {
      v.possibly_guarded = true;
      auto st = read_status(tid);
      if (!st || st->tgid != self_pid) {
        v.flags = opener_flags(tid);
        if (is_write(v.flags)) {
          v.allow = false;
          return;
        }
      }
    }
  }
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
    if (regs_by_uid.contains(u) && std::find(v.uids.begin(), v.uids.end(), u) == v.uids.end()) v.uids.push_back(u);
  if (v.uids.empty() || daemon_pids.contains(st->tgid)) {
    v.possibly_guarded = false;
    return;
  }
  v.tgid = st->tgid;
  v.flags = opener_flags(tid);
  if (!is_write(v.flags)) return;
  // A coffer's mount marked before it registered (as another FUSE
  // filesystem, which it was until verified): writes into a registered
  // coffer pass. DONT_SYNC: the device number without a FUSE round trip.
  if (!coffer_devs.empty()) {
    struct statx stx {};
    if (::statx(event_fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, 0, &stx) == 0 &&
        is_coffer_dev({stx.stx_dev_major, stx.stx_dev_minor}))
      return;
  }
  v.path = link_text("/proc/self/fd/" + std::to_string(event_fd));
  if (approved_for_all(v.uids, v.path)) return;
  v.allow = false;
  v.report = true;
  v.exe = link_text("/proc/" + std::to_string(v.tgid) + "/exe");
}

// Within an approved destination of every coffer the opener's user has
// open: each coffer's own policy must allow the write.
bool GuardService::Impl::approved_for_all(const std::vector<uid_t>& uids, const std::string& path) const {
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

void GuardService::Impl::respond(int event_fd, bool allow) {
  fanotify_response r{};
  r.fd = event_fd;
  r.response = allow ? FAN_ALLOW : FAN_DENY;
  for (;;) {
    if (::write(fan.get(), &r, sizeof r) == static_cast<ssize_t>(sizeof r)) return;
    if (errno != EINTR) return;  // ENOENT: the opener is gone already
  }
}

void GuardService::Impl::handle_fanotify() {
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

void GuardService::Impl::report(Pending& p) {
  const Verdict& v = p.verdict;
  BlockedReport r;
  r.pid = v.tgid;
  r.exe = v.exe;
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

}  // namespace coffer::guard
