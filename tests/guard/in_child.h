// Running a check in a forked child (Landlock, namespaces and seccomp
// filters apply to the calling process for good, so each check confines a
// child, never the test runner).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <functional>
#include <string>

#include "child_exit.h"

namespace coffer::test {

// Runs CHECK in a forked child, bounded by alarm(), and returns what it
// reported: empty when every expectation held there.
inline std::string in_child(const std::function<std::string()>& check) {
  int report[2];
  if (::pipe(report) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(report[0]);
    ::alarm(10);
    std::string msg;
    try {
      msg = check();
    } catch (const std::exception& e) {
      msg = std::string("exception: ") + e.what();
    }
    (void)!::write(report[1], msg.data(), msg.size());
    child_exit(msg.empty() ? 0 : 1);
  }
  ::close(report[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(report[0], buf, sizeof buf)) != 0) {
    if (n < 0 && errno != EINTR) break;
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(report[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return out + " (child killed by signal " + std::to_string(WTERMSIG(status)) + ")";
  if (WEXITSTATUS(status) != 0 && out.empty()) return "child failed silently";
  return out;
}

}  // namespace coffer::test
