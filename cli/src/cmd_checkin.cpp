// coffer checkin: IT's end of a coffer's life when the laptop comes back
// (also for a sealed coffer in its grace period). Verifies both audit
// trails, copies the teacher's files/ out, writes the check-in report
// (NAME.checkin.txt and .json: what was issued, what was opened and when,
// what is returned, the audit verdict), then wipes the coffer. A trail that
// fails verification stops everything before the wipe, with the report.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ostream>

#include "anchor_report.h"
#include "app.h"
#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/printable.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_anchor.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/coffer/export.h"
#include "coffer/vault/records/manifest.h"
#include "copy_rules.h"
#include "dates.h"
#include "purpose.h"
#include "school_key_files.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct CheckinOptions {
  CommonOptions common;
  std::string path, recovery_key, audit_key, export_dir, manifests;
};

bool is_access(vault::AuditKind k) {
  using K = vault::AuditKind;
  return k == K::kUnlock || k == K::kRecoveryUsed || k == K::kOpenView || k == K::kOpenFile || k == K::kExport ||
         k == K::kCopyBlocked || k == K::kUnlockFailed || k == K::kLockout || k == K::kSealed || k == K::kClockRefused;
}

void write_report(const fs::path& p, const std::string& text) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot create " + p.string() + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw Error(ErrorCode::kIo, "cannot write " + p.string());
}

void run_checkin(const CheckinOptions& o, Context& ctx) {
  const fs::path coffer_path = o.path;
  const std::string name = coffer_path.stem().string();
  const fs::path out = o.export_dir;
  const bool made_out = ::mkdir(out.c_str(), 0700) == 0;
  if (!made_out && errno != EEXIST)
    throw Error(ErrorCode::kIo, "cannot create " + out.string() + ": " + std::strerror(errno));
  const fs::path files_dir = out / (name + "-files");
  const fs::path records_dir = out / (name + "-records");
  const fs::path txt = out / (name + ".checkin.txt");
  const fs::path json_path = out / (name + ".checkin.json");
  for (const fs::path& p : {files_dir, records_dir, txt, json_path}) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0)
      throw Error(ErrorCode::kPolicy,
                  p.string() + " already exists: check-in never overwrites; choose another --export folder");
  }
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::SchoolKeyPair recovery = load_secret_key(o.recovery_key, *source);
  keystore::SchoolKeyPair audit_key = load_secret_key(o.audit_key, *source);
  if (audit_key.public_key.role != keystore::SchoolKeyRole::kAudit)
    throw Error(ErrorCode::kPolicy, o.audit_key + " is not the school's audit key");

  vault::Coffer c = unlock_coffer_recovery(o.path, recovery, ctx);
  // The returned files and the report leave the coffer: only to a place the
  // school approves.
  try {
    const vault::SchoolPolicy policy = school_policy(ctx);
    require_approved_destination(
        out, vault::effective_copy_rules(c.protection(), c.approved_destinations(), policy.copy).approved_destinations,
        policy.copy);
  } catch (...) {
    if (made_out) ::rmdir(out.c_str());
    throw;
  }
  const vault::Header h = c.header();
  const bool held = c.hold_reason().has_value();

  // Both trails, before anything leaves the coffer.
  std::vector<std::string> problems, notes;
  vault::AuditVerdict chain = c.verify_audit();
  for (auto& p : chain.problems) problems.push_back("in the coffer: " + p);
  std::uint64_t sidecar_records = 0, unconfirmed = 0;
  // The sidecar's when there is one (it has the failed unlocks too), with
  // whether each record carries a verified MAC of its own.
  struct TrailEntry {
    vault::StoredAuditEvent stored;
    bool authenticated = true;
  };
  std::vector<TrailEntry> trail;
  const std::optional<fs::path> store = manifest_store_of(o.manifests, ctx);
  vault::AnchorVerdict anchor;
  if (h.audit) {
    if (keystore::to_hex(h.audit->fingerprint) != keystore::to_hex(audit_key.public_key.fingerprint()))
      throw Error(ErrorCode::kWrongPassphrase, o.path + "'s trail is sealed to the audit key " +
                                                   keystore::to_hex(h.audit->fingerprint) + ", not to " + o.audit_key);
    vault::SidecarReport r = vault::read_sidecar(c.sidecar(), audit_key);
    vault::AnchorQuery q{store, school_policy(ctx).audit_drop_dir, coffer_path.filename().string(), h.vault_id};
    anchor = vault::check_anchor(r, audit_key, q);
    for (auto& p : r.problems) problems.push_back("in the sidecar: " + p);
    for (auto& n : r.notes) notes.push_back("sidecar: " + n);
    for (auto& p : anchor.problems) problems.push_back("anchor: " + p);
    for (auto& n : anchor.notes) notes.push_back("anchor: " + n);
    // A restart the anchor accounts for (its link verified back to the
    // anchored genesis) is not damage: the coffer's own finding of it is
    // a note.
    if (anchor.status == vault::AnchorStatus::kRestarted && anchor.problems.empty())
      std::erase_if(problems, [&](const std::string& p) {
        if (p.find("was found restarted") == std::string::npos) return false;
        notes.push_back(p);
        return true;
      });
    sidecar_records = r.records;
    unconfirmed = r.unconfirmed;
    for (auto& part : anchor.earlier)
      for (auto& e : part.report.entries) trail.push_back({{e.seq, e.event}, e.authenticated && e.verified});
    for (auto& e : r.entries) trail.push_back({{e.seq, e.event}, e.authenticated && e.verified});
  } else {
    for (auto& e : c.audit_events()) trail.push_back({e, true});
    notes.push_back("this coffer was made without an audit key: only the trail inside it exists");
  }
  const bool consistent = problems.empty();
  const bool verified = consistent && anchor.anchored();

  vault::Manifest m = vault::read_manifest(c.database(), coffer_path.filename().string());
  std::vector<vault::ExportedFile> returned, records;
  if (consistent) {
    returned = vault::export_files(c, files_dir);
    // A coffer on hold goes to the school's incident record whole.
    if (held) records = vault::export_records(c, records_dir, coffer_path.filename().string());
  }

  nlohmann::json j;
  j["coffer"] = coffer_path.filename().string();
  j["vault_id"] = keystore::to_hex(h.vault_id);
  j["checked_in"] = ctx.clock->now();
  j["checked_in_iso"] = iso_datetime(ctx.clock->now());
  j["checked_in_by"] = current_user();
  j["issued"] = nlohmann::json::parse(vault::manifest_json(m));
  nlohmann::json accesses = nlohmann::json::array();
  std::string access_text;
  for (auto& t : trail) {
    const vault::StoredAuditEvent& e = t.stored;
    if (!is_access(e.event.kind)) continue;
    nlohmann::json a = nlohmann::json::parse(vault::audit_event_json(e.event, e.seq, t.authenticated && verified));
    a["time_iso"] = iso_datetime(e.event.time);
    a["program"] = fs::path(e.event.exe).filename().string();
    accesses.push_back(std::move(a));
    // Who (the name recorded on the laptop, else the uid) and with which
    // program, as the DPO needs them.
    const std::string by = e.event.user.empty() ? "uid " + std::to_string(e.event.uid) : printable(e.event.user);
    access_text +=
        fmt::format("  {}  {:<14} {:<9} {}{}  by {} with {}\n", iso_datetime(e.event.time),
                    vault::audit_kind_name(e.event.kind), printable(e.event.result), printable(e.event.object),
                    e.event.detail.empty() ? "" : " (" + printable(e.event.detail) + ")", by,
                    printable(fs::path(e.event.exe).filename().string()));
  }
  j["accesses"] = accesses;
  nlohmann::json files = nlohmann::json::array();
  std::string files_text;
  std::uint64_t bytes = 0;
  for (auto& f : returned) {
    files.push_back({{"path", f.path}, {"size", f.size}, {"dir", f.is_dir}});
    if (!f.is_dir) {
      files_text += fmt::format("  files/{} ({} bytes)\n", printable(f.path), f.size);
      bytes += f.size;
    }
  }
  j["returned"] = {{"folder", consistent ? files_dir.string() : ""}, {"files", files}};
  if (held) j["on_hold"] = {{"reason", *c.hold_reason()}, {"records_folder", consistent ? records_dir.string() : ""}};
  j["audit"] = {{"verified", verified},
                {"consistent", consistent},
                {"anchor", std::string(vault::anchor_status_name(anchor.status))},
                {"entries_in_coffer", chain.entries},
                {"sidecar_records", sidecar_records},
                {"sidecar_unconfirmed", unconfirmed},
                {"problems", problems},
                {"notes", notes}};
  j["wiped"] = consistent;

  std::string t;
  t += fmt::format("Check-in of {} ({})\n", coffer_path.filename().string(), keystore::to_hex(h.vault_id));
  t += fmt::format("Checked in {} by {}\n\n", iso_datetime(ctx.clock->now()), current_user());
  t += "ISSUED (the manifest)\n" + vault::manifest_text(m) + "\n";
  t += "OPENED AND ACCESSED\n" + (access_text.empty() ? std::string("  (nothing)\n") : access_text) + "\n";
  t += fmt::format("RETURNED: the teacher's own files, {} file(s), {} bytes, in {}\n",
                   std::count_if(returned.begin(), returned.end(), [](auto& f) { return !f.is_dir; }), bytes,
                   consistent ? files_dir.string() : std::string("(not exported)"));
  t += files_text;  // the report is read with cat or less: every name in it is escaped
  if (held)
    t += fmt::format("\nON HOLD ({}): the records were exported for the incident record to {}\n",
                     printable(*c.hold_reason()), consistent ? records_dir.string() : std::string("(not exported)"));
  std::string verdict = "FAILED VERIFICATION";
  if (anchor.status == vault::AnchorStatus::kReplaced) verdict = "REPLACED: not the trail the coffer began with";
  else if (anchor.status == vault::AnchorStatus::kConflict) verdict = "CONFLICT: two anchors name this coffer";
  else if (consistent && anchor.status == vault::AnchorStatus::kAnchored) verdict = "ANCHORED and verified";
  else if (consistent && anchor.status == vault::AnchorStatus::kRestarted) verdict = "RESTARTED and verified";
  else if (consistent) verdict = "not anchored: internally consistent only";
  t += fmt::format("\nAUDIT: {}\n  {} entries in the coffer's hash chain; {} records in the sidecar ({} unconfirmed)\n",
                   verdict, chain.entries, sidecar_records, unconfirmed);
  for (auto& p : problems) t += "  PROBLEM: " + printable(p) + "\n";
  for (auto& n : notes) t += "  note: " + printable(n) + "\n";
  t += consistent ? "\nThe coffer has been wiped.\n"
                  : "\nThe coffer was NOT wiped and nothing was exported: keep it for investigation.\n";

  if (!consistent) {
    write_report(txt, t);
    write_report(json_path, j.dump(2) + "\n");
    throw Error(ErrorCode::kDamaged, "the audit trail of " + o.path + " failed verification: " + verdict + " (" +
                                         std::to_string(problems.size()) +
                                         " problem(s)); nothing was exported or "
                                         "wiped; the report is in " +
                                         txt.string());
  }
  c.audit(
      vault::AuditKind::kCheckin, "", "ok",
      std::to_string(returned.size()) + " file(s) and folder(s) returned" + (held ? "; records exported (hold)" : ""));
  {
    vault::Coffer closing = std::move(c);  // closes the database and drops its lock before the wipe
  }
  // The report is written before the wipe, saying the wipe follows; a wipe
  // that fails is an error the operator sees.
  write_report(txt, t);
  write_report(json_path, j.dump(2) + "\n");
  vault::wipe(o.path, *ctx.random, "checked in by IT");
  *ctx.out << "checked in " << o.path << ": audit " << verdict << " (" << chain.entries << " entries), "
           << std::count_if(returned.begin(), returned.end(), [](auto& f) { return !f.is_dir; })
           << " file(s) returned to " << files_dir.string() << "; report " << txt.string() << "; coffer wiped\n";
}

}  // namespace

void register_checkin(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<CheckinOptions>();
  auto* cmd =
      app.add_subcommand("checkin",
                         "IT: on return, verify the audit trails, give back the teacher's files, write the "
                         "check-in report, then wipe the coffer (also for a sealed coffer in its grace period)");
  cmd->add_option("path", o->path, "the coffer file")->required();
  cmd->add_option("--recovery-key", o->recovery_key, "the school's recovery key (.key)")->required();
  cmd->add_option("--audit-key", o->audit_key, "the school's audit key (.key)")->required();
  cmd->add_option("--export", o->export_dir, "the folder for the returned files and the report")->required();
  cmd->add_option("--manifests", o->manifests,
                  "IT's manifest store holding the coffer's audit anchor (default: the policy's [audit] manifests)");
  add_passphrase_file_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_checkin(*o, ctx); });
}

}  // namespace coffer::cli
