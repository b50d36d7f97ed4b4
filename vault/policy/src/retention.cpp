// Retention, holds and the clock mark; see retention.h.
#include "coffer/vault/policy/retention.h"

#include <algorithm>
#include <charconv>

#include "coffer/vault/container/meta.h"

namespace coffer::vault {
namespace {
constexpr std::int64_t kDay = 86400;
constexpr const char* kOpenEnded = "open-ended";
}  // namespace

std::chrono::seconds backoff_delay(std::uint32_t failures, const UnlockPolicy& policy) {
  if (failures < policy.free_attempts) return std::chrono::seconds(0);
  std::uint32_t doublings = std::min<std::uint32_t>(failures - policy.free_attempts, 6);
  return std::chrono::seconds(std::min<std::int64_t>(std::int64_t{1} << doublings, 60));
}

RetentionState retention_state(const Header& h, std::int64_t now, int grace_days) {
  RetentionState r;
  r.expires = h.expires;
  r.grace_ends = h.expires + std::int64_t{grace_days} * kDay;
  r.on_hold = h.on_hold;
  r.sealed = !h.on_hold && now > h.expires;
  r.past_grace = r.sealed && now > r.grace_ends;
  r.seconds_left = now >= h.expires ? 0 : h.expires - now;
  return r;
}

bool clock_set_back(std::int64_t now, std::int64_t mark, const SchoolPolicy& policy) {
  return now + policy.clock_tolerance_seconds < mark;
}

std::optional<std::string> retention_notice(const RetentionState& r, const SchoolPolicy& policy,
                                            const std::optional<std::string>& hold_reason,
                                            std::optional<std::int64_t> hold_until) {
  if (r.on_hold && hold_until)
    return "this coffer is on hold (" + hold_reason.value_or("") + ") until " + local_day_time(*hold_until) +
           ": its expiry is suspended until then, unless the school extends or lifts the hold";
  if (r.on_hold)
    return "this coffer is on hold (" + hold_reason.value_or("") +
           "): its expiry is suspended until the school lifts the hold";
  if (r.sealed)
    return "this coffer expired on " + local_day(r.expires) + " and is sealed; check it in before " +
           local_day(r.grace_ends) + ", when it will be wiped";
  if (r.seconds_left < std::int64_t{policy.warn_days} * kDay) {
    std::int64_t days = r.seconds_left / kDay;
    return "this coffer expires on " + local_day(r.expires) + " (" +
           (days == 0 ? std::string("today") : "in " + std::to_string(days) + (days == 1 ? " day" : " days")) +
           "): its records, and your own files in files/, go with it unless IT checks it in first";
  }
  return std::nullopt;
}

std::optional<std::string> RetentionRecord::hold_reason() { return get_meta(db_, "hold_reason"); }

std::optional<HoldRecord> RetentionRecord::hold() {
  auto reason = get_meta(db_, "hold_reason");
  if (!reason) return std::nullopt;
  HoldRecord h;
  h.reason = *reason;
  auto number = [](const std::optional<std::string>& text) -> std::optional<std::int64_t> {
    if (!text || text->empty()) return std::nullopt;
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
    return v;
  };
  h.set_at = number(get_meta(db_, "hold_set_at")).value_or(0);
  auto until = get_meta(db_, "hold_until");
  if (!until) h.legacy = true;
  else if (*until != kOpenEnded) {
    h.until = number(until);
    // Unreadable: not open-ended (that is written out), so bounded as old holds are.
    if (!h.until) h.legacy = true;
  }
  return h;
}

void RetentionRecord::record_hold(const std::string& reason, std::int64_t now, std::optional<std::int64_t> until) {
  put_meta(db_, {{"hold_reason", reason},
                 {"hold_set_at", std::to_string(now)},
                 {"hold_until", until ? std::to_string(*until) : std::string(kOpenEnded)}});
}

void RetentionRecord::clear_hold() {
  db_.exec("DELETE FROM coffer_meta WHERE key IN ('hold_reason', 'hold_set_at', 'hold_until')");
}

std::int64_t RetentionRecord::clock_high_water(const Header& header) {
  return std::max(clock_mark(db_), header.created);
}

void RetentionRecord::advance_clock(std::int64_t now) { raise_clock_mark(db_, now); }

void RetentionRecord::reset_clock(std::int64_t now) { put_meta(db_, {{"clock_high_water", std::to_string(now)}}); }

}  // namespace coffer::vault
