// Layer 3 of the copy guard, the "sandboxed" protection level behind
// `coffer run`: a Landlock domain that lets the launched program read
// everywhere but write only to the coffer and the approved destinations,
// plus the checks on inherited file descriptors that Landlock cannot see.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace coffer::guard {

// What the kernel offers (landlock_status) or what a sandbox got
// (restrict_self). Each flag needs the ABI in its comment.
struct LandlockStatus {
  int abi = 0;                       // 0: Landlock unsupported or disabled
  bool fs = false;                   // ABI 1: writes restricted to the allowlist
  bool refer = false;                // ABI 2: rename/link across directories
  bool truncate = false;             // ABI 3: truncate() and O_TRUNC
  bool net_tcp = false;              // ABI 4: TCP connect and bind
  bool ioctl_dev = false;            // ABI 5: ioctl on newly opened devices
  bool scope_abstract_unix = false;  // ABI 6: abstract UNIX sockets outside the domain
  bool scope_signal = false;         // ABI 6: signals to processes outside the domain
  bool log_flags = false;            // ABI 7: audit records for denials after exec
};

// The running kernel's Landlock ABI and the features it brings.
LandlockStatus landlock_status();

// One line per feature for `coffer status`, e.g. "truncate (ABI 3): active",
// "TCP connect/bind (ABI 4): not available on this kernel", or "not used"
// for a feature the kernel has but the status does not carry.
std::vector<std::string> describe(const LandlockStatus& status);

struct SandboxSpec {
  // Directories (the mount point, approved destinations, /dev/pts) in which
  // everything may be created, written, renamed and removed.
  std::vector<std::filesystem::path> writable_dirs;
  // Single non-directories (/dev/null, /dev/tty, /dev/ptmx) that may be
  // opened for writing.
  std::vector<std::filesystem::path> writable_files;
  bool deny_tcp = true;  // no TCP connect or bind at all (ABI 4)
  bool scope = true;     // no signals to processes outside the sandbox (ABI 6)
};

// Confines the calling thread and everything it later forks or executes:
// read, list and execute anywhere; write only as SPEC allows. Paths in SPEC
// that do not exist are skipped. Also sets PR_SET_NO_NEW_PRIVS.
// Landlock restricts only the calling thread, so call this in the
// single-threaded child between fork and exec, after close_fds_from(3) and
// unsafe_stdio(): descriptors opened before keep their rights.
// Throws coffer::Error: kPolicy if the kernel has no Landlock, kIo if a
// system call fails. Returns what was applied.
LandlockStatus restrict_self(const SandboxSpec& spec);

// Closes every descriptor from FIRST up, so write descriptors inherited from
// the unconfined parent cannot bypass the sandbox.
void close_fds_from(int first);

// Checks descriptors 0, 1 and 2 of the calling process, opened before the
// sandbox and so beyond Landlock: each writable one must be a terminal (the
// screen), /dev/null (or /dev/zero, /dev/full), or a regular file for whose
// path WRITABLE_OK is true (the coffer, an approved destination). A pipe or
// socket leads to a program outside the session, which may save or send
// what it receives; another file or device keeps it. Returns the message
// to show the user (what, and what to do), or nullopt when stdio is safe.
std::optional<std::string> unsafe_stdio(const std::function<bool(const std::filesystem::path&)>& writable_ok);

}  // namespace coffer::guard
