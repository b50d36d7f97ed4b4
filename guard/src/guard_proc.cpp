// The guard service's small readers of /proc (status, syscall, links and
// files, all with plain system calls: they run on the event path) and the
// helpers its parts share; declared in guard_service.h.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "coffer/proc.h"
#include "guard_service.h"

namespace coffer::guard {
Error io_error(const std::string& what) {
  const int err = errno;
  return Error(ErrorCode::kIo, what + ": " + std::strerror(err));
}

void default_log(const std::string& line) { std::cerr << "coffer guard: " << line << std::endl; }

std::string normal_path(const std::string& p) {
  std::string s = std::filesystem::path(p).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::optional<std::string> read_proc_file(const std::string& path, std::size_t cap) {
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

std::string link_text(const std::string& path) { return read_link(path).value_or(std::string()); }

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

namespace {

bool read_remote_u64(pid_t tid, std::uint64_t address, std::uint64_t& out) {
  iovec local{&out, sizeof out};
  iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(address)), sizeof out};
  return ::process_vm_readv(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(sizeof out);
}

}  // namespace

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

}  // namespace coffer::guard
