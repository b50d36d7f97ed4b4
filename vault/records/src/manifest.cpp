// The manifest; see manifest.h. Built from coffer_meta and the records, so
// it always says exactly what is inside.
#include "coffer/vault/records/manifest.h"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "coffer/printable.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/records/record.h"

namespace coffer::vault {
namespace {

std::int64_t to_int(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (...) {
    return 0;
  }
}

std::string local_time(std::int64_t t, const char* fmt) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

std::string iso(std::int64_t t) { return local_time(t, "%Y-%m-%dT%H:%M:%S%z"); }

// How many pupils carry each special-category field the profile holds, in
// source_fields() order.
std::vector<std::pair<std::string, std::size_t>> special_counts(const Manifest& m) {
  std::vector<std::pair<std::string, std::size_t>> out;
  for (auto& f : source_fields()) {
    if (!f.special_category || std::find(m.fields.begin(), m.fields.end(), f.group) == m.fields.end()) continue;
    std::size_t n = 0;
    for (auto& p : m.pupils)
      n += static_cast<std::size_t>(std::count(p.special_category.begin(), p.special_category.end(), f.label));
    out.emplace_back(f.label, n);
  }
  return out;
}

}  // namespace

Manifest read_manifest(Database& db, const std::string& coffer_name) {
  auto meta = all_meta(db);
  Manifest m;
  m.coffer = coffer_name;
  m.vault_id = meta["vault_id"];
  m.purpose = meta["profile"];
  m.owner = meta["owner"];
  m.protection = meta.contains("protection") ? meta["protection"] : "standard";
  m.created_by = meta["created_by"];
  m.created = to_int(meta, "created");
  m.expires = to_int(meta, "expires");
  m.fields = split_fields(meta["profile_fields"]);
  RecordStore records(db);
  std::set<std::string_view> not_provided, not_known;
  for (auto& p : records.load_all()) {
    m.pupils.push_back({p.key, p.display_name(), special_category_present(p)});
    for (auto& f : source_fields()) {
      if (f.name == "names" || std::find(m.fields.begin(), m.fields.end(), f.group) == m.fields.end()) continue;
      auto provided = source_provides(p, f.name);
      if (!provided) not_known.insert(f.name);
      else if (!*provided) not_provided.insert(f.name);
    }
  }
  for (auto& f : source_fields()) {  // in display order
    if (not_provided.contains(f.name)) m.not_provided.emplace_back(f.label);
    if (not_known.contains(f.name)) m.not_known.emplace_back(f.label);
  }
  m.imports = records.imports();
  for (auto& i : m.imports) {
    m.dropped.insert(i.dropped.begin(), i.dropped.end());
    m.not_in_profile.insert(i.not_in_profile.begin(), i.not_in_profile.end());
    m.warnings.insert(m.warnings.end(), i.warnings.begin(), i.warnings.end());
  }
  return m;
}

std::string manifest_json(const Manifest& m) {
  nlohmann::ordered_json j;
  j["coffer"] = m.coffer;
  j["vault_id"] = m.vault_id;
  j["purpose"] = m.purpose;
  j["owner"] = m.owner;
  j["protection"] = m.protection;
  j["provisioned_by"] = m.created_by;
  j["provisioned_at"] = iso(m.created);
  j["expires"] = iso(m.expires);
  auto& fields = j["fields"] = nlohmann::ordered_json::array();
  for (auto& f : m.fields) {
    const FieldGroup* g = find_field_group(f);
    fields.push_back({{"group", f},
                      {"description", g ? std::string(g->label) : std::string()},
                      {"special_category", g && g->special_category}});
  }
  j["pupil_count"] = m.pupils.size();
  auto& pupils = j["pupils"] = nlohmann::ordered_json::array();
  // "id" is the key under its first name (kept for readers of older
  // manifests); "special_category" names the fields, never their values.
  for (auto& p : m.pupils)
    pupils.push_back({{"id", p.key}, {"key", p.key}, {"name", p.name}, {"special_category", p.special_category}});
  auto& counts = j["special_category_counts"] = nlohmann::ordered_json::object();
  for (auto& [label, n] : special_counts(m)) counts[label] = n;
  j["not_provided"] = m.not_provided;
  j["not_known"] = m.not_known;
  j["warnings"] = m.warnings;
  j["columns_dropped"] = m.dropped;
  j["not_carried_by_profile"] = m.not_in_profile;
  auto& imports = j["imports"] = nlohmann::ordered_json::array();
  for (auto& i : m.imports)
    imports.push_back({{"at", iso(i.at)},
                       {"by", i.by},
                       {"format", i.format},
                       {"source", i.source},
                       {"pupils", i.pupils},
                       {"columns_dropped", i.dropped},
                       {"unmapped", i.unmapped}});
  return j.dump(2) + "\n";
}

std::string manifest_text(const Manifest& m) {
  std::string out;
  // Read with cat or less: every value from outside (owner, purpose, column
  // names, pupil fields) is escaped so the terminal shows it, not obeys it.
  auto line = [&](const std::string& s = "") { out += s + "\n"; };
  auto list = [](const std::set<std::string>& s) {
    std::string r;
    for (auto& v : s) r += (r.empty() ? "" : ", ") + printable(v);
    return r.empty() ? std::string("none") : r;
  };
  line("COFFER MANIFEST: " + printable(m.coffer));
  line("What this coffer holds. IT keeps a copy at school: after a loss it says what was on the device.");
  line();
  line("Purpose:        " + printable(m.purpose));
  line("For:            " + printable(m.owner));
  line("Provisioned:    " + local_time(m.created, "%Y-%m-%d %H:%M") +
       (m.created_by.empty() ? std::string() : " by " + printable(m.created_by)));
  line("Expires:        " + local_time(m.expires, "%Y-%m-%d %H:%M") + " (its data is destroyed then)");
  line("Copy protection: " + printable(m.protection));
  line("Vault id:       " + m.vault_id);
  line();
  line("Fields included:");
  for (auto& f : m.fields) {
    const FieldGroup* g = find_field_group(f);
    line("  - " + printable(f) + (g ? ": " + std::string(g->label) : std::string()) +
         (g && g->special_category ? "  [special category]" : ""));
  }
  auto counts = special_counts(m);
  if (!counts.empty()) {
    line("Special-category data (pupils with a value; field names only, never values):");
    auto in = [](const std::vector<std::string>& v, const std::string& s) {
      return std::find(v.begin(), v.end(), s) != v.end();
    };
    // "0 of 12" must not read as "none" when the source never had the field.
    for (auto& [label, n] : counts)
      line("  - " + label + ": " + std::to_string(n) + " of " + std::to_string(m.pupils.size()) + " pupils" +
           (in(m.not_provided, label) ? " (not provided by the source for some or all)"
            : in(m.not_known, label)  ? " (not known for some or all)"
                                      : ""));
  }
  auto names = [](const std::vector<std::string>& v) {
    std::string r;
    for (auto& s : v) r += (r.empty() ? "" : ", ") + s;
    return r;
  };
  if (!m.not_provided.empty())
    line("NOT PROVIDED by the source (the sheets say so; check with the school office): " + names(m.not_provided));
  if (!m.not_known.empty())
    line("NOT KNOWN whether the source provided (imported before coffer recorded it): " + names(m.not_known));
  line("Source columns dropped (never imported): " + list(m.dropped));
  line("Held by the source but not carried by this purpose: " + list(m.not_in_profile));
  line();
  line("Imports:");
  if (m.imports.empty()) line("  none");
  for (auto& i : m.imports)
    line("  " + local_time(i.at, "%Y-%m-%d %H:%M") + (i.by.empty() ? "" : " by " + printable(i.by)) + ": " +
         std::to_string(i.pupils) + " pupil(s), " + printable(i.format) + " from " + printable(i.source));
  if (!m.warnings.empty()) {
    line();
    line("Warnings at import:");
    for (auto& w : m.warnings) line("  ! " + printable(w));
  }
  line();
  line("Pupils (" + std::to_string(m.pupils.size()) + "):");
  // Which pupil held which special-category field is in manifest.json
  // ("special_category" per pupil); the text gives the counts above.
  for (auto& p : m.pupils) line("  " + printable(p.key) + "  " + printable(p.name));
  return out;
}

}  // namespace coffer::vault
