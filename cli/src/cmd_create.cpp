// coffer create: a new, empty coffer for one person and purpose.
#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/vault/audit/audit_anchor.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/records/profile.h"
#include "dates.h"
#include "new_file.h"
#include "purpose.h"
#include "school_key_files.h"

namespace coffer::cli {

namespace {

struct CreateOptions {
  CommonOptions common;
  std::string path, owner, purpose, expires, trip_end, recovery_key, audit_key;
  std::string profiles_file;
};

void run_create(const CreateOptions& o, Context& ctx) {
  vault::ProfileSet profiles = load_profiles(o.profiles_file);
  const vault::Profile* profile = &find_profile(profiles, o.purpose);
  std::string expires = choose_expiry(*profile, o.expires, o.trip_end, ctx.clock->now());
  vault::CreateParams params;
  params.owner = o.owner;
  params.profile = o.purpose;
  params.profile_fields.assign(profile->fields.begin(), profile->fields.end());
  params.protection = profile->protection;
  params.approved_destinations = profile->approved_destinations;
  params.expires = end_of_local_day(expires);
  params.kdf_cost = o.common.cost();
  params.created_by = current_user();
  if (!o.recovery_key.empty()) params.recovery_key = load_public_key(o.recovery_key);
  if (!o.audit_key.empty()) params.audit_key = load_public_key(o.audit_key);
  if (::access(o.path.c_str(), F_OK) == 0)
    throw Error(ErrorCode::kPolicy, o.path + " already exists; choose another name");
  const std::filesystem::path anchor = vault::anchor_file_path(o.path);
  if (params.audit_key && ::access(anchor.c_str(), F_OK) == 0)
    throw Error(ErrorCode::kPolicy, anchor.string() +
                                        " (the anchor of the audit trail of an earlier coffer) already exists; "
                                        "file it in IT's manifest store or choose another name");
  if (params.expires <= ctx.clock->now())
    throw Error(ErrorCode::kPolicy, "the expiry date " + expires + " is in the past");
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw =
      ask_new_passphrase(*source, "New passphrase for " + o.path, passphrase_context(o.owner, o.purpose, o.path));
  vault::Coffer::create(o.path, params, pw, *ctx.random, *ctx.clock);
  // The trail's genesis, for IT to file where teachers cannot write: what
  // `audit --manifests` and `checkin` check the sidecar against.
  if (params.audit_key)
    write_new_file(anchor.string(),
                   vault::anchor_file_json(vault::read_sidecar_genesis(vault::sidecar_path(o.path)),
                                           std::filesystem::path(o.path).filename().string()),
                   0640);
  *ctx.out << "created " << o.path << " for " << o.owner << " (" << o.purpose << "), expires " << expires
           << " end of day";
  if (params.audit_key)
    *ctx.out << "\naudit anchor: " << anchor.string() << " (file it in IT's manifest store; see docs/ADMIN.md)";
  if (!params.recovery_key) *ctx.out << "\nwarning: no recovery key: a forgotten passphrase cannot be recovered";
  if (params.kdf_cost == keystore::KdfCost::kTest)
    *ctx.out << "\nwarning: INSECURE test key-derivation cost; never use it for real data";
  *ctx.out << "\n";
}

}  // namespace

void register_create(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<CreateOptions>();
  auto* cmd = app.add_subcommand("create", "IT: create a new, empty coffer (refuses to overwrite)");
  cmd->add_option("path", o->path, "the coffer file to create, e.g. trip-paris.coffer")->required();
  cmd->add_option("--owner", o->owner, "the member of staff it is for")->required();
  cmd->add_option("--purpose", o->purpose,
                  "profile name: trip, trip-local, marking, home-working (or the school's own)")
      ->required();
  cmd->add_option("--expires", o->expires,
                  "YYYY-MM-DD: expires at the end of that day (default: the profile's; never past "
                  "its maximum)");
  cmd->add_option("--trip-end", o->trip_end, "YYYY-MM-DD: the trip's last day (trip profiles count from it)");
  cmd->add_option("--profiles", o->profiles_file,
                  "the school's profiles file instead of /etc/coffer/profiles.toml (root only; owned "
                  "by root and not writable by others)");
  cmd->add_option("--recovery-key", o->recovery_key, "the school's recovery key (.pub)");
  cmd->add_option("--audit-key", o->audit_key, "the school's audit key (.pub)");
  add_passphrase_file_option(*cmd, o->common);
  add_kdf_cost_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_create(*o, ctx); });
}

}  // namespace coffer::cli
