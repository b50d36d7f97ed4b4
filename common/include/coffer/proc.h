// Reading /proc magic links (/proc/PID/exe, /proc/PID/fd/N, /proc/PID/ns/mnt):
// one readlink into a buffer the kernel's d_path cannot overflow.
#pragma once

#include <optional>
#include <string>

namespace coffer {

// The target of the symbolic link at PATH as the kernel reports it
// ("/usr/bin/cp", "pipe:[1234]", "/home/u/f (deleted)", "mnt:[4026531841]");
// nullopt when it cannot be read (gone, not a link, no permission) or would
// not fit in PATH_MAX. Never follows the link further and never stats it.
std::optional<std::string> read_link(const std::string& path);

}  // namespace coffer
