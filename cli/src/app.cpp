// The CLI11 command tree and the one place errors become exit codes.
#include "app.h"
#include "remedy.h"

#include <unistd.h>

#include <iostream>

#include "coffer/error.h"
#include "coffer/printable.h"
#include "exit_codes.h"
#include "quality.h"

namespace coffer::cli {

keystore::KdfCost CommonOptions::cost() const {
  return kdf_cost == "test" ? keystore::KdfCost::kTest : keystore::KdfCost::kDefault;
}

void add_passphrase_file_option(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("--passphrase-file", o.passphrase_file,
                 "read passphrases from FILE, one per line (- = standard input); see "
                 "docs/CLI.md for their order");
}

void add_kdf_cost_option(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("--kdf-cost", o.kdf_cost,
                 "cost of the passphrase key derivation: default (about 0.6 s, 256 MiB) or test "
                 "(libsodium's minimum: INSECURE, for tests only; recorded and shown by info)")
      ->check(CLI::IsMember({"default", "test"}));
}

void require_root_for(const std::string& option, const std::string& system_file) {
  if (::geteuid() == 0) return;
  throw Error(ErrorCode::kPolicy, option + " is for root only (IT's tests and tools): for everyone else the school's " +
                                      system_file + " applies; ask IT to change it there");
}

vault::SchoolPolicy school_policy(Context& ctx) {
  std::optional<std::filesystem::path> file;
  if (!ctx.policy_file.empty()) {
    require_root_for("--policy", vault::kSystemPolicyPath);
    file = ctx.policy_file;
  } else if (::access(vault::kSystemPolicyPath, F_OK) == 0) file = vault::kSystemPolicyPath;
  return vault::load_school_policy(file);
}

vault::UnlockPolicy unlock_policy(Context& ctx) {
  vault::UnlockPolicy policy;
  static_cast<vault::SchoolPolicy&>(policy) = school_policy(ctx);
  policy.clock = ctx.clock;
  policy.wait = [&ctx](std::chrono::seconds wait, std::uint32_t failures) {
    *ctx.err << "coffer: " << failures << " wrong passphrases so far: waiting " << wait.count()
             << " s before trying this one\n";
    ctx.err->flush();
    if (ctx.sleep) ctx.sleep(wait);
  };
  return policy;
}

namespace {
void report_unlock(const vault::Coffer& c, Context& ctx) {
  if (c.failures_before() > 0)
    *ctx.err << "coffer: warning: " << c.failures_before()
             << " wrong passphrase(s) were tried since this coffer was last opened\n";
  for (auto& n : c.notices()) *ctx.err << "coffer: note: " << printable(n) << "\n";
}
}  // namespace

vault::Coffer unlock_coffer(const std::string& path, const keystore::Passphrase& pw, Context& ctx, bool check_only) {
  vault::UnlockPolicy policy = unlock_policy(ctx);
  policy.raise_clock_mark = !check_only;
  vault::Coffer c = vault::Coffer::unlock(path, pw, *ctx.random, policy);
  report_unlock(c, ctx);
  return c;
}

vault::Coffer unlock_coffer_recovery(const std::string& path, const keystore::SchoolKeyPair& key, Context& ctx) {
  vault::Coffer c = vault::Coffer::unlock_with_recovery(path, key, *ctx.random, unlock_policy(ctx));
  report_unlock(c, ctx);
  return c;
}

keystore::Passphrase ask_new_passphrase(PassphraseSource& source, const std::string& prompt,
                                        const std::vector<std::string>& words) {
  keystore::Passphrase p = source.new_one(prompt);
  require_strong(p, words);
  return p;
}

int run(const std::vector<std::string>& args, Context& ctx) {
  CLI::App app{
      "coffer: a secure offline records vault for schools.\n"
      "A coffer is one encrypted file holding only the pupil data one person needs\n"
      "for one purpose; it locks, expires and wipes itself.",
      "coffer"};
  app.footer(exit_code_help());
  app.require_subcommand(1);
  app.set_version_flag("--version", "coffer 0.1.0");
  register_keygen(app, ctx);
  register_create(app, ctx);
  register_info(app, ctx);
  register_keys(app, ctx);
  register_fsck(app, ctx);
  register_wipe(app, ctx);
  register_mount(app, ctx);
  register_import(app, ctx);
  register_provision(app, ctx);
  register_retention(app, ctx);
  register_audit(app, ctx);
  register_checkin(app, ctx);
  register_dpo(app, ctx);
  register_export(app, ctx);
  register_session_keeper(app, ctx);
  register_guard(app, ctx);
  app.add_option("--policy", ctx.policy_file,
                 "the school policy file (default /etc/coffer/policy.toml); root only, and "
                 "trusted only when owned by root and not writable by group or others");
  app.fallthrough();

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
    return kExitOk;
  } catch (const CLI::CallForHelp& e) {
    *ctx.out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp& e) {
    *ctx.out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    *ctx.out << e.what() << "\n";
    return kExitOk;
  } catch (const CLI::RuntimeError& e) {
    // A command that already reported its error, with its exit code.
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    // Subcommand --help arrives here as CallForHelp too; other parse errors
    // are usage errors with CLI11's own message.
    *ctx.err << "coffer: " << e.what() << "\nRun 'coffer --help' for usage.\n";
    return kExitUsage;
  } catch (const Error& e) {
    // A message of several lines (an import's every bad row, then a
    // summary): the first after "coffer: error: ", the rest indented.
    const std::string text = error_text(e);
    std::size_t start = 0;
    for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
      *ctx.err << (start ? "  " : "coffer: error: ") << printable(text.substr(start, end - start)) << "\n";
    *ctx.err << (start ? "  " : "coffer: error: ") << printable(text.substr(start)) << "\n";
    return exit_code_for(e.code());
  } catch (const std::bad_alloc&) {
    *ctx.err << "coffer: error: out of memory\n";
    return kExitOther;
  } catch (const std::exception& e) {
    *ctx.err << "coffer: internal error: " << e.what() << "\n";
    return kExitOther;
  }
}

}  // namespace coffer::cli
