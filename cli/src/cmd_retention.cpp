// coffer hold (suspend expiry after an incident; only the school's recovery
// key lifts it) and coffer sweep (wipe coffers whose grace period is over;
// no passphrase needed, run daily by the user timer in contrib/systemd).
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/printable.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/coffer/school_store.h"
#include "coffer/vault/coffer/sweep.h"
#include "dates.h"
#include "exit_codes.h"
#include "purpose.h"
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
  std::string manifests, drop_dir;
  bool dry_run = false, json = false;
};

const char* sweep_action_name(vault::SweepItem::Action a) {
  using A = vault::SweepItem::Action;
  switch (a) {
    case A::kWiped:
      return "wiped";
    case A::kWouldWipe:
      return "would-wipe";
    case A::kHeld:
      return "held";
    case A::kFailed:
      return "failed";
    case A::kKept:
      break;
  }
  return "kept";
}

// IT's own copies in the manifest store (school_store.h): after the
// policy's school_copies_days from a coffer's expiry, return or loss.
nlohmann::ordered_json sweep_store(const SweepOptions& o, const vault::SchoolPolicy& policy, Context& ctx,
                                   int& first_error) {
  if (!policy.school_copies_days)
    throw Error(ErrorCode::kPolicy,
                "the school has not said how long IT keeps its copies of manifests, audit copies and check-in "
                "reports: set [retention] school_copies_days in the policy (docs/ADMIN.md); nothing was removed");
  std::optional<std::filesystem::path> drop;
  if (!o.drop_dir.empty()) drop = o.drop_dir;
  else drop = policy.audit_drop_dir;
  auto items =
      vault::sweep_store(o.manifests, drop, ctx.clock->now(), *policy.school_copies_days, o.dry_run, current_user());
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  std::size_t removed = 0, files = 0;
  using A = vault::StoreSweepItem::Action;
  for (auto& it : items) {
    nlohmann::ordered_json j{{"coffer", it.coffer},
                             {"vault_id", it.vault_id},
                             {"action", vault::store_sweep_action_name(it.action)},
                             {"keep_until", local_date(it.keep_until)},
                             {"keep_until_unix", it.keep_until}};
    auto& f = j["files"] = nlohmann::ordered_json::array();
    for (auto& p : it.removed) f.push_back(p.string());
    if (it.anchor_kept) j["anchor_kept"] = it.anchor_kept->string();
    if (!it.why.empty()) j["why"] = it.why;
    arr.push_back(std::move(j));
    if (it.action == A::kRemoved || it.action == A::kWouldRemove) ++removed;
    files += it.removed.size();
    if (it.action == A::kFailed) {
      *ctx.err << "coffer: error: " << printable(it.coffer) << ": " << printable(it.why) << "\n";
      if (!first_error) first_error = exit_code_for(ErrorCode::kIo);
    }
    if (o.json) continue;
    const char* verb = o.dry_run ? "would remove" : "removed";
    switch (it.action) {
      case A::kRemoved:
      case A::kWouldRemove:
      case A::kFailed:
        for (auto& p : it.removed) *ctx.out << verb << " " << printable(p.string()) << "\n";
        if (it.anchor_kept)
          *ctx.out << "kept the audit anchor " << printable(it.anchor_kept->string())
                   << " (an audit copy of the trail may still be kept: it is needed to verify it)\n";
        break;
      case A::kHeld:
        *ctx.out << "kept " << printable(it.coffer) << "'s copies (on hold)\n";
        break;
      case A::kKept:
        break;
    }
  }
  if (!o.json)
    *ctx.out << fmt::format(
        "{} the school's copies of {} coffer(s) ({} file(s)) from {}{}\n", o.dry_run ? "would remove" : "removed",
        removed, files, o.manifests,
        o.dry_run ? "" : "; recorded in " + (std::filesystem::path(o.manifests) / vault::kSweepLog).string());
  return nlohmann::ordered_json{
      {"store", o.manifests}, {"keep_days", *policy.school_copies_days}, {"dry_run", o.dry_run}, {"coffers", arr}};
}

void run_sweep(const SweepOptions& o, Context& ctx) {
  vault::SchoolPolicy policy = school_policy(ctx);
  if (o.dirs.empty() && o.manifests.empty())
    throw Error(ErrorCode::kUsage, "give the folders to sweep (DIR...) or IT's manifest store (--manifests DIR)");
  const std::int64_t now = ctx.clock->now();
  std::size_t wiped = 0, failed = 0;
  int first_error = 0;  // exit code of the first failure (all are reported)
  nlohmann::ordered_json json{{"swept_at", now}, {"dry_run", o.dry_run}};
  nlohmann::ordered_json coffers = nlohmann::ordered_json::array();
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
      if (it.action != A::kKept || o.json) {
        nlohmann::ordered_json j{{"path", it.path.string()},
                                 {"action", sweep_action_name(it.action)},
                                 {"expires", local_date(it.expires)},
                                 {"expires_unix", it.expires},
                                 {"grace_ends", local_date(it.grace_ends)}};
        if (it.failure) j["error"] = error_text(*it.failure);
        coffers.push_back(std::move(j));
      }
      if (o.json) {
        if (it.action == A::kWiped || it.action == A::kWouldWipe) ++wiped;
        if (it.action == A::kFailed) {
          ++failed;
          if (!first_error) first_error = exit_code_for(ErrorCode::kBusy);
        }
        continue;
      }
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
  json["coffers"] = coffers;
  json["wiped"] = wiped;
  json["failed"] = failed;
  if (!o.json && !o.dirs.empty())
    *ctx.out << fmt::format("{} {} coffer(s){}\n", o.dry_run ? "would wipe" : "wiped", wiped,
                            failed ? fmt::format(", {} could not be wiped", failed) : "");
  if (!o.manifests.empty()) {
    try {
      json["school_copies"] = sweep_store(o, policy, ctx, first_error);
    } catch (const Error& e) {
      if (!o.json) throw;
      *ctx.err << "coffer: error: " << printable(error_text(e)) << "\n";
      if (!first_error) first_error = exit_code_for(e.code());
    }
  }
  if (o.json) *ctx.out << json.dump(2) << "\n";
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
  sweep->add_option("dir", so->dirs, "directories to look in (not recursive)");
  sweep->add_option("--manifests", so->manifests,
                    "IT: also remove the school's own copies (manifests, audit copies, check-in reports) in this "
                    "manifest store once the policy's [retention] school_copies_days are over");
  sweep->add_option("--drop", so->drop_dir,
                    "with --manifests: the audit drop directory whose copies go too (default: the policy's)");
  sweep->add_flag("--dry-run", so->dry_run, "only say what would be wiped or removed");
  sweep->add_flag("--json", so->json, "one JSON object: what was wiped (and removed), for IT's records");
  sweep->callback([so, &ctx] { run_sweep(*so, ctx); });
}

}  // namespace coffer::cli
