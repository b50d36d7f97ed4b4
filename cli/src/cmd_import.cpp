// coffer import: pupil records from an MIS export into a coffer, only the
// selected pupils and only the fields its profile allows; all or nothing.
#include <ostream>
#include <set>
#include <sstream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/printable.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/records/records.h"
#include "dates.h"
#include "import_report.h"
#include "purpose.h"

namespace coffer::cli {
namespace {

struct ImportOptions {
  CommonOptions common;
  std::string path, profiles_file, pupils_file, expires;
  std::vector<std::string> pupils, groups;
  SourceSpec spec;
  bool dry_run = false;
  bool json = false;
};

SourceSpec spec_of(const ImportOptions& o) {
  SourceSpec s = o.spec;
  s.selection.pupils.insert(o.pupils.begin(), o.pupils.end());
  s.selection.groups.insert(o.groups.begin(), o.groups.end());
  if (!o.pupils_file.empty()) {
    auto keys = vault::read_pupil_list(o.pupils_file);
    s.selection.pupils.insert(keys.begin(), keys.end());
  }
  return s;
}

void run_import(const ImportOptions& o, Context& ctx) {
  SourceSpec spec = spec_of(o);
  vault::ProfileSet profiles = load_profiles(o.profiles_file);
  if (o.dry_run) {
    // No passphrase: the header names the profile; its fields come from the
    // profile definition (the real import uses the copy inside the coffer).
    vault::SelectedHeader h = vault::read_header(o.path);
    const vault::Profile* known = profiles.find(h.header.profile);
    if (!known)
      throw Error(ErrorCode::kUsage,
                  o.path + " was made for the profile " + h.header.profile +
                      ", which is not in the profiles file here; a dry run cannot read the copy inside the coffer "
                      "(it has no passphrase): pass the school's profiles file with --profiles FILE, or import "
                      "without --dry-run");
    const vault::Profile& profile = *known;
    vault::PreparedImport p = prepare_source(spec, profile, ctx.clock->now());
    // Without the passphrase the pupils already inside are unknown: the
    // cap is judged on this import alone.
    check_pupil_cap(p, profile, school_policy(ctx), p.pupils.size());
    if (o.json) {
      nlohmann::ordered_json j = {{"coffer", o.path}, {"dry_run", true}};
      j.update(import_json(p, profile));
      j["imported"] = 0;
      for (auto& w : import_warnings(p)) *ctx.err << "coffer: warning: " << printable(w) << "\n";
      *ctx.out << j.dump(2) << "\n";
      return;
    }
    print_summary(p, profile, *ctx.out, *ctx.err);
    *ctx.out << "dry run: nothing was written to " << o.path << "\n";
    return;
  }
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw = source->existing("Passphrase for " + o.path);
  vault::Coffer c = unlock_coffer(o.path, pw, ctx, /*check_only=*/true);
  for (auto& w : c.warnings()) *ctx.err << "coffer: warning: " << printable(w) << "\n";
  vault::Profile profile = coffer_profile(c, profiles);
  vault::PreparedImport p = prepare_source(spec, profile, ctx.clock->now());
  if (!o.expires.empty()) {
    // A shorter retention for these records: never past the coffer's own.
    std::int64_t until = end_of_local_day(o.expires);
    if (until > c.header().expires)
      throw Error(ErrorCode::kPolicy, "--expires " + o.expires + " is after the coffer's own expiry (" +
                                          local_date(c.header().expires) + "); records may only expire sooner");
    if (until < ctx.clock->now()) throw Error(ErrorCode::kPolicy, "--expires " + o.expires + " is already over");
    auto d = vault::parse_date(o.expires);
    for (auto& pupil : p.pupils) pupil.expires = d;
  }
  {
    // The cap counts the pupils the coffer will hold: those inside already
    // plus the new keys (a re-import replaces a pupil, it adds none).
    std::set<std::string> keys;
    for (auto& e : vault::RecordStore(c.database()).list()) keys.insert(e.key);
    for (auto& pupil : p.pupils) keys.insert(pupil.key);
    check_pupil_cap(p, profile, school_policy(ctx), keys.size());
  }
  std::ostringstream human;  // with --json, the summary's warnings still go to stderr
  print_summary(p, profile, o.json ? human : *ctx.out, *ctx.err);
  vault::RecordStore(c.database()).import(p.pupils, log_entry(p, spec, ctx.clock->now()));
  // Counts, never values: the audit says how many, from where, by whom.
  c.audit(vault::AuditKind::kImport, std::filesystem::path(spec.from).filename().string(), "ok",
          std::to_string(p.pupils.size()) + " pupil(s), " + std::to_string(p.dropped.size()) + " column(s) dropped");
  const std::int64_t in_coffer = vault::RecordStore(c.database()).count();
  if (o.json) {
    nlohmann::ordered_json j = {{"coffer", o.path}, {"dry_run", false}};
    j.update(import_json(p, profile));
    j["imported"] = p.pupils.size();
    j["in_coffer"] = in_coffer;
    *ctx.out << j.dump(2) << "\n";
    return;
  }
  *ctx.out << "imported " << p.pupils.size() << " pupils into " << o.path << " (" << in_coffer << " in the coffer)\n";
}

}  // namespace

void add_source_options(CLI::App& cmd, SourceSpec& spec) {
  cmd.add_option("--from", spec.from, "the MIS export: a directory or file")->required();
  cmd.add_option("--format", spec.format,
                 "coffer-csv, csv (with --map), oneroster, sds (Microsoft School Data Sync v2.1) or ctf (default: "
                 "detected)")
      ->check(CLI::IsMember({"coffer-csv", "csv", "oneroster", "sds", "ctf"}));
  cmd.add_option("--map", spec.map, "column mapping (TOML) for --format csv; see docs/IMPORT.md");
  cmd.add_flag("--allow-missing", spec.allow_missing,
               "import pupils lacking a field the profile requires (e.g. an emergency contact's phone)");
}

void register_import(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ImportOptions>();
  auto* cmd = app.add_subcommand("import", "IT: import selected pupils' records from an MIS export");
  cmd->add_option("path", o->path, "the coffer")->required();
  add_source_options(*cmd, o->spec);
  cmd->add_option("--pupil", o->pupils, "a pupil to take, by the source's own key (repeatable)");
  cmd->add_option("--pupils-file", o->pupils_file, "a file of pupil keys, one per line");
  cmd->add_option("--group", o->groups, "take every pupil in this registration group or class (repeatable)");
  cmd->add_option("--expires", o->expires,
                  "these records expire sooner than the coffer, at the end of DATE (YYYY-MM-DD); the mount then "
                  "removes them");
  cmd->add_flag("--dry-run", o->dry_run, "show what would be imported; write nothing");
  cmd->add_flag("--json", o->json, "print what was (or would be) imported as JSON (docs/CLI.md)");
  cmd->add_option("--profiles", o->profiles_file, "the school's profiles file (as for create)");
  add_passphrase_file_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_import(*o, ctx); });
}

}  // namespace coffer::cli
