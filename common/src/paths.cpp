// path_within (paths.h): normalise only when needed, then compare whole
// components.
#include "coffer/paths.h"

#include <filesystem>
#include <string>

namespace coffer {
namespace {

// Whether lexically_normal() (plus dropping a trailing slash) would leave S
// as it is: no empty, "." or ".." component and no trailing slash.
bool is_normal(std::string_view s) {
  if (s.empty() || s == "/") return true;
  if (s.back() == '/') return false;
  std::size_t i = s[0] == '/' ? 1 : 0;
  while (i <= s.size()) {
    std::size_t end = s.find('/', i);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(i, end - i);
    if (part.empty() || part == "." || part == "..") return false;
    i = end + 1;
  }
  return true;
}

std::string normalised(std::string_view s) {
  std::string out = std::filesystem::path(s).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

bool path_within(std::string_view path, std::string_view prefix) {
  std::string path_buf, prefix_buf;
  if (!is_normal(path)) path = path_buf = normalised(path);
  if (!is_normal(prefix)) prefix = prefix_buf = normalised(prefix);
  if (prefix == "/" || path == prefix) return true;
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 && path[prefix.size()] == '/';
}

bool path_within_any(std::string_view path, const std::vector<std::filesystem::path>& prefixes) {
  for (const auto& prefix : prefixes)
    if (path_within(path, prefix.native())) return true;
  return false;
}

}  // namespace coffer
