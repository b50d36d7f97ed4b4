// Removable media read-only while a `guarded` coffer is open: the record of
// what this guard changed (a root file under /run, rewritten before each
// remount), restoring exactly that when the last guarded registration goes
// or when a guard starts after a crash, and the refusal that names the
// programs keeping a stick writable. The remount itself happens in the
// mark child (guard_mounts.cpp). Part of GuardService (guard_service.h).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

#include "coffer/guard/mountinfo.h"
#include "guard_service.h"

namespace coffer::guard {
namespace {

constexpr const char* kRecordHeader = "coffer-guard read-only v1";
constexpr std::size_t kMaxRecord = 1u << 20;

// Mount points may hold any byte but NUL: spaces, tabs, newlines and
// backslashes are written as \ooo, as in mountinfo.
std::string escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c <= ' ' || c == '\\' || c >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Makes the superblock mounted at E (checked to still be that mount) rw or
// ro. 0 or errno.
int reconfigure(const MountEntry& e, bool readonly) {
  UniqueFd dir(::open(e.mount_point.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return errno;
  struct statx stx {};
  if (::statx(dir.get(), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) != 0)
    return errno;
  if (((stx.stx_mask & STATX_MNT_ID) && stx.stx_mnt_id != e.mount_id) || stx.stx_dev_major != e.major ||
      stx.stx_dev_minor != e.minor)
    return kMarkMoved;
  UniqueFd fc(::fspick(dir.get(), "", FSPICK_CLOEXEC | FSPICK_EMPTY_PATH));
  if (!fc.valid()) return errno;
  if (::fsconfig(fc.get(), FSCONFIG_SET_FLAG, readonly ? "ro" : "rw", nullptr, 0) != 0 ||
      ::fsconfig(fc.get(), FSCONFIG_CMD_RECONFIGURE, nullptr, nullptr, 0) != 0)
    return errno;
  return 0;
}

}  // namespace

// Written whole to a temporary file, synced, renamed over the record;
// removed when empty. false if it cannot be written (the remount is then
// not done: the guard never changes what it could not restore).
bool GuardService::Impl::write_record() {
  const std::string path = config.readonly_record.string();
  if (made_readonly.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      log("cannot remove " + path + ": " + std::strerror(errno));
      return false;
    }
    return true;
  }
  std::string text = std::string(kRecordHeader) + "\n";
  for (const auto& [dev, r] : made_readonly)
    text += std::to_string(dev.first) + " " + std::to_string(dev.second) + " " + std::to_string(r.mount_id) + " " +
            escape(r.fs_type) + " " + escape(r.mount_point) + "\n";
  const std::string tmp = path + ".new";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  bool ok = fd.valid();
  for (std::size_t off = 0; ok && off < text.size();) {
    ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd.get()) == 0;
  fd.reset();
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    log("cannot record the read-only remounts in " + path + ": " + std::strerror(errno));
    ::unlink(tmp.c_str());
  }
  return ok;
}

// At start: a guard that died (killed, crashed, the machine's power kept)
// left its record; make writable again exactly what it lists.
void GuardService::Impl::recover_record() {
  const std::string path = config.readonly_record.string();
  auto text = read_proc_file(path, kMaxRecord);
  if (!text) return;  // none: nothing was left read-only
  std::istringstream in(*text);
  std::string line;
  if (!std::getline(in, line) || line != kRecordHeader) {
    log(path + " is not a record this guard understands; left as it is, and nothing restored from it");
    return;
  }
  while (std::getline(in, line)) {
    std::istringstream f(line);
    unsigned major = 0, minor = 0;
    std::uint64_t id = 0;
    std::string type, mp;
    if (!(f >> major >> minor >> id >> type >> mp)) continue;
    auto t = unescape_mountinfo_field(type);
    auto m = unescape_mountinfo_field(mp);
    if (!t || !m) continue;
    made_readonly[{major, minor}] = {*m, id, *t};
  }
  if (made_readonly.empty()) {
    write_record();
    return;
  }
  log("restoring what a previous copy guard made read-only (" + path + ")");
  restore_readonly();
}

// The last guarded registration went (or a crashed guard's record): make
// writable again what this guard made read-only, and nothing else. A
// filesystem no longer mounted where it was, or now another filesystem at
// that place, is left alone.
void GuardService::Impl::restore_readonly() {
  readonly_failed.clear();
  readonly_since.clear();
  for (MarkTarget& t : mark_queue) t.make_readonly = false;
  for (const MarkJob& j : jobs)
    if (j.target.make_readonly) {
      restore_pending = true;  // it may still remount: restore once it ends
      return;
    }
  restore_pending = false;
  if (made_readonly.empty()) return;
  try {
    classifier.refresh();
  } catch (const Error& e) {
    log(std::string("cannot reread the mount table to restore the read-only remounts: ") + e.what());
    return;  // the record stays: the next guard start tries again
  }
  for (const auto& [dev, r] : made_readonly) {
    const MountEntry* now = nullptr;
    for (const MountEntry& e : classifier.mounts())
      if (e.mount_point == r.mount_point && e.major == dev.first && e.minor == dev.second && e.fs_type == r.fs_type)
        now = &e;  // the last: mounted on top
    if (!now) {
      log("not restoring " + r.mount_point + ": no longer mounted there");
      continue;
    }
    if (int err = reconfigure(*now, false); err != 0)
      log("cannot make " + r.mount_point + " writable again: " + errno_text(err) + "; remount it by hand");
    else log("made " + r.mount_point + " writable again");
  }
  made_readonly.clear();
  write_record();
}

// Why a guarded coffer cannot open: which sticks stayed writable and which
// programs (any user's: a read-only remount waits for every writer) hold
// files open for writing there.
std::string GuardService::Impl::readonly_refusal() {
  // One line: the CLI shows control characters escaped.
  std::set<Dev> devs;
  std::string text = "removable media could not be made read-only (";
  const char* sep = "";
  for (const auto& [dev, reason] : readonly_failed) {
    devs.insert(dev);
    text += sep + reason;
    sep = "; ";
  }
  text += ")";
  auto writers = scan_writers(std::nullopt, self_pid, devs);
  sep = ": ";
  for (const OpenWriter& w : writers) {
    text += sep + ("process " + std::to_string(w.pid) + " (" + w.exe + ") writing " + w.path);
    sep = "; ";
  }
  if (writers.empty())
    text +=
        ": no program has a file there open for writing now, but one may have a file there mapped for "
        "writing, or an unlinked file open";
  text += ". Close those programs (or remove the stick) and open the coffer again";
  return text;
}

}  // namespace coffer::guard
