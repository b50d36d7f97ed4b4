// Provisioning plans; see plan.h. Every coffer inherits [defaults] and may
// override any of them.
#include "plan.h"
#include "remedy.h"

#include <toml++/toml.h>
#include <regex>
#include <set>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const fs::path& file, const toml::node* node, const std::string& what) {
  std::string where = file.string();
  if (node) where += ":" + std::to_string(node->source().begin.line);
  throw Error(ErrorCode::kUsage, where + ": " + what);
}

// A string, or a TOML date written without quotes (2026-12-05).
std::string text(const fs::path& file, const toml::node* n, const std::string& key) {
  if (!n) return "";
  if (auto s = n->value<std::string>()) return *s;
  if (auto d = n->value<toml::date>()) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", int(d->year), int(d->month), int(d->day));
    return buf;
  }
  bad(file, n, key + " must be a string");
}

std::vector<std::string> strings(const fs::path& file, const toml::node* n, const std::string& key) {
  std::vector<std::string> out;
  if (!n) return out;
  auto* a = n->as_array();
  if (!a) bad(file, n, key + " must be a list of strings, e.g. [\"P00001\", \"P00002\"]");
  for (auto& v : *a) out.push_back(text(file, &v, key));
  return out;
}

std::string path_in_plan(const fs::path& plan, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (plan.parent_path() / p).lexically_normal().string();
}

// Reads one table's settings over the defaults.
void apply(const fs::path& file, const toml::table& t, PlanEntry& e, bool is_coffer) {
  static const std::set<std::string> kKeys = {"name",         "owner",       "purpose", "expires",      "trip_end",
                                              "recovery_key", "audit_key",   "source",  "format",       "map",
                                              "pupils",       "pupils_file", "groups",  "allow_missing"};
  for (auto& [k, v] : t) {
    std::string key(k.str());
    if (!kKeys.count(key)) bad(file, &v, "unknown setting " + key + " (see docs/ADMIN.md)");
    if (!is_coffer && (key == "name" || key == "owner" || key == "pupils" || key == "pupils_file"))
      bad(file, &v, key + " belongs in a [[coffer]] entry, not in [defaults]");
  }
  auto get = [&](const char* key, std::string& out, bool is_path = false) {
    if (auto* n = t.get(key)) out = is_path ? path_in_plan(file, text(file, n, key)) : text(file, n, key);
  };
  get("name", e.name);
  get("owner", e.owner);
  get("purpose", e.purpose);
  get("expires", e.expires);
  get("trip_end", e.trip_end);
  get("recovery_key", e.recovery_key, true);
  get("audit_key", e.audit_key, true);
  get("source", e.source.from, true);
  get("format", e.source.format);
  get("map", e.source.map, true);
  for (auto& p : strings(file, t.get("pupils"), "pupils")) e.source.selection.pupils.insert(p);
  if (auto* n = t.get("groups")) {
    e.source.selection.groups.clear();
    for (auto& g : strings(file, n, "groups")) e.source.selection.groups.insert(g);
  }
  if (auto* n = t.get("pupils_file")) {
    std::string f = path_in_plan(file, text(file, n, "pupils_file"));
    try {
      for (auto& k : vault::read_pupil_list(f)) e.source.selection.pupils.insert(k);
    } catch (const Error& err) {
      bad(file, n, error_text(err));
    }
  }
  if (auto* n = t.get("allow_missing")) {
    auto b = n->value<bool>();
    if (!b) bad(file, n, "allow_missing must be true or false");
    e.source.allow_missing = *b;
  }
}

}  // namespace

Plan load_plan(const fs::path& file) {
  Plan plan;
  plan.file = file;
  toml::table doc;
  try {
    doc = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw Error(ErrorCode::kUsage,
                file.string() + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  for (auto& [k, v] : doc) {
    std::string key(k.str());
    if (key != "defaults" && key != "coffer" && key != "handover" && key != "school" && key != "helpdesk")
      bad(file, &v,
          "unknown setting " + key + " (the plan has [defaults], [[coffer]] entries, handover, school, helpdesk)");
  }
  plan.handover = text(file, doc.get("handover"), "handover");
  if (plan.handover.empty()) plan.handover = "files";
  if (plan.handover != "files" && plan.handover != "sheet")
    bad(file, doc.get("handover"),
        "handover must be \"files\" (a passphrase file per teacher) or \"sheet\" (one printable file)");
  plan.school = text(file, doc.get("school"), "school");
  plan.helpdesk = text(file, doc.get("helpdesk"), "helpdesk");
  PlanEntry defaults;
  if (auto* d = doc.get("defaults")) {
    if (!d->as_table()) bad(file, d, "[defaults] must be a table");
    apply(file, *d->as_table(), defaults, false);
  }
  auto* coffers = doc.get("coffer") ? doc.get("coffer")->as_array() : nullptr;
  if (!coffers || coffers->empty()) bad(file, nullptr, "the plan lists no coffers; add [[coffer]] entries");
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
  std::set<std::string> names;
  for (auto& node : *coffers) {
    auto* t = node.as_table();
    if (!t) bad(file, &node, "each [[coffer]] must be a table");
    PlanEntry e = defaults;
    e.line = node.source().begin.line;
    apply(file, *t, e, true);
    auto need = [&](const std::string& v, const char* what) {
      if (v.empty()) bad(file, &node, std::string("this coffer has no ") + what);
    };
    need(e.name, "name");
    need(e.owner, "owner");
    need(e.purpose, "purpose");
    need(e.source.from, "source (the MIS export)");
    if (!std::regex_match(e.name, kName))
      bad(file, &node, "name " + e.name + " must be letters, digits, '.', '_' or '-' (it becomes the file name)");
    if (!names.insert(e.name).second) bad(file, &node, "the name " + e.name + " is used twice");
    plan.coffers.push_back(std::move(e));
  }
  return plan;
}

}  // namespace coffer::cli
