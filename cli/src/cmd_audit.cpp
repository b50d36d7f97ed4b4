// coffer audit: read (and --verify) a coffer's audit trail. With the
// passphrase: the hash chain inside the coffer, plus a check that the
// sidecar still holds every record the coffer knows of. With the school's
// audit key (--audit-key): the sidecar PATH.audit, which works after the
// coffer is wiped or lost, compared with the school's drop copy if there is
// one. --json prints one JSON object per line, for a SIEM.
#include <fmt/core.h>

#include <ostream>
#include <utility>
#include <vector>

#include "app.h"
#include "coffer/error.h"
#include "coffer/printable.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_drop.h"
#include "coffer/vault/coffer/coffer.h"
#include "dates.h"
#include "school_key_files.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct AuditOptions {
  CommonOptions common;
  std::string path, audit_key, since, drop_dir;
  bool json = false, verify = false;
};

std::string human_line(std::uint64_t seq, const vault::AuditEvent& e, const char* mark) {
  std::string line = fmt::format("{:>5} {} {}{:<14} {:<9}", seq, local_datetime(e.time), mark,
                                 vault::audit_kind_name(e.kind), printable(e.result));
  // Every field came from outside (a file name, a program's path): shown,
  // never obeyed by the terminal.
  if (!e.object.empty()) line += " " + printable(e.object);
  if (!e.detail.empty()) line += " (" + printable(e.detail) + ")";
  line += fmt::format("  [uid {} pid {} {}]", e.uid, e.pid, printable(e.exe));
  return line;
}

// Where an event is dated before the one written just before it: the clock
// was set back (or corrected) between them. Not tampering in itself (the
// chain holds them in order, and coffer refuses a clock far behind what it
// has seen), but the DPO should see it. `entries` is (seq, time) in order.
std::vector<std::string> time_reversals(const std::vector<std::pair<std::uint64_t, std::int64_t>>& entries) {
  std::vector<std::string> out;
  for (std::size_t i = 1; i < entries.size(); ++i) {
    const auto& [seq, time] = entries[i];
    const auto& [prev_seq, prev_time] = entries[i - 1];
    if (time < prev_time)
      out.push_back(
          fmt::format("time goes backwards: entry {} ({}) is dated {} s before entry {} ({}): the clock was "
                      "set back between them",
                      seq, local_datetime(time), prev_time - time, prev_seq, local_datetime(prev_time)));
  }
  return out;
}

void finish(const std::vector<std::string>& problems, const std::vector<std::string>& notes, const AuditOptions& o,
            Context& ctx, std::uint64_t entries, const std::vector<std::pair<std::uint64_t, std::int64_t>>& times) {
  for (auto& n : notes) *ctx.err << "coffer: note: " << printable(n) << "\n";
  for (auto& p : problems) *ctx.err << "coffer: PROBLEM: " << printable(p) << "\n";
  if (!o.verify) return;
  for (auto& w : time_reversals(times)) *ctx.err << "coffer: warning: " << w << "\n";
  if (!problems.empty())
    throw Error(ErrorCode::kDamaged, "the audit trail of " + o.path + " failed verification (" +
                                         std::to_string(problems.size()) + " problem(s))");
  *ctx.err << "audit trail verified: " << entries << " entries, no edit, reordering, forgery or truncation found\n";
}

void run_with_passphrase(const AuditOptions& o, std::optional<std::int64_t> since, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw = source->existing("Passphrase for " + o.path);
  vault::Coffer c = unlock_coffer(o.path, pw, ctx, /*check_only=*/true);
  // Verified as found, before this unlock is added (which would repair a
  // torn sidecar tail as it appends).
  vault::AuditVerdict v = c.verify_audit();
  c.flush_audit();  // reading the trail is an unlock like any other
  std::vector<std::pair<std::uint64_t, std::int64_t>> times;
  for (auto& e : c.audit_events()) {
    times.emplace_back(e.seq, e.event.time);
    if (since && e.event.time < *since) continue;
    if (o.json) *ctx.out << vault::audit_event_json(e.event, e.seq, true) << "\n";
    else *ctx.out << human_line(e.seq, e.event, "") << "\n";
  }
  finish(v.problems, {}, o, ctx, v.entries, times);
}

void run_with_audit_key(const AuditOptions& o, std::optional<std::int64_t> since, Context& ctx) {
  fs::path sidecar = o.path;
  if (sidecar.extension() != ".audit") sidecar = vault::sidecar_path(o.path);
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::SchoolKeyPair key = load_secret_key(o.audit_key, *source);
  if (key.public_key.role != keystore::SchoolKeyRole::kAudit)
    throw Error(ErrorCode::kPolicy, o.audit_key + " is a recovery key; give the school's audit key (.key)");
  // The school's drop copy holds every record up to the last contact: a
  // sidecar shorter than it has been truncated.
  std::optional<std::uint64_t> expected;
  std::vector<std::string> drop_notes;
  std::string drop_dir = o.drop_dir;
  if (drop_dir.empty())
    if (auto d = school_policy(ctx).audit_drop_dir) drop_dir = d->string();
  if (!drop_dir.empty()) {
    if (auto copy = vault::find_drop_copy(sidecar, drop_dir)) {
      expected = vault::count_sidecar_records(*copy);
      drop_notes.push_back("the drop copy " + copy->string() + " holds " + std::to_string(*expected) + " record(s)");
    }
  }
  vault::SidecarReport r = vault::read_sidecar(sidecar, key, expected);
  std::vector<std::pair<std::uint64_t, std::int64_t>> times;
  for (auto& e : r.entries) {
    times.emplace_back(e.seq, e.event.time);
    if (since && e.event.time < *since) continue;
    if (o.json) *ctx.out << vault::audit_event_json(e.event, e.seq, e.verified) << "\n";
    else *ctx.out << human_line(e.seq, e.event, e.verified ? "" : "UNCONFIRMED ") << "\n";
  }
  std::vector<std::string> notes = r.notes;
  notes.insert(notes.end(), drop_notes.begin(), drop_notes.end());
  finish(r.problems, notes, o, ctx, r.records, times);
}

void run_audit(const AuditOptions& o, Context& ctx) {
  std::optional<std::int64_t> since;
  if (!o.since.empty()) since = end_of_local_day(o.since) - 86399;
  if (o.audit_key.empty()) run_with_passphrase(o, since, ctx);
  else run_with_audit_key(o, since, ctx);
}

}  // namespace

void register_audit(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<AuditOptions>();
  auto* cmd = app.add_subcommand("audit",
                                 "teacher/DPO: show a coffer's audit trail (with the passphrase, or with the school's "
                                 "audit key from PATH.audit, even after a wipe); --verify checks it");
  cmd->add_option("path", o->path, "the coffer file (or its .audit sidecar)")->required();
  cmd->add_option("--audit-key", o->audit_key, "the school's audit key (.key): read the sidecar PATH.audit");
  cmd->add_option("--since", o->since, "only entries from this day on (YYYY-MM-DD)");
  cmd->add_option("--drop", o->drop_dir,
                  "with --audit-key: the audit drop directory holding the school's copy (default: the policy's)");
  cmd->add_flag("--json", o->json, "one JSON object per line (for a SIEM)");
  cmd->add_flag("--verify", o->verify,
                "exit 4 unless the trail verifies (no edited, reordered, forged or missing entry)");
  add_passphrase_file_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_audit(*o, ctx); });
}

}  // namespace coffer::cli
