// coffer provision: IT makes every coffer of a plan in one run. Each gets
// only its selected pupils, a one-time passphrase the teacher replaces at
// first open, and a manifest IT keeps (NAME.manifest.json/.txt). A coffer
// that fails is reported and leaves nothing behind; the others go on.
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/vault/coffer.h"
#include "coffer/vault/manifest.h"
#include "coffer/vault/records.h"
#include "dates.h"
#include "exit_codes.h"
#include "new_file.h"
#include "plan.h"
#include "purpose.h"
#include "school_key_files.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct ProvisionOptions {
  CommonOptions common;
  std::string plan, out = ".", profiles_file;
};

// 20 characters from an alphabet without look-alikes (no I, O, 0, 1):
// 32 symbols, so each is 5 unbiased bits: 100 bits in all.
keystore::Passphrase one_time_passphrase(keystore::Random& random, std::string& shown) {
  static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  keystore::SecretBytes bytes(20);
  random.fill(bytes.writable_bytes());
  keystore::Passphrase p;
  for (std::size_t i = 0; i < 20; ++i) {
    if (i && i % 4 == 0) shown += '-', p.push_back('-');
    char c = kAlphabet[bytes.reveal_bytes()[i] & 31];
    shown += c;
    p.push_back(static_cast<std::uint8_t>(c));
  }
  return p;
}

std::string handover_text(const Plan& plan, const PlanEntry& e, const std::string& expires,
                          const std::string& passphrase) {
  std::string t;
  t += "COFFER HANDOVER - CONFIDENTIAL\n";
  if (!plan.school.empty()) t += plan.school + "\n";
  t += "For: " + e.owner + " (hand over in person)\n\n";
  t += "Coffer:   " + e.name + ".coffer (" + e.purpose + ")\n";
  t += "Expires:  " + expires + " at the end of the day; its data is destroyed then\n\n";
  t += "One-time passphrase:   " + passphrase + "\n\n";
  t += "The first time you run  coffer open " + e.name + ".coffer  you will be asked to choose\n"
       "your own passphrase; this one stops working then. Destroy this sheet afterwards.\n";
  if (!plan.helpdesk.empty()) t += "Lost the laptop or forgotten your passphrase? Call " + plan.helpdesk + ".\n";
  return t;
}

struct Outcome {
  bool ok = false;
  int exit_code = 0;
};

void remove_outputs(const fs::path& out, const std::string& name) {
  std::error_code ec;
  for (auto suffix : {".manifest.json", ".manifest.txt", ".passphrase.txt"}) fs::remove(out / (name + suffix), ec);
}

void run_provision(const ProvisionOptions& o, Context& ctx) {
  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  Plan plan = load_plan(o.plan);
  vault::ProfileSet profiles = load_profiles(o.profiles_file);
  const fs::path out = o.out;

  // Everything that can be checked before any coffer is made is checked
  // here, so a typo in the plan makes nothing at all.
  std::map<std::string, keystore::SchoolPublicKey> keys;
  std::vector<std::string> expiries;
  std::set<std::string> done;
  for (auto& e : plan.coffers) {
    auto where = plan.file.string() + ":" + std::to_string(e.line) + ": " + e.name + ": ";
    try {
      const vault::Profile& p = find_profile(profiles, e.purpose);
      expiries.push_back(choose_expiry(p, e.expires, e.trip_end, ctx.clock->now()));
      for (auto* k : {&e.recovery_key, &e.audit_key})
        if (!k->empty() && !keys.count(*k)) keys.emplace(*k, load_public_key(*k));
      // A coffer made by an earlier run of the plan (coffer and manifest
      // there) is skipped, so a plan can be re-run after fixing one entry;
      // any other leftover is refused rather than overwritten.
      if (fs::exists(out / (e.name + ".coffer")) && fs::exists(out / (e.name + ".manifest.json"))) {
        done.insert(e.name);
        continue;
      }
      for (auto suffix : {".coffer", ".manifest.json", ".manifest.txt", ".passphrase.txt"})
        if (fs::exists(out / (e.name + suffix)))
          throw Error(ErrorCode::kPolicy, (out / (e.name + suffix)).string() +
                                              " already exists but the coffer was not made; move it away");
    } catch (const Error& err) {
      throw Error(err.code(), where + err.what());
    }
  }
  if (done.size() == plan.coffers.size()) {
    *ctx.out << "every coffer of the plan is already in " << out.string() << "; nothing to do\n";
    return;
  }
  if (plan.handover == "sheet" && fs::exists(out / "handover-sheets.txt"))
    throw Error(ErrorCode::kPolicy, (out / "handover-sheets.txt").string() + " already exists");
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create " + out.string() + ": " + ec.message());

  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::string sheets;
  int failures = 0, first_failure = 0;
  for (std::size_t i = 0; i < plan.coffers.size(); ++i) {
    const PlanEntry& e = plan.coffers[i];
    const auto t0 = clock::now();
    const std::string label = fmt::format("[{}/{}] {}", i + 1, plan.coffers.size(), e.name);
    if (done.count(e.name)) {
      *ctx.out << label << " already made, skipped\n";
      continue;
    }
    if (tty) *ctx.out << label << " ..." << std::flush;
    fs::path coffer = out / (e.name + ".coffer");
    bool created = false;
    try {
      const vault::Profile& profile = find_profile(profiles, e.purpose);
      vault::PreparedImport prepared = prepare_source(e.source, profile);
      vault::CreateParams params;
      params.owner = e.owner;
      params.profile = e.purpose;
      params.profile_fields.assign(profile.fields.begin(), profile.fields.end());
      params.protection = profile.protection;
      params.expires = end_of_local_day(expiries[i]);
      params.kdf_cost = o.common.cost();
      params.created_by = current_user();
      params.must_change_passphrase = true;
      if (!e.recovery_key.empty()) params.recovery_key = keys.at(e.recovery_key);
      if (!e.audit_key.empty()) params.audit_key = keys.at(e.audit_key);
      std::string json, text;
      params.populate = [&](vault::Coffer& c) {
        vault::RecordStore(c.database()).import(prepared.pupils, log_entry(prepared, e.source, ctx.clock->now()));
        vault::Manifest m = vault::read_manifest(c.database(), coffer.filename().string());
        json = vault::manifest_json(m);
        text = vault::manifest_text(m);
      };
      std::string shown;
      keystore::Passphrase pw = one_time_passphrase(*ctx.random, shown);
      vault::Coffer::create(coffer, params, pw, *ctx.random, *ctx.clock);
      created = true;
      write_new_file((out / (e.name + ".manifest.json")).string(), json, 0640);
      write_new_file((out / (e.name + ".manifest.txt")).string(), text, 0640);
      std::string handover = handover_text(plan, e, expiries[i], shown);
      keystore::wipe(std::span<char>(shown.data(), shown.size()));
      if (plan.handover == "files") write_new_file((out / (e.name + ".passphrase.txt")).string(), handover, 0600);
      else sheets += (sheets.empty() ? "" : "\f") + handover;
      keystore::wipe(std::span<char>(handover.data(), handover.size()));
      double secs = std::chrono::duration<double>(clock::now() - t0).count();
      if (tty) *ctx.out << "\r";
      *ctx.out << fmt::format("{} ok: {} pupils, expires {} ({:.1f} s)\n", label, prepared.pupils.size(),
                              expiries[i], secs);
      for (auto& w : prepared.warnings) *ctx.err << "coffer: warning: " << e.name << ": " << w << "\n";
    } catch (const Error& err) {
      if (created) {
        try {
          vault::wipe(coffer, *ctx.random);
        } catch (...) {
        }
      }
      remove_outputs(out, e.name);
      if (tty) *ctx.out << "\r";
      *ctx.out << label << " FAILED\n";
      *ctx.err << "coffer: error: " << e.name << " (" << plan.file.string() << ":" << e.line << "): " << err.what()
               << "\n";
      if (failures++ == 0) first_failure = exit_code_for(err.code());
    }
  }
  if (!sheets.empty()) write_new_file((out / "handover-sheets.txt").string(), sheets, 0600);
  keystore::wipe(std::span<char>(sheets.data(), sheets.size()));
  double total = std::chrono::duration<double>(clock::now() - started).count();
  *ctx.out << fmt::format("{} of {} coffers made in {} ({:.1f} s)", plan.coffers.size() - done.size() - failures,
                          plan.coffers.size() - done.size(), out.string(), total);
  if (!done.empty()) *ctx.out << fmt::format("; {} made earlier, skipped", done.size());
  *ctx.out << (plan.handover == "sheet" ? "; one-time passphrases in handover-sheets.txt (print, then delete)\n"
                                        : "; one-time passphrases in NAME.passphrase.txt (hand over, then delete)\n");
  if (failures) throw CLI::RuntimeError(first_failure);
}

}  // namespace

void register_provision(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ProvisionOptions>();
  auto* cmd = app.add_subcommand("provision", "IT: make every coffer of a plan (see docs/ADMIN.md)");
  cmd->add_option("--plan", o->plan, "the plan (TOML)")->required();
  cmd->add_option("--out", o->out, "where the coffers, manifests and handover files go (default: here)");
  cmd->add_option("--profiles", o->profiles_file, "the school's profiles file (as for create)");
  add_kdf_cost_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_provision(*o, ctx); });
}

}  // namespace coffer::cli
