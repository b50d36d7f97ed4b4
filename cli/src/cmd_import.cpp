// coffer import: pupil records from an MIS export into a coffer, only the
// selected pupils and only the fields its profile allows; all or nothing.
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/vault/coffer.h"
#include "coffer/vault/records.h"
#include "import_report.h"
#include "purpose.h"

namespace coffer::cli {
namespace {

struct ImportOptions {
  CommonOptions common;
  std::string path, profiles_file, pupils_file;
  std::vector<std::string> pupils, groups;
  SourceSpec spec;
  bool dry_run = false;
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
    const vault::Profile& profile = find_profile(profiles, h.header.profile);
    vault::PreparedImport p = prepare_source(spec, profile);
    print_summary(p, profile, *ctx.out, *ctx.err);
    *ctx.out << "dry run: nothing was written to " << o.path << "\n";
    return;
  }
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw = source->existing("Passphrase for " + o.path);
  vault::Coffer c = unlock_coffer(o.path, pw, ctx, /*check_only=*/true);
  for (auto& w : c.warnings()) *ctx.err << "coffer: warning: " << w << "\n";
  vault::Profile profile = coffer_profile(c, profiles);
  vault::PreparedImport p = prepare_source(spec, profile);
  print_summary(p, profile, *ctx.out, *ctx.err);
  vault::RecordStore(c.database()).import(p.pupils, log_entry(p, spec, ctx.clock->now()));
  *ctx.out << "imported " << p.pupils.size() << " pupils into " << o.path << " ("
           << vault::RecordStore(c.database()).count() << " in the coffer)\n";
}

}  // namespace

void add_source_options(CLI::App& cmd, SourceSpec& spec) {
  cmd.add_option("--from", spec.from, "the MIS export: a directory or file")->required();
  cmd.add_option("--format", spec.format, "coffer-csv, csv (with --map), oneroster or ctf (default: detected)")
      ->check(CLI::IsMember({"coffer-csv", "csv", "oneroster", "ctf"}));
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
  cmd->add_flag("--dry-run", o->dry_run, "show what would be imported; write nothing");
  cmd->add_option("--profiles", o->profiles_file, "the school's profiles file (as for create)");
  add_passphrase_file_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_import(*o, ctx); });
}

}  // namespace coffer::cli
