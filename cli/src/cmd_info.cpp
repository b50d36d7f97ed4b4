// coffer info: what a coffer is, from its header, without a passphrase.
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <ostream>

#include "app.h"
#include "coffer/keystore/encoding.h"
#include "coffer/printable.h"
#include "coffer/vault/coffer/coffer.h"
#include "dates.h"
#include "describe.h"

namespace coffer::cli {
namespace {

struct InfoOptions {
  std::string path;
  bool json = false;
};

void run_info(const InfoOptions& o, Context& ctx) {
  vault::SelectedHeader sel = vault::read_header(o.path);
  const vault::Header& h = sel.header;
  bool insecure = false;
  nlohmann::json slots = nlohmann::json::array();
  for (std::size_t i = 0; i < vault::kSlotCount; ++i) {
    const auto& s = h.slots[i];
    if (!s.in_use()) continue;
    bool weak = !s.damaged && keystore::is_insecure(s.kdf);
    insecure = insecure || weak;
    nlohmann::json j{{"slot", i}, {"damaged", s.damaged}};
    if (!s.damaged)
      j.update(
          {{"kdf", "argon2id13"}, {"ops_limit", s.kdf.ops_limit}, {"mem_limit", s.kdf.mem_limit}, {"insecure", weak}});
    slots.push_back(j);
  }
  const vault::SchoolPolicy policy = school_policy(ctx);
  const vault::RetentionState r = vault::retention_state(h, ctx.clock->now(), policy.grace_days);
  const std::uint32_t max_failures = policy.max_failures;
  if (o.json) {
    nlohmann::json j{{"path", o.path},
                     {"format_version", h.version},
                     {"id", keystore::to_hex(h.vault_id)},
                     {"purpose", h.profile},
                     {"owner", h.owner},
                     {"created", h.created},
                     {"expires", h.expires},
                     {"expires_date", local_date(h.expires)},
                     {"slots_in_use", h.slots_in_use()},
                     {"slot_count", vault::kSlotCount},
                     {"slots", slots},
                     {"recovery", h.recovery.has_value()},
                     {"audit_key", h.audit.has_value()},
                     {"failed_attempts", h.failed_attempts},
                     {"insecure_kdf", insecure},
                     {"expired", h.expires < ctx.clock->now()},
                     {"sealed", r.sealed},
                     {"on_hold", r.on_hold},
                     {"grace_ends", r.grace_ends},
                     {"locked_out", h.failed_attempts >= max_failures},
                     {"warnings", sel.warnings}};
    if (h.recovery) j["recovery_fingerprint"] = keystore::to_hex(h.recovery->fingerprint);
    if (h.audit) j["audit_fingerprint"] = keystore::to_hex(h.audit->fingerprint);
    *ctx.out << j.dump(2) << "\n";
    return;
  }
  auto& out = *ctx.out;
  // Owner, purpose and path come from outside: escaped for the terminal.
  out << fmt::format("coffer:          {}\n", printable(o.path))
      << fmt::format("format:          version {}\n", h.version)
      << fmt::format("id:              {}\n", keystore::to_hex(h.vault_id))
      << fmt::format("purpose:         {}\n", printable(h.profile))
      << fmt::format("owner:           {}\n", printable(h.owner))
      << fmt::format("created:         {}\n", local_datetime(h.created))
      << fmt::format("expires:         {} (end of day){}\n", local_date(h.expires),
                     r.on_hold      ? "  ON HOLD (expiry suspended)"
                     : r.past_grace ? "  EXPIRED, check-in period over: to be wiped"
                     : r.sealed     ? "  EXPIRED: sealed; IT can check it in until " + local_date(r.grace_ends)
                                    : std::string())
      << fmt::format("key slots:       {} of {} in use\n", h.slots_in_use(), vault::kSlotCount);
  for (std::size_t i = 0; i < vault::kSlotCount; ++i)
    if (h.slots[i].in_use()) out << fmt::format("  slot {}:        {}\n", i, describe_slot(h.slots[i]));
  out << fmt::format("recovery key:    {}\n", h.recovery
                                                  ? "present, fingerprint " + keystore::to_hex(h.recovery->fingerprint)
                                                  : std::string("none (a forgotten passphrase cannot be recovered)"))
      << fmt::format("audit key:       {}\n",
                     h.audit ? "present, fingerprint " + keystore::to_hex(h.audit->fingerprint) : std::string("none"))
      << fmt::format("failed unlocks:  {}{}\n", h.failed_attempts,
                     h.failed_attempts >= max_failures ? "  LOCKED OUT: IT reopens it with coffer recover" : "");
  if (insecure) out << "WARNING: a key slot uses the INSECURE test key-derivation cost (--kdf-cost test)\n";
  for (auto& w : sel.warnings) out << "warning: " << printable(w) << "\n";
}

}  // namespace

void register_info(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand("info", "anyone: show what a coffer is (no passphrase needed)");
  cmd->add_option("path", o->path, "the coffer file")->required();
  cmd->add_flag("--json", o->json, "machine-readable output");
  cmd->callback([o, &ctx] { run_info(*o, ctx); });
}

}  // namespace coffer::cli
