// The registry of coffers: the registration socket's connections, checking
// who registers (verify_coffer_registration), replies and reports queued
// per connection, and the scan for descriptors already open for writing.
// Part of GuardService (guard_service.h).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "coffer/unique_dir.h"
#include "guard_service.h"

namespace coffer::guard {

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

void GuardService::Impl::accept_clients() {
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
    // Registrations are never starved by connections that do not register
    // (a program of the same user holding the limit made a coffer open
    // unguarded): a user's registered coffers have their own limit, and a
    // user's connections still waiting to register are few, the oldest
    // giving way to a new one.
    std::size_t registered = 0, waiting = 0;
    int oldest = -1;
    for (const auto& [cfd, c] : conns) {
      if (c.peer.uid != cred.uid || c.drop) continue;
      if (c.registered) {
        ++registered;
      } else {
        ++waiting;
        if (oldest < 0 || c.accepted_at < conns.at(oldest).accepted_at) oldest = cfd;
      }
    }
    if (waiting >= kMaxWaitingPerUid && oldest >= 0) {
      send_now(oldest, encode(RegisterReply{
                           false, "the copy guard closed a connection that did not register", {}, {}, {}, {}}));
      close_connection(oldest);
    }
    if (conns.size() >= kMaxConnections || registered >= kMaxConnectionsPerUid) {
      send_now(fd, encode(RegisterReply{false, "the copy guard has too many connections", {}, {}, {}, {}}));
      continue;
    }
    Connection c;
    c.peer = {cred.pid, cred.uid, cred.gid};
    c.accepted_at = Clock::now();
    c.fd = std::move(sock);
    // A coffer sends its registration right after connecting: read it now,
    // before a burst of other connections could push it out.
    read_client(conns.emplace(fd, std::move(c)).first->second);
  }
}

void GuardService::Impl::send_now(int fd, const std::string& line) {
  (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void GuardService::Impl::queue_send(Connection& c, const std::string& line) {
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

void GuardService::Impl::flush(Connection& c) {
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

void GuardService::Impl::read_client(Connection& c) {
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
      if (is_query(*line)) {
        handle_query(c, *line);
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

void GuardService::Impl::refuse(Connection& c, const std::string& why) {
  send_now(c.fd.get(), encode(RegisterReply{false, why, {}, {}, {}, {}}));
  c.drop = true;
}

// One question, one answer, then the connection closes: a query never
// registers and never holds a connection.
void GuardService::Impl::handle_query(Connection& c, const std::string& line) {
  try {
    decode_query_request(line);
  } catch (const Error& e) {
    refuse(c, e.what());
    return;
  }
  send_now(c.fd.get(), encode(QueryReply{readonly_wanted()}));
  c.drop = true;
}

void GuardService::Impl::handle_register(Connection& c, const std::string& line) {
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
  // The coffer's own mount, by device, from the registrant's mount table
  // (checked just above to be its fuse.coffer mount): exempt from now on.
  if (auto text = read_proc_file("/proc/" + std::to_string(c.peer.pid) + "/mountinfo")) {
    try {
      for (const MountEntry& e : parse_mountinfo(*text))
        if (e.mount_point == mp && e.fs_type == "fuse.coffer") c.coffer_dev = Dev{e.major, e.minor};
    } catch (const Error&) {
    }
  }
  if (c.coffer_dev) coffer_devs.insert(*c.coffer_dev);
  // Enforced from here on, for every mount already marked; the answer
  // waits until the rest are.
  c.registered = true;
  c.mountpoint = mp;
  c.approved = std::move(approved);
  regs_by_uid[c.peer.uid].push_back(c.fd.get());
  daemon_pids.insert(c.peer.pid);
  const bool first_readonly = req.readonly_media && !readonly_wanted();
  if (req.readonly_media) {
    c.readonly_media = true;
    ++readonly_regs;
    restore_pending = false;  // what is still read-only stays so
  }
  if (active && first_readonly) {
    log("a guarded coffer is open: making removable filesystems read-only for everyone");
    start_round();  // already marking for other coffers: now remount too
  }
  activate();
  if (mark_queue.empty() && jobs.empty()) reply_registered(c);
  else awaiting_reply.push_back(c.fd.get());
}

void GuardService::Impl::reply_registered(Connection& c) {
  if (c.readonly_media && !readonly_failed.empty()) {
    std::string why = readonly_refusal();
    log("refused the guarded coffer at " + c.mountpoint + " (pid " + std::to_string(c.peer.pid) +
        "): removable media could not be made read-only");
    refuse(c, why);
    return;
  }
  RegisterReply reply;
  reply.ok = true;
  for (const auto& [_, m] : marked) reply.marked.push_back(m.mount_point);
  for (const auto& [_, u] : unmarked) reply.unmarked.push_back(u);
  if (c.readonly_media)
    for (const auto& [_, r] : made_readonly) reply.readonly.push_back(r.mount_point);
  reply.open_writers = scan_open_writers(c.peer.uid, c.peer.pid);
  queue_send(c, encode(reply));
  log("coffer at " + c.mountpoint + " registered by pid " + std::to_string(c.peer.pid) + " (uid " +
      std::to_string(c.peer.uid) + "); " + std::to_string(reply.marked.size()) + " filesystem(s) guarded" +
      (reply.open_writers.empty()
           ? ""
           : "; " + std::to_string(reply.open_writers.size()) + " descriptor(s) already open for writing on them"));
}

void GuardService::Impl::close_connection(int fd) {
  auto it = conns.find(fd);
  if (it == conns.end()) return;
  Connection& c = it->second;
  if (c.registered) {
    auto& list = regs_by_uid[c.peer.uid];
    list.erase(std::remove(list.begin(), list.end(), fd), list.end());
    if (list.empty()) regs_by_uid.erase(c.peer.uid);
    if (auto p = daemon_pids.find(c.peer.pid); p != daemon_pids.end()) daemon_pids.erase(p);
    if (c.coffer_dev)
      if (auto d = coffer_devs.find(*c.coffer_dev); d != coffer_devs.end()) coffer_devs.erase(d);
    awaiting_reply.erase(std::remove(awaiting_reply.begin(), awaiting_reply.end(), fd), awaiting_reply.end());
    log("coffer at " + c.mountpoint + " unregistered (pid " + std::to_string(c.peer.pid) + ")");
    if (c.readonly_media && --readonly_regs == 0) restore_readonly();
  }
  conns.erase(it);
  if (regs_by_uid.empty()) deactivate();
}

// Writable descriptors the user's processes already hold on guarded
// filesystems: fanotify only sees new opens. /proc/PID/fdinfo gives flags
// and mount id, the process's own mountinfo maps the id to a device; the
// targets are never stat()ed.
std::vector<OpenWriter> GuardService::Impl::scan_open_writers(uid_t uid, pid_t exclude) {
  std::set<Dev> devs;
  for (const auto& [dev, _] : marked) devs.insert(dev);
  return scan_writers(uid, exclude, devs);
}

std::vector<OpenWriter> GuardService::Impl::scan_writers(std::optional<uid_t> uid, pid_t exclude,
                                                         const std::set<Dev>& devs) {
  std::vector<OpenWriter> out;
  if (devs.empty()) return out;
  std::map<std::string, std::map<std::uint64_t, Dev>> namespaces;  // by "mnt:[inode]"
  UniqueDir proc(::opendir("/proc"));
  if (!proc) return out;
  while (dirent* e = ::readdir(proc.get())) {
    if (out.size() >= kMaxOpenWriters) break;
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == exclude || pid == self_pid) continue;
    auto st = read_status(static_cast<pid_t>(pid));
    if (!st || (uid && st->ruid != *uid && st->euid != *uid && st->fsuid != *uid)) continue;
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
    UniqueDir fdinfo(::opendir((base + "/fdinfo").c_str()));
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
      if (dev == nit->second.end() || !devs.contains(dev->second)) continue;
      if (exe.empty()) exe = link_text(base + "/exe");
      out.push_back({static_cast<pid_t>(pid), exe, link_text(base + "/fd/" + f->d_name)});
      if (out.size() >= kMaxOpenWriters) break;
    }
  }
  return out;
}

}  // namespace coffer::guard
