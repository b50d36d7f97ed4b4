// The audit anchor's verdict in words; see anchor_report.h.
#include "anchor_report.h"

#include <fmt/core.h>

#include <algorithm>

namespace coffer::cli {
namespace fs = std::filesystem;

std::optional<fs::path> manifest_store_of(const std::string& option, Context& ctx) {
  if (!option.empty()) return fs::path(option);
  return school_policy(ctx).manifest_store;
}

std::string coffer_name_of_trail(const fs::path& path) {
  std::string name = path.filename().string();
  if (!name.ends_with(".audit")) return name;
  name.resize(name.size() - 6);
  auto is_hex = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  };
  // A drop copy: NAME.<32 hex>, or NAME.<32 hex>.<16 hex> for a later trail.
  auto strip = [&](const std::string& s, std::size_t len) -> std::optional<std::string> {
    if (s.size() > len + 1 && s[s.size() - len - 1] == '.' && is_hex(std::string_view(s).substr(s.size() - len)))
      return s.substr(0, s.size() - len - 1);
    return std::nullopt;
  };
  if (auto a = strip(name, 16))
    if (auto b = strip(*a, 32)) return *b;
  if (auto b = strip(name, 32)) return *b;
  return name;
}

std::string anchor_line(const vault::AnchorVerdict& v, bool consistent, std::uint64_t entries, bool store_given) {
  using S = vault::AnchorStatus;
  const std::string anchor_file = v.anchors.empty() ? std::string() : v.anchors.front().file.string();
  switch (v.status) {
    case S::kReplaced:
      return "audit trail REPLACED: it is not the trail the coffer began with (see the problems above); "
             "treat everything in it as unproven";
    case S::kConflict:
      return "audit trail CONFLICT: the manifest store holds more than one anchor for this coffer; "
             "IT must find out which is genuine";
    case S::kAnchored:
      if (consistent && v.problems.empty())
        return fmt::format(
            "audit trail ANCHORED and verified: {} entries, no edit, reordering, forgery or truncation found; "
            "its genesis is the one filed at school ({})",
            entries, anchor_file);
      return fmt::format("audit trail ANCHORED ({}) but it FAILED verification (see the problems above)", anchor_file);
    case S::kRestarted: {
      std::uint64_t earlier = 0;
      for (auto& e : v.earlier) earlier += e.report.records;
      std::string from;
      for (auto& e : v.earlier) from += (from.empty() ? "" : ", ") + e.drop_copy.string();
      if (consistent && v.problems.empty())
        return fmt::format(
            "audit trail RESTARTED and verified: its sidecar went missing and restarted; the earlier part "
            "({} record(s)) is from the drop copy {}; the restart links back to the anchor filed at school ({}); "
            "{} entries since the restart, no edit, reordering, forgery or truncation found",
            earlier, from.empty() ? std::string("(none found)") : from, anchor_file, entries);
      return fmt::format("audit trail RESTARTED ({}) but it FAILED verification (see the problems above)", anchor_file);
    }
    case S::kNotAnchored:
      break;
  }
  std::string why = store_given ? "no anchor for this coffer is in the manifest store"
                                : "no manifest store given (--manifests DIR, or the policy's [audit] manifests)";
  if (consistent && v.problems.empty())
    return fmt::format(
        "audit trail not anchored: internally consistent only ({} entries, no edit, reordering or truncation "
        "found within it; {}, so nothing shows it is the trail the coffer began with)",
        entries, why);
  return "audit trail not anchored, and NOT consistent (see the problems above); " + why;
}

bool anchor_refuses(const vault::AnchorVerdict& v) {
  return v.status == vault::AnchorStatus::kReplaced || v.status == vault::AnchorStatus::kConflict;
}

}  // namespace coffer::cli
