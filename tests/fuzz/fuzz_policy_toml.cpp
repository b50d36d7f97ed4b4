// Fuzz target: the school's TOML files, both parsers on the same bytes: the
// system policy (load_school_policy, with its [copy] section) and the purpose
// profiles (ProfileSet::load). Any input must load or be refused with a
// coffer::Error of kind kUsage naming the file and line; what loads must keep
// the promises of policy.h and profile.h: values within their ranges, no
// profile wider than a built-in (fields, limits, protection), and the copy
// rules never weaker than either side.
//
// Both parsers only read a regular file owned by root (the trust rule), so
// each input is written to a private file; run as root (as CI does).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coffer/error.h"
#include "coffer/vault/policy/policy.h"
#include "coffer/vault/records/profile.h"

using namespace coffer;
using namespace coffer::vault;

namespace {

std::filesystem::path g_dir, g_file;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_policy_toml: broken invariant: %s\n", what);
    std::abort();
  }
}

// Overwritten in place and cut to length, not opened with O_TRUNC: ext4
// flushes a file truncated to zero and rewritten when it is closed, which
// made /tmp on ext4 the fuzzer's bottleneck.
void write_input(const std::uint8_t* data, std::size_t size) {
  int fd = ::open(g_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  check(fd >= 0, "cannot write the input file");
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    check(n > 0, "short write of the input file");
    done += static_cast<std::size_t>(n);
  }
  check(::ftruncate(fd, static_cast<off_t>(size)) == 0, "cannot cut the input file to length");
  ::close(fd);
}

// Content errors must be kUsage and start "FILE:LINE: " (docs/CLI.md, ADMIN.md);
// kPolicy would mean the trust rule refused our own root-owned file.
void check_error(const Error& e) {
  check(e.code() == ErrorCode::kUsage, "a refusal that is not kUsage");
  std::string m = e.what(), prefix = g_file.string() + ":";
  check(m.compare(0, prefix.size(), prefix) == 0, "an error that does not name the file");
  std::size_t i = prefix.size();
  check(i < m.size() && m[i] >= '0' && m[i] <= '9', "an error that does not name the line");
}

bool absolute_normal(const std::filesystem::path& p) { return p.is_absolute() && p == p.lexically_normal(); }

void check_policy(const SchoolPolicy& p) {
  check(p.max_failures >= 3 && p.max_failures <= 20, "max_failures out of range");
  check(p.free_attempts <= 10, "free_attempts out of range");
  check(p.warn_days >= 0 && p.warn_days <= 60 && p.grace_days >= 0 && p.grace_days <= 60, "days out of range");
  check(p.max_hold_days >= 1 && p.max_hold_days <= 90, "max_hold_days out of range");
  check(p.clock_tolerance_seconds >= 60 && p.clock_tolerance_seconds <= 24 * 3600, "clock tolerance out of range");
  if (p.audit_drop_dir) check(p.audit_drop_dir->string().rfind('/', 0) == 0, "drop_dir not absolute");
  const CopyPolicy& c = p.copy;
  if (c.approved_destinations)
    for (auto& d : *c.approved_destinations) check(absolute_normal(d), "approved destination not absolute");
  for (auto& d : c.declared_removable) check(absolute_normal(d), "declared_removable not absolute");
  for (auto& s : c.app_state) check(s.rfind("~/", 0) == 0 || s.rfind('/', 0) == 0, "app_state entry");
  for (auto& s : c.allowed_luks_uuids) check(!s.empty(), "empty LUKS UUID");
  for (auto& s : c.allowed_usb_serials) check(!s.empty(), "empty USB serial");
  auto sys_rank = protection_rank(c.minimum_protection);
  check(sys_rank.has_value(), "unknown minimum_protection accepted");

  // The system policy narrows a coffer's own rules, never widens them.
  const std::vector<std::optional<std::vector<std::filesystem::path>>> own_lists = {
      std::nullopt, std::vector<std::filesystem::path>{},
      std::vector<std::filesystem::path>{"/", "/mnt/school-share/trips", "/media/stick"}};
  for (const char* level : {"standard", "guarded", "sandboxed", "unknown-level"}) {
    for (auto& own : own_lists) {
      EffectiveCopyRules r = effective_copy_rules(level, own, c);
      auto rank = protection_rank(r.protection);
      check(rank && *rank >= *sys_rank && *rank >= protection_rank(level).value_or(2), "protection lowered");
      for (auto& d : r.approved_destinations) {
        if (c.approved_destinations)
          check(path_within(d, *c.approved_destinations), "destination outside the system list");
        if (own) check(path_within(d, *own), "destination outside the coffer's list");
      }
      if (!own && !c.approved_destinations) check(r.approved_destinations.empty(), "a destination from nowhere");
    }
  }
}

// p is no wider than b in everything a school may only narrow.
bool within(const Profile& p, const Profile& b) {
  for (auto& f : p.fields)
    if (!b.fields.count(f)) return false;
  return p.max_days <= b.max_days && p.from_trip_end == b.from_trip_end && p.cap_at_august_31 == b.cap_at_august_31 &&
         p.selection_required == b.selection_required &&
         protection_rank(p.protection).value_or(-1) >= protection_rank(b.protection).value_or(0);
}

void check_profiles(const ProfileSet& set) {
  std::set<std::string> names;
  for (auto& p : set.all()) check(names.insert(p.name).second, "two profiles with one name");
  for (auto& b : builtin_profiles()) check(names.count(b.name) == 1, "a built-in profile disappeared");
  for (auto& p : set.all()) {
    for (auto& f : p.fields) {
      check(known_fields().count(f) == 1, "unknown field accepted");
      check(denied_fields().count(f) == 0, "deny-listed field accepted");
    }
    check(p.default_days >= 1 && p.default_days <= p.max_days, "default_days out of range");
    check(protection_rank(p.protection).has_value(), "unknown protection accepted");
    if (p.approved_destinations)
      for (auto& d : *p.approved_destinations) check(absolute_normal(d), "profile destination not absolute");
    bool narrower = false;
    for (auto& b : builtin_profiles()) narrower = narrower || within(p, b);
    check(narrower, "a profile wider than every built-in");
    for (Date base : {Date{2026, 9, 1}, Date{2027, 8, 30}, Date{2028, 2, 29}}) {
      Date hi = max_expiry(p, base), def = default_expiry(p, base);
      check(base < hi && def <= hi && base < def, "expiry dates out of order");
      check(hi <= add_days(base, p.max_days), "max_expiry past max_days");
    }
  }
}

void cleanup() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "fuzz-policy-XXXXXX").string();
  check(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
  g_dir = tmpl;
  g_file = g_dir / "policy.toml";
  std::atexit(cleanup);
  write_input(nullptr, 0);
  struct stat st {};
  if (::stat(g_file.c_str(), &st) != 0 || st.st_uid != 0) {
    // Not an invariant failure: without root every input would be refused
    // by the trust rule and nothing past it would be fuzzed.
    std::fprintf(stderr, "fuzz_policy_toml: run as root: the parsers read only root-owned files\n");
    std::exit(1);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  write_input(data, size);
  try {
    check_policy(load_school_policy(g_file));
  } catch (const Error& e) {
    check_error(e);
  }
  try {
    check_profiles(ProfileSet::load(g_file));
  } catch (const Error& e) {
    check_error(e);
  }
  return 0;
}
