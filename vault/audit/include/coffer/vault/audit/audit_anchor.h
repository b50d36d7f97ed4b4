// The audit trail anchored at school. A sidecar's genesis is its vault id
// and the BLAKE2b-256 of its 128-byte header (which holds K0 sealed to the
// school's audit key): anyone can seal a fresh K0, so a sidecar proves it
// is the coffer's own trail only against a commitment to that genesis kept
// where teachers cannot write, the IT manifest store (provision's
// NAME.manifest.json, create's NAME.anchor.json). The drop directory is
// written by every laptop: it is never an anchor, only where earlier parts
// of a restarted trail are found (by vault id). docs/FORMAT.md §12.3.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/keystore/audit_crypto.h"
#include "coffer/keystore/school_key.h"
#include "coffer/vault/audit/audit.h"

namespace coffer::vault {

using VaultId = std::array<std::uint8_t, 16>;
using SidecarHeaderBytes = std::array<std::uint8_t, kSidecarHeaderSize>;

struct SidecarGenesis {
  VaultId vault_id{};
  keystore::Digest32 digest{};  // BLAKE2b-256 of the header bytes
  SidecarHeaderBytes header{};
};

// From a sidecar header (no key needed). Throws Error(kDamaged) unless the
// bytes start with a sidecar header.
SidecarGenesis genesis_of_header(std::span<const std::uint8_t> bytes, std::string_view source);
SidecarGenesis read_sidecar_genesis(const std::filesystem::path& sidecar);

// ---------------------------------------------------------------- anchors

// DIR/NAME.anchor.json for DIR/NAME.coffer.
std::filesystem::path anchor_file_path(const std::filesystem::path& coffer_path);
// The anchor object {"vault_id": hex, "audit_genesis": hex}, and the whole
// NAME.anchor.json text (with the coffer's file name).
std::string anchor_file_json(const SidecarGenesis& genesis, std::string_view coffer_name);
// manifest.json text with "audit_anchor" added (provision).
std::string manifest_with_anchor(std::string_view manifest_json, const SidecarGenesis& genesis);

struct FoundAnchor {
  std::filesystem::path file;
  std::string coffer;  // the coffer file name it was filed for
  keystore::Digest32 genesis{};
};
// Every anchor for `vault_id` among the *.manifest.json and *.anchor.json
// files in `store` and its subfolders (three levels), matched by the vault
// id they name, never by header bytes. Throws Error(kIo) if the store
// cannot be read.
std::vector<FoundAnchor> find_anchors(const std::filesystem::path& store, std::span<const std::uint8_t, 16> vault_id);

// ---------------------------------------------------------------- restarts

// The detail of the "audit-damaged"/"restarted" event written, in both
// trails, when a missing sidecar restarts: the records the old one held,
// its header (the coffer keeps it), the new trail's genesis, and a link
// MAC under the old trail's current chain key over both headers and the
// count, which only a holder of that key (the coffer) could make, and the
// DPO checks by unsealing the old K0.
std::string restart_detail(std::uint64_t records, const keystore::AuditChainKey* old_key,
                           std::optional<SidecarHeaderBytes> old_header, const SidecarHeaderBytes& new_header);

struct RestartClaim {
  std::uint64_t records = 0;
  std::optional<SidecarHeaderBytes> previous_header;
  std::optional<keystore::Digest32> new_genesis;
  std::optional<keystore::Digest32> link;
};
// Empty unless the event is a restart record.
std::optional<RestartClaim> parse_restart(const AuditEvent& event);
// The link verifies under K0 of the previous header ratcheted 0..records
// times (the old trail had at most that many authenticated records).
bool restart_link_verifies(const RestartClaim& claim, const keystore::SchoolKeyPair& audit_key);

// ---------------------------------------------------------------- drop copies

struct DropCopy {
  std::filesystem::path path;
  SidecarGenesis genesis;
};
// Every sidecar in drop_dir whose header names `vault_id` (by the header's
// vault id field, whatever its file name).
std::vector<DropCopy> find_drop_copies(const std::filesystem::path& drop_dir,
                                       std::span<const std::uint8_t, 16> vault_id);

// ---------------------------------------------------------------- the verdict

enum class AnchorStatus { kNotAnchored, kAnchored, kReplaced, kRestarted, kConflict };
// "not-anchored", "anchored", "replaced", "restarted", "conflict".
std::string_view anchor_status_name(AnchorStatus status);

struct EarlierPart {
  std::filesystem::path drop_copy;
  SidecarReport report;
  std::uint64_t records_claimed = 0;  // what the restart record says the old sidecar held
};

struct AnchorVerdict {
  AnchorStatus status = AnchorStatus::kNotAnchored;
  std::vector<FoundAnchor> anchors;
  std::vector<EarlierPart> earlier;   // a restarted trail's earlier parts, oldest first
  std::vector<std::string> problems;  // REPLACED, CONFLICT, a forged restart, ...
  std::vector<std::string> notes;
  // Anchored or restarted to the anchor, with no problem here.
  bool anchored() const {
    return problems.empty() && (status == AnchorStatus::kAnchored || status == AnchorStatus::kRestarted);
  }
};

struct AnchorQuery {
  std::optional<std::filesystem::path> store;     // the IT manifest store
  std::optional<std::filesystem::path> drop_dir;  // where earlier parts are looked for
  std::string coffer_name;                        // the coffer file name the trail is read as
  std::optional<VaultId> coffer_vault_id;         // from the coffer itself, when it is there
};

// Where the trail read in `report` stands against the school's anchor (its
// genesis is that of the header the report was read under).
AnchorVerdict check_anchor(const SidecarReport& report, const keystore::SchoolKeyPair& audit_key,
                           const AnchorQuery& query);

}  // namespace coffer::vault
