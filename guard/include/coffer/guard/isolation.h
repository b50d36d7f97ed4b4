// The parts of a sandboxed session (layer 3 of the copy guard) that
// Landlock does not cover: a private network (UDP, abstract UNIX sockets),
// the teacher's desktop sockets hidden, and no debugger (docs/GUARD.md,
// "Sandboxed: nothing leaves except to the screen").
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coffer::guard {

// The TracerPid of a /proc/PID/status text: 0 when not traced, nullopt when
// the line is missing or does not parse.
std::optional<pid_t> parse_tracer_pid(std::string_view status_text);

// The calling process's tracer (0: none) from PROC/self/status. nullopt if
// it cannot be read.
std::optional<pid_t> tracer_of_self(const std::filesystem::path& proc = "/proc");

// The refusal to start a session under TRACER (nullopt: status unreadable).
std::string traced_refusal(std::optional<pid_t> tracer);

// Yama's kernel.yama.ptrace_scope (0 classic, 1 restricted to descendants,
// 2 admin only, 3 none); nullopt when Yama is absent from the kernel.
std::optional<int> yama_ptrace_scope(const std::filesystem::path& proc = "/proc");

// True when another process of the same user cannot attach to a session's
// program or read its memory (Yama ptrace_scope >= 1).
bool ptrace_restricted(std::optional<int> scope);

// One line for `coffer status` and the refusal: what the setting means for
// a session's memory.
std::string describe_ptrace_scope(std::optional<int> scope);

struct IsolationSpec {
  // Hidden from the session: an empty tmpfs over each directory, /dev/null
  // over each other file ($XDG_RUNTIME_DIR with the session bus and
  // systemd's private socket; the system bus). Absent paths are skipped.
  std::vector<std::filesystem::path> hide;
  // Paths below a hidden directory that stay visible, bound back from the
  // original (the Wayland socket; the coffer's mount point and approved
  // destinations if they lie below a hidden directory).
  std::vector<std::filesystem::path> keep;
};

struct IsolationResult {
  bool own_user_namespace = false;  // false: the caller had CAP_SYS_ADMIN (root)
  std::vector<std::filesystem::path> hidden;
};

// Moves the calling single-threaded process into a new network namespace
// with only a loopback interface, up: UDP or TCP to 127.0.0.1 reaches only
// the session, nothing else is routable, and abstract UNIX sockets belong
// to a network namespace, so the teacher's (the X server's, a desktop
// program's) are out of reach. Then a new mount namespace (a slave of the
// current one: later mounts still arrive) hiding SPEC's paths. Without
// CAP_SYS_ADMIN, first a user namespace mapping the caller's uid and gid to
// themselves (setgroups denied), so files and the coffer's mount see the
// same user. Every capability gained is dropped before returning.
// Throws coffer::Error: kPolicy when the kernel refuses a user namespace
// (disabled, or AppArmor's restrict_unprivileged_userns), kIo otherwise.
IsolationResult isolate_session(const IsolationSpec& spec);

// Which of PATHS (below HIDDEN) must be bound back: those strictly below
// HIDDEN, in order, without duplicates.
std::vector<std::filesystem::path> kept_below(const std::filesystem::path& hidden,
                                              const std::vector<std::filesystem::path>& paths);

}  // namespace coffer::guard
