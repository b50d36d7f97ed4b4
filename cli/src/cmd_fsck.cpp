// coffer fsck: unlock and check everything: both header copies and their
// MAC, the schema version, the header hints against the database, the
// database's own integrity check (which authenticates every page).
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/printable.h"
#include "coffer/vault/coffer/coffer.h"
#include "exit_codes.h"

namespace coffer::cli {
namespace {

struct FsckOptions {
  CommonOptions common;
  std::string path;
};

void run_fsck(const FsckOptions& o, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw = source->existing("Passphrase for " + o.path);
  vault::Coffer c = unlock_coffer(o.path, pw, ctx, /*check_only=*/true);
  for (auto& w : c.warnings()) *ctx.out << "repaired: " << printable(w) << "\n";
  vault::FsckReport r = c.check();
  vault::AuditVerdict audit = c.verify_audit();
  r.notes.push_back(std::to_string(audit.entries) + " audit entries checked");
  for (auto& p : audit.problems) r.problems.push_back("audit: " + p);
  c.flush_audit();  // the unlock, once the check has read everything
  for (auto& n : r.notes) *ctx.out << printable(n) << "\n";
  for (auto& p : r.problems) *ctx.out << "PROBLEM: " << printable(p) << "\n";
  if (!r.ok())
    throw Error(ErrorCode::kDamaged, o.path + " failed its check (" + std::to_string(r.problems.size()) + " problems)");
  *ctx.out << o.path << ": ok\n";
}

}  // namespace

void register_fsck(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<FsckOptions>();
  auto* cmd = app.add_subcommand("fsck",
                                 "anyone with the passphrase: check a coffer's integrity "
                                 "(exit 0 only if every check holds)");
  cmd->add_option("path", o->path, "the coffer file")->required();
  add_passphrase_file_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_fsck(*o, ctx); });
}

}  // namespace coffer::cli
