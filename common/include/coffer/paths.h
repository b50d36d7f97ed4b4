// Lexical path containment, the one rule behind the vault's approved
// destinations and the guard's write checks (approved places, declared
// removable mounts, the mount that holds a path, sysfs confinement).
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace coffer {

// True when PATH is PREFIX or lies below it. Purely lexical (no filesystem
// access, symlinks are not resolved): both sides are normalised first
// ("/a/./b/../c/" is "/a/c"), so "/mnt/usb/" holds "/mnt/usb/x"; a prefix
// matches whole components only ("/srv/share" does not hold "/srv/shared").
// "/" holds every path, relative and empty ones too; "" holds "" and every
// absolute path. Already-normal input (what the kernel reports) is compared
// without allocating.
bool path_within(std::string_view path, std::string_view prefix);
// True when PATH is within any of PREFIXES (the copy rules' lists).
bool path_within_any(std::string_view path, const std::vector<std::filesystem::path>& prefixes);

}  // namespace coffer
