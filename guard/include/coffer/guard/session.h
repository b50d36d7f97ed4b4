// Who belongs to a sandboxed session. `coffer run` makes its launcher a
// child subreaper; the filesystem then serves only the launcher and its
// descendants on every lookup, readdir, open and read, so pupil names never
// reach a process outside the sandbox.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace coffer::guard {

// A process at one point in its life: a pid is reused, a pid with its start
// time (clock ticks after boot) is not.
struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  bool operator==(const ProcessIdentity&) const = default;
};

// Both read only PROC/PID/stat, never maps, cmdline or environ: those take
// the target's memory lock and can deadlock a FUSE server whose caller is
// blocked in a page fault on the mount. PID may be a thread id, as FUSE
// reports it: a thread's parent is its process's parent. nullopt if the
// process is gone or its stat does not parse.
std::optional<ProcessIdentity> process_identity(pid_t pid, const std::filesystem::path& proc = "/proc");
std::optional<pid_t> parent_of(pid_t pid, const std::filesystem::path& proc = "/proc");

// Membership by ancestry: a process is a member if its parent chain reaches
// the leader (pid and start time, so a reused pid cannot pose as it). The
// leader should be a child subreaper, so orphans re-parent to it and stay
// members. The leader's threads other than its main one are not members:
// the launcher itself never touches the mount. Thread-safe.
class SessionMembers {
 public:
  explicit SessionMembers(ProcessIdentity leader, std::filesystem::path proc = "/proc");

  // False for pid 0 (requests the kernel makes itself) and dead processes.
  bool is_member(pid_t pid);
  // Drops cached verdicts of processes that have exited.
  void forget_dead();

 private:
  struct IdentityHash {
    std::size_t operator()(const ProcessIdentity& id) const noexcept;
  };
  std::optional<bool> cached(const ProcessIdentity& id);
  // Every identity on a walked chain shares its verdict.
  void remember(const std::vector<ProcessIdentity>& chain, bool verdict);

  const ProcessIdentity leader_;
  const std::filesystem::path proc_;
  std::mutex mutex_;  // guards verdicts_ only; /proc is read without it
  // Ancestry never changes except towards the leader (re-parenting), so a
  // definite verdict stays true for the life of that identity.
  std::unordered_map<ProcessIdentity, bool, IdentityHash> verdicts_;
};

// Makes the calling process adopt its orphaned descendants
// (PR_SET_CHILD_SUBREAPER). Throws coffer::Error(kIo) on failure.
void become_subreaper();

}  // namespace coffer::guard
