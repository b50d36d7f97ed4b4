// The plain-English audit summary; see audit_summary.h.
#include "audit_summary.h"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <utility>

#include "coffer/printable.h"
#include "dates.h"

namespace coffer::cli {
namespace {

using vault::AuditKind;

// The name recorded on the laptop when the event was written; the chain
// inside the coffer and older records have only the uid (not resolved here:
// at the DPO's desk a uid names whoever has it on this machine).
std::string who(const vault::AuditEvent& e) {
  if (!e.user.empty()) return printable(e.user);
  return fmt::format("uid {}", e.uid);
}

std::string program(const vault::AuditEvent& e) {
  if (e.exe.empty() || e.exe == "?" || e.exe == "(unknown)") return "an unknown program";
  std::string name = std::filesystem::path(e.exe).filename().string();
  return printable(name.empty() ? e.exe : name);
}

// "roster.csv (read)" -> {"roster.csv", "to read it"}.
std::pair<std::string, std::string> object_and_mode(const std::string& object) {
  auto cut = [&](std::string_view suffix, const char* mode) -> std::optional<std::pair<std::string, std::string>> {
    if (object.size() > suffix.size() && object.compare(object.size() - suffix.size(), suffix.size(), suffix) == 0)
      return std::pair{object.substr(0, object.size() - suffix.size()), std::string(mode)};
    return std::nullopt;
  };
  if (auto r = cut(" (read)", "to read it")) return *r;
  if (auto r = cut(" (write)", "to change it")) return *r;
  return {object, ""};
}

std::string with_detail(std::string s, const vault::AuditEvent& e) {
  if (!e.detail.empty()) s += " (" + printable(e.detail) + ")";
  return s;
}

}  // namespace

std::string summary_sentence(const vault::AuditEvent& e) {
  const std::string w = who(e);
  const std::string obj = printable(e.object);
  const std::string res = printable(e.result);
  const bool refused = e.result == "refused";
  switch (e.kind) {
    case AuditKind::kCreate:
      return with_detail(w + " created the coffer", e);
    case AuditKind::kImport:
      return with_detail(w + " imported pupil records from " + obj, e);
    case AuditKind::kUnlock:
      return with_detail(w + " unlocked the coffer with a passphrase, using " + program(e), e);
    case AuditKind::kUnlockFailed:
      return with_detail("REFUSED: a wrong passphrase was typed as " + w + ", using " + program(e), e);
    case AuditKind::kLockout:
      return with_detail("REFUSED: too many wrong passphrases: the coffer is " +
                             (refused ? std::string("locked out") : res) + " (an attempt as " + w + ")",
                         e);
    case AuditKind::kLock:
      return e.detail.empty() ? "the coffer was locked (as " + w + ")"
                              : "the coffer was locked: " + printable(e.detail) + " (as " + w + ")";
    case AuditKind::kOpenView:
    case AuditKind::kOpenFile: {
      auto [name, mode] = object_and_mode(e.object);
      std::string s = w + " opened " + printable(name) + (mode.empty() ? "" : " " + mode) + ", with " + program(e);
      if (e.result != "ok") s = "REFUSED: " + s + " (" + res + ")";
      return with_detail(s, e);
    }
    case AuditKind::kCopyBlocked:
      return with_detail("REFUSED: " + program(e) + ", run by " + w + ", was stopped from copying " +
                             (obj.empty() ? std::string("the coffer's data") : obj),
                         e);
    case AuditKind::kExport:
      return with_detail(w + " exported " + obj + " with " + program(e) + (e.result == "ok" ? "" : ": " + res), e);
    case AuditKind::kExpiryPurge:
      return with_detail("records past their expiry were deleted", e);
    case AuditKind::kClockRefused:
      return with_detail(refused ? "REFUSED: the computer's clock was set back; the coffer would not open"
                                 : "the clock check was " + res,
                         e);
    case AuditKind::kHoldSet:
      return with_detail(w + " put the coffer on hold (it will not expire)", e);
    case AuditKind::kHoldReleased:
      return with_detail("the hold was released", e);
    case AuditKind::kKeyAdded:
      return w + " added a passphrase (" + obj + ")";
    case AuditKind::kKeyRemoved:
      return w + " removed a passphrase (" + obj + ")";
    case AuditKind::kKeyChanged:
      return with_detail(w + " changed the coffer's keys (" + obj + ")", e);
    case AuditKind::kRecoveryUsed:
      return with_detail(w + " opened the coffer with the school's recovery key", e);
    case AuditKind::kWipe:
      return with_detail("the coffer was wiped (as " + w + ")", e);
    case AuditKind::kSealed:
      return with_detail("REFUSED: the coffer had expired and is sealed", e);
    case AuditKind::kCheckin:
      return with_detail(w + " checked the coffer in at school", e);
    case AuditKind::kPassphraseChanged:
      return w + " changed a passphrase (" + obj + ")";
    case AuditKind::kAuditDamaged:
      return with_detail("WARNING: the " + obj + " was found " + res, e);
  }
  return with_detail(std::string(vault::audit_kind_name(e.kind)) + " " + obj + " " + res, e);
}

std::string audit_summary(const std::vector<SummaryEntry>& entries, const std::string& coffer_name,
                          const std::string& verdict) {
  std::string out = "Audit summary of " + printable(coffer_name) + "\n";
  out += "The trail: " + verdict + "\n";
  std::size_t opened = 0, refused = 0, wrong = 0;
  std::string day;
  for (const auto& s : entries) {
    const vault::AuditEvent& e = s.event;
    if (std::string d = local_day_heading(e.time); d != day) {
      day = d;
      out += "\n" + day + "\n";
    }
    std::string line = "  " + local_time_with_offset(e.time) + "  " + summary_sentence(e);
    if (s.unconfirmed) line += " [not yet confirmed by a later record]";
    out += line + "\n";
    if (e.kind == AuditKind::kOpenView || e.kind == AuditKind::kOpenFile) ++opened;
    if (e.kind == AuditKind::kUnlockFailed) ++wrong;
    else if (e.result == "refused" || e.kind == AuditKind::kCopyBlocked) ++refused;
  }
  if (entries.empty()) out += "\n(no events)\n";
  out += fmt::format("\nIn all: {} file(s) opened, {} refusal(s), {} wrong passphrase(s).\n", opened, refused, wrong);
  if (std::any_of(entries.begin(), entries.end(), [](const SummaryEntry& s) { return s.event.user.empty(); }))
    out +=
        "\"uid N\": no name was recorded with that event (the trail inside the coffer and records written before "
        "names were keep the number only; the school's copy, read with --audit-key, has the names). Look the number "
        "up on the laptop it was used on, not on this computer.\n";
  return out;
}

}  // namespace coffer::cli
