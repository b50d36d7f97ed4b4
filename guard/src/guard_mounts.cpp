// Marking mounts: which mounts the guard watches (removable, network and
// other FUSE filesystems, never coffers or school sticks) and placing the
// fanotify marks from child processes with a deadline, since a mark on a
// dead network or FUSE server can hang. Part of GuardService (guard_service.h).
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "coffer/paths.h"
#include "guard_service.h"

namespace coffer::guard {
namespace {

// The superblock's own flag: the first of the super options.
bool super_readonly(const MountEntry& e) {
  return e.super_options == "ro" || e.super_options.compare(0, 3, "ro,") == 0;
}

}  // namespace

void GuardService::Impl::drain_mountinfo() {
  // Reading the file to its end is what re-arms POLLPRI for this fd.
  ::lseek(mountinfo.get(), 0, SEEK_SET);
  std::array<char, 8192> buf{};
  while (::read(mountinfo.get(), buf.data(), buf.size()) > 0) {
  }
}

const GuardService::Impl::MountDecision& GuardService::Impl::decide_mount(const MountEntry& e) {
  auto it = decisions.find(e.mount_id);
  if (it != decisions.end() && it->second.entry == e) return it->second;
  MountDecision d;
  d.entry = e;
  d.kind = classifier.classify_mount(e);
  d.guard = d.kind == MediaKind::kRemovable || d.kind == MediaKind::kNetwork || d.kind == MediaKind::kOtherFuse;
  if (!config.only_below.empty() && !path_within(e.mount_point, config.only_below.string())) {
    d.guard = false;
    return decisions[e.mount_id] = std::move(d);
  }
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
void GuardService::Impl::start_round() {
  try {
    classifier.refresh();
  } catch (const Error& e) {
    log(std::string("cannot reread the mount table: ") + e.what());
    return;
  }
  ++round;
  std::set<std::uint64_t> ids;
  std::set<Dev> queued;
  // Where each guarded superblock is mounted now. Anonymous device numbers
  // (tmpfs, FUSE) are reused as soon as they are freed, so a device number
  // still present in the table does not mean the guarded mount is: another
  // filesystem mounted meanwhile may have it.
  std::map<Dev, std::set<std::string>> guarded_at;
  for (const MountEntry& e : classifier.mounts()) {
    ids.insert(e.mount_id);
    const MountDecision& d = decide_mount(e);
    // Coffers are the protected side, but only those verified at
    // registration: by device, never by the "fuse.coffer" type.
    const bool guard = d.guard && !is_coffer_dev({e.major, e.minor});
    if (guard) guarded_at[{e.major, e.minor}].insert(e.mount_point);
    if (!guard || !queued.insert({e.major, e.minor}).second) continue;
    if (auto s = stuck.find({e.major, e.minor}); s != stuck.end() && s->second == e.mount_point) continue;
    MarkTarget t;
    t.mount_point = e.mount_point;
    t.mount_id = e.mount_id;
    t.dev = {e.major, e.minor};
    t.kind = d.kind;
    t.round = round;
    const bool fuse = e.fs_type == "fuse" || e.fs_type.compare(0, 5, "fuse.") == 0 || e.fs_type == "fuseblk";
    // Removable media go read-only while a guarded coffer is open. Not
    // network shares (the owner reaches the network without them; other
    // users' shares would break) nor FUSE (its server is a user's own
    // process, which writes wherever it likes): both keep the open check.
    if (readonly_wanted() && d.kind == MediaKind::kRemovable && !fuse && !super_readonly(e)) {
      const Dev dev{e.major, e.minor};
      ReadonlyEntry entry{e.mount_point, e.mount_id, e.fs_type};
      auto old = made_readonly.find(dev);
      bool recorded = old != made_readonly.end() && old->second == entry;
      if (!recorded) {
        made_readonly[dev] = entry;
        recorded = write_record();
        if (!recorded) made_readonly.erase(dev);
      }
      if (recorded) {
        t.make_readonly = true;
        readonly_since.try_emplace(dev, Clock::now());
      } else {
        readonly_failed[dev] = e.mount_point + ": the change cannot be recorded in " + config.readonly_record.string();
      }
    }
    if (fuse) {
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
    it = ids.contains(it->first) ? std::next(it) : decisions.erase(it);
  for (auto it = marked.begin(); it != marked.end();) {
    auto now_at = guarded_at.find(it->first);
    if (now_at != guarded_at.end() && now_at->second.contains(it->second.mount_point)) {
      ++it;
      continue;
    }
    // Gone, or its device number now belongs to another mount (which, if
    // guarded, is queued above and logged as guarded once marked).
    log("no longer guarding " + it->second.mount_point + " (unmounted)");
    it = marked.erase(it);
  }
  for (auto it = unmarked.begin(); it != unmarked.end();)
    it = guarded_at.contains(it->first) ? std::next(it) : unmarked.erase(it);
  for (auto it = readonly_failed.begin(); it != readonly_failed.end();)
    it = guarded_at.contains(it->first) ? std::next(it) : readonly_failed.erase(it);
  for (auto it = readonly_since.begin(); it != readonly_since.end();)
    it = guarded_at.contains(it->first) ? std::next(it) : readonly_since.erase(it);
  bool record_changed = false;
  for (auto it = made_readonly.begin(); it != made_readonly.end();) {
    auto now_at = guarded_at.find(it->first);
    if (now_at != guarded_at.end() && now_at->second.contains(it->second.mount_point)) {
      ++it;
      continue;
    }
    // Unmounted: nothing left to restore (a stick plugged in again comes
    // back writable, and is made read-only anew while still wanted).
    it = made_readonly.erase(it);
    record_changed = true;
  }
  if (record_changed) write_record();
  for (auto it = latest_round.begin(); it != latest_round.end();)
    it = guarded_at.contains(it->first) ? std::next(it) : latest_round.erase(it);
  for (auto it = stuck.begin(); it != stuck.end();) {
    auto now_at = guarded_at.find(it->first);
    it = now_at != guarded_at.end() && now_at->second.contains(it->second) ? std::next(it) : stuck.erase(it);
  }
  pump_jobs();
}

// The child: plain system calls only (the parent may have other threads).
void GuardService::Impl::mark_child(int fan_fd, const MarkTarget& t, const char* path) {
  if (t.as_owner) {
    // FUSE refuses every uid but the mount's owner, root included, unless
    // mounted allow_other: become the owner, keeping CAP_SYS_ADMIN for
    // the mark itself.
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    data[0].effective = data[0].permitted = 1u << CAP_SYS_ADMIN;
    if (::syscall(SYS_prctl, PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0 || ::syscall(SYS_setgroups, 0L, nullptr) != 0 ||
        ::syscall(SYS_setresgid, t.owner_gid, t.owner_gid, t.owner_gid) != 0 ||
        ::syscall(SYS_setresuid, t.owner_uid, t.owner_uid, t.owner_uid) != 0 || ::syscall(SYS_capset, &hdr, data) != 0)
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
  if (::fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_PERM, dir, ".") != 0) ::_exit(errno & 0xff);
  if (t.make_readonly) {
    // The superblock itself, through the mount just checked: every mount of
    // it turns read-only, in every namespace (a copy made earlier with
    // `unshare -Urm` included). fspick + reconfigure, not mount(MS_REMOUNT),
    // which would also reset this mount's nosuid/nodev/noexec flags. EBUSY:
    // a process holds a file there open for writing, or mapped shared and
    // writable, or an unlinked file open.
    // The kernel checks for writers at one instant: a program looping over
    // mkdir or short writes is caught between two calls on a later try, so
    // EBUSY is retried for a moment before it counts. A fresh fspick each
    // time: a context whose reconfigure failed refuses another (EBUSY).
    for (int attempt = 0;; ++attempt) {
      int fc = ::fspick(dir, "", FSPICK_CLOEXEC | FSPICK_EMPTY_PATH);
      if (fc < 0 || ::fsconfig(fc, FSCONFIG_SET_FLAG, "ro", nullptr, 0) != 0)
        ::_exit(kRemountFailed + (errno > kRemountErrnoMax ? kRemountErrnoMax : errno));
      if (::fsconfig(fc, FSCONFIG_CMD_RECONFIGURE, nullptr, nullptr, 0) == 0) break;
      const int err = errno;
      ::close(fc);
      if (err != EBUSY || attempt >= kRemountBusyTries)
        ::_exit(kRemountFailed + (err > kRemountErrnoMax ? kRemountErrnoMax : err));
      const timespec pause{0, 1000000};  // 1 ms
      ::nanosleep(&pause, nullptr);
    }
  }
  ::_exit(0);
}

void GuardService::Impl::pump_jobs() {
  // Killed children still in the kernel do not hold a slot nor keep a
  // registration waiting (they are few: their mounts are not tried again
  // until they are gone, see `stuck`).
  auto running = [this] {
    return static_cast<std::size_t>(
        std::count_if(jobs.begin(), jobs.end(), [](const MarkJob& j) { return !j.killed; }));
  };
  while (running() < kMaxMarkJobs && !mark_queue.empty()) {
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
    j.deadline = Clock::now() + (t.make_readonly ? std::chrono::duration_cast<Clock::duration>(kRemountDeadline)
                                                 : std::chrono::duration_cast<Clock::duration>(kMarkDeadline));
    j.target = std::move(t);
    jobs.push_back(std::move(j));
  }
  if (!mark_queue.empty() || running() > 0) return;
  if (!active && flush_pending) {
    flush_marks();  // a job that was running at deactivation may have marked
    flush_pending = false;
  }
  if (restore_pending && !readonly_wanted()) restore_readonly();  // a job may have remounted
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
void GuardService::Impl::activate() {
  if (active) return;
  active = true;
  log("a coffer is open: guarding removable, network and other FUSE filesystems");
  start_round();
}

void GuardService::Impl::deactivate() {
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

void GuardService::Impl::flush_marks() {
  if (::fanotify_mark(fan.get(), FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM, 0, AT_FDCWD, nullptr) != 0)
    log(std::string("cannot remove the marks: ") + std::strerror(errno));
}

void GuardService::Impl::collect_jobs() {
  const auto now = Clock::now();
  for (auto it = jobs.begin(); it != jobs.end();) {
    int status = 0;
    pid_t r = ::waitpid(it->pid, &status, WNOHANG);
    if (r == it->pid) {
      if (it->killed) {
        stuck.erase(it->target.dev);  // counted as failed when killed; may be tried again
      } else {
        finish_mark(it->target, WIFEXITED(status) ? WEXITSTATUS(status) : ETIMEDOUT);
      }
      it = jobs.erase(it);
      continue;
    }
    if (!it->killed && now >= it->deadline) {
      // A dead network or FUSE server: the child is stuck in the lookup.
      // Never wait for it here; its exit is collected later, and until then
      // its mount is not tried again (nor does it hold a slot or a reply).
      ::kill(it->pid, SIGKILL);
      it->killed = true;
      stuck[it->target.dev] = it->target.mount_point;
      finish_mark(it->target, ETIMEDOUT);
    }
    ++it;
  }
  pump_jobs();
}

void GuardService::Impl::finish_mark(const MarkTarget& t, int code) {
  auto latest = latest_round.find(t.dev);
  const bool superseded = latest == latest_round.end() || latest->second != t.round;
  // A superseded job's remount still took effect, and the later round sees
  // the superblock read-only and does not redo it: it is said here or never.
  if (superseded && !(t.make_readonly && code == 0 && readonly_wanted())) return;
  if (t.make_readonly && code == 0 && readonly_wanted()) {
    readonly_failed.erase(t.dev);
    std::string after;
    if (auto since = readonly_since.find(t.dev); since != readonly_since.end()) {
      after =
          " " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since->second).count()) +
          " ms after the guard saw it";
      readonly_since.erase(since);
    }
    log("made " + t.mount_point + " read-only for every user" + after);
  } else if (t.make_readonly && code != 0) {
    // Never changed: nothing to restore.
    if (made_readonly.erase(t.dev) > 0) write_record();
    if (readonly_wanted()) {
      int err = code >= kRemountFailed && code <= kRemountFailed + kRemountErrnoMax ? code - kRemountFailed : code;
      const std::string text = errno_text(err);
      std::string reason = t.mount_point + ": " + text;
      auto old = readonly_failed.find(t.dev);
      if (old == readonly_failed.end() || old->second != reason)
        log("cannot make " + t.mount_point + " read-only: " + text);
      readonly_failed[t.dev] = std::move(reason);
    }
    if (code >= kRemountFailed && code <= kRemountFailed + kRemountErrnoMax) code = 0;  // the mark itself holds
  }
  if (superseded) return;  // the later round's job records the mark
  if (code == 0) {
    unmarked.erase(t.dev);
    if (!marked.contains(t.dev)) log("guarding " + t.mount_point + " (" + std::string(media_kind_name(t.kind)) + ")");
    marked[t.dev] = {t.mount_point, t.kind};
    return;
  }
  marked.erase(t.dev);
  std::string reason = t.mount_point + ": " + errno_text(code);
  auto old = unmarked.find(t.dev);
  if (old == unmarked.end() || old->second != reason) log("cannot guard " + reason);
  unmarked[t.dev] = std::move(reason);
}

}  // namespace coffer::guard
