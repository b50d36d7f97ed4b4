// Whether a path lies at or below one of a list of directories: the one
// test every copy rule uses (approved destinations, app state, policy
// narrowing). Both sides are normalised lexically (no file system access:
// a symbolic link is the caller's business), trailing slashes ignored, and
// "/" contains every path.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace coffer {

inline bool path_within(const std::filesystem::path& path, const std::vector<std::filesystem::path>& prefixes) {
  const std::string p = path.lexically_normal().string();
  for (const auto& prefix : prefixes) {
    std::string q = prefix.lexically_normal().string();
    while (q.size() > 1 && q.back() == '/') q.pop_back();
    if (p == q || q == "/" || (p.size() > q.size() && p.compare(0, q.size(), q) == 0 && p[q.size()] == '/'))
      return true;
  }
  return false;
}

}  // namespace coffer
