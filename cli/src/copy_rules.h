// The copy guard's settings for one opening of a coffer: the coffer's own
// level and destinations narrowed by the school policy (vault/policy.h),
// the owner's application-state places, and whether this computer can give
// the protection the coffer needs (docs/GUARD.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "coffer/fusefs/daemon.h"
#include "coffer/vault/coffer.h"
#include "coffer/vault/policy.h"

namespace coffer::cli {

// "~/x" is the owner's home (from the password database, not $HOME).
std::vector<std::filesystem::path> expand_app_state(const std::vector<std::string>& entries);

// Fills the copy-guard fields of `m` and returns the effective level.
std::string apply_copy_policy(vault::Coffer& coffer, const vault::SchoolPolicy& policy, fusefs::MountOptions& m);

}  // namespace coffer::cli
