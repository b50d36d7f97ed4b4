// Retention, holds and the clock mark (design: failed unlocks; retention):
// how long to wait before an unlock attempt, where a coffer stands in its
// retention period, whether this computer's clock was set back, what the
// owner is told at open, and the hold and clock-mark rows kept inside the
// coffer (authoritative over the header's hold flag).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coffer/vault/container/clock.h"
#include "coffer/vault/container/database.h"
#include "coffer/vault/container/header.h"
#include "coffer/vault/policy/policy.h"

namespace coffer::vault {

// What an unlock enforces: the school's policy (policy.h: failure limits,
// warning and grace days, clock tolerance) plus how this call applies it.
// The failure count lives in the header's unauthenticated counter, written
// and synced before the answer. From `free_attempts` failures on, each
// attempt first waits (1 s, doubling, at most 60 s); at `max_failures` the
// coffer is locked out and only the school's recovery key reopens it
// (wiping instead is opt-in: a pupil with ten guesses must not be able to
// destroy a trip's medical data). After the key is found, retention is
// checked against `clock` (the system clock when null): see Coffer::unlock.
struct UnlockPolicy : SchoolPolicy {
  const Clock* clock = nullptr;
  // Raise the coffer's clock high-water mark to now and audit the unlock at
  // once. Commands that may refuse (import) set false: the file is left as
  // they found it, and the unlock is audited with their first change
  // (Coffer::audit, flush_audit).
  bool raise_clock_mark = true;
  // Called with the backoff before an attempt (the CLI sleeps and says so;
  // tests record it). Not called when there is nothing to wait.
  std::function<void(std::chrono::seconds wait, std::uint32_t failures)> wait;
};
// The wait before the next attempt after `failures` failed ones.
std::chrono::seconds backoff_delay(std::uint32_t failures, const UnlockPolicy& policy);

// Where a coffer stands in its retention period at `now`.
struct RetentionState {
  std::int64_t expires = 0;     // last second of validity
  std::int64_t grace_ends = 0;  // last second IT can still check it in
  bool on_hold = false;
  bool sealed = false;            // past expiry, not on hold
  bool past_grace = false;        // sealed and past the grace period: to be wiped
  std::int64_t seconds_left = 0;  // until expiry (0 when sealed)
};
// From the cleartext header alone (sweep, info): no key needed.
RetentionState retention_state(const Header& header, std::int64_t now, int grace_days);

// True when `now` is more than the tolerance behind the coffer's mark: the
// clock was set back (a coffer's expiry is never extended).
bool clock_set_back(std::int64_t now, std::int64_t mark, const SchoolPolicy& policy);

// What the owner is told at open about retention (on hold, sealed, expiry
// within the policy's warning days); empty when there is nothing to say.
// `hold_until`: the last second of a bounded hold.
std::optional<std::string> retention_notice(const RetentionState& r, const SchoolPolicy& policy,
                                            const std::optional<std::string>& hold_reason,
                                            std::optional<std::int64_t> hold_until = std::nullopt);

// How long a hold is to last. A hold set with a passphrase (the teacher's)
// always lasts the policy's max_hold_days; the school's recovery key may
// name its end or leave it open.
struct HoldTerm {
  enum class Kind { kPolicyBound, kUntil, kOpenEnded };
  Kind kind = Kind::kPolicyBound;
  std::int64_t until = 0;  // kUntil: the last second held
};

// A hold as recorded inside the coffer.
struct HoldRecord {
  std::string reason;
  std::int64_t set_at = 0;
  // The last second held; nothing when open-ended (set so by the recovery
  // key) or, for a hold recorded before holds were bounded, unknown
  // (`legacy`: the coffer then bounds it by the policy from set_at).
  std::optional<std::int64_t> until;
  bool legacy = false;
};

// The hold and the clock high-water mark inside the coffer (coffer_meta).
class RetentionRecord {
 public:
  explicit RetentionRecord(Database& db) : db_(db) {}
  std::optional<std::string> hold_reason();
  std::optional<HoldRecord> hold();
  // `until`: the last second held; nothing for open-ended.
  void record_hold(const std::string& reason, std::int64_t now, std::optional<std::int64_t> until);
  void clear_hold();
  // The latest time the coffer has seen (never before it was created).
  std::int64_t clock_high_water(const Header& header);
  void advance_clock(std::int64_t now);
  void reset_clock(std::int64_t now);

 private:
  Database& db_;
};

}  // namespace coffer::vault
