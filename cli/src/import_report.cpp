// Source reading and the import summary; see import_report.h.
#include "import_report.h"
#include "remedy.h"

#include <cstdio>
#include <ostream>

#include "coffer/error.h"
#include "coffer/printable.h"
#include "dates.h"
#include "purpose.h"

namespace coffer::cli {
namespace {

std::string list(const std::set<std::string>& s) {
  std::string r;
  for (auto& v : s) r += (r.empty() ? "" : ", ") + printable(v);  // column names from the source
  return r;
}

}  // namespace

vault::PreparedImport prepare_source(const SourceSpec& spec, const vault::Profile& profile, std::int64_t now) {
  vault::SourceFormat format;
  if (spec.format.empty()) {
    format = spec.map.empty() ? vault::detect_format(spec.from) : vault::SourceFormat::kMappedCsv;
  } else if (auto f = vault::parse_format(spec.format)) {
    format = *f;
  } else {
    throw Error(ErrorCode::kUsage, "unknown format " + spec.format + "; use coffer-csv, csv, oneroster, sds or ctf");
  }
  std::optional<std::filesystem::path> map;
  if (!spec.map.empty()) map = spec.map;
  vault::SourceData data = vault::read_source(format, spec.from, map, spec.selection);
  vault::ImportOptions options;
  options.allow_missing = spec.allow_missing;
  vault::Date today;
  std::string t = local_date(now);
  if (std::sscanf(t.c_str(), "%d-%d-%d", &today.year, &today.month, &today.day) == 3) options.today = today;
  return vault::prepare_import(std::move(data), profile, spec.selection, options);
}

vault::ImportLogEntry log_entry(const vault::PreparedImport& p, const SourceSpec& spec, std::int64_t now) {
  vault::ImportLogEntry e;
  e.at = now;
  e.by = current_user();
  e.format = p.format;
  e.source = std::filesystem::path(spec.from).filename().string();
  if (e.source.empty()) e.source = spec.from;
  e.pupils = static_cast<std::int64_t>(p.pupils.size());
  e.dropped = p.dropped;
  e.not_in_profile = p.not_in_profile;
  e.unmapped = p.unmapped;
  e.provided = p.provided;
  e.warnings = import_warnings(p);  // kept for the manifest and the handover sheet
  return e;
}

std::vector<std::string> import_warnings(const vault::PreparedImport& p) {
  std::vector<std::string> out = p.warnings;
  if (auto w = vault::not_provided_warning(p)) out.push_back(*w);
  if (p.imported_unreachable) out.push_back(*p.imported_unreachable + " (imported anyway: --allow-missing)");
  return out;
}

void print_summary(const vault::PreparedImport& p, const vault::Profile& profile, std::ostream& out,
                   std::ostream& err) {
  for (auto& w : import_warnings(p)) err << "coffer: warning: " << printable(w) << "\n";
  out << p.format << ": " << p.pupils.size() << " of " << p.source_pupils << " pupils selected\n";
  std::string fields;
  for (auto& f : p.fields) fields += (fields.empty() ? "" : ", ") + printable(f);
  out << "  fields (" << printable(profile.name) << " profile): " << fields << "\n";
  if (!p.dropped.empty()) out << "  dropped, never imported (deny-listed): " << list(p.dropped) << "\n";
  if (!p.not_in_profile.empty())
    out << "  in the source but not carried by " << printable(profile.name) << ": " << list(p.not_in_profile) << "\n";
  if (!p.unmapped.empty()) out << "  other columns not carried: " << list(p.unmapped) << "\n";
}

}  // namespace coffer::cli

namespace coffer::cli {

int pupil_cap(const vault::Profile& profile, const vault::SchoolPolicy& policy) {
  auto it = policy.pupil_caps.find(profile.name);
  return it != policy.pupil_caps.end() ? it->second : profile.max_pupils;
}

void check_pupil_cap(vault::PreparedImport& p, const vault::Profile& profile, const vault::SchoolPolicy& policy,
                     std::size_t total) {
  const int cap = pupil_cap(profile, policy);
  if (cap <= 0) return;
  const bool own = policy.pupil_caps.contains(profile.name);
  const std::string whose = "the " + profile.name + " profile's cap of " + std::to_string(cap) + " pupils (" +
                            (own ? "the school policy's [pupil_caps]" : "built in") + ")";
  const auto n = static_cast<std::size_t>(cap);
  if (total > n)
    throw Error(ErrorCode::kPolicy, "this coffer would hold " + std::to_string(total) + " pupils, more than " + whose +
                                        ": select only the pupils who need to be in it, or raise the cap in the "
                                        "school policy (" +
                                        std::string(vault::kSystemPolicyPath) + ": [pupil_caps] " + profile.name +
                                        " = N; see docs/ADMIN.md)");
  if (total * 10 >= n * 9)
    p.warnings.push_back("this coffer holds " + std::to_string(total) + " pupils, close to " + whose +
                         "; is every one of them needed?");
}

nlohmann::ordered_json import_json(const vault::PreparedImport& p, const vault::Profile& profile) {
  nlohmann::ordered_json j;
  j["format"] = p.format;
  j["profile"] = profile.name;
  j["source_pupils"] = p.source_pupils;
  j["selected"] = p.pupils.size();
  auto& keys = j["pupil_keys"] = nlohmann::ordered_json::array();
  for (auto& pupil : p.pupils) keys.push_back(pupil.key);
  j["fields"] = p.fields;
  j["not_provided"] = p.not_provided;
  j["columns_dropped"] = p.dropped;
  j["not_carried_by_profile"] = p.not_in_profile;
  j["unmapped"] = p.unmapped;
  j["warnings"] = import_warnings(p);
  return j;
}

}  // namespace coffer::cli
