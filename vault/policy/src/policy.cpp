// The school's system policy file; see policy.h. Parsed strictly: an
// unknown section or key is an error naming the line, so a misspelt
// setting never silently falls back to a default.
#include "coffer/vault/policy/policy.h"

#include <toml++/toml.h>
#include <algorithm>
#include <set>
#include <string>

#include "coffer/error.h"
#include "coffer/vault/records/profile.h"
#include "coffer/vault/records/school_toml.h"

namespace coffer::vault {
namespace {

std::int64_t integer(const std::filesystem::path& file, const toml::node& n, const std::string& key, std::int64_t lo,
                     std::int64_t hi) {
  auto v = n.value<std::int64_t>();
  if (!n.is_integer() || !v || *v < lo || *v > hi)
    toml_error(file, n.source(),
               key + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return *v;
}

bool boolean(const std::filesystem::path& file, const toml::node& n, const std::string& key) {
  if (!n.is_boolean()) toml_error(file, n.source(), key + " must be true or false");
  return *n.value<bool>();
}

// Every key of `t` must be in `allowed`.
void only(const std::filesystem::path& file, const toml::table& t, const std::string& section,
          const std::set<std::string>& allowed) {
  for (auto&& [k, node] : t)
    if (!allowed.contains(std::string(k.str())))
      toml_error(file, node.source(), "unknown setting " + std::string(k.str()) + " in [" + section + "]");
}

std::vector<std::string> strings(const std::filesystem::path& file, const toml::table& t, const std::string& key) {
  std::vector<std::string> out;
  auto* n = t.get(key);
  if (!n) return out;
  auto* a = n->as_array();
  if (!a) toml_error(file, n->source(), key + " must be a list of strings, e.g. [\"a\", \"b\"]");
  for (auto& e : *a) {
    auto s = e.value<std::string>();
    if (!e.is_string() || !s || s->empty()) toml_error(file, e.source(), key + " must hold non-empty strings");
    out.push_back(*s);
  }
  return out;
}

std::vector<std::filesystem::path> absolute_paths(const std::filesystem::path& file, const toml::table& t,
                                                  const std::string& key) {
  std::vector<std::filesystem::path> out;
  for (auto& s : strings(file, t, key)) {
    if (s[0] != '/') {
      std::string what = key + " must hold absolute paths (";
      what.append(s).append(" is not)");
      toml_error(file, t.get(key)->source(), what);
    }
    out.push_back(std::filesystem::path(s).lexically_normal());
  }
  return out;
}

void read_copy(const std::filesystem::path& file, const toml::table& t, CopyPolicy& c) {
  only(file, t, "copy",
       {"approved_destinations", "app_state", "allowed_luks_uuids", "allowed_usb_serials", "declared_removable",
        "minimum_protection", "session_requires_ptrace_restricted"});
  if (t.get("approved_destinations")) c.approved_destinations = absolute_paths(file, t, "approved_destinations");
  if (t.get("app_state")) {
    c.app_state = strings(file, t, "app_state");
    for (auto& s : c.app_state)
      if (s.rfind("~/", 0) != 0 && s[0] != '/')
        toml_error(file, t.get("app_state")->source(), "app_state entries start with ~/ or / (" + s + ")");
  }
  c.allowed_luks_uuids = strings(file, t, "allowed_luks_uuids");
  c.allowed_usb_serials = strings(file, t, "allowed_usb_serials");
  c.declared_removable = absolute_paths(file, t, "declared_removable");
  if (auto* n = t.get("minimum_protection")) {
    auto v = n->value<std::string>();
    if (!n->is_string() || !v || !protection_rank(*v))
      toml_error(file, n->source(), "minimum_protection must be \"standard\", \"guarded\" or \"sandboxed\"");
    c.minimum_protection = *v;
  }
  if (auto* n = t.get("session_requires_ptrace_restricted"))
    c.session_requires_ptrace_restricted = boolean(file, *n, "session_requires_ptrace_restricted");
}

}  // namespace

EffectiveCopyRules effective_copy_rules(const std::string& coffer_protection,
                                        const std::optional<std::vector<std::filesystem::path>>& coffer_destinations,
                                        const CopyPolicy& system) {
  EffectiveCopyRules r;
  // A level this version does not know (a newer provisioning tool) is
  // taken as the strictest, never as the weakest.
  int own = protection_rank(coffer_protection).value_or(2);
  int sys = protection_rank(system.minimum_protection).value_or(2);
  static const char* kNames[] = {"standard", "guarded", "sandboxed"};
  r.protection = kNames[std::max(own, sys)];
  if (coffer_destinations) {
    for (auto& d : *coffer_destinations)
      if (!system.approved_destinations || path_within(d, *system.approved_destinations))
        r.approved_destinations.push_back(d);
  } else if (system.approved_destinations) {
    r.approved_destinations = *system.approved_destinations;
  }
  return r;
}

SchoolPolicy load_school_policy(const std::optional<std::filesystem::path>& file) {
  SchoolPolicy p;
  if (!file) return p;
  toml::table doc = load_trusted_toml(*file);
  for (auto&& [k, node] : doc) {
    std::string section(k.str());
    auto* t = node.as_table();
    if (!t || (section != "unlock" && section != "retention" && section != "audit" && section != "copy" &&
               section != "memory" && section != "pupil_caps"))
      toml_error(*file, node.source(),
                 "unknown section [" + section +
                     "]; expected [unlock], [retention], [audit], [copy], [memory] or [pupil_caps]");
    if (section == "pupil_caps") {
      for (auto&& [name, n] : *t)
        p.pupil_caps[std::string(name.str())] = static_cast<int>(integer(*file, n, std::string(name.str()), 1, 100000));
    } else if (section == "copy") {
      read_copy(*file, *t, p.copy);
    } else if (section == "memory") {
      only(*file, *t, section, {"unencrypted_swap"});
      if (auto* n = t->get("unencrypted_swap")) {
        auto s = n->value<std::string>();
        if (!n->is_string() || !s || (*s != "refuse" && *s != "warn"))
          toml_error(*file, n->source(), "unencrypted_swap must be \"refuse\" or \"warn\"");
        p.refuse_unencrypted_swap = *s == "refuse";
      }
    } else if (section == "unlock") {
      only(*file, *t, section, {"max_failures", "free_attempts", "wipe_at_limit"});
      if (auto* n = t->get("max_failures"))
        p.max_failures = static_cast<std::uint32_t>(integer(*file, *n, "max_failures", 3, 20));
      if (auto* n = t->get("free_attempts"))
        p.free_attempts = static_cast<std::uint32_t>(integer(*file, *n, "free_attempts", 0, 10));
      if (auto* n = t->get("wipe_at_limit")) p.wipe_at_limit = boolean(*file, *n, "wipe_at_limit");
    } else if (section == "retention") {
      only(*file, *t, section,
           {"warn_days", "grace_days", "clock_tolerance_minutes", "max_hold_days", "school_copies_days"});
      if (auto* n = t->get("school_copies_days"))
        p.school_copies_days = static_cast<int>(integer(*file, *n, "school_copies_days", 0, 36500));
      if (auto* n = t->get("warn_days")) p.warn_days = static_cast<int>(integer(*file, *n, "warn_days", 0, 60));
      if (auto* n = t->get("grace_days")) p.grace_days = static_cast<int>(integer(*file, *n, "grace_days", 0, 60));
      if (auto* n = t->get("max_hold_days"))
        p.max_hold_days = static_cast<int>(integer(*file, *n, "max_hold_days", 1, 90));
      if (auto* n = t->get("clock_tolerance_minutes"))
        p.clock_tolerance_seconds = 60 * integer(*file, *n, "clock_tolerance_minutes", 1, 24 * 60);
    } else {
      only(*file, *t, section, {"drop_dir", "manifests"});
      if (auto* n = t->get("drop_dir")) {
        auto s = n->value<std::string>();
        if (!n->is_string() || !s || s->empty() || (*s)[0] != '/')
          toml_error(*file, n->source(), "drop_dir must be an absolute path");
        p.audit_drop_dir = *s;
      }
      if (auto* n = t->get("manifests")) {
        auto s = n->value<std::string>();
        if (!n->is_string() || !s || s->empty() || (*s)[0] != '/')
          toml_error(*file, n->source(), "manifests must be an absolute path");
        p.manifest_store = *s;
      }
    }
  }
  return p;
}

}  // namespace coffer::vault
