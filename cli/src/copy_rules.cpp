// See copy_rules.h.
#include "copy_rules.h"

#include <pwd.h>
#include <unistd.h>

#include "coffer/error.h"

namespace coffer::cli {
namespace fs = std::filesystem;

std::vector<fs::path> expand_app_state(const std::vector<std::string>& entries) {
  std::string home;
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && pw.pw_dir)
    home = pw.pw_dir;
  std::vector<fs::path> out;
  for (auto& e : entries) {
    if (e.rfind("~/", 0) == 0) {
      if (!home.empty() && home != "/") out.push_back((fs::path(home) / e.substr(2)).lexically_normal());
    } else {
      out.push_back(fs::path(e).lexically_normal());
    }
  }
  return out;
}

std::string apply_copy_policy(vault::Coffer& coffer, const vault::SchoolPolicy& policy, fusefs::MountOptions& m) {
  auto rules = vault::effective_copy_rules(coffer.protection(), coffer.approved_destinations(), policy.copy);
  m.approved_destinations = rules.approved_destinations;
  m.app_state = expand_app_state(policy.copy.app_state);
  m.declared_removable = policy.copy.declared_removable;
  return rules.protection;
}

}  // namespace coffer::cli
