// The school's system policy file; see policy.h. Parsed strictly: an
// unknown section or key is an error naming the line, so a misspelt
// setting never silently falls back to a default.
#include "coffer/vault/policy.h"

#include <set>
#include <string>
#include <toml++/toml.h>

#include "coffer/error.h"
#include "coffer/vault/profile.h"

namespace coffer::vault {
namespace {

[[noreturn]] void bad(const std::filesystem::path& file, const toml::source_region& where,
                      const std::string& what) {
  throw Error(ErrorCode::kUsage, file.string() + ":" + std::to_string(where.begin.line) + ": " + what);
}

std::int64_t integer(const std::filesystem::path& file, const toml::node& n, const std::string& key,
                     std::int64_t lo, std::int64_t hi) {
  auto v = n.value<std::int64_t>();
  if (!n.is_integer() || !v || *v < lo || *v > hi)
    bad(file, n.source(), key + " must be a whole number from " + std::to_string(lo) + " to " +
                              std::to_string(hi));
  return *v;
}

bool boolean(const std::filesystem::path& file, const toml::node& n, const std::string& key) {
  if (!n.is_boolean()) bad(file, n.source(), key + " must be true or false");
  return *n.value<bool>();
}

// Every key of `t` must be in `allowed`.
void only(const std::filesystem::path& file, const toml::table& t, const std::string& section,
          const std::set<std::string>& allowed) {
  for (auto&& [k, node] : t)
    if (!allowed.count(std::string(k.str())))
      bad(file, node.source(), "unknown setting " + std::string(k.str()) + " in [" + section + "]");
}

}  // namespace

SchoolPolicy load_school_policy(const std::optional<std::filesystem::path>& file) {
  SchoolPolicy p;
  if (!file) return p;
  require_trusted_policy_file(*file);
  toml::table doc;
  try {
    doc = toml::parse_file(file->string());
  } catch (const toml::parse_error& e) {
    bad(*file, e.source(), std::string(e.description()));
  }
  for (auto&& [k, node] : doc) {
    std::string section(k.str());
    // Sections other policies own (the copy guard's) are read elsewhere.
    if (section == "copy" || section == "guard") continue;
    auto* t = node.as_table();
    if (!t || (section != "unlock" && section != "retention" && section != "audit"))
      bad(*file, node.source(), "unknown section [" + section + "]; expected [unlock], [retention] or [audit]");
    if (section == "unlock") {
      only(*file, *t, section, {"max_failures", "free_attempts", "wipe_at_limit"});
      if (auto* n = t->get("max_failures")) p.max_failures = static_cast<std::uint32_t>(integer(*file, *n, "max_failures", 3, 20));
      if (auto* n = t->get("free_attempts")) p.free_attempts = static_cast<std::uint32_t>(integer(*file, *n, "free_attempts", 0, 10));
      if (auto* n = t->get("wipe_at_limit")) p.wipe_at_limit = boolean(*file, *n, "wipe_at_limit");
    } else if (section == "retention") {
      only(*file, *t, section, {"warn_days", "grace_days", "clock_tolerance_minutes"});
      if (auto* n = t->get("warn_days")) p.warn_days = static_cast<int>(integer(*file, *n, "warn_days", 0, 60));
      if (auto* n = t->get("grace_days")) p.grace_days = static_cast<int>(integer(*file, *n, "grace_days", 0, 60));
      if (auto* n = t->get("clock_tolerance_minutes"))
        p.clock_tolerance_seconds = 60 * integer(*file, *n, "clock_tolerance_minutes", 1, 24 * 60);
    } else {
      only(*file, *t, section, {"drop_dir"});
      if (auto* n = t->get("drop_dir")) {
        auto s = n->value<std::string>();
        if (!n->is_string() || !s || s->empty() || (*s)[0] != '/')
          bad(*file, n->source(), "drop_dir must be an absolute path");
        p.audit_drop_dir = *s;
      }
    }
  }
  return p;
}

}  // namespace coffer::vault
