// Strict parser for /proc/PID/mountinfo (proc(5) "mountinfo"): every field is
// checked, nothing is assumed about the input's size or content.
#include "coffer/guard/mountinfo.h"

#include <charconv>
#include <set>

#include "coffer/error.h"

namespace coffer::guard {
namespace {

// Splits on single spaces; empty fields are kept (an empty source field is
// legal, two spaces anywhere else is rejected by the caller).
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t sp = line.find(' ', start);
    if (sp == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
}

template <typename T>
bool parse_decimal(std::string_view s, T& out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  if (s.size() > 1 && s[0] == '0') return false;  // the kernel never pads
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool parse_devnum(std::string_view s, std::uint32_t& major, std::uint32_t& minor) {
  std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  return parse_decimal(s.substr(0, colon), major) && parse_decimal(s.substr(colon + 1), minor);
}

bool has_control_or_empty(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

std::optional<std::string> unescape_mountinfo_field(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    char c = field[i];
    if (c == '\0') return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (field.size() - i < 4) return std::nullopt;
    unsigned value = 0;
    for (std::size_t k = 1; k <= 3; ++k) {
      char d = field[i + k];
      if (d < '0' || d > '7') return std::nullopt;
      value = value * 8 + static_cast<unsigned>(d - '0');
    }
    if (value == 0 || value > 0377) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 3;
  }
  return out;
}

std::optional<MountEntry> parse_mountinfo_line(std::string_view line) {
  std::vector<std::string_view> f = split_fields(line);
  // id parent maj:min root mountpoint options [optional...] - type source superopts
  if (f.size() < 10) return std::nullopt;
  MountEntry e;
  if (!parse_decimal(f[0], e.mount_id) || !parse_decimal(f[1], e.parent_id)) return std::nullopt;
  if (!parse_devnum(f[2], e.major, e.minor)) return std::nullopt;
  auto root = unescape_mountinfo_field(f[3]);
  auto mount_point = unescape_mountinfo_field(f[4]);
  if (!root || root->empty() || !mount_point || mount_point->empty() || (*mount_point)[0] != '/') return std::nullopt;
  if (has_control_or_empty(f[5])) return std::nullopt;  // per-mount options
  std::size_t sep = 6;
  while (sep < f.size() && f[sep] != "-") {
    if (has_control_or_empty(f[sep])) return std::nullopt;  // shared:N, master:N, ...
    ++sep;
  }
  if (sep + 4 != f.size()) return std::nullopt;  // exactly type, source, super options
  if (has_control_or_empty(f[sep + 1]) || has_control_or_empty(f[sep + 3])) return std::nullopt;
  auto fs_type = unescape_mountinfo_field(f[sep + 1]);
  auto source = unescape_mountinfo_field(f[sep + 2]);
  if (!fs_type || !source) return std::nullopt;
  for (char c : *fs_type)
    if (c == '/' || c == ' ' || c == '\\') return std::nullopt;
  if (!unescape_mountinfo_field(f[sep + 3])) return std::nullopt;
  e.root = std::move(*root);
  e.mount_point = std::move(*mount_point);
  e.fs_type = std::move(*fs_type);
  e.source = std::move(*source);
  e.super_options = std::string(f[sep + 3]);
  return e;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  if (text.size() > kMaxMountinfoBytes) throw Error(ErrorCode::kDamaged, "mountinfo: too large");
  std::vector<MountEntry> out;
  std::set<std::uint64_t> ids;
  std::size_t start = 0;
  std::size_t line_no = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    ++line_no;
    if (line_no > kMaxMountinfoLines) throw Error(ErrorCode::kDamaged, "mountinfo: too many lines");
    auto entry = parse_mountinfo_line(text.substr(start, end - start));
    if (!entry) throw Error(ErrorCode::kDamaged, "mountinfo line " + std::to_string(line_no) + ": malformed");
    if (!ids.insert(entry->mount_id).second)
      throw Error(ErrorCode::kDamaged, "mountinfo line " + std::to_string(line_no) + ": duplicate mount id");
    out.push_back(std::move(*entry));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

std::optional<std::string> super_option(const MountEntry& entry, std::string_view key) {
  std::string_view opts = entry.super_options;
  std::size_t start = 0;
  while (start <= opts.size()) {
    std::size_t comma = opts.find(',', start);
    std::size_t end = comma == std::string_view::npos ? opts.size() : comma;
    std::string_view opt = opts.substr(start, end - start);
    std::size_t eq = opt.find('=');
    if (eq != std::string_view::npos && opt.substr(0, eq) == key) return unescape_mountinfo_field(opt.substr(eq + 1));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return std::nullopt;
}

}  // namespace coffer::guard
