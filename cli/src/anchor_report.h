// The audit anchor's verdict in the CLI's words (audit, checkin): ANCHORED
// and verified, REPLACED, RESTARTED, CONFLICT, or not anchored: internally
// consistent only. See vault/audit/audit_anchor.h and docs/DPO.md.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "app.h"
#include "coffer/vault/audit/audit_anchor.h"

namespace coffer::cli {

// The manifest store: --manifests, else the policy's [audit] manifests.
std::optional<std::filesystem::path> manifest_store_of(const std::string& option, Context& ctx);
// The coffer file name a trail is read as: trip.coffer for trip.coffer,
// trip.coffer.audit and a drop copy trip.coffer.<32 hex>[.<16 hex>].audit.
std::string coffer_name_of_trail(const std::filesystem::path& path);
// One line: the verdict, in the words docs/DPO.md explains. `consistent`:
// the trail itself verified (no problem). Never says "verified" for a
// trail that is not anchored.
std::string anchor_line(const vault::AnchorVerdict& v, bool consistent, std::uint64_t entries, bool store_given);
// Whether the verdict alone is tampering (exit 4 whatever --verify says).
bool anchor_refuses(const vault::AnchorVerdict& v);

}  // namespace coffer::cli
