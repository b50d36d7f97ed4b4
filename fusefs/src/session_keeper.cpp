// Starting and reaping a sandboxed session's keeper; see session_keeper.h.
#include "session_keeper.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "coffer/error.h"

extern char** environ;

namespace coffer::fusefs {

SessionKeeper::SessionKeeper(const std::vector<std::string>& argv) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorCode::kIo, "cannot create a pipe for the session");
  UniqueFd child_end(p[0]);
  ready_.reset(p[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, child_end.get(), 3);  // dup2 clears close-on-exec
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The mount's thread blocks the signals it takes through its signalfd;
  // the session must start with none blocked and default handlers, or its
  // programs (dbus-daemon, editors) could not be asked to end.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = posix_spawn(&pid_, args[0], &fa, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  child_end.reset();
  if (rc != 0) throw Error(ErrorCode::kIo, std::string("cannot start the session: ") + std::strerror(rc));
  pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  auto id = guard::process_identity(pid_);
  if (!pidfd_.valid() || !id) {
    ::kill(pid_, SIGKILL);
    reap();
    throw Error(ErrorCode::kIo, "the session ended before it started");
  }
  identity_ = *id;
}

void SessionKeeper::start() {
  char go = 'g';
  (void)!::write(ready_.get(), &go, 1);
  ready_.reset();
}

void SessionKeeper::hangup() const { ::kill(pid_, SIGHUP); }

int SessionKeeper::reap(std::chrono::seconds limit) {
  if (exited_) return -1;
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    ::usleep(20000);
  }
  exited_ = true;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace coffer::fusefs
