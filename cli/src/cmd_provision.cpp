// coffer provision: IT makes every coffer of a plan in one run. Each gets
// only its selected pupils, a one-time passphrase the teacher replaces at
// first open, and a manifest IT keeps (NAME.manifest.json/.txt). A coffer
// that fails is reported and leaves nothing behind; the others go on.
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>

#include "app.h"
#include "coffer/error.h"
#include "coffer/printable.h"
#include "coffer/vault/audit/audit_anchor.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/records/manifest.h"
#include "coffer/vault/records/records.h"
#include "dates.h"
#include "exit_codes.h"
#include "new_file.h"
#include "plan.h"
#include "purpose.h"
#include "remedy.h"
#include "school_key_files.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct ProvisionOptions {
  CommonOptions common;
  std::string plan, out = ".", profiles_file;
  bool json = false;
};

std::string handover_text(const Plan& plan, const PlanEntry& e, const std::string& expires,
                          const std::string& passphrase, const std::vector<std::string>& warnings) {
  std::string t;
  t += "COFFER HANDOVER - CONFIDENTIAL\n";
  if (!plan.school.empty()) t += plan.school + "\n";
  t += "For: " + e.owner + " (hand over in person)\n\n";
  t += "Coffer:   " + e.name + ".coffer (" + e.purpose + ")\n";
  t += "Expires:  " + expires + " at the end of the day; its data is destroyed then\n\n";
  t += "One-time passphrase:   " + passphrase + "\n\n";
  t += "The first time you run  coffer open " + e.name +
       ".coffer  you will be asked to choose\n"
       "your own passphrase; this one stops working then. Destroy this sheet afterwards.\n";
  if (!plan.helpdesk.empty()) t += "Lost the laptop or forgotten your passphrase? Call " + plan.helpdesk + ".\n";
  // What the import found that the teacher must act on (pupil keys, never
  // names or values): the manifest carries the same lines.
  if (!warnings.empty()) {
    t += "\nBefore you rely on it, check with the school office:\n";
    for (auto& w : warnings) t += "  ! " + printable(w) + "\n";
  }
  return t;
}

// Output files of one coffer. The handover record (the one-time passphrase)
// is written and synced as NAME.handover.pending before the coffer is
// created, and committed (renamed to NAME.passphrase.txt, or added to
// handover-sheets.txt) after the manifests: so a coffer never exists
// without its passphrase on disk, whatever stops the run.
constexpr const char* kPending = ".handover.pending";
constexpr const char* kSheet = "handover-sheets.txt";

void remove_outputs(const fs::path& out, const std::string& name, bool keep_pending = false) {
  std::error_code ec;
  for (auto suffix : {".manifest.json", ".manifest.txt"}) fs::remove(out / (name + suffix), ec);
  if (!keep_pending) fs::remove(out / (name + kPending), ec);
}

// A coffer whose creation was cut short (killed) leaves its temporary
// ".NAME.coffer.creating-*" files: a half-made coffer, removed before the
// coffer is made again.
void remove_half_made(const fs::path& out, const std::string& name) {
  const std::string prefix = "." + name + ".coffer.creating-";
  std::error_code ec;
  std::vector<fs::path> stale;
  for (auto it = fs::directory_iterator(out, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().filename().string().starts_with(prefix)) stale.push_back(it->path());
  for (auto& p : stale) fs::remove(p, ec);
}

// What an earlier, interrupted or finished run left for one plan entry.
enum class Leftover {
  kNone,         // nothing: make it
  kDone,         // made and handed over: skip
  kFinishSheet,  // made, its sheet entry written, only the pending record left: remove it, skip
  kRedo,         // handover not committed: wipe what is there and make it again
};

Leftover classify(const fs::path& out, const Plan& plan, const PlanEntry& e, const std::string& sheet) {
  const fs::path coffer = out / (e.name + ".coffer");
  const fs::path pending = out / (e.name + kPending);
  if (fs::exists(pending)) {
    if (plan.handover == "sheet" && fs::exists(coffer) && fs::exists(out / (e.name + ".manifest.json"))) {
      std::optional<std::string> text = read_file_if_exists(pending.string());
      bool in_sheet = text && !text->empty() && sheet.find(*text) != std::string::npos;
      if (text) keystore::wipe(std::span<char>(text->data(), text->size()));
      if (in_sheet) return Leftover::kFinishSheet;
    }
    // The one-time passphrase never reached the handover: nobody can have
    // been given this coffer, so it is made again with a new passphrase.
    if (plan.handover == "files" && fs::exists(out / (e.name + ".passphrase.txt")))
      throw Error(ErrorCode::kPolicy, (out / (e.name + ".passphrase.txt")).string() + " and " + pending.string() +
                                          " both exist; move them away");
    return Leftover::kRedo;
  }
  // A coffer made by an earlier run of the plan (coffer and manifest
  // there) is skipped, so a plan can be re-run after fixing one entry;
  // any other leftover is refused rather than overwritten.
  if (fs::exists(coffer) && fs::exists(out / (e.name + ".manifest.json"))) return Leftover::kDone;
  for (auto suffix : {".coffer", ".manifest.json", ".manifest.txt", ".passphrase.txt"})
    if (fs::exists(out / (e.name + suffix)))
      throw Error(ErrorCode::kPolicy,
                  (out / (e.name + suffix)).string() + " already exists but the coffer was not made; move it away");
  return Leftover::kNone;
}

// Holds an exclusive lock on the output directory for the run: two
// provisions into one directory would remake each other's coffers.
class DirLock {
 public:
  explicit DirLock(const fs::path& dir) : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ < 0) throw Error(ErrorCode::kIo, "cannot open " + dir.string() + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw Error(ErrorCode::kBusy, "another coffer provision is writing to " + dir.string() + "; wait for it");
    }
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_;
};

int exit_code_of(const std::exception& e) {
  if (auto* err = dynamic_cast<const Error*>(&e)) return exit_code_for(err->code());
  if (dynamic_cast<const fs::filesystem_error*>(&e)) return kExitIo;
  return kExitOther;
}

void run_provision(const ProvisionOptions& o, Context& ctx) {
  using clock = std::chrono::steady_clock;
  // With --json, standard output carries only the JSON; progress goes to
  // standard error.
  std::ostream& human = o.json ? *ctx.err : *ctx.out;
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  const vault::SchoolPolicy policy = school_policy(ctx);
  const auto started = clock::now();
  Plan plan = load_plan(o.plan);
  vault::ProfileSet profiles = load_profiles(o.profiles_file);
  const fs::path out = o.out;
  const fs::path sheet_path = out / kSheet;

  // Handover sheets of earlier runs are kept: new entries are added after
  // them, never replacing one.
  std::string sheets;
  if (plan.handover == "sheet") {
    try {
      if (auto text = read_file_if_exists(sheet_path.string())) sheets = std::move(*text);
    } catch (const Error& err) {
      throw Error(err.code(), error_text(err) + "; the handover sheet must be a regular file");
    }
  }
  struct WipeSheets {
    std::string& s;
    ~WipeSheets() { keystore::wipe(std::span<char>(s.data(), s.size())); }
  } wipe_sheets{sheets};

  // Everything that can be checked before any coffer is made is checked
  // here, so a typo in the plan makes nothing at all.
  std::map<std::string, keystore::SchoolPublicKey> keys;
  std::vector<std::string> expiries;
  std::vector<Leftover> leftovers;
  std::set<std::string> done;
  for (auto& e : plan.coffers) {
    auto where = plan.file.string() + ":" + std::to_string(e.line) + ": " + e.name + ": ";
    try {
      const vault::Profile& p = find_profile(profiles, e.purpose);
      expiries.push_back(choose_expiry(p, e.expires, e.trip_end, ctx.clock->now()));
      for (auto* k : {&e.recovery_key, &e.audit_key})
        if (!k->empty() && !keys.contains(*k)) keys.emplace(*k, load_public_key(*k));
      leftovers.push_back(classify(out, plan, e, sheets));
      if (leftovers.back() == Leftover::kDone || leftovers.back() == Leftover::kFinishSheet) done.insert(e.name);
    } catch (const Error& err) {
      throw Error(err.code(), where + error_text(err));
    } catch (const fs::filesystem_error& err) {
      throw Error(ErrorCode::kIo, where + err.what());
    }
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create " + out.string() + ": " + ec.message());
  DirLock lock(out);
  for (std::size_t i = 0; i < plan.coffers.size(); ++i)
    if (leftovers[i] == Leftover::kFinishSheet) {
      fs::remove(out / (plan.coffers[i].name + kPending), ec);
      sync_directory(out.string());
    }
  const bool insecure = o.common.cost() == keystore::KdfCost::kTest;
  auto finish_json = [&](std::size_t made, std::size_t failed) {
    if (!o.json) return;
    nlohmann::ordered_json report = {{"plan", o.plan}, {"out", o.out}, {"coffers", entries}};
    report["made"] = made;
    report["failed"] = failed;
    report["skipped"] = done.size();
    report["handover"] = plan.handover == "sheet" ? (out / kSheet).string() : "NAME.passphrase.txt";
    report["insecure_kdf_cost"] = insecure;
    *ctx.out << report.dump(2) << "\n";
  };
  if (done.size() == plan.coffers.size()) {
    human << "every coffer of the plan is already in " << out.string() << "; nothing to do\n";
    for (auto& e : plan.coffers) entries.push_back({{"name", e.name}, {"status", "skipped"}});
    finish_json(0, 0);
    return;
  }

  const bool tty = !o.json && ::isatty(STDOUT_FILENO) == 1;
  int failures = 0, first_failure = 0;
  for (std::size_t i = 0; i < plan.coffers.size(); ++i) {
    const PlanEntry& e = plan.coffers[i];
    const auto t0 = clock::now();
    const std::string label = fmt::format("[{}/{}] {}", i + 1, plan.coffers.size(), e.name);
    if (done.contains(e.name)) {
      human << label << " already made, skipped\n";
      entries.push_back({{"name", e.name}, {"status", "skipped"}});
      continue;
    }
    if (tty) human << label << " ..." << std::flush;
    fs::path coffer = out / (e.name + ".coffer");
    const fs::path pending = out / (e.name + kPending);
    bool created = false;
    try {
      if (leftovers[i] == Leftover::kRedo) {
        // Interrupted before its handover was committed: start again.
        if (fs::exists(coffer))
          vault::wipe(coffer, *ctx.random, "coffer provision: handover not committed, made again");
        remove_outputs(out, e.name);
        *ctx.err << "coffer: " << e.name << ": an earlier run was interrupted before its handover was recorded; "
                 << "making it again\n";
      }
      remove_half_made(out, e.name);
      const vault::Profile& profile = find_profile(profiles, e.purpose);
      vault::PreparedImport prepared = prepare_source(e.source, profile, ctx.clock->now());
      check_pupil_cap(prepared, profile, policy, prepared.pupils.size());
      vault::CreateParams params;
      params.owner = e.owner;
      params.profile = e.purpose;
      params.profile_fields.assign(profile.fields.begin(), profile.fields.end());
      params.protection = profile.protection;
      params.approved_destinations = profile.approved_destinations;
      params.expires = end_of_local_day(expiries[i]);
      params.kdf_cost = o.common.cost();
      params.created_by = current_user();
      params.must_change_passphrase = true;
      if (!e.recovery_key.empty()) params.recovery_key = keys.at(e.recovery_key);
      if (!e.audit_key.empty()) params.audit_key = keys.at(e.audit_key);
      std::string json, text;
      params.populate = [&](vault::Coffer& c) {
        vault::RecordStore(c.database()).import(prepared.pupils, log_entry(prepared, e.source, ctx.clock->now()));
        c.audit(vault::AuditKind::kImport, std::filesystem::path(e.source.from).filename().string(), "ok",
                std::to_string(prepared.pupils.size()) + " pupil(s), " + std::to_string(prepared.dropped.size()) +
                    " column(s) dropped; provisioned");
        vault::Manifest m = vault::read_manifest(c.database(), coffer.filename().string());
        json = vault::manifest_json(m);
        text = vault::manifest_text(m);
      };
      std::string shown;
      keystore::Passphrase pw =
          one_time_passphrase(*ctx.random, shown, passphrase_context(e.owner, e.purpose, coffer, plan.school));
      std::string handover = handover_text(plan, e, expiries[i], shown, import_warnings(prepared));
      keystore::wipe(std::span<char>(shown.data(), shown.size()));
      struct WipeHandover {
        std::string& s;
        ~WipeHandover() { keystore::wipe(std::span<char>(s.data(), s.size())); }
      } wipe_handover{handover};
      // The passphrase is on disk (synced) before the coffer that needs it.
      write_new_file(pending.string(), handover, 0600);
      sync_directory(out.string());
      vault::Coffer::create(coffer, params, pw, *ctx.random, *ctx.clock);
      created = true;
      // The audit trail's anchor goes into the manifest IT keeps at school.
      if (params.audit_key)
        json = vault::manifest_with_anchor(json, vault::read_sidecar_genesis(vault::sidecar_path(coffer)));
      write_new_file((out / (e.name + ".manifest.json")).string(), json, 0640);
      write_new_file((out / (e.name + ".manifest.txt")).string(), text, 0640);
      // Commit the handover: after this the coffer counts as made.
      if (plan.handover == "files") {
        rename_new(pending.string(), (out / (e.name + ".passphrase.txt")).string());
      } else {
        std::string next = sheets;
        if (!sheets.empty()) next += '\f';
        next += handover;
        try {
          replace_file(sheet_path.string(), next, 0600);
        } catch (...) {
          keystore::wipe(std::span<char>(next.data(), next.size()));
          throw;
        }
        keystore::wipe(std::span<char>(sheets.data(), sheets.size()));
        sheets = std::move(next);
        // Committed: a leftover pending record is recognised in the sheet.
        fs::remove(pending, ec);
        if (!ec) sync_directory(out.string());
      }
      double secs = std::chrono::duration<double>(clock::now() - t0).count();
      if (tty) human << "\r";
      human << fmt::format("{} ok: {} pupils, expires {} ({:.1f} s)\n", label, prepared.pupils.size(), expiries[i],
                           secs);
      for (auto& w : import_warnings(prepared))
        *ctx.err << "coffer: warning: " << e.name << ": " << printable(w) << "\n";
      nlohmann::ordered_json entry = {
          {"name", e.name},   {"status", "made"},       {"coffer", coffer.string()},
          {"owner", e.owner}, {"expires", expiries[i]}, {"manifest", (out / (e.name + ".manifest.json")).string()}};
      entry.update(import_json(prepared, profile));
      entries.push_back(std::move(entry));
    } catch (const std::exception& err) {
      // Any failure, a bug's exception included, stops this coffer only.
      const auto* typed = dynamic_cast<const Error*>(&err);
      const std::string what = typed ? error_text(*typed) : err.what();
      bool wiped = true;
      if (created || (leftovers[i] == Leftover::kRedo && fs::exists(coffer, ec))) {
        try {
          vault::wipe(coffer, *ctx.random, "coffer provision: failed, removed");
        } catch (...) {
          wiped = !fs::exists(coffer, ec);
        }
      }
      // The pending record stays while its coffer does: the coffer is never
      // left without its passphrase, and a re-run makes it again.
      remove_outputs(out, e.name, /*keep_pending=*/!wiped);
      if (tty) human << "\r";
      human << label << " FAILED\n";
      entries.push_back({{"name", e.name}, {"status", "failed"}, {"error", what}});
      *ctx.err << "coffer: error: " << e.name << " (" << plan.file.string() << ":" << e.line << "): " << what << "\n";
      if (!wiped)
        *ctx.err << "coffer: error: " << coffer.string() << " could not be removed; its passphrase is in "
                 << pending.string() << " and a re-run of the plan makes it again\n";
      if (failures++ == 0) first_failure = exit_code_of(err);
    }
  }
  double total = std::chrono::duration<double>(clock::now() - started).count();
  const std::size_t made = plan.coffers.size() - done.size() - static_cast<std::size_t>(failures);
  human << fmt::format("{} of {} coffers made in {} ({:.1f} s)", made, plan.coffers.size() - done.size(), out.string(),
                       total);
  if (!done.empty()) human << fmt::format("; {} made earlier, skipped", done.size());
  human << (plan.handover == "sheet" ? "; one-time passphrases in handover-sheets.txt (print, then delete)\n"
                                     : "; one-time passphrases in NAME.passphrase.txt (hand over, then delete)\n");
  // As create says it: a coffer made with the test cost falls to a guess.
  if (insecure) human << "warning: INSECURE test key-derivation cost; never use it for real data\n";
  finish_json(made, static_cast<std::size_t>(failures));
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
  cmd->add_flag("--json", o->json, "print what was made as JSON on standard output (docs/CLI.md)");
  cmd->callback([o, &ctx] { run_provision(*o, ctx); });
}

}  // namespace coffer::cli
