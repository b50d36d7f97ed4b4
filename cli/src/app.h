// The command-line application: builds the CLI11 command tree, runs the
// chosen command and turns every error into one documented exit code.
// Side effects (random source, clock, passphrase source, output streams,
// KDF cost) come in through Context so tests can run commands in-process.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "coffer/keystore/kdf.h"
#include "coffer/keystore/random.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/policy/policy.h"
#include "prompt.h"
#include "quality.h"

namespace coffer::cli {

struct Context {
  keystore::Random* random = nullptr;
  const vault::Clock* clock = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // Given --passphrase-file (possibly empty), returns the passphrase source.
  std::function<std::unique_ptr<PassphraseSource>(const std::string&)> passphrases;
  bool stdin_is_terminal = false;
  // Waits out the backoff after wrong passphrases (tests make it instant).
  std::function<void(std::chrono::seconds)> sleep;
  // --policy FILE: the school policy file (else /etc/coffer/policy.toml
  // when present); root only, and trusted only when root-owned and not
  // group/world-writable.
  std::string policy_file;
  // The mountpoint of the protected session this command runs in
  // ($COFFER_SESSION, set by the session keeper), empty outside one. Used
  // for wording only: a refusal inside a session says the way out.
  std::string session;
};

// What a refusal inside a protected session adds: the one way out.
inline constexpr const char* kSessionWayOut =
    "inside a protected session nothing leaves the coffer: to take a file out, run `coffer export FILE FOLDER` "
    "outside the session (an approved folder; it is recorded)";

// Options shared by commands that read or set passphrases.
struct CommonOptions {
  std::string passphrase_file;
  std::string kdf_cost = "default";
  keystore::KdfCost cost() const;
};

void add_passphrase_file_option(CLI::App& cmd, CommonOptions& o);
void add_kdf_cost_option(CLI::App& cmd, CommonOptions& o);

// Each command file registers its subcommands. The callback runs the command.
void register_keygen(CLI::App& app, Context& ctx);
void register_create(CLI::App& app, Context& ctx);
void register_info(CLI::App& app, Context& ctx);
void register_keys(CLI::App& app, Context& ctx);  // keys, passwd, recover
void register_fsck(CLI::App& app, Context& ctx);
void register_wipe(CLI::App& app, Context& ctx);
void register_mount(CLI::App& app, Context& ctx);  // open, lock, status
void register_import(CLI::App& app, Context& ctx);
void register_provision(CLI::App& app, Context& ctx);
void register_retention(CLI::App& app, Context& ctx);  // hold, sweep
void register_audit(CLI::App& app, Context& ctx);
void register_checkin(CLI::App& app, Context& ctx);
void register_dpo(CLI::App& app, Context& ctx);  // dpo lost, find, breach
void register_export(CLI::App& app, Context& ctx);
void register_session_keeper(CLI::App& app, Context& ctx);  // hidden: the sandboxed session
void register_guard(CLI::App& app, Context& ctx);

struct SourceSpec;
// --from, --format, --map, --allow-missing (import and provision share them).
void add_source_options(CLI::App& cmd, SourceSpec& spec);

// Throws Error(kPolicy) unless the effective user is root: `option`
// (--policy, --profiles) replaces the school's `system_file`, which is
// what applies to everyone else.
void require_root_for(const std::string& option, const std::string& system_file);
// The school policy in force (see Context::policy_file).
vault::SchoolPolicy school_policy(Context& ctx);
// The failed-unlock and retention rules of the school policy, with the
// backoff wait shown on standard error.
vault::UnlockPolicy unlock_policy(Context& ctx);
// Unlocks with the passphrase `pw`, applying the policy; reports a count of
// wrong passphrases tried since the last unlock, repaired damage and
// retention notices (expiry approaching) on standard error.
// `check_only` (fsck, import) leaves the clock mark as it was, so a refused
// command changes nothing in the file.
vault::Coffer unlock_coffer(const std::string& path, const keystore::Passphrase& pw, Context& ctx,
                            bool check_only = false);
// The same with the school's recovery key (IT).
vault::Coffer unlock_coffer_recovery(const std::string& path, const keystore::SchoolKeyPair& key, Context& ctx);

// Prompts for and checks a new passphrase (strength via zxcvbn, with `words`
// from passphrase_context: what an attacker knows about the coffer).
keystore::Passphrase ask_new_passphrase(PassphraseSource& source, const std::string& prompt,
                                        const std::vector<std::string>& words);

// Runs the whole CLI; returns the exit code.
int run(const std::vector<std::string>& args, Context& ctx);

}  // namespace coffer::cli
