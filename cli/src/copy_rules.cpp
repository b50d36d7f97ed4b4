// See copy_rules.h.
#include "copy_rules.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "coffer/error.h"
#include "coffer/guard/media.h"

namespace coffer::cli {
namespace fs = std::filesystem;

std::vector<fs::path> expand_app_state(const std::vector<std::string>& entries) {
  std::string home;
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && pw.pw_dir) home = pw.pw_dir;
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

void require_approved_destination(const fs::path& dest, const std::vector<fs::path>& approved,
                                  const vault::CopyPolicy& policy) {
  // Symbolic links in the existing part are resolved: a link on the
  // desktop to a USB stick is the stick.
  std::error_code ec;
  fs::path where = fs::weakly_canonical(fs::absolute(dest), ec);
  if (ec) where = fs::absolute(dest).lexically_normal();
  guard::MediaConfig config;
  config.declared_removable = policy.declared_removable;
  guard::MediaClassifier media(config);
  guard::MediaKind kind = media.classify_path(where);
  const std::string rule = " (the school policy's [copy] settings)";
  if (kind == guard::MediaKind::kRemovable) {
    auto mount = media.mount_for_path(where);
    if (mount && media.school_stick(*mount, policy.allowed_luks_uuids, policy.allowed_usb_serials)) return;
    throw Error(ErrorCode::kPolicy, dest.string() +
                                        " is on removable media: coffer data may go only to an encrypted school "
                                        "stick on the allowlist" +
                                        rule);
  }
  if (!vault::path_within(where, approved))
    throw Error(ErrorCode::kPolicy,
                dest.string() + " is not an approved destination" + rule + "; " +
                    (approved.empty() ? std::string("none is set for this coffer") : "approved: " + [&] {
                      std::string s;
                      for (auto& a : approved) s += (s.empty() ? "" : ", ") + a.string();
                      return s;
                    }()));
  if (kind != guard::MediaKind::kInternal && kind != guard::MediaKind::kNetwork && kind != guard::MediaKind::kVirtual)
    throw Error(ErrorCode::kPolicy, dest.string() + " is on " + std::string(guard::media_kind_name(kind)) +
                                        " storage, which coffer does not write to" + rule);
}

std::string apply_copy_policy(vault::Coffer& coffer, const vault::SchoolPolicy& policy, fusefs::MountOptions& m) {
  auto rules = vault::effective_copy_rules(coffer.protection(), coffer.approved_destinations(), policy.copy);
  m.approved_destinations = rules.approved_destinations;
  m.app_state = expand_app_state(policy.copy.app_state);
  m.declared_removable = policy.copy.declared_removable;
  m.allowed_luks_uuids = policy.copy.allowed_luks_uuids;
  m.allowed_usb_serials = policy.copy.allowed_usb_serials;
  return rules.protection;
}

}  // namespace coffer::cli
