// IT's manifest store as the DPO reads it (coffer dpo lost|find|breach,
// coffer sweep --manifests): the coffers it knows of (NAME.manifest.json
// from provisioning, read as written: pupils with their special-category
// field names when the manifest has them), the check-in reports filed in it
// (NAME.checkin.json), the losses reported (coffer-losses.jsonl, append
// only), what the drop copy of a coffer's trail says (read with the
// school's audit key), and the sweep of the school's own copies once the
// policy's school_copies_days are over (coffer-sweep-log.jsonl). Nothing
// here writes a pupil's name anywhere but where it already was.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/keystore/school_key.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_anchor.h"

namespace coffer::vault {

inline constexpr const char* kLossLog = "coffer-losses.jsonl";
inline constexpr const char* kSweepLog = "coffer-sweep-log.jsonl";

struct StoreGroup {
  std::string group, description;
  bool special_category = false;
};
struct StorePupil {
  std::string key, name;
  // The special-category fields present for this pupil (names, never
  // values); empty when the manifest predates per-pupil recording.
  std::optional<std::vector<std::string>> special_category;
};
struct StoreCheckin {
  std::filesystem::path report;  // NAME.checkin.json
  std::int64_t at = 0;
  std::string by;
  bool wiped = false;
  bool on_hold = false;
};
struct StoreLoss {
  std::int64_t reported_at = 0;  // when the school learnt of the loss (the 72 hours run from here)
  std::string reported_by;
  std::int64_t recorded_at = 0;
  std::string recorded_by;
};
struct StoreCoffer {
  std::filesystem::path manifest;  // DIR/NAME.manifest.json
  std::string coffer;              // NAME.coffer
  std::string vault_id;            // 32 hex digits
  std::string owner, purpose, protection, provisioned_by;
  std::int64_t issued = 0, expires = 0;
  std::vector<StoreGroup> fields;
  std::vector<StorePupil> pupils;
  bool per_pupil_special = false;  // every pupil entry says which special-category fields it had
  bool anchor_in_manifest = false;
  std::optional<std::string> audit_genesis;  // hex, when the manifest carries the anchor
  std::vector<StoreCheckin> checkins;
  std::vector<StoreLoss> losses;  // in the order reported
  // Special-category field groups the coffer carried.
  std::vector<std::string> special_groups() const;
};

// Every NAME.manifest.json in `store` and its subfolders (three levels, no
// symbolic links followed), with the check-in reports and losses filed for
// it, sorted by issue time. Throws Error(kIo) if the store cannot be read;
// a manifest that does not parse is skipped and named in `skipped`.
std::vector<StoreCoffer> read_store(const std::filesystem::path& store, std::vector<std::string>* skipped = nullptr);

// The coffer named by its file name (trip.coffer or trip), its vault id or
// a unique prefix of at least 8 hex digits. Throws Error(kUsage) naming the
// store when none or several match.
const StoreCoffer& find_in_store(const std::vector<StoreCoffer>& coffers, std::string_view coffer_or_id,
                                 const std::filesystem::path& store);

// Appends one line to an append-only log in the store, atomically: the old
// content and the line are written to a temporary sibling, synced, renamed
// over the log, and the folder synced. A crash leaves the old log or the new.
void append_store_log(const std::filesystem::path& log, const std::string& line);

// Records a reported loss of `c` in STORE/coffer-losses.jsonl.
StoreLoss record_loss(const std::filesystem::path& store, const StoreCoffer& c, const StoreLoss& loss);

// Unix seconds of an ISO-8601 time as the manifests write it
// (2026-05-03T10:00:00+0100, or Z, or +01:00); nothing if malformed.
std::optional<std::int64_t> parse_iso_time(std::string_view text);
// The same in the form the store writes (local time with offset).
std::string iso_time(std::int64_t unix_seconds);

// ---------------------------------------------------------------- the trail

// What the school's drop copy of a coffer's trail says, read with the
// audit key.
struct TrailFacts {
  bool found = false;                    // a drop copy of this vault id exists
  std::filesystem::path copy;            // the one read (the latest trail)
  std::uint64_t records = 0;             // events in it (earlier parts of a restart included)
  std::optional<AuditEvent> last_event;  // the last contact
  std::optional<AuditEvent> last_use;    // the last unlock, opening or export
  std::optional<AuditEvent> last_lock;   // the last lock, seal, lock-out or wipe
  bool locked_at_last_contact = false;   // the last unlock was followed by a lock (or none was made)
  bool wiped = false;
  std::int64_t wiped_at = 0;
  // Failed unlocks (and lock-outs) written without the key: after the last
  // authenticated record (the last contact with the key), and after `since`.
  std::uint64_t failed_after_last_contact = 0;
  std::uint64_t failed_since = 0;
  std::optional<std::int64_t> last_failed;
  AnchorVerdict anchor;
  bool consistent = false;  // the trail itself verified (no problem)
  std::vector<std::string> problems, notes;
};
TrailFacts read_trail_facts(const StoreCoffer& c, const std::filesystem::path& store,
                            const std::filesystem::path& drop_dir, const keystore::SchoolKeyPair& audit_key,
                            std::optional<std::int64_t> since);

// ---------------------------------------------------------------- states

enum class CofferState { kOut, kExpired, kLost, kWiped, kReturned };
// "still out", "expired", "lost", "wiped", "returned".
std::string_view coffer_state_name(CofferState s);
// Returned (a check-in report) before lost before wiped (the trail says so)
// before expired (its expiry has passed) before still out.
CofferState coffer_state(const StoreCoffer& c, const TrailFacts* trail, std::int64_t now);

// ---------------------------------------------------------------- breach

struct BreachFacts {
  const StoreCoffer* coffer = nullptr;
  CofferState state = CofferState::kOut;
  std::optional<StoreLoss> loss;         // the first loss reported
  std::optional<std::int64_t> deadline;  // the ICO's 72 hours from the reported loss
  std::size_t pupils = 0;
  std::vector<std::string> special_groups;
  // Per special-category field: how many pupils had it (per_pupil only).
  std::map<std::string, std::size_t> special_counts;
  std::size_t pupils_with_special = 0;
  bool per_pupil = false;
  std::optional<TrailFacts> trail;  // with the audit key
};
BreachFacts breach_facts(const StoreCoffer& c, std::optional<TrailFacts> trail, std::int64_t now);

// ---------------------------------------------------------------- sweep

struct StoreSweepItem {
  std::string coffer, vault_id;
  enum class Action { kRemoved, kWouldRemove, kKept, kHeld, kFailed } action = Action::kKept;
  std::int64_t ends = 0;                             // expiry, return or reported loss, the latest
  std::int64_t keep_until = 0;                       // ends + the policy's days
  std::vector<std::filesystem::path> removed;        // or would be
  std::optional<std::filesystem::path> anchor_kept;  // NAME.anchor.json kept (an audit copy is still kept)
  std::string why;                                   // why kept or held, or what failed
};
// "removed", "would-remove", "kept", "held", "failed": the word the sweep
// log and `sweep --json` use.
const char* store_sweep_action_name(StoreSweepItem::Action a);
// Removes, for each coffer in `store` whose keep_until has passed and that
// is not on hold (its check-in report says so, or the coffer file is in the
// store and its header does): its manifests, check-in reports, and audit
// copies in the store and (when given) its drop copies in `drop_dir`. Its
// audit anchor stays (rewritten as NAME.anchor.json, without pupils) while
// any audit copy of it is still kept: held, not removable, or possibly in
// a drop directory not given. Appends the run to STORE/coffer-sweep-log.jsonl
// (unless dry_run). `by`: who ran it.
std::vector<StoreSweepItem> sweep_store(const std::filesystem::path& store,
                                        const std::optional<std::filesystem::path>& drop_dir, std::int64_t now,
                                        int keep_days, bool dry_run, const std::string& by);

}  // namespace coffer::vault
