// The mount table as the kernel shows it in /proc/PID/mountinfo, parsed
// strictly: the text is treated as hostile input (a test can hand in any
// bytes), so a malformed line is rejected, never guessed at.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coffer::guard {

// One line of mountinfo (proc(5)). Path-like fields are unescaped: the kernel
// writes space, tab, newline and backslash as \ooo octal escapes.
struct MountEntry {
  std::uint64_t mount_id = 0;
  std::uint64_t parent_id = 0;
  std::uint32_t major = 0;  // st_dev of files on this mount (0 = anonymous)
  std::uint32_t minor = 0;
  std::string root;           // root of the mount within its filesystem
  std::string mount_point;    // absolute, in the reader's mount namespace
  std::string fs_type;        // "ext4", "fuse.sshfs", ...
  std::string source;         // "/dev/sdb1", "server:/export", "none", may be empty
  std::string super_options;  // raw, still escaped: use super_option()

  bool operator==(const MountEntry&) const = default;
};

// Limits on what a mount table may contain; beyond them the text is refused.
inline constexpr std::size_t kMaxMountinfoBytes = 64u << 20;
inline constexpr std::size_t kMaxMountinfoLines = 1u << 20;

// Decodes \ooo escapes (exactly three octal digits, value <= 0377). Any other
// backslash, or an escape that yields NUL, makes the field invalid.
std::optional<std::string> unescape_mountinfo_field(std::string_view field);

// One line without its newline; nullopt if it is not exactly the kernel's
// format (numeric ids, MAJ:MIN, absolute mount point, a "-" separator
// followed by exactly fs type, source and super options).
std::optional<MountEntry> parse_mountinfo_line(std::string_view line);

// A whole table. Throws coffer::Error(kDamaged) naming the first bad line, on
// duplicate mount ids, or when the limits above are exceeded.
std::vector<MountEntry> parse_mountinfo(std::string_view text);

// The unescaped value of KEY=VALUE in the super options ("upperdir" of an
// overlay); nullopt if absent, valueless or badly escaped.
std::optional<std::string> super_option(const MountEntry& entry, std::string_view key);

}  // namespace coffer::guard
