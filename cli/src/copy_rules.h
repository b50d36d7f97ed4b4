// The copy guard's settings for one opening of a coffer: the coffer's own
// level and destinations narrowed by the school policy (vault/policy.h),
// the owner's application-state places, and whether this computer can give
// the protection the coffer needs (docs/GUARD.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "coffer/fusefs/daemon.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/policy/policy.h"

namespace coffer::cli {

// "~/x" is the owner's home (from the password database, not $HOME).
std::vector<std::filesystem::path> expand_app_state(const std::vector<std::string>& entries);

// Where coffer data may be written by export and check-in: an allowlisted
// encrypted school stick, or an approved destination that is not removable
// media. Anything else throws Error(kPolicy) naming the school policy.
void require_approved_destination(const std::filesystem::path& dest, const std::vector<std::filesystem::path>& approved,
                                  const vault::CopyPolicy& policy);

// Fills the copy-guard fields of `m` and returns the effective level.
std::string apply_copy_policy(vault::Coffer& coffer, const vault::SchoolPolicy& policy, fusefs::MountOptions& m);

}  // namespace coffer::cli
