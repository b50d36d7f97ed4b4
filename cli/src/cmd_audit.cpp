// coffer audit: read (and --verify) a coffer's audit trail. With the
// passphrase: the hash chain inside the coffer, plus a check that the
// sidecar still holds every record the coffer knows of. With the school's
// audit key (--audit-key): the sidecar PATH.audit, which works after the
// coffer is wiped or lost, compared with the school's drop copy if there is
// one. Either way the trail is checked against the anchor IT filed in its
// manifest store (--manifests), if one is given: ANCHORED, REPLACED,
// RESTARTED or not anchored (anchor_report.h). --json prints one JSON
// object per line, for a SIEM; --summary the trail in plain English for the
// DPO (audit_summary.h). An audit trail file (a sidecar or drop copy) given
// without --audit-key is recognised before any passphrase is asked for.
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ostream>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "anchor_report.h"
#include "app.h"
#include "audit_summary.h"
#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/printable.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_anchor.h"
#include "coffer/vault/audit/audit_drop.h"
#include "coffer/vault/coffer/coffer.h"
#include "dates.h"
#include "school_key_files.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct AuditOptions {
  CommonOptions common;
  std::string path, audit_key, since, drop_dir, manifests;
  bool json = false, verify = false, summary = false;
};

// With --summary the events are gathered here and printed after the verdict
// is known (its heading says how far the trail can be trusted).
using SummaryList = std::vector<SummaryEntry>;

std::string human_line(std::uint64_t seq, const vault::AuditEvent& e, const char* mark) {
  // The time with its zone offset: a DPO in another zone reads it right.
  std::string line = fmt::format("{:>5} {} {}{:<14} {:<9}", seq, iso_datetime(e.time), mark,
                                 vault::audit_kind_name(e.kind), printable(e.result));
  // Every field came from outside (a file name, a program's path): shown,
  // never obeyed by the terminal.
  if (!e.object.empty()) line += " " + printable(e.object);
  if (!e.detail.empty()) line += " (" + printable(e.detail) + ")";
  if (e.user.empty()) line += fmt::format("  [uid {} pid {} {}]", e.uid, e.pid, printable(e.exe));
  else line += fmt::format("  [uid {} ({}) pid {} {}]", e.uid, printable(e.user), e.pid, printable(e.exe));
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

// One JSON line: the event, `authenticated` only for a record with its own
// verified MAC in an anchored trail, and what the anchor says.
std::string json_line(std::uint64_t seq, const vault::AuditEvent& e, bool authenticated, bool without_key,
                      const vault::AnchorVerdict& v, const char* trail) {
  std::string line = vault::audit_event_json(e, seq, authenticated);
  line.pop_back();  // the closing brace
  // time_iso last: the keys before it are as they always were.
  line += fmt::format(R"(,"written_without_key":{},"anchor":"{}","trail":"{}","time_iso":"{}"}})",
                      without_key ? "true" : "false", vault::anchor_status_name(v.status), trail, iso_datetime(e.time));
  return line;
}

void finish(const std::vector<std::string>& problems, const std::vector<std::string>& notes,
            const vault::AnchorVerdict& anchor, bool store_given, const AuditOptions& o, Context& ctx,
            std::uint64_t entries, const std::vector<std::pair<std::uint64_t, std::int64_t>>& times,
            const SummaryList& summary) {
  if (o.summary)
    *ctx.out << audit_summary(summary, coffer_name_of_trail(o.path),
                              anchor_line(anchor, problems.empty(), entries, store_given) +
                                  (problems.empty() ? "" : "; see the PROBLEM lines"));
  for (auto& n : notes) *ctx.err << "coffer: note: " << printable(n) << "\n";
  for (auto& p : problems) *ctx.err << "coffer: PROBLEM: " << printable(p) << "\n";
  if (o.verify)
    for (auto& w : time_reversals(times)) *ctx.err << "coffer: warning: " << w << "\n";
  *ctx.err << anchor_line(anchor, problems.empty(), entries, store_given) << "\n";
  if (anchor_refuses(anchor))
    throw Error(ErrorCode::kDamaged, "the audit trail of " + o.path + " is " +
                                         (anchor.status == vault::AnchorStatus::kReplaced
                                              ? std::string("REPLACED: it is not the trail the coffer began with")
                                              : std::string("in CONFLICT: two anchors name this coffer")));
  if (o.verify && !problems.empty())
    throw Error(ErrorCode::kDamaged, "the audit trail of " + o.path + " failed verification (" +
                                         std::to_string(problems.size()) + " problem(s))");
}

// The teacher's (or IT's) view with the passphrase: the sidecar's genesis
// (read without the audit key) against the anchor; a restart is followed
// through the restart records of the coffer's own chain (their links are
// checked only with the audit key).
vault::AnchorVerdict anchor_with_passphrase(vault::Coffer& c, const std::vector<vault::StoredAuditEvent>& events,
                                            const std::optional<fs::path>& store) {
  vault::AnchorVerdict v;
  const vault::Header& h = c.header();
  if (!h.audit || !store) return v;
  v.anchors = vault::find_anchors(*store, h.vault_id);
  if (v.anchors.size() > 1) {
    v.status = vault::AnchorStatus::kConflict;
    v.problems.push_back("CONFLICT: the manifest store holds " + std::to_string(v.anchors.size()) +
                         " anchors for this coffer's vault id; IT must find out which is genuine");
    return v;
  }
  if (v.anchors.empty()) return v;
  const vault::FoundAnchor& a = v.anchors.front();
  vault::SidecarGenesis g;
  try {
    g = vault::read_sidecar_genesis(c.sidecar());
  } catch (const Error& e) {
    v.status = vault::AnchorStatus::kReplaced;
    v.problems.push_back("REPLACED: the sidecar cannot be read (" + std::string(e.what()) + ")");
    return v;
  }
  std::vector<keystore::Digest32> lineage{g.digest};
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    auto claim = vault::parse_restart(it->event);
    if (!claim || !claim->new_genesis || !claim->previous_header) continue;
    if (!keystore::digest_equal(*claim->new_genesis, lineage.back())) continue;
    lineage.push_back(vault::genesis_of_header(*claim->previous_header, "the restart record").digest);
  }
  auto in = [&](const keystore::Digest32& d) {
    return std::any_of(lineage.begin(), lineage.end(), [&](auto& l) { return keystore::digest_equal(l, d); });
  };
  if (g.vault_id != h.vault_id || (!a.coffer.empty() && a.coffer != c.path().filename().string())) {
    v.status = vault::AnchorStatus::kReplaced;
    v.problems.push_back("REPLACED: the sidecar " + c.sidecar().string() + " is another coffer's trail");
  } else if (keystore::digest_equal(a.genesis, g.digest)) {
    v.status = vault::AnchorStatus::kAnchored;
  } else if (in(a.genesis)) {
    v.status = vault::AnchorStatus::kRestarted;
    v.notes.push_back("the restart's link to the anchored trail is checked only with the school's audit key");
  } else {
    v.status = vault::AnchorStatus::kReplaced;
    v.problems.push_back("REPLACED: the sidecar's genesis differs from the anchor filed at school (" + a.file.string() +
                         "): it is not the trail the coffer began with");
  }
  return v;
}

void run_with_passphrase(const AuditOptions& o, std::optional<std::int64_t> since, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw = source->existing("Passphrase for " + o.path);
  vault::Coffer c = unlock_coffer(o.path, pw, ctx, /*check_only=*/true);
  // Verified as found, before this unlock is added (which would repair a
  // torn sidecar tail as it appends).
  vault::AuditVerdict v = c.verify_audit();
  const std::optional<fs::path> store = manifest_store_of(o.manifests, ctx);
  vault::AnchorVerdict anchor = anchor_with_passphrase(c, c.audit_events(), store);
  c.flush_audit();  // reading the trail is an unlock like any other
  const bool anchored = anchor.anchored() && v.ok();
  std::vector<std::pair<std::uint64_t, std::int64_t>> times;
  SummaryList summary;
  for (auto& e : c.audit_events()) {
    times.emplace_back(e.seq, e.event.time);
    if (since && e.event.time < *since) continue;
    if (o.summary) summary.push_back({e.event, false, false});
    else if (o.json) *ctx.out << json_line(e.seq, e.event, anchored, false, anchor, "coffer") << "\n";
    else *ctx.out << human_line(e.seq, e.event, "") << "\n";
  }
  std::vector<std::string> problems = v.problems;
  problems.insert(problems.end(), anchor.problems.begin(), anchor.problems.end());
  finish(problems, anchor.notes, anchor, store.has_value(), o, ctx, v.entries, times, summary);
}

void run_with_audit_key(const AuditOptions& o, std::optional<std::int64_t> since, Context& ctx) {
  fs::path sidecar = o.path;
  if (sidecar.extension() != ".audit") sidecar = vault::sidecar_path(o.path);
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::SchoolKeyPair key = load_secret_key(o.audit_key, *source);
  if (key.public_key.role != keystore::SchoolKeyRole::kAudit)
    throw Error(ErrorCode::kPolicy, o.audit_key + " is a recovery key; give the school's audit key (.key)");
  std::optional<fs::path> drop_dir;
  if (!o.drop_dir.empty()) drop_dir = o.drop_dir;
  else if (auto d = school_policy(ctx).audit_drop_dir) drop_dir = *d;
  const std::optional<fs::path> store = manifest_store_of(o.manifests, ctx);
  // Only for finding the drop copy: the verdict uses the header read with the records.
  const vault::SidecarGenesis genesis = vault::read_sidecar_genesis(sidecar);
  // The school's drop copy of this trail (found by vault id, then by its
  // genesis) holds every record up to the last contact: a sidecar shorter
  // than it has been truncated.
  std::optional<std::uint64_t> expected;
  std::vector<std::string> drop_notes;
  if (drop_dir) {
    std::error_code ec;
    for (auto& copy : vault::find_drop_copies(*drop_dir, genesis.vault_id)) {
      if (!keystore::digest_equal(copy.genesis.digest, genesis.digest) || fs::equivalent(copy.path, sidecar, ec))
        continue;
      std::uint64_t n = vault::count_sidecar_records(copy.path);
      if (!expected || n > *expected) expected = n;
      drop_notes.push_back("the drop copy " + copy.path.string() + " holds " + std::to_string(n) + " record(s)");
    }
  }
  vault::SidecarReport r = vault::read_sidecar(sidecar, key, expected);
  vault::AnchorQuery q{store, drop_dir, coffer_name_of_trail(sidecar), std::nullopt};
  vault::AnchorVerdict anchor = vault::check_anchor(r, key, q);
  const bool anchored = anchor.anchored();
  SummaryList summary;
  auto show = [&](const vault::SidecarEntry& e, const char* trail) {
    if (since && e.event.time < *since) return;
    const bool without_key = !e.authenticated;
    if (o.summary) {
      summary.push_back({e.event, without_key, !e.verified});
    } else if (o.json) {
      *ctx.out << json_line(e.seq, e.event, anchored && e.authenticated && e.verified, without_key, anchor, trail)
               << "\n";
    } else {
      std::string mark = without_key ? "WRITTEN WITHOUT THE KEY " : "";
      if (!e.verified) mark = "UNCONFIRMED " + mark;
      *ctx.out << human_line(e.seq, e.event, mark.c_str()) << "\n";
    }
  };
  for (auto& part : anchor.earlier) {
    if (!o.json && !o.summary)
      *ctx.out << "--- earlier part, from the drop copy " << printable(part.drop_copy.string()) << "\n";
    for (auto& e : part.report.entries) show(e, "earlier");
  }
  if (!o.json && !o.summary && !anchor.earlier.empty())
    *ctx.out << "--- the sidecar " << printable(sidecar.string()) << " since it restarted\n";
  for (auto& e : r.entries) show(e, "sidecar");
  std::vector<std::string> notes = r.notes;
  notes.insert(notes.end(), drop_notes.begin(), drop_notes.end());
  notes.insert(notes.end(), anchor.notes.begin(), anchor.notes.end());
  std::vector<std::string> problems = r.problems;
  problems.insert(problems.end(), anchor.problems.begin(), anchor.problems.end());
  std::vector<std::pair<std::uint64_t, std::int64_t>> times;
  for (auto& part : anchor.earlier)
    for (auto& e : part.report.entries) times.emplace_back(e.seq, e.event.time);
  for (auto& e : r.entries) times.emplace_back(e.seq, e.event.time);
  finish(problems, notes, anchor, store.has_value(), o, ctx, r.records, times, summary);
}

// Whether PATH starts with an audit trail's header (a sidecar NAME.audit or
// a drop copy), read without any key: such a file is no coffer, and asking
// for a passphrase to open it would only end in "not a coffer file".
bool is_audit_trail_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return false;
  std::array<std::uint8_t, vault::kSidecarHeaderSize> head{};
  std::size_t got = 0;
  while (got < head.size()) {
    ssize_t n = ::read(fd.get(), head.data() + got, head.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < head.size()) return false;
  try {
    (void)vault::genesis_of_header(head, path);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void run_audit(const AuditOptions& o, Context& ctx) {
  std::optional<std::int64_t> since;
  if (!o.since.empty()) since = end_of_local_day(o.since) - 86399;
  if (o.json && o.summary) throw Error(ErrorCode::kUsage, "--json and --summary are exclusive: give one");
  if (o.audit_key.empty() && is_audit_trail_file(o.path))
    throw Error(ErrorCode::kUsage, o.path +
                                       ": this is an audit trail: give --audit-key FILE (the school's audit key) to "
                                       "read it; it is not a coffer and no passphrase opens it");
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
  cmd->add_option("--manifests", o->manifests,
                  "IT's manifest store holding the coffer's audit anchor (default: the policy's [audit] manifests); "
                  "without one a trail is only internally consistent");
  cmd->add_flag("--json", o->json,
                "one JSON object per line (for a SIEM), with time_iso (ISO 8601, local offset) beside time");
  cmd->add_flag("--summary", o->summary,
                "the trail in plain English for the DPO: per day, times with the zone offset (TZ), who opened what "
                "with which program, what was refused, when it locked and why");
  cmd->add_flag("--verify", o->verify,
                "exit 4 unless the trail verifies (no edited, reordered, forged or missing entry); a trail "
                "REPLACED (or two anchors in CONFLICT) exits 4 always");
  add_passphrase_file_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_audit(*o, ctx); });
}

}  // namespace coffer::cli
