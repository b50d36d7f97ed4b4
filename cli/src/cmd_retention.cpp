// coffer hold (suspend expiry after an incident; only the school's recovery
// key lifts it) and coffer sweep (wipe coffers whose grace period is over;
// no passphrase needed, run daily by the user timer in contrib/systemd).
#include <fmt/core.h>

#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/printable.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/coffer/sweep.h"
#include "dates.h"
#include "exit_codes.h"
#include "remedy.h"
#include "school_key_files.h"

namespace coffer::cli {
namespace {

struct HoldOptions {
  CommonOptions common;
  std::string path, reason, recovery_key, until;
  bool release = false, open_ended = false;
};

// How long the hold is to last: the policy's bound unless IT says otherwise.
vault::HoldTerm hold_term(const HoldOptions& o) {
  vault::HoldTerm term;
  if (!o.until.empty() && o.open_ended) throw Error(ErrorCode::kUsage, "give --until DATE or --open-ended, not both");
  if ((!o.until.empty() || o.open_ended) && o.recovery_key.empty())
    throw Error(ErrorCode::kPolicy,
                "only the school's recovery key sets a hold's end or makes it open-ended: add --recovery-key "
                "school.key (IT)");
  if (!o.until.empty()) {
    term.kind = vault::HoldTerm::Kind::kUntil;
    term.until = end_of_local_day(o.until);
  } else if (o.open_ended) {
    term.kind = vault::HoldTerm::Kind::kOpenEnded;
  }
  return term;
}

void run_hold(const HoldOptions& o, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  if (o.release) {
    if (o.recovery_key.empty())
      throw Error(ErrorCode::kPolicy, "only the school's recovery key lifts a hold: add --recovery-key school.key");
    keystore::SchoolKeyPair key = load_secret_key(o.recovery_key, *source);
    vault::Coffer c = unlock_coffer_recovery(o.path, key, ctx);
    c.release_hold();
    *ctx.out << "released the hold on " << o.path << ": it expires on " << local_date(c.header().expires) << " again\n";
    return;
  }
  if (o.reason.empty()) throw Error(ErrorCode::kUsage, "say why: --reason TEXT (e.g. \"incident on the trip, 3 May\")");
  const vault::HoldTerm term = hold_term(o);
  std::optional<vault::Coffer> c;
  if (!o.recovery_key.empty()) {
    keystore::SchoolKeyPair key = load_secret_key(o.recovery_key, *source);
    c.emplace(unlock_coffer_recovery(o.path, key, ctx));
  } else {
    keystore::Passphrase pw = source->existing("Passphrase for " + o.path);
    c.emplace(unlock_coffer(o.path, pw, ctx));
  }
  const auto until = c->set_hold(o.reason, ctx.clock->now(), term);
  if (until) {
    *ctx.out << o.path << " is on hold until " << local_datetime(*until)
             << ": until then it will not expire, be purged or swept; after that its expiry proceeds unless the "
                "school extends the hold\n"
             << "(IT: coffer hold " << o.path
             << " --reason TEXT --until YYYY-MM-DD --recovery-key school.key extends it; --release lifts it)\n";
  } else {
    *ctx.out << o.path << " is on hold (open-ended): it will not expire, be purged or swept until the school lifts "
             << "the hold\n"
             << "(coffer hold " << o.path << " --release --recovery-key school.key)\n";
  }
}

struct SweepOptions {
  std::vector<std::string> dirs;
  bool dry_run = false;
};

void run_sweep(const SweepOptions& o, Context& ctx) {
  vault::SchoolPolicy policy = school_policy(ctx);
  const std::int64_t now = ctx.clock->now();
  std::size_t wiped = 0, failed = 0;
  int first_error = 0;  // exit code of the first failure (all are reported)
  for (auto& dir : o.dirs) {
    std::vector<vault::SweepItem> items;
    try {
      items = vault::sweep_directory(dir, now, policy.grace_days, o.dry_run, *ctx.random);
    } catch (const Error& e) {
      *ctx.err << "coffer: error: " << printable(error_text(e)) << "\n";
      if (!first_error) first_error = exit_code_for(e.code());
      continue;
    }
    for (auto& it : items) {
      using A = vault::SweepItem::Action;
      std::string when = "expired " + local_date(it.expires) + ", check-in closed " + local_date(it.grace_ends);
      switch (it.action) {
        case A::kWiped:
          ++wiped;
          *ctx.out << "wiped " << printable(it.path.string()) << " (" << when << ")\n";
          break;
        case A::kWouldWipe:
          ++wiped;
          *ctx.out << "would wipe " << printable(it.path.string()) << " (" << when << ")\n";
          break;
        case A::kHeld:
          *ctx.out << "kept " << printable(it.path.string()) << " (on hold)\n";
          break;
        case A::kFailed:
          ++failed;
          *ctx.err << "coffer: error: could not wipe " << printable(it.path.string()) << ": "
                   << printable(error_text(*it.failure)) << "\n";
          if (!first_error) first_error = exit_code_for(ErrorCode::kBusy);
          break;
        case A::kKept:
          break;
      }
    }
  }
  *ctx.out << fmt::format("{} {} coffer(s){}\n", o.dry_run ? "would wipe" : "wiped", wiped,
                          failed ? fmt::format(", {} could not be wiped", failed) : "");
  // Already reported above: the exit code only.
  if (first_error) throw CLI::RuntimeError(first_error);
}

}  // namespace

void register_retention(CLI::App& app, Context& ctx) {
  auto ho = std::make_shared<HoldOptions>();
  auto* hold = app.add_subcommand("hold",
                                  "teacher: put a coffer on hold after an incident (expiry, purges and sweeps stop "
                                  "for the policy's max_hold_days, 14 by default); IT, with the school's recovery "
                                  "key: extend it (--until, --open-ended) or --release it");
  hold->add_option("path", ho->path, "the coffer file")->required();
  hold->add_option("--reason", ho->reason, "why (kept in the coffer and its audit trail)");
  hold->add_flag("--release", ho->release, "lift the hold (needs --recovery-key)");
  hold->add_option("--recovery-key", ho->recovery_key, "the school's recovery key (.key)");
  hold->add_option("--until", ho->until,
                   "YYYY-MM-DD: hold until the end of that day (needs --recovery-key; replaces the current end)");
  hold->add_flag("--open-ended", ho->open_ended, "hold until the school lifts it (needs --recovery-key)");
  add_passphrase_file_option(*hold, ho->common);
  hold->callback([ho, &ctx] { run_hold(*ho, ctx); });

  auto so = std::make_shared<SweepOptions>();
  auto* sweep =
      app.add_subcommand("sweep",
                         "anyone: wipe the coffers in DIR whose check-in grace period is over (no passphrase; "
                         "symbolic links are never followed)");
  sweep->add_option("dir", so->dirs, "directories to look in (not recursive)")->required();
  sweep->add_flag("--dry-run", so->dry_run, "only say what would be wiped");
  sweep->callback([so, &ctx] { run_sweep(*so, ctx); });
}

}  // namespace coffer::cli
