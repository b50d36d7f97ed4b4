// The sandboxed session's keeper process (layer 3 of the copy guard): a
// hidden coffer command, cli/src/cmd_session_keeper.cpp, started by the
// mount's process with a pipe on descriptor 3; the byte sent by start()
// tells it the filesystem knows it and it may begin.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "coffer/guard/session.h"
#include "coffer/unique_fd.h"

namespace coffer::fusefs {

class SessionKeeper {
 public:
  // Starts argv (argv[0] an absolute path). Throws coffer::Error.
  explicit SessionKeeper(const std::vector<std::string>& argv);
  SessionKeeper(const SessionKeeper&) = delete;
  SessionKeeper& operator=(const SessionKeeper&) = delete;

  const guard::ProcessIdentity& identity() const { return identity_; }
  int pidfd() const { return pidfd_.get(); }  // readable once it has exited
  void start();                               // lets it begin
  bool running() const { return !exited_; }
  void hangup() const;
  // The keeper's exit status (128 + signal if killed); waits up to `limit`,
  // then kills it.
  int reap(std::chrono::seconds limit = std::chrono::seconds(0));

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd ready_;
  guard::ProcessIdentity identity_;
  bool exited_ = false;
};

}  // namespace coffer::fusefs
