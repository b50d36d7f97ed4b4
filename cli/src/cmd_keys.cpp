// Passphrase management: coffer keys list|add|remove, coffer passwd, and
// coffer recover (the school's recovery key sets a new passphrase).
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/printable.h"
#include "coffer/vault/coffer/coffer.h"
#include "describe.h"
#include "school_key_files.h"

namespace coffer::cli {
namespace {

struct KeysOptions {
  CommonOptions common;
  std::string path, recovery_key;
  int slot = -1;
  bool reset_clock = false;
  bool rekey = false;
  bool drop_other_passphrases = false;
  bool json = false;
};

void print_warnings(const vault::Coffer& c, Context& ctx) {
  for (auto& w : c.warnings()) *ctx.err << "coffer: warning: " << printable(w) << "\n";
}

vault::Coffer unlock(const KeysOptions& o, PassphraseSource& source, Context& ctx) {
  keystore::Passphrase pw = source.existing("Passphrase for " + o.path);
  vault::Coffer c = unlock_coffer(o.path, pw, ctx);
  print_warnings(c, ctx);
  return c;
}

std::vector<std::string> words_of(const vault::Coffer& c, const KeysOptions& o) {
  return passphrase_context(c.header().owner, c.header().profile, o.path);
}

std::optional<std::size_t> slot_of(const KeysOptions& o) {
  if (o.slot < 0) return std::nullopt;
  return static_cast<std::size_t>(o.slot);
}

void run_list(const KeysOptions& o, Context& ctx) {
  vault::SelectedHeader sel = vault::read_header(o.path);
  if (o.json) {  // the shape is documented in docs/CLI.md
    nlohmann::ordered_json j;
    j["coffer"] = o.path;
    auto& slots = j["slots"] = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < vault::kSlotCount; ++i) {
      const auto& s = sel.header.slots[i];
      nlohmann::ordered_json slot = {{"slot", i},
                                     {"state", s.damaged    ? "damaged"
                                               : s.in_use() ? "passphrase"
                                                            : "empty"}};
      if (!s.damaged && s.in_use())
        slot["kdf"] = {{"algorithm", "argon2id"},
                       {"memory_bytes", s.kdf.mem_limit},
                       {"passes", s.kdf.ops_limit},
                       {"insecure", keystore::is_insecure(s.kdf)}};
      slots.push_back(std::move(slot));
    }
    j["recovery"] = sel.header.recovery.has_value();
    *ctx.out << j.dump(2) << "\n";
    return;
  }
  for (std::size_t i = 0; i < vault::kSlotCount; ++i) {
    const auto& s = sel.header.slots[i];
    std::string what = describe_slot(s);
    *ctx.out << fmt::format("slot {}: {}\n", i, what);
  }
  *ctx.out << "recovery: " << (sel.header.recovery ? "present" : "none") << "\n";
}

void run_add(const KeysOptions& o, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  vault::Coffer c = unlock(o, *source, ctx);
  keystore::Passphrase fresh = ask_new_passphrase(*source, "New additional passphrase", words_of(c, o));
  std::size_t slot = c.add_passphrase(fresh, o.common.cost(), slot_of(o));
  *ctx.out << "added a passphrase in slot " << slot << "\n";
}

// A school recovery public key named on the command line (keys remove,
// passwd --rekey) is recorded in the coffer for this and later re-keys.
void remember_recovery_key(vault::Coffer& c, const KeysOptions& o) {
  if (!o.recovery_key.empty()) c.remember_recovery_key(load_public_key(o.recovery_key));
}

// keys remove re-keys (a new master key, docs/FORMAT.md §10): the removed
// passphrase opens no earlier header or key slot either. The passphrase
// that authorised it is kept (unless it is the one removed).
void run_remove(const KeysOptions& o, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw = source->existing("Passphrase for " + o.path);
  vault::Coffer c = unlock_coffer(o.path, pw, ctx);
  print_warnings(c, ctx);
  const auto removing = static_cast<std::size_t>(o.slot);
  if (removing >= vault::kSlotCount || !c.header().slots[removing].in_use())
    throw Error(ErrorCode::kUsage, "key slot " + std::to_string(o.slot) + " is not in use");
  remember_recovery_key(c, o);
  if (std::string why = c.rekey_blocker(); !why.empty()) throw Error(ErrorCode::kPolicy, why + "; nothing was changed");
  vault::RekeyPlan plan;
  const std::size_t authorising = *c.unlocked_slot();
  if (authorising != removing) plan.passphrase = &pw;
  plan.slot = authorising;
  // The kept passphrase is re-wrapped at the cost it had.
  plan.cost =
      keystore::is_insecure(c.header().slots[authorising].kdf) ? keystore::KdfCost::kTest : keystore::KdfCost::kDefault;
  plan.removing = {removing};
  plan.drop_other_passphrases = o.drop_other_passphrases;
  plan.kind = vault::AuditKind::kKeyRemoved;
  plan.object = "key slot " + std::to_string(removing);
  if (!plan.passphrase && !c.header().recovery)
    throw Error(ErrorCode::kPolicy, "key slot " + std::to_string(removing) +
                                        " is the last way into this coffer (it has no recovery key); nothing was "
                                        "changed");
  std::string dropped = c.passphrases_rekey_drops(plan);
  c.rekey(plan);
  *ctx.out << "removed slot " << o.slot << "; the coffer is re-keyed (a new master key)";
  if (!dropped.empty() && o.drop_other_passphrases) *ctx.out << "; also dropped key slot " << dropped;
  *ctx.out << "\n";
}

void run_passwd(const KeysOptions& o, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  vault::Coffer c = unlock(o, *source, ctx);
  keystore::Passphrase fresh = ask_new_passphrase(*source, "New passphrase for " + o.path, words_of(c, o));
  std::size_t slot = *c.unlocked_slot();
  if (o.rekey || c.must_change_passphrase()) {
    remember_recovery_key(c, o);
    std::string why = c.rekey_blocker();
    if (o.rekey && !why.empty()) throw Error(ErrorCode::kPolicy, why + "; nothing was changed");
    if (why.empty()) {
      vault::RekeyPlan plan;
      plan.passphrase = &fresh;
      plan.slot = slot;
      plan.cost = o.common.cost();
      plan.drop_other_passphrases = o.drop_other_passphrases;
      plan.clear_must_change = true;
      plan.kind = vault::AuditKind::kPassphraseChanged;
      plan.object = "key slot " + std::to_string(slot);
      std::string others = c.passphrases_rekey_drops(plan);
      if (o.rekey || others.empty()) {
        c.rekey(plan);
        *ctx.out << "passphrase changed (slot " << slot << "); the coffer is re-keyed (a new master key)";
        if (!others.empty()) *ctx.out << "; also dropped key slot " << others;
        *ctx.out << "\n";
        return;
      }
      why = "other passphrases (key slot " + others + ") would be lost";
    }
    *ctx.err << "coffer: warning: the one-time passphrase was replaced without re-keying (" << why
             << "): a copy of the header kept from before still holds the one-time passphrase's key slot\n";
  }
  c.replace_passphrase(slot, fresh, o.common.cost());
  c.set_must_change_passphrase(false);
  *ctx.out << "passphrase changed (slot " << slot << ")\n";
}

void run_recover(const KeysOptions& o, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::SchoolKeyPair key = load_secret_key(o.recovery_key, *source);
  vault::Coffer c = unlock_coffer_recovery(o.path, key, ctx);
  print_warnings(c, ctx);
  keystore::Passphrase fresh = ask_new_passphrase(*source, "New passphrase for " + o.path, words_of(c, o));
  // Every passphrase is replaced by the new one, under a new master key
  // (re-keyed, docs/FORMAT.md §10): no earlier header or slot opens it.
  c.remember_recovery_key(key.public_key);
  vault::RekeyPlan plan;
  plan.passphrase = &fresh;
  plan.slot = 0;
  plan.cost = o.common.cost();
  plan.drop_other_passphrases = true;
  plan.clear_must_change = true;
  plan.kind = vault::AuditKind::kKeyChanged;
  plan.object = "all key slots";
  plan.detail = "every passphrase replaced by one new one (slot 0)";
  c.rekey(plan);
  if (o.reset_clock) {
    // After a clock that ran far ahead: the mark goes back to now.
    c.reset_clock_high_water(ctx.clock->now());
    c.audit(vault::AuditKind::kClockRefused, "", "reset", "clock high-water mark reset to now by IT");
    *ctx.out << "the coffer's clock mark is reset to now\n";
  }
  *ctx.out << "recovered " << o.path << ": the new passphrase is in slot 0; all earlier passphrases were removed\n";
}

CLI::App* with_path(CLI::App* cmd, KeysOptions& o) {
  cmd->add_option("path", o.path, "the coffer file")->required();
  return cmd;
}

}  // namespace

void register_keys(CLI::App& app, Context& ctx) {
  auto* keys = app.add_subcommand("keys", "IT: list, add or remove passphrases (key slots)");
  keys->require_subcommand(1);

  auto lo = std::make_shared<KeysOptions>();
  auto* list = with_path(keys->add_subcommand("list", "show the key slots (no passphrase needed)"), *lo);
  list->add_flag("--json", lo->json, "print the slots as JSON (docs/CLI.md)");
  list->callback([lo, &ctx] { run_list(*lo, ctx); });

  auto ao = std::make_shared<KeysOptions>();
  auto* add = with_path(keys->add_subcommand("add", "add a passphrase (asks an existing one first)"), *ao);
  add->add_option("--slot", ao->slot, "the slot to use (default: the first free one)")
      ->check(CLI::Range(0, static_cast<int>(vault::kSlotCount) - 1));
  add_passphrase_file_option(*add, ao->common);
  add_kdf_cost_option(*add, ao->common);
  add->callback([ao, &ctx] { run_add(*ao, ctx); });

  auto ro = std::make_shared<KeysOptions>();
  auto* remove = with_path(keys->add_subcommand("remove",
                                                "remove a passphrase slot (the last one only if a recovery "
                                                "key exists)"),
                           *ro);
  remove->add_option("--slot", ro->slot, "the slot to remove")
      ->required()
      ->check(CLI::Range(0, static_cast<int>(vault::kSlotCount) - 1));
  remove->add_option("--recovery-key", ro->recovery_key,
                     "the school's recovery public key (.pub), for a coffer made before coffers recorded it");
  remove->add_flag("--drop-other-passphrases", ro->drop_other_passphrases,
                   "also drop every other passphrase (re-keying keeps only the one typed and the recovery key)");
  add_passphrase_file_option(*remove, ro->common);
  remove->callback([ro, &ctx] { run_remove(*ro, ctx); });

  auto po = std::make_shared<KeysOptions>();
  auto* passwd = with_path(app.add_subcommand("passwd", "teacher: change your passphrase"), *po);
  passwd->add_flag("--rekey", po->rekey,
                   "also re-key: a new master key, so no earlier copy of the header opens the coffer");
  passwd->add_option("--recovery-key", po->recovery_key,
                     "the school's recovery public key (.pub), for a coffer made before coffers recorded it");
  passwd->add_flag("--drop-other-passphrases", po->drop_other_passphrases,
                   "with --rekey: drop every other passphrase (re-keying keeps only the new one and the recovery key)");
  add_passphrase_file_option(*passwd, po->common);
  add_kdf_cost_option(*passwd, po->common);
  passwd->callback([po, &ctx] { run_passwd(*po, ctx); });

  auto rc = std::make_shared<KeysOptions>();
  auto* recover = with_path(app.add_subcommand("recover",
                                               "IT: set a new passphrase with the school's recovery key "
                                               "(replaces all existing passphrases)"),
                            *rc);
  recover->add_option("--recovery-key", rc->recovery_key, "the school's recovery key (.key)")->required();
  recover->add_flag("--reset-clock", rc->reset_clock,
                    "also reset the coffer's clock high-water mark to now (after the laptop's clock ran ahead)");
  add_passphrase_file_option(*recover, rc->common);
  add_kdf_cost_option(*recover, rc->common);
  recover->callback([rc, &ctx] { run_recover(*rc, ctx); });
}

}  // namespace coffer::cli
