// coffer dpo lost|find|breach: the data protection officer's questions put
// to IT's manifest store (and the drop copies of the trails, read with the
// school's audit key): record a reported loss, find every coffer that held
// a pupil (subject access), and gather the facts of a UK GDPR Article 33
// report to the ICO. The facts come from vault/coffer/school_store.h; this
// file only words them (docs/DPO.md).
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <ostream>

#include "anchor_report.h"
#include "app.h"
#include "coffer/error.h"
#include "coffer/printable.h"
#include "coffer/vault/coffer/school_store.h"
#include "dates.h"
#include "purpose.h"
#include "school_key_files.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct DpoOptions {
  CommonOptions common;
  std::string id, manifests, drop_dir, by, when, audit_key;
  bool json = false;
};

fs::path store_of(const DpoOptions& o, Context& ctx) {
  auto s = manifest_store_of(o.manifests, ctx);
  if (!s)
    throw Error(ErrorCode::kUsage, "give IT's manifest store: --manifests DIR (or [audit] manifests in the policy)");
  return *s;
}

std::optional<fs::path> drop_of(const DpoOptions& o, Context& ctx) {
  if (!o.drop_dir.empty()) return fs::path(o.drop_dir);
  return school_policy(ctx).audit_drop_dir;
}

// "2026-05-03 14:30" (local), "2026-05-03T14:30[:SS]", with Z or an offset.
std::int64_t parse_when(const std::string& text, std::int64_t now) {
  std::optional<std::int64_t> t = vault::parse_iso_time(text);
  if (!t) {
    for (const char* f : {"%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"}) {
      std::tm tm{};
      const char* rest = ::strptime(text.c_str(), f, &tm);
      if (rest && *rest == '\0') {
        tm.tm_isdst = -1;
        t = static_cast<std::int64_t>(std::mktime(&tm));
        break;
      }
    }
  }
  if (!t) throw Error(ErrorCode::kUsage, "--when \"" + text + "\": give a time as YYYY-MM-DD HH:MM (local time)");
  if (*t > now + 600) throw Error(ErrorCode::kUsage, "--when " + text + " is in the future");
  return *t;
}

std::string when_text(std::int64_t t) { return local_datetime(t) + " (" + vault::iso_time(t) + ")"; }

void run_lost(const DpoOptions& o, Context& ctx) {
  const fs::path store = store_of(o, ctx);
  auto coffers = vault::read_store(store);
  const vault::StoreCoffer& c = vault::find_in_store(coffers, o.id, store);
  const std::int64_t now = ctx.clock->now();
  vault::StoreLoss loss;
  loss.reported_at = o.when.empty() ? now : parse_when(o.when, now);
  loss.reported_by = o.by.empty() ? current_user() : o.by;
  loss.recorded_at = now;
  loss.recorded_by = current_user();
  vault::record_loss(store, c, loss);
  *ctx.out << "recorded: " << printable(c.coffer) << " (" << printable(c.owner) << ", " << printable(c.purpose)
           << ") reported lost " << when_text(loss.reported_at) << " by " << printable(loss.reported_by) << "\n"
           << "the ICO must be told within 72 hours of the school learning of it, by "
           << when_text(loss.reported_at + 72 * 3600) << " if the loss is a risk to the pupils: see "
           << "coffer dpo breach " << printable(c.coffer) << "\n";
  if (!c.losses.empty())
    *ctx.out << "note: this coffer was already reported lost " << when_text(c.losses.front().reported_at)
             << "; the 72 hours run from the first report\n";
}

std::optional<vault::TrailFacts> trail_of(const DpoOptions& o, const vault::StoreCoffer& c, const fs::path& store,
                                          std::optional<std::int64_t> since, Context& ctx,
                                          std::optional<keystore::SchoolKeyPair>& key) {
  if (o.audit_key.empty()) return std::nullopt;
  auto drop = drop_of(o, ctx);
  if (!drop)
    throw Error(ErrorCode::kUsage,
                "--audit-key reads the drop copy of the trail: give the drop directory too (--drop DIR)");
  if (!key) {
    auto source = ctx.passphrases(o.common.passphrase_file);
    key = load_secret_key(o.audit_key, *source);
    if (key->public_key.role != keystore::SchoolKeyRole::kAudit)
      throw Error(ErrorCode::kPolicy, o.audit_key + " is not the school's audit key");
  }
  return vault::read_trail_facts(c, store, *drop, *key, since);
}

std::vector<std::string> groups_of(const vault::StoreCoffer& c) {
  std::vector<std::string> out;
  out.reserve(c.fields.size());
  for (const auto& g : c.fields) out.push_back(g.group);
  return out;
}

std::string list_text(const std::vector<std::string>& items, std::string_view empty) {
  std::string out;
  for (const auto& f : items) out += (out.empty() ? "" : ", ") + f;
  return out.empty() ? std::string(empty) : out;
}

void run_find(const DpoOptions& o, Context& ctx) {
  const fs::path store = store_of(o, ctx);
  const std::int64_t now = ctx.clock->now();
  std::vector<std::string> skipped;
  auto coffers = vault::read_store(store, &skipped);
  std::optional<keystore::SchoolKeyPair> key;
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  std::string text;
  std::size_t n = 0;
  for (auto& c : coffers) {
    auto p = std::find_if(c.pupils.begin(), c.pupils.end(), [&](auto& x) { return x.key == o.id; });
    if (p == c.pupils.end()) continue;
    ++n;
    auto trail = trail_of(o, c, store, std::nullopt, ctx, key);
    const vault::CofferState st = vault::coffer_state(c, trail ? &*trail : nullptr, now);
    std::string state(vault::coffer_state_name(st));
    std::string detail;
    if (st == vault::CofferState::kReturned) {
      const auto& ci = c.checkins.back();
      detail = "checked in " + local_datetime(ci.at) + (ci.wiped ? " and wiped" : ", NOT wiped") + " (" +
               ci.report.filename().string() + ")";
    } else if (st == vault::CofferState::kLost) {
      detail = "reported lost " + local_datetime(c.losses.front().reported_at) + " by " + c.losses.front().reported_by;
    } else if (st == vault::CofferState::kWiped) {
      detail = "wiped " + local_datetime(trail->wiped_at) + " (its trail says so)";
    } else if (st == vault::CofferState::kExpired) {
      detail = "expired " + local_date(c.expires) + "; not checked in";
    } else {
      detail = "expires " + local_date(c.expires);
    }
    // What the coffer carried for everyone, and (from manifests that record
    // it) which special-category fields this pupil actually had.
    const std::vector<std::string> groups = groups_of(c);
    nlohmann::ordered_json j;
    j["coffer"] = c.coffer;
    j["vault_id"] = c.vault_id;
    j["owner"] = c.owner;
    j["purpose"] = c.purpose;
    j["issued"] = vault::iso_time(c.issued);
    j["issued_unix"] = c.issued;
    j["expires"] = vault::iso_time(c.expires);
    j["expires_unix"] = c.expires;
    j["field_groups"] = groups;
    if (p->special_category) j["special_category"] = *p->special_category;
    else j["special_category"] = nullptr;  // an older manifest: not recorded
    j["state"] = state;
    j["state_detail"] = detail;
    j["manifest"] = c.manifest.string();
    arr.push_back(std::move(j));
    const std::string special = p->special_category
                                    ? list_text(*p->special_category, "none")
                                    : "not recorded by this manifest (made before coffer recorded it): any of the "
                                      "special-category groups above";
    text += fmt::format(
        "{}  {}\n  for {} ({}), issued {}, expires {}\n  field groups: {}\n  special-category fields for this "
        "pupil: {}\n  state: {}: {}\n",
        printable(c.coffer), c.vault_id, printable(c.owner), printable(c.purpose), local_datetime(c.issued),
        local_date(c.expires), printable(list_text(groups, "(none)")), printable(special), state, printable(detail));
  }
  for (auto& s : skipped) *ctx.err << "coffer: warning: " << printable(s) << " is not a manifest coffer can read\n";
  if (o.json) {
    nlohmann::ordered_json j;
    j["pupil"] = o.id;
    j["store"] = store.string();
    j["coffers"] = arr;
    *ctx.out << j.dump(2) << "\n";
    return;
  }
  *ctx.out << fmt::format("{} coffer(s) in {} held pupil {}\n", n, store.string(), printable(o.id));
  if (n) *ctx.out << "\n" << text;
  if (o.audit_key.empty() && n)
    *ctx.out << "\n(without --audit-key a coffer wiped on the laptop, not checked in, shows as still out or "
                "expired)\n";
}

std::string event_text(const std::optional<vault::AuditEvent>& e) {
  if (!e) return "none";
  std::string t = local_datetime(e->time) + " " + std::string(vault::audit_kind_name(e->kind));
  if (!e->object.empty()) t += " " + printable(e->object);
  return t;
}

void run_breach(const DpoOptions& o, Context& ctx) {
  const fs::path store = store_of(o, ctx);
  const std::int64_t now = ctx.clock->now();
  auto coffers = vault::read_store(store);
  const vault::StoreCoffer& c = vault::find_in_store(coffers, o.id, store);
  std::optional<std::int64_t> since;
  if (!c.losses.empty()) since = c.losses.front().reported_at;
  std::optional<keystore::SchoolKeyPair> key;
  std::optional<vault::TrailFacts> trail = trail_of(o, c, store, since, ctx, key);
  const vault::BreachFacts b = vault::breach_facts(c, trail, now);
  const std::string encryption =
      "yes: the whole coffer file is encrypted (AES-256, SQLCipher) under a key derived from the teacher's "
      "passphrase with Argon2id; the pupils' data cannot be read without a passphrase or the school's recovery key";

  nlohmann::ordered_json j;
  j["coffer"] = c.coffer;
  j["vault_id"] = c.vault_id;
  j["state"] = std::string(vault::coffer_state_name(b.state));
  if (b.loss) {
    j["loss"] = {{"reported_at", vault::iso_time(b.loss->reported_at)},
                 {"reported_at_unix", b.loss->reported_at},
                 {"reported_by", b.loss->reported_by},
                 {"recorded_by", b.loss->recorded_by}};
    j["ico_deadline"] = vault::iso_time(*b.deadline);
    j["ico_deadline_unix"] = *b.deadline;
    j["hours_left"] = (*b.deadline - now) / 3600;
  } else {
    j["loss"] = nullptr;
    j["ico_deadline"] = nullptr;
  }
  j["issued"] = {{"at", vault::iso_time(c.issued)},
                 {"at_unix", c.issued},
                 {"to", c.owner},
                 {"purpose", c.purpose},
                 {"by", c.provisioned_by},
                 {"expires", vault::iso_time(c.expires)},
                 {"expires_unix", c.expires}};
  nlohmann::ordered_json groups = nlohmann::ordered_json::array();
  for (auto& g : c.fields)
    groups.push_back({{"group", g.group}, {"description", g.description}, {"special_category", g.special_category}});
  j["data"] = {{"field_groups", groups}, {"special_category_groups", b.special_groups}};
  j["pupils"] = b.pupils;
  if (b.per_pupil) {
    j["pupils_with_special_category_data"] = b.pupils_with_special;
    j["special_category_counts"] = b.special_counts;
  } else {
    j["pupils_with_special_category_data"] = nullptr;
    j["special_category_counts"] = nullptr;
  }
  j["encrypted"] = {{"encrypted", true},
                    {"how", "AES-256 (SQLCipher), key from the passphrase by Argon2id"},
                    {"protection", c.protection}};
  if (trail) {
    auto ev = [](const std::optional<vault::AuditEvent>& e) -> nlohmann::ordered_json {
      if (!e) return nullptr;
      return {{"time", vault::iso_time(e->time)},
              {"time_unix", e->time},
              {"kind", std::string(vault::audit_kind_name(e->kind))},
              {"object", e->object}};
    };
    j["trail"] = {{"drop_copy", trail->found ? trail->copy.string() : std::string()},
                  {"records", trail->records},
                  {"last_contact", ev(trail->last_event)},
                  {"last_used", ev(trail->last_use)},
                  {"locked_at_last_contact", trail->found ? nlohmann::ordered_json(trail->locked_at_last_contact)
                                                          : nlohmann::ordered_json(nullptr)},
                  {"wiped", trail->wiped},
                  {"failed_unlocks_since_last_contact", trail->failed_after_last_contact},
                  {"failed_unlocks_since_loss",
                   since ? nlohmann::ordered_json(trail->failed_since) : nlohmann::ordered_json(nullptr)},
                  {"anchor", std::string(vault::anchor_status_name(trail->anchor.status))},
                  {"anchored_and_verified", trail->found && trail->consistent && trail->anchor.anchored()},
                  {"problems", trail->problems},
                  {"notes", trail->notes}};
  } else {
    j["trail"] = nullptr;
  }
  if (o.json) {
    *ctx.out << j.dump(2) << "\n";
    return;
  }

  std::string t;
  t += fmt::format("BREACH FACTS for {} ({})\n", printable(c.coffer), c.vault_id);
  t += fmt::format("(for a UK GDPR Article 33 report to the ICO; from IT's manifest store {})\n\n", store.string());
  if (b.loss) {
    t += fmt::format("Reported lost:   {} by {}\n", when_text(b.loss->reported_at), printable(b.loss->reported_by));
    const std::int64_t left = *b.deadline - now;
    t += fmt::format("Report the breach to the ICO by {} (72 hours from the report){}\n", when_text(*b.deadline),
                     left > 0 ? fmt::format(": {} h {} min left", left / 3600, (left % 3600) / 60)
                              : std::string(": the 72 hours are OVER; say why the report is late"));
  } else {
    t += "Reported lost:   NOT RECORDED: record it first with  coffer dpo lost " + printable(c.coffer) +
         " --manifests " + store.string() + " --when 'YYYY-MM-DD HH:MM'\n";
  }
  t += fmt::format("State now:       {}\n\n", vault::coffer_state_name(b.state));
  t += "WHO HAD IT AND WHY\n";
  t += fmt::format("  Issued {} by {} to {}, for: {}\n", when_text(c.issued), printable(c.provisioned_by),
                   printable(c.owner), printable(c.purpose));
  t += fmt::format("  Expires {} (end of that day): after that it no longer opens for the teacher\n\n",
                   local_date(c.expires));
  t += "WHAT DATA\n";
  t += fmt::format("  {} pupil(s): names and the fields below (the manifest {} lists them)\n", b.pupils,
                   c.manifest.string());
  for (auto& g : c.fields)
    t += fmt::format("  - {}{}{}\n", printable(g.group), g.description.empty() ? "" : ": " + printable(g.description),
                     g.special_category ? "  [SPECIAL CATEGORY: health or similar]" : "");
  if (b.special_groups.empty()) {
    t += "  No special-category data (health, ...) was carried.\n";
  } else if (b.per_pupil) {
    t += fmt::format("  {} of {} pupil(s) had special-category data:\n", b.pupils_with_special, b.pupils);
    for (auto& [f, n] : b.special_counts) t += fmt::format("    {}: {} pupil(s)\n", printable(f), n);
  } else {
    t += "  Which pupils had special-category data is not in this manifest (made before coffer kept that per "
         "pupil): count up to all " +
         std::to_string(b.pupils) + "\n";
  }
  t += "\nPROTECTION\n  Encrypted: " + encryption + "\n";
  t += fmt::format("  Copy protection on the laptop: {}\n", printable(c.protection));
  t += "\nTHE TRAIL (the school's drop copy, up to the laptop's last contact)\n";
  if (!trail) {
    t += "  not read: give --audit-key school-audit.key (and --drop DIR) for when it was last used, whether it was "
         "locked, failed unlock attempts and whether the trail is anchored\n";
  } else if (!trail->found) {
    for (auto& n : trail->notes) t += "  " + printable(n) + "\n";
    t += "  So: when it was last used, and whether it was locked, are NOT KNOWN to the school.\n";
  } else {
    t += fmt::format("  Drop copy:        {} ({} record(s))\n", trail->copy.string(), trail->records);
    t += fmt::format("  Last contact:     {}\n", event_text(trail->last_event));
    t += fmt::format("  Last used:        {}\n", event_text(trail->last_use));
    t += fmt::format("  At last contact:  {}\n",
                     trail->wiped ? "WIPED (" + local_datetime(trail->wiped_at) + ")"
                     : trail->locked_at_last_contact
                         ? "LOCKED (" +
                               (trail->last_lock ? event_text(trail->last_lock)
                                                 : std::string("nothing was opened after the last unlock")) +
                               ")"
                         : std::string("OPEN: unlocked and in use, not locked since"));
    t += fmt::format("  Failed unlock attempts (wrong passphrases): {} since the last contact with the key",
                     trail->failed_after_last_contact);
    if (since) t += fmt::format(", {} since the loss was reported", trail->failed_since);
    t += "\n";
    const bool anchored = trail->consistent && trail->anchor.anchored();
    t += fmt::format("  Trail: {}\n", anchor_line(trail->anchor, trail->consistent, trail->records, true));
    if (!anchored)
      t += "  (not evidence on its own: see docs/DPO.md, \"The anchor\"; verify with coffer audit --manifests)\n";
    for (auto& p : trail->problems) t += "  PROBLEM: " + printable(p) + "\n";
  }
  *ctx.out << t;
}

}  // namespace

void register_dpo(CLI::App& app, Context& ctx) {
  auto* dpo = app.add_subcommand("dpo",
                                 "DPO/IT: record a loss, find a pupil's coffers, gather the facts of a breach report "
                                 "(from IT's manifest store)");
  dpo->require_subcommand(1);
  auto add_store = [](CLI::App* cmd, DpoOptions& o) {
    cmd->add_option("--manifests", o.manifests, "IT's manifest store (default: the policy's [audit] manifests)");
  };
  auto lo = std::make_shared<DpoOptions>();
  auto* lost = dpo->add_subcommand("lost", "record that a coffer was reported lost (when, by whom)");
  lost->add_option("id", lo->id, "the coffer (file name as in its manifest) or its vault id")->required();
  add_store(lost, *lo);
  lost->add_option("--by", lo->by, "who reported it (default: you)");
  lost->add_option("--when", lo->when,
                   "when the school learnt of the loss, \"YYYY-MM-DD HH:MM\" local time (default: now); the ICO's 72 "
                   "hours run from here");
  lost->callback([lo, &ctx] { run_lost(*lo, ctx); });

  auto fo = std::make_shared<DpoOptions>();
  auto* find = dpo->add_subcommand("find", "every coffer that held a pupil: for whom, when, which fields, its state");
  find->add_option("pupil", fo->id, "the pupil's key (as in the manifests)")->required();
  add_store(find, *fo);
  find->add_option("--drop", fo->drop_dir, "the audit drop directory (default: the policy's)");
  find->add_option("--audit-key", fo->audit_key,
                   "the school's audit key (.key): read the drop copies, to see coffers wiped on the laptop");
  find->add_flag("--json", fo->json, "one JSON object");
  add_passphrase_file_option(*find, fo->common);
  find->callback([fo, &ctx] { run_find(*fo, ctx); });

  auto bo = std::make_shared<DpoOptions>();
  auto* breach = dpo->add_subcommand("breach", "the facts of a breach report to the ICO (UK GDPR Article 33)");
  breach->add_option("coffer", bo->id, "the coffer (file name as in its manifest) or its vault id")->required();
  add_store(breach, *bo);
  breach->add_option("--drop", bo->drop_dir, "the audit drop directory (default: the policy's)");
  breach->add_option("--audit-key", bo->audit_key,
                     "the school's audit key (.key): read the drop copy (last use, locked, failed unlocks, anchor)");
  breach->add_flag("--json", bo->json, "one JSON object");
  add_passphrase_file_option(*breach, bo->common);
  breach->callback([bo, &ctx] { run_breach(*bo, ctx); });
}

}  // namespace coffer::cli
